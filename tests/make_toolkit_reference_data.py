"""Write the BatchNorm reference data: tests/data/TestBatchNorm.npz.

Usage (from anywhere; needs the reference extra, torch==2.13.0):

    python tests/make_toolkit_reference_data.py

The oracle is PyTorch in float64 (``torch.nn.functional.batch_norm`` with
autograd, cross-checked against ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``);
this script never imports ``neural_networks`` and checks so at the end.
The library keeps channels on the last axis, torch on axis 1, so inputs are
moved channels-first before torch sees them and the results moved back here,
and only here.

Each case ``i`` of ``CONFIGS`` (also stored in the file as JSON under
``configs``) holds:

  {i}X                  (STEPS, *shape) training batches, fed in order
  {i}gamma, {i}beta     (1, C) parameters loaded into the layer
  {i}running_mean0/var0 (1, C) running statistics before the first batch
  {i}train_output       output of the first training forward (batch X[0])
  {i}train_upstream     dL/dY fed to backward after that forward
  {i}train_dX, {i}train_dgamma, {i}train_dbeta   the oracle's gradients
  {i}running_mean1/var1 running statistics after the first batch
  {i}running_mean/var   running statistics after all STEPS batches
  {i}eval_X             a batch run in eval mode after the STEPS batches
  {i}eval_output, {i}eval_upstream, {i}eval_dX, {i}eval_dgamma, {i}eval_dbeta

Generators are seeded, torch runs on one thread and zip entries carry a
fixed date, so a rerun writes a byte-identical file.
"""

import io
import json
import os
import sys
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
PATH = os.path.join(DATA_DIR, "TestBatchNorm.npz")

#: Training batches per case (running statistics are checked after 1 and after all).
STEPS = 4

#: Input shapes, channels last: fully connected (N, F), a sequence (N, L, C), NHWC images.
SHAPES = [(8, 5), (3, 4, 5), (4, 3, 5, 6)]

#: (momentum, eps, initial running statistics): "default" is mean 0 / var 1,
#: "random" loads drawn statistics into the layer before the first batch.
SETTINGS = [(0.1, 1e-5, "default"), (0.3, 1e-3, "random")]

CONFIGS = [
    {"shape": list(shape), "activation": activation, "momentum": momentum, "eps": eps,
     "init": init}
    for shape in SHAPES
    for activation in ("linear", "relu")
    for momentum, eps, init in SETTINGS
]

# ReLU inputs closer to 0 than this are redrawn, so rounding cannot flip the
# derivative between the oracle and the library.
RELU_MARGIN = 1e-6


def channels_first(X):
    """(N, ..., C) -> (N, C, ...) as torch wants it."""
    return X.movedim(-1, 1)


def channels_last(X):
    """(N, C, ...) -> (N, ..., C)."""
    return X.movedim(1, -1)


def torch_batch_norm(X, gamma, beta, running_mean, running_var, training, momentum, eps):
    """torch's batch norm on a channels-last X; updates the running tensors in place."""
    Z = F.batch_norm(channels_first(X), running_mean, running_var, gamma.reshape(-1),
                     beta.reshape(-1), training=training, momentum=momentum, eps=eps)
    return channels_last(Z)


