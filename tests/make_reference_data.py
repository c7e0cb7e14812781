"""Write the reference data of the course tests: tests/data/<TestClass>.npz.

Usage (from anywhere; needs the reference extra, torch==2.13.0):

    python tests/make_reference_data.py

The oracle is PyTorch autograd in float64: every output and gradient below is
computed by torch, never by ``neural_networks`` (this script does not import
it and checks so at the end). The configurations come from
``tests/reference_configs.py``, which the tests read too; the file layout is
the reference-data protocol of API.md, with the oracle's parameter gradients
added as ``f"{i}dW"`` and ``f"{i}db"`` for FullyConnected and Conv2D, and
GroupNorm's parameters stored as ``f"{i}gamma"`` and ``f"{i}beta"``, their
gradients as ``f"{i}dgamma"`` and ``f"{i}dbeta"``. Inputs,
weights and upstream gradients are drawn from generators seeded per test
class, torch runs on one thread and the zip entries carry a fixed date, so a
rerun writes byte-identical files.
"""

import io
import os
import sys
import zipfile
import zlib

import numpy as np
import torch
import torch.nn.functional as F

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from tests.reference_configs import DATA_DIR, SPECS, case_keys, reference_cases  # noqa: E402

# Pre-activations of a ReLU closer to zero than this are redrawn: numpy and
# torch may round such a value to opposite signs (they sum in different
# orders), and then the gradient jumps between 0 and dY, so the comparison
# would test rounding luck instead of the layer.
RELU_MARGIN = 1e-6

TORCH_ACTIVATIONS = {
    "linear": lambda Z: Z.clone(),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "arctan": torch.atan,
    "relu": torch.relu,
    "softmax": lambda Z: torch.softmax(Z, dim=-1),
}


def pad_pair(pad, kernel_shape):
    """The contract's padding per side: "same" -> ((kr-1)//2, (kc-1)//2), "valid" -> 0, int p -> p.

    Written out here (not taken from the library) so the oracle stays independent.
    """
    kr, kc = kernel_shape
    if pad == "same":
        return (kr - 1) // 2, (kc - 1) // 2
    if pad == "valid":
        return 0, 0
    return int(pad), int(pad)


def kernel_pair(kernel_shape):
    if isinstance(kernel_shape, int):
        return kernel_shape, kernel_shape
    return tuple(kernel_shape)


def vjp(fn, inputs, rng, upstream=None):
    """Run ``fn`` on float64 leaves and backpropagate an upstream gradient.

    Parameters
    ----------
    fn        torch function of len(inputs) tensors
    inputs    list of float64 arrays
    rng       draws the upstream gradient (standard normal, output's shape)
              when ``upstream`` is None
    upstream  optional array (e.g. 1.0 for a scalar loss)

    Returns
    -------
    output, upstream, [dL/d input for each input] as float64 arrays
    """
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    out = fn(*leaves)
    if upstream is None:
        upstream = rng.standard_normal(tuple(out.shape))
    upstream = np.asarray(upstream, dtype=np.float64)
    grads = torch.autograd.grad(out, leaves, grad_outputs=torch.tensor(upstream))
    return out.detach().numpy(), upstream, [g.numpy() for g in grads]


def draw_off_the_kink(config, draw, pre_activation):
    """Arrays from ``draw()`` whose pre-activation is nowhere within RELU_MARGIN of 0
    when the config's activation is ReLU (the first draw otherwise).

    Returns
    -------
    the arrays, and the pre-activation torch computes from them (an array)
    """
    for _ in range(100):
        arrays = draw()
        with torch.no_grad():
            Z = pre_activation(*(torch.tensor(a) for a in arrays)).numpy()
        if config["activation"] != "relu" or np.abs(Z).min() > RELU_MARGIN:
            return arrays, Z
    raise RuntimeError("could not draw pre-activations away from the ReLU kink")


def nhwc_to_nchw(X):
    return X.permute(0, 3, 1, 2)


def nchw_to_nhwc(X):
    return X.permute(0, 2, 3, 1)


# --- cases, one function per kind -----------------------------------------

def activation_case(config, batch, size, rng):
    name = config["name"]
    Z = rng.standard_normal((batch, *size)) * 2
    if name == "relu":
        # Keep the random entries off the kink (see RELU_MARGIN), then place
        # exact zeros on purpose: the contract and torch both give the
        # derivative 0 there, and a stored input leaves no rounding doubt.
        Z = np.sign(Z) * (np.abs(Z) + 1e-3)
        Z.flat[::5] = 0.0
    output, upstream, (dZ,) = vjp(TORCH_ACTIVATIONS[name], [Z], rng)
    if name == "relu":
        assert np.all(dZ[Z == 0] == 0), "torch's ReLU derivative at 0 is not 0"
    return {"input": Z[None], "output": output, "upstream_grad": upstream, "backward": dZ}


