"""Property tests: Conv2D and Pool2D against PyTorch autograd on random shapes.

Hypothesis draws batch sizes, image sizes, channels, kernel shapes, strides
and pads; for each draw the layer's forward output and its backward
gradients (dX, and dW, db for Conv2D) are compared in float64 with
``torch.nn.functional`` and autograd, which serve as the independent oracle.
The kernels choose their memory layout from the shapes, so the explicit
``@example`` cases make sure every code path is drawn. A second group checks
the same layers with finite differences (``check_gradients``).

Runs are reproducible: hypothesis is derandomized (the same examples on
every run) and keeps no example database.
"""

import unittest

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from neural_networks import functional
from neural_networks.functional import blocking
from neural_networks.layers import Conv2D, Pool2D
from neural_networks.utils.grad_check import check_gradients
from tests.support import require_torch

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the reference extra: the tests that use it call require_torch
    torch = F = None

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TOLERANCE = 1e-7


def assert_close(test, actual, expected, what):
    """max |actual - expected| <= TOLERANCE * max(1, max |expected|)."""
    test.assertEqual(actual.shape, expected.shape, what)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    error = float(np.max(np.abs(actual - expected), initial=0.0))
    test.assertLessEqual(error, TOLERANCE * scale, f"{what}: max error {error:.3g}")


def to_torch(A, *axes):
    """float64 tensor of A with its axes permuted, tracking gradients."""
    return torch.from_numpy(np.ascontiguousarray(A.transpose(axes))).requires_grad_()


def from_nchw(T):
    return T.detach().numpy().transpose(0, 2, 3, 1)


@st.composite
def conv_cases(draw):
    """A Conv2D setting and input shape whose kernel fits the padded input."""
    kr = draw(st.integers(1, 5))
    kc = draw(st.integers(1, 5))
    stride = draw(st.integers(1, 3))
    pad = draw(st.sampled_from(["same", "valid", 0, 1, 2]))
    pr, pc = functional.pad_amounts(pad, (kr, kc))
    rows = draw(st.integers(max(1, kr - 2 * pr), 10))
    cols = draw(st.integers(max(1, kc - 2 * pc), 12))
    return dict(
        batch=draw(st.integers(1, 3)), rows=rows, cols=cols,
        c_in=draw(st.integers(1, 5)), c_out=draw(st.integers(1, 4)),
        kernel=(kr, kc), stride=stride, pad=pad, seed=draw(st.integers(0, 2**16)),
    )


@st.composite
def pool_cases(draw):
    """A Pool2D setting; pads stay within half the kernel, as PyTorch requires."""
    kr = draw(st.integers(1, 4))
    kc = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    pad = draw(st.sampled_from(["same", "valid", 0, 1]))
    pr, pc = functional.pad_amounts(pad, (kr, kc))
    if pr > kr // 2 or pc > kc // 2:
        pad = "valid"
        pr = pc = 0
    rows = draw(st.integers(max(1, kr - 2 * pr), 10))
    cols = draw(st.integers(max(1, kc - 2 * pc), 12))
    return dict(
        batch=draw(st.integers(1, 3)), rows=rows, cols=cols,
        channels=draw(st.integers(1, 5)), kernel=(kr, kc), stride=stride, pad=pad,
        mode=draw(st.sampled_from(["max", "average"])),
        # Small integers make ties common: the gradient must go to the first maximum.
        ties=draw(st.booleans()), seed=draw(st.integers(0, 2**16)),
    )


def conv_example(batch, rows, cols, c_in, c_out, kernel, stride, pad):
    return dict(batch=batch, rows=rows, cols=cols, c_in=c_in, c_out=c_out,
                kernel=kernel, stride=stride, pad=pad, seed=1)


def pool_example(rows, cols, kernel, stride, pad, mode, ties=False):
    return dict(batch=2, rows=rows, cols=cols, channels=3, kernel=kernel, stride=stride,
                pad=pad, mode=mode, ties=ties, seed=2)