def module_cross_check(X, gamma, beta, mean0, var0, training, momentum, eps, expected,
                       expected_stats):
    """Assert nn.BatchNorm1d/2d agrees with the functional call used for the data."""
    n_channels = X.shape[-1]
    cls = torch.nn.BatchNorm2d if X.ndim == 4 else torch.nn.BatchNorm1d
    module = cls(n_channels, eps=eps, momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(gamma.reshape(-1)))
        module.bias.copy_(torch.tensor(beta.reshape(-1)))
        module.running_mean.copy_(torch.tensor(mean0.reshape(-1)))
        module.running_var.copy_(torch.tensor(var0.reshape(-1)))
        module.train(training)
        Z = channels_last(module(channels_first(torch.tensor(X)))).numpy()
    np.testing.assert_allclose(Z, expected, rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(expected_stats, (module.running_mean, module.running_var), strict=True):
        np.testing.assert_allclose(ours.reshape(-1), theirs.numpy(), rtol=1e-12, atol=1e-14)


def draw_batch(rng, shape, scale, offset):
    """A batch whose channels have their own spread and mean."""
    return rng.standard_normal(shape) * scale + offset


def make_case(config, rng):
    shape = tuple(config["shape"])
    n_channels = shape[-1]
    momentum, eps = config["momentum"], config["eps"]
    relu = config["activation"] == "relu"
    act = torch.relu if relu else (lambda Z: Z)

    for _ in range(100):
        scale = rng.uniform(0.5, 3.0, size=n_channels)
        offset = rng.normal(0.0, 2.0, size=n_channels)
        X = np.stack([draw_batch(rng, shape, scale, offset) for _ in range(STEPS)])
        eval_X = draw_batch(rng, shape, scale, offset)
        gamma = rng.uniform(0.5, 2.0, size=(1, n_channels)) * rng.choice([-1, 1], n_channels)
        beta = rng.normal(0.0, 0.5, size=(1, n_channels))
        if config["init"] == "default":
            mean0, var0 = np.zeros((1, n_channels)), np.ones((1, n_channels))
        else:
            mean0 = rng.normal(0.0, 1.0, size=(1, n_channels))
            var0 = rng.uniform(0.5, 2.0, size=(1, n_channels))

        running_mean = torch.tensor(mean0.reshape(-1))
        running_var = torch.tensor(var0.reshape(-1))
        leaves = [torch.tensor(a, requires_grad=True) for a in (X[0], gamma, beta)]
        Z = torch_batch_norm(*leaves, running_mean, running_var, True, momentum, eps)
        mean1, var1 = running_mean.numpy().copy(), running_var.numpy().copy()
        with torch.no_grad():
            for k in range(1, STEPS):
                torch_batch_norm(torch.tensor(X[k]), torch.tensor(gamma), torch.tensor(beta),
                                 running_mean, running_var, True, momentum, eps)
        eval_leaves = [torch.tensor(a, requires_grad=True) for a in (eval_X, gamma, beta)]
        eval_Z = torch_batch_norm(*eval_leaves, running_mean.clone(), running_var.clone(), False,
                                  momentum, eps)
        if not relu or min(Z.abs().min().item(), eval_Z.abs().min().item()) > RELU_MARGIN:
            break
    else:
        raise RuntimeError("could not draw BatchNorm outputs away from the ReLU kink")

    upstream = rng.standard_normal(shape)
    train_out = act(Z)
    dX, dgamma, dbeta = torch.autograd.grad(train_out, leaves, torch.tensor(upstream))
    eval_upstream = rng.standard_normal(shape)
    eval_out = act(eval_Z)
    eval_dX, eval_dgamma, eval_dbeta = torch.autograd.grad(eval_out, eval_leaves,
                                                           torch.tensor(eval_upstream))

    module_cross_check(X[0], gamma, beta, mean0, var0, True, momentum, eps,
                       Z.detach().numpy(), (mean1, var1))
    final_mean = running_mean.numpy().reshape(1, -1)
    final_var = running_var.numpy().reshape(1, -1)
    module_cross_check(eval_X, gamma, beta, final_mean, final_var, False, momentum, eps,
                       eval_Z.detach().numpy(), (final_mean, final_var))

    return {
        "X": X, "gamma": gamma, "beta": beta, "running_mean0": mean0, "running_var0": var0,
        "train_output": train_out.detach().numpy(), "train_upstream": upstream,
        "train_dX": dX.numpy(), "train_dgamma": dgamma.numpy(), "train_dbeta": dbeta.numpy(),
        "running_mean1": mean1.reshape(1, -1), "running_var1": var1.reshape(1, -1),
        "running_mean": final_mean, "running_var": final_var,
        "eval_X": eval_X, "eval_output": eval_out.detach().numpy(),
        "eval_upstream": eval_upstream, "eval_dX": eval_dX.numpy(),
        "eval_dgamma": eval_dgamma.numpy(), "eval_dbeta": eval_dbeta.numpy(),
    }


def save_npz(path, arrays):
    """Like np.savez_compressed, with a fixed date in every zip entry."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(20240505)
    arrays = {"configs": np.array(json.dumps(CONFIGS))}
    for i, config in enumerate(CONFIGS):
        for key, value in make_case(config, rng).items():
            arrays[f"{i}{key}"] = np.asarray(value, dtype=np.float64)
    os.makedirs(DATA_DIR, exist_ok=True)
    save_npz(PATH, arrays)
    print(f"{PATH}: {len(CONFIGS)} cases, {os.path.getsize(PATH) / 1024:.1f} KiB")
    assert "neural_networks" not in sys.modules, "the oracle must not import neural_networks"


if __name__ == "__main__":
    main()