def loss_case(config, batch, k, rng):
    if config["name"] == "cross_entropy":
        # One-hot labels; predictions are rows of a softmax (all in (0, 1)).
        Y = np.eye(k)[rng.integers(0, k, size=batch)]
        logits = rng.standard_normal((batch, k)) * 2
        Y_hat = np.exp(logits - logits.max(axis=1, keepdims=True))
        Y_hat /= Y_hat.sum(axis=1, keepdims=True)

        def fn(Y, Y_hat):
            return -(Y * torch.log(Y_hat)).sum() / Y.shape[0]
    else:
        Y = rng.standard_normal((batch, k))
        Y_hat = rng.standard_normal((batch, k))

        def fn(Y, Y_hat):
            return ((Y - Y_hat) ** 2).sum() / (2 * Y.shape[0])

    output, upstream, (_, dY_hat) = vjp(fn, [Y, Y_hat], rng, upstream=1.0)
    return {"input": np.stack([Y, Y_hat]), "output": output, "upstream_grad": upstream,
            "backward": dY_hat}


def fully_connected_case(config, batch, size, rng):
    (n_in,) = size
    n_out = config["n_out"]
    act = TORCH_ACTIVATIONS[config["activation"]]

    def affine(X, W, b):
        return X @ W + b

    def draw():
        return (rng.standard_normal((batch, n_in)),
                rng.standard_normal((n_in, n_out)) / np.sqrt(n_in),
                rng.standard_normal((1, n_out)) * 0.5)

    (X, W, b), _ = draw_off_the_kink(config, draw, affine)
    output, upstream, (dX, dW, db) = vjp(lambda X, W, b: act(affine(X, W, b)), [X, W, b], rng)
    return {"input": X[None], "output": output, "upstream_grad": upstream, "backward": dX,
            "W": W, "b": b, "dW": dW, "db": db}


def conv_reference_loops(X, W, b, stride, pads):
    """The contract's formula with a loop over kernel offsets, in numpy.

    Used only to check that the NHWC <-> NCHW plumbing around torch's conv2d
    computes Z[n, r, c, o] = sum W[i, j, ch, o] Xpad[n, r*s + i, c*s + j, ch] + b[0, o].
    """
    kr, kc, _, n_out = W.shape
    pr, pc = pads
    Xpad = np.pad(X, ((0, 0), (pr, pr), (pc, pc), (0, 0)))
    out_rows = 1 + (Xpad.shape[1] - kr) // stride
    out_cols = 1 + (Xpad.shape[2] - kc) // stride
    Z = np.zeros((X.shape[0], out_rows, out_cols, n_out)) + b[0]
    for i in range(kr):
        for j in range(kc):
            patch = Xpad[:, i:i + stride * out_rows:stride, j:j + stride * out_cols:stride, :]
            Z += patch[:, :out_rows, :out_cols] @ W[i, j]
    return Z


def conv_case(config, batch, size, rng):
    kernel_shape = kernel_pair(config["kernel_shape"])
    kr, kc = kernel_shape
    stride = config["stride"]
    pads = pad_pair(config["pad"], kernel_shape)
    n_in, n_out = size[2], config["n_out"]
    act = TORCH_ACTIVATIONS[config["activation"]]

    def affine(X, W, b):
        # Ours: X NHWC, W (kr, kc, cin, cout); torch's: NCHW, (cout, cin, kr, kc).
        # (.contiguous(): torch's CPU conv backward wants contiguous operands.)
        Z = F.conv2d(nhwc_to_nchw(X).contiguous(), W.permute(3, 2, 0, 1).contiguous(), b[0],
                     stride=stride, padding=pads)
        return nchw_to_nhwc(Z)

    def draw():
        return (rng.standard_normal((batch, *size)),
                rng.standard_normal((kr, kc, n_in, n_out)) / np.sqrt(kr * kc * n_in),
                rng.standard_normal((1, n_out)) * 0.5)

    (X, W, b), Z = draw_off_the_kink(config, draw, affine)
    np.testing.assert_allclose(Z, conv_reference_loops(X, W, b, stride, pads), rtol=1e-10,
                               atol=1e-12)
    output, upstream, (dX, dW, db) = vjp(lambda X, W, b: act(affine(X, W, b)), [X, W, b], rng)
    return {"input": X[None], "output": output, "upstream_grad": upstream, "backward": dX,
            "W": W, "b": b, "dW": dW, "db": db}


def pool_case(config, batch, size, rng):
    kernel_shape = kernel_pair(config["kernel_shape"])
    stride = config["stride"]
    pads = pad_pair(config["pad"], kernel_shape)
    for _ in range(100):
        X = rng.standard_normal((batch, *size))
        # Max pooling's gradient goes to the window's maximum; with two equal
        # entries the winner is a convention (torch's is not documented), so
        # every entry is made distinct. Padding (-inf) can never tie a finite entry.
        if np.unique(X).size == X.size:
            break
    else:
        raise RuntimeError("could not draw distinct pooling inputs")

    if config["mode"] == "max":
        def fn(X):
            return nchw_to_nhwc(F.max_pool2d(nhwc_to_nchw(X), kernel_shape, stride, pads))
    else:
        def fn(X):
            # count_include_pad=True: zero padding counts in the mean, as the contract says.
            return nchw_to_nhwc(F.avg_pool2d(nhwc_to_nchw(X), kernel_shape, stride, pads,
                                             count_include_pad=True))

    output, upstream, (dX,) = vjp(fn, [X], rng)
    return {"input": X[None], "output": output, "upstream_grad": upstream, "backward": dX}