class TestConv2DAgainstTorch(unittest.TestCase):
    def setUp(self):
        require_torch()

    @PROPERTY_SETTINGS
    @given(conv_cases())
    # channel-major im2col and col2im (few channels, wide rows)
    @example(conv_example(2, 7, 12, 1, 3, (3, 3), 1, "same"))
    @example(conv_example(2, 9, 11, 1, 2, (2, 3), 2, 1))
    # channel-major col2im in two rounds (large kernels)
    @example(conv_example(2, 8, 22, 3, 4, (5, 5), 1, "valid"))
    @example(conv_example(2, 9, 24, 1, 3, (5, 5), 1, "same"))
    @example(conv_example(2, 11, 20, 2, 3, (3, 4), 2, 1))
    # rows layout for im2col and col2im (many channels, narrow rows)
    @example(conv_example(2, 5, 4, 5, 3, (3, 2), 1, "same"))
    @example(conv_example(1, 6, 6, 4, 2, (3, 3), 2, "valid"))
    def test_forward_and_backward(self, case):
        self.check_case(case)

    def test_blocks_of_a_few_images(self):
        """Both im2col layouts work through the batch in blocks of images
        (BLOCK_BYTES): col2im in the rows layout (many channels), and the
        forward and backward passes in the channel-major layout (one channel on
        wide rows). Blocks of 2 images over a batch of 5 leave a shorter last block."""
        for case in (conv_example(5, 6, 5, 4, 3, (3, 3), 1, "same"),
                     conv_example(5, 7, 12, 1, 3, (3, 3), 1, "same"),
                     conv_example(5, 9, 14, 2, 3, (3, 2), 2, 1),
                     conv_example(5, 9, 24, 1, 3, (5, 5), 1, "same")):
            kernel = functional.as_pair(case["kernel"], "kernel")
            out_rows, out_cols = functional.output_shape(
                (case["rows"], case["cols"]), kernel, case["stride"],
                functional.pad_amounts(case["pad"], kernel))
            # float64; a block of the channel-major matrix has one more row (the ones)
            per_image_bytes = out_rows * out_cols * (kernel[0] * kernel[1] * case["c_in"] + 1) * 8
            saved = blocking.BLOCK_BYTES
            blocking.BLOCK_BYTES = 2 * per_image_bytes + 1
            try:
                with self.subTest(c_in=case["c_in"], stride=case["stride"]):
                    self.check_case(case)
            finally:
                blocking.BLOCK_BYTES = saved

    def check_case(self, case):
        rng = np.random.default_rng(case["seed"])
        X = rng.standard_normal((case["batch"], case["rows"], case["cols"], case["c_in"]))
        layer = Conv2D(case["c_out"], case["kernel"], "linear",
                       stride=case["stride"], pad=case["pad"])
        layer.forward(X)
        W = rng.standard_normal(layer.parameters["W"].shape)
        b = rng.standard_normal(layer.parameters["b"].shape)
        layer.parameters["W"], layer.parameters["b"] = W, b
        Z = layer.forward(X)
        dZ = rng.standard_normal(Z.shape)
        dX = layer.backward(dZ)

        x_t, w_t = to_torch(X, 0, 3, 1, 2), to_torch(W, 3, 2, 0, 1)
        b_t = torch.from_numpy(b.reshape(-1).copy()).requires_grad_()
        z_t = F.conv2d(x_t, w_t, b_t, stride=case["stride"], padding=layer.pads)
        z_t.backward(torch.from_numpy(dZ.transpose(0, 3, 1, 2).copy()))

        assert_close(self, Z, from_nchw(z_t), "Z")
        assert_close(self, dX, from_nchw(x_t.grad), "dX")
        assert_close(self, layer.gradients["W"],
                     w_t.grad.numpy().transpose(2, 3, 1, 0), "dW")
        assert_close(self, layer.gradients["b"], b_t.grad.numpy().reshape(1, -1), "db")


