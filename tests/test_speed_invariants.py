"""What the fast kernels must never trade away: dtype and memory.

- float32 stays float32: parameters, cache entries, reusable buffers,
  gradients, outputs and dX of Conv2D (both im2col layouts), Pool2D and
  FullyConnected + softmax + cross-entropy.
- No hidden float64 temporaries: the peak memory of a float32 forward +
  backward is half that of the same pass in float64 (tracemalloc sees every
  numpy allocation).
- A conv forward + backward allocates, beyond its outputs, at most about
  twice its im2col matrix on the first call, and little on later calls,
  whose buffers are reused.
"""

import tracemalloc
import unittest

import numpy as np

from neural_networks import functional
from neural_networks.layers import Conv2D, FullyConnected, Pool2D
from neural_networks.losses import CrossEntropy

# (batch, size, in_channels, out_channels, kernel, stride, pad)
CONV_CASES = {
    "rows layout": (4, 16, 16, 8, 3, 1, "same"),
    "channel-major layout": (4, 28, 1, 8, 3, 1, "same"),
    "channel-major im2col, 5x5 valid": (4, 32, 3, 8, 5, 1, "valid"),
    "strided": (4, 16, 16, 8, 3, 2, "same"),
}
POOL_CASES = {
    "max, tiling": dict(kernel_shape=2, mode="max", stride=2),
    "max, overlapping, padded": dict(kernel_shape=3, mode="max", stride=1, pad=1),
    "average, padded": dict(kernel_shape=3, mode="average", stride=1, pad="same"),
    "average, strided": dict(kernel_shape=3, mode="average", stride=2),
}


def prepare_conv(case, dtype, seed=0):
    """A Conv2D with its parameters, and a function running forward + backward."""
    batch, size, c_in, c_out, kernel, stride, pad = case
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, size, size, c_in)).astype(dtype)
    layer = Conv2D(c_out, kernel, "relu", stride=stride, pad=pad)
    layer._init_parameters(X.shape, dtype)
    out_rows, out_cols = functional.output_shape(X.shape[1:3], layer.kernel_shape, stride,
                                                 layer.pads)
    dY = rng.standard_normal((batch, out_rows, out_cols, c_out)).astype(dtype)
    return [layer], lambda: (layer.forward(X), layer.backward(dY))


def prepare_pool(settings, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4, 12, 12, 5)).astype(dtype)
    layer = Pool2D(**settings)
    dY = rng.standard_normal(layer.forward(X).shape).astype(dtype)
    layer.cache.clear()
    return [layer], lambda: (layer.forward(X), layer.backward(dY))


def prepare_fc(dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((32, 50)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 32)]
    fc1, fc2, loss = FullyConnected(20, "relu"), FullyConnected(10, "softmax"), CrossEntropy("ce")
    fc1._init_parameters(X.shape, dtype)
    fc2._init_parameters((32, 20), dtype)

    def run():
        Y_hat = fc2.forward(fc1.forward(X))
        dY_hat = loss.backward(Y, Y_hat)
        return Y_hat, fc1.backward(fc2.backward(dY_hat)), dY_hat

    return [fc1, fc2], run


PASSES = {f"conv {k}": (lambda d, c=c: prepare_conv(c, d)) for k, c in CONV_CASES.items()}
PASSES.update({f"pool {k}": (lambda d, s=s: prepare_pool(s, d)) for k, s in POOL_CASES.items()})
PASSES["fc + softmax + cross-entropy"] = prepare_fc


def arrays_of(layer):
    """Every array a layer holds: parameters, gradients, cache, workspace."""
    held = dict(layer.parameters)
    held.update({f"gradient {k}": v for k, v in layer.gradients.items()})
    held.update({f"cache {k}": v for k, v in layer.cache.items() if isinstance(v, np.ndarray)})
    held.update({f"workspace {k}": v for k, v in getattr(layer, "workspace", {}).items()})
    return held


def peak_bytes(fn):
    """Peak traced allocation while fn() runs, above what was allocated before."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


class TestFloat32NeverUpcasts(unittest.TestCase):
    def test_every_array_stays_float32(self):
        for what, prepare in PASSES.items():
            layers, run = prepare(np.float32)
            arrays = {f"output {i}": a for i, a in enumerate(run())}
            for k, layer in enumerate(layers):
                arrays.update({f"layer {k} {name}": a for name, a in arrays_of(layer).items()})
            for name, array in arrays.items():
                if np.issubdtype(array.dtype, np.floating):
                    self.assertEqual(array.dtype, np.float32, f"{what}: {name}")
            if what.startswith("conv"):
                self.assertTrue(layers[0].workspace, "the conv layer keeps its im2col buffers")

    def test_float32_peak_memory_is_half_of_float64(self):
        """A float64 temporary anywhere in a float32 pass would raise its peak.

        The ratio sits a little above 0.5 where small integer arrays (the
        max-pool argmax, masks) or fixed costs count; an upcast temporary
        of the size of an activation pushes it past 0.6.
        """
        for what, prepare in PASSES.items():
            for call in ("first call", "later call"):
                peaks = {}
                for dtype in (np.float32, np.float64):
                    _, run = prepare(dtype)
                    if call == "later call":
                        run()
                    peaks[dtype] = peak_bytes(run)
                ratio = peaks[np.float32] / peaks[np.float64]
                self.assertLess(ratio, 0.56, f"{what}, {call}: float32/float64 peak {ratio:.3f}")


class TestConvMemory(unittest.TestCase):
    def test_extra_memory_of_forward_backward(self):
        for what, case in CONV_CASES.items():
            batch, size, c_in, c_out, kernel, stride, pad = case
            rng = np.random.default_rng(0)
            X = rng.standard_normal((batch, size, size, c_in))
            layer = Conv2D(c_out, kernel, "linear", stride=stride, pad=pad)
            layer._init_parameters(X.shape, X.dtype)
            out_rows, out_cols = functional.output_shape(X.shape[1:3], layer.kernel_shape,
                                                         stride, layer.pads)
            dZ = rng.standard_normal((batch, out_rows, out_cols, c_out))
            im2col_bytes = batch * out_rows * out_cols * kernel * kernel * c_in * 8
            outputs = {}

            def step():
                outputs["Z"] = layer.forward(X)
                outputs["dX"] = layer.backward(dZ)

            for call, limit in (("first call", 2.5), ("later call", 0.4)):
                peak = peak_bytes(step)
                kept = sum(a.nbytes for a in (outputs["Z"], outputs["dX"],
                                              *layer.gradients.values()))
                ratio = (peak - kept) / im2col_bytes
                self.assertLessEqual(
                    ratio, limit, f"{what}, {call}: extra memory {ratio:.2f} x im2col")


if __name__ == "__main__":
    unittest.main()