def groupnorm_reference_loops(X, gamma, beta, groups, eps):
    """Group normalisation with a loop over examples and groups, in numpy.

    Used only to check the channels-last <-> channels-first plumbing around
    torch's group_norm: group g of an example is its channels
    g * C/G .. (g + 1) * C/G - 1, normalised over them and every other axis.
    """
    Z = np.empty_like(X)
    width = X.shape[-1] // groups
    for n in range(X.shape[0]):
        for g in range(groups):
            part = X[n, ..., g * width:(g + 1) * width]
            Z[n, ..., g * width:(g + 1) * width] = (part - part.mean()) / np.sqrt(part.var() + eps)
    return Z * gamma[0] + beta[0]


def groupnorm_case(config, batch, size, rng):
    groups, eps = config["groups"], config["eps"]
    n_channels = size[-1]
    act = TORCH_ACTIVATIONS[config["activation"]]

    def group_norm(X, gamma, beta):
        # Ours: channels last, gamma and beta (1, C); torch's: channels on axis 1, (C,).
        Z = F.group_norm(X.movedim(-1, 1), groups, gamma[0], beta[0], eps)
        return Z.movedim(1, -1)

    def draw():
        # Each channel with its own spread and mean, so a group's statistics mix them.
        X = (rng.standard_normal((batch, *size)) * rng.uniform(0.5, 3.0, size=n_channels)
             + rng.normal(0.0, 2.0, size=n_channels))
        gamma = rng.uniform(0.5, 2.0, size=(1, n_channels)) * rng.choice([-1, 1], n_channels)
        return X, gamma, rng.normal(0.0, 0.5, size=(1, n_channels))

    (X, gamma, beta), Z = draw_off_the_kink(config, draw, group_norm)
    np.testing.assert_allclose(Z, groupnorm_reference_loops(X, gamma, beta, groups, eps),
                               rtol=1e-10, atol=1e-12)
    module = torch.nn.GroupNorm(groups, n_channels, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(gamma[0]))
        module.bias.copy_(torch.tensor(beta[0]))
        np.testing.assert_allclose(module(torch.tensor(X).movedim(-1, 1)).movedim(1, -1).numpy(),
                                   Z, rtol=1e-12, atol=1e-12)
    output, upstream, (dX, dgamma, dbeta) = vjp(lambda X, gamma, beta: act(group_norm(X, gamma,
                                                                                      beta)),
                                                [X, gamma, beta], rng)
    return {"input": X[None], "output": output, "upstream_grad": upstream, "backward": dX,
            "gamma": gamma, "beta": beta, "dgamma": dgamma, "dbeta": dbeta}


def flatten_case(config, batch, size, rng):
    X = rng.standard_normal((batch, *size))
    output, upstream, (dX,) = vjp(lambda X: X.reshape(X.shape[0], -1), [X], rng)
    return {"input": X[None], "output": output, "upstream_grad": upstream, "backward": dX}


CASE_MAKERS = {
    "TestLinear": activation_case,
    "TestSigmoid": activation_case,
    "TestTanH": activation_case,
    "TestArcTan": activation_case,
    "TestReLU": activation_case,
    "TestSoftMax": activation_case,
    "TestCrossEntropy": loss_case,
    "TestL2": loss_case,
    "TestFullyConnected": fully_connected_case,
    "TestConv2D": conv_case,
    "TestPool2D": pool_case,
    "TestFlatten": flatten_case,
    "TestGroupNorm": groupnorm_case,
}


# --- writing ----------------------------------------------------------------

def save_npz(path, arrays):
    """Write arrays like np.savez_compressed, but with a fixed date in every
    zip entry so that identical data gives an identical file."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def make_class_data(class_name):
    """All cases of one test class, keyed as the protocol says."""
    rng = np.random.default_rng(zlib.crc32(class_name.encode()))
    make_case = CASE_MAKERS[class_name]
    arrays = {}
    for i, config, batch, size in reference_cases(class_name):
        case = make_case(config, batch, size, rng)
        for key in case_keys(class_name, i):
            arrays[key] = np.asarray(case[key[len(str(i)):]], dtype=np.float64)
    return arrays


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    os.makedirs(DATA_DIR, exist_ok=True)
    for class_name in SPECS:
        arrays = make_class_data(class_name)
        path = os.path.join(DATA_DIR, f"{class_name}.npz")
        save_npz(path, arrays)
        n_cases = sum(key.endswith("input") for key in arrays)
        print(f"{class_name:20s} {n_cases:4d} cases  {os.path.getsize(path) / 1024:8.1f} KiB")
    assert "neural_networks" not in sys.modules, "the oracle must not import neural_networks"


if __name__ == "__main__":
    main()