class TestPool2DAgainstTorch(unittest.TestCase):
    def setUp(self):
        require_torch()

    @PROPERTY_SETTINGS
    @given(pool_cases())
    # windows that tile the input exactly, leave a remainder, overlap, or skip
    @example(pool_example(8, 6, (2, 2), 2, 0, "max", ties=True))
    @example(pool_example(7, 5, (2, 2), 2, 0, "max"))
    @example(pool_example(6, 7, (3, 3), 1, "same", "max", ties=True))
    @example(pool_example(9, 9, (2, 3), 3, 1, "max"))
    @example(pool_example(6, 7, (3, 3), 1, "same", "average"))
    @example(pool_example(8, 9, (3, 2), 2, 1, "average"))
    def test_forward_and_backward(self, case):
        rng = np.random.default_rng(case["seed"])
        shape = (case["batch"], case["rows"], case["cols"], case["channels"])
        X = (rng.integers(-2, 3, shape).astype(np.float64) if case["ties"]
             else rng.standard_normal(shape))
        layer = Pool2D(case["kernel"], mode=case["mode"], stride=case["stride"],
                       pad=case["pad"])
        Z = layer.forward(X)
        dZ = rng.standard_normal(Z.shape)
        dX = layer.backward(dZ)

        x_t = to_torch(X, 0, 3, 1, 2)
        if case["mode"] == "max":
            z_t = F.max_pool2d(x_t, case["kernel"], case["stride"], layer.pads)
        else:
            z_t = F.avg_pool2d(x_t, case["kernel"], case["stride"], layer.pads,
                               count_include_pad=True)
        z_t.backward(torch.from_numpy(dZ.transpose(0, 3, 1, 2).copy()))

        assert_close(self, Z, from_nchw(z_t), "Z")
        assert_close(self, dX, from_nchw(x_t.grad), "dX")


class TestFiniteDifferences(unittest.TestCase):
    """Analytic gradients against two-sided finite differences (no torch needed)."""

    CHECK_SETTINGS = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                              suppress_health_check=[HealthCheck.too_slow])

    @CHECK_SETTINGS
    @given(conv_cases())
    @example(conv_example(2, 7, 12, 1, 3, (3, 3), 1, "same"))
    @example(conv_example(1, 6, 6, 4, 2, (3, 3), 2, "valid"))
    def test_conv2d(self, case):
        rng = np.random.default_rng(case["seed"])
        X = rng.standard_normal((case["batch"], case["rows"], case["cols"], case["c_in"]))
        layer = Conv2D(case["c_out"], case["kernel"], "tanh",
                       stride=case["stride"], pad=case["pad"])
        dLdY = rng.standard_normal(layer.forward(X).shape)
        dX = layer.backward(dLdY)
        gradients = dict(layer.gradients)
        self.assertLess(check_gradients(layer.forward, dX, X, dLdY), 1e-7)
        for name in ("W", "b"):
            fn = layer.forward_with_param(name, X)
            self.assertLess(
                check_gradients(fn, gradients[name], layer.parameters[name].copy(), dLdY),
                1e-7, name)

    @CHECK_SETTINGS
    @given(pool_cases())
    @example(pool_example(6, 7, (3, 3), 1, "same", "max"))
    @example(pool_example(8, 9, (3, 2), 2, 1, "average"))
    def test_pool2d(self, case):
        rng = np.random.default_rng(case["seed"])
        shape = (case["batch"], case["rows"], case["cols"], case["channels"])
        # Distinct values far apart: a finite-difference step never changes the argmax.
        X = rng.permutation(np.prod(shape)).reshape(shape) * 0.1
        layer = Pool2D(case["kernel"], mode=case["mode"], stride=case["stride"],
                       pad=case["pad"])
        dLdY = rng.standard_normal(layer.forward(X).shape)
        dX = layer.backward(dLdY)
        self.assertLess(check_gradients(layer.forward, dX, X, dLdY), 1e-7)


if __name__ == "__main__":
    unittest.main()
