"""Check the library on a GPU against its CPU path, and time it beside PyTorch.

    python benchmarks/gpu_check.py --data-dir DIR [--out FILE.json] [--device gpu|fake]

For a machine with an NVIDIA GPU and CuPy. In order:

1. correctness, float64: every registered layer (forward, backward, every
   gradient and buffer, in train and eval mode), every activation, loss and
   optimizer on the GPU against the CPU path, as the max relative error
   (max |gpu - cpu| / max |cpu| over each array; target <= 1e-10);
2. five training steps of the Fashion-MNIST CNN recipe's network in float64
   on both devices from the same batches: the losses, and the parameters and
   running statistics (relative to the largest value of their layer: a bias
   right before batch norm stays at rounding noise);
3. a checkpoint saved on the GPU loaded on the CPU: the same arrays, bit for
   bit, and the same predictions within 1e-10;
4. speed, float32, after a warm-up (CuPy compiles each kernel on first use):
   an epoch of the CNN recipe's training steps (forward, loss, backward, the
   loss and error read once, update, as ``Trainer`` does) on the GPU, beside
   PyTorch's same network on the same GPU (built as benchmarks/bench_training.py
   builds it, same initial weights, same batches, SGD with momentum and
   weight decay, label smoothing, the loss read once per step too), with
   cuDNN's and cuBLAS's TF32 off (as CuPy computes float32), then on. Both
   take batches already made on the host (flips, label smoothing) and copy
   each to the GPU in the step; median of ``--repeats`` epochs per side,
   taken in turns;
5. where a step's time goes on the GPU: each layer's forward and backward
   timed with the GPU waited on before and after (so the parts add up, and
   the steps run slower than unwatched), the rest being the loss, the read
   and the update;
6. the whole recipe, as ``train_fashion_mnist.py --model cnn --device gpu``
   trains it (``image_runs.RECIPES[("fashion_mnist", "cnn")]``: 10 epochs,
   validation after each, ``last`` and ``best`` checkpoints): its wall time
   and the test accuracy of the best-validation epoch (targets: under 60 s,
   at least 93%).

Every figure goes to the JSON file (``--out``), a short table to stdout. The
exit status is 1 when a correctness check (1-3) fails, 0 otherwise; the
targets of 4 and 6 are reported as met or missed, not failed.

``--device fake`` is a dry run on the CPU with tests/fake_gpu.py's fake device
in CuPy's place: small sizes, no PyTorch part (step 4 times ours alone). It
runs in the tests (tests/test_benchmarks.py), so that this script cannot rot
while no GPU is at hand. Its timings mean nothing.

What a GPU machine needs: this repository (run from its root), Python with
numpy, CuPy for its CUDA (``cupy-cuda12x``, or ``cupy-cuda13x`` for CUDA 13),
PyTorch with CUDA, and the library's own dependencies (matplotlib,
scikit-learn, threadpoolctl, tqdm, joblib, requests, urllib3; pooch only to
download, which this script never does). Nothing is fetched: the four
Fashion-MNIST ``.gz`` files (about 30 MB) travel with the run, e.g. copied
into an ignored folder of the checkout and named with ``--data-dir``::

    mkdir -p .data && cp /usr/share/datasets/fashion-mnist/*.gz .data/
    echo /.data/ >> .git/info/exclude
    # on the GPU machine, from the repository's root:
    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --data-dir .data --out gpu_check.json

It needs about 3 GB of GPU memory and should finish in under 4 minutes on one
H100 (most of it the recipe's 10 epochs and the kernels' first compilation).
"""

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

# The checkout's library (and tests/fake_gpu.py), not an installed copy: a GPU
# machine runs this from a copy of the repository, with nothing installed.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, REPO)

from neural_networks import backend, scoring
from neural_networks.activations import ACTIVATIONS, initialize_activation
from neural_networks.datasets import Dataset, initialize_dataset
from neural_networks.image_runs import RECIPES, build_model
from neural_networks.layers import LAYERS, initialize_layer
from neural_networks.losses import LOSSES, initialize_loss
from neural_networks.models import load_model
from neural_networks.optimizers import OPTIMIZERS, initialize_optimizer

RECIPE = RECIPES[("fashion_mnist", "cnn")]
TOLERANCE = 1e-10  # the most a float64 result on the GPU may differ from the CPU's
ACCURACY_TARGET = 0.93
RECIPE_SECONDS_TARGET = 60.0
RATIO_TARGET = 2.0  # ours / PyTorch per epoch, TF32 off on both

#: Cases per registered layer: (settings, shape of one example); batches of Plan.batch.
LAYER_CASES = {
    "fully_connected": [(dict(n_out=256, activation="linear"), (1152,)),
                        (dict(n_out=10, activation="softmax"), (256,))],
    "conv2d": [(dict(n_out=32, kernel_shape=3, activation="linear"), (28, 28, 1)),
               (dict(n_out=64, kernel_shape=3, activation="linear"), (14, 14, 32)),
               (dict(n_out=16, kernel_shape=5, stride=2, pad=2, activation="relu"),
                (15, 15, 24))],
    "pool2d": [(dict(kernel_shape=2, stride=2, mode="max"), (28, 28, 32)),
               (dict(kernel_shape=2, stride=2, pad=1, mode="max"), (7, 7, 128)),
               (dict(kernel_shape=3, stride=1, pad=1, mode="average"), (8, 8, 16))],
    "flatten": [(dict(), (4, 4, 128))],
    "batchnorm": [(dict(activation="relu"), (14, 14, 32)), (dict(activation="relu"), (256,)),
                  (dict(activation="tanh"), (64,))],
    "groupnorm": [(dict(groups=8, activation="relu"), (14, 14, 32)),
                  (dict(groups=1), (256,)),
                  (dict(groups=16, eps=1e-3, activation="tanh"), (7, 7, 16))],
    "dropout": [(dict(p=0.3), (256,))],
}

OPTIMIZER_SETTINGS = {
    "SGD": dict(lr=0.1, momentum=0.9, weight_decay=5e-4, clip_norm=1.0),
    "Adam": dict(lr=2e-3, weight_decay=1e-4, clip_norm=1.0),
    "AdamW": dict(lr=2e-3, weight_decay=1e-2),
}


@dataclass
class Plan:
    """Sizes of a run: the GPU's, or the fake device's small ones."""

    batch: int  # examples per batch in the correctness checks
    train: int  # training images (None: the recipe's split, all of them)
    steps: int  # training steps compared in float64
    warm_up: int  # untimed steps per side before timing
    profile_steps: int  # steps of the per-layer breakdown
    epochs: int  # of the whole recipe
    torch: bool  # time PyTorch too


PLANS = {
    "gpu": Plan(batch=64, train=None, steps=5, warm_up=30, profile_steps=20,
                epochs=RECIPE.epochs, torch=True),
    "fake": Plan(batch=4, train=96, steps=2, warm_up=1, profile_steps=1, epochs=1, torch=False),
}


def max_relative_error(on_device, on_host, scale=None):
    """max |gpu - cpu| / max |cpu| over an array (0 for two arrays of zeros), or
    relative to ``scale`` when given."""
    got = backend.to_host(on_device).astype(np.float64)
    expected = np.asarray(on_host, dtype=np.float64)
    if got.shape != expected.shape:
        return float("inf")
    if scale is None:
        scale = float(np.max(np.abs(expected), initial=0.0))
    difference = float(np.max(np.abs(got - expected), initial=0.0))
    return difference / scale if scale else difference


def synchronize(xp):
    """Wait until the GPU has done what it was given (for timing)."""
    xp.cuda.Device().synchronize()


# ----------------------------------------------------------------- 1. kernels

def check_layers(plan, rng):
    """Every registered layer on both devices: rows of {name, settings, mode, error}."""
    missing = sorted(set(LAYERS) - set(LAYER_CASES))
    rows = [{"name": name, "settings": "no case: add one to LAYER_CASES", "mode": "-",
             "error": float("inf")} for name in missing]
    for name, cases in LAYER_CASES.items():
        for settings, shape in cases:
            layers = []
            for _ in range(2):
                np.random.seed(1)
                layers.append(initialize_layer(name, **settings))
            cpu, gpu = layers
            for mode in ("train", "eval"):
                cpu.training = gpu.training = mode == "train"
                X = rng.normal(size=(plan.batch, *shape))
                errors = []
                np.random.seed(2)
                Y = cpu.forward(X)
                np.random.seed(2)
                errors.append(max_relative_error(gpu.forward(backend.to_device(X, "gpu")), Y))
                dY = rng.normal(size=Y.shape)
                dX = cpu.backward(dY)
                errors.append(max_relative_error(gpu.backward(backend.to_device(dY, "gpu")), dX))
                for kind in ("gradients", "buffers"):
                    for key, value in getattr(cpu, kind).items():
                        errors.append(max_relative_error(getattr(gpu, kind)[key], value))
                rows.append({"name": name, "settings": settings, "mode": mode,
                             "error": max(errors)})
    return rows


def check_activations_and_losses(plan, rng):
    rows = []
    Z, dY = rng.normal(size=(plan.batch, 10)) * 3, rng.normal(size=(plan.batch, 10))
    for name in ACTIVATIONS:
        activation = initialize_activation(name)
        Z_gpu, dY_gpu = backend.to_device(Z, "gpu"), backend.to_device(dY, "gpu")
        errors = [max_relative_error(activation.forward(Z_gpu), activation.forward(Z)),
                  max_relative_error(activation.backward(Z_gpu, dY_gpu),
                                     activation.backward(Z, dY))]
        rows.append({"name": name, "kind": "activation", "error": max(errors)})
    Y = np.eye(10)[rng.integers(0, 10, plan.batch)]
    Y_hat = initialize_activation("softmax").forward(Z)
    for name in LOSSES:
        loss = initialize_loss(name)
        Y_hat_gpu = backend.to_device(Y_hat, "gpu")
        errors = [max_relative_error(loss.value(Y, Y_hat_gpu), loss.value(Y, Y_hat)),
                  max_relative_error(loss.backward(Y, Y_hat_gpu), loss.backward(Y, Y_hat))]
        rows.append({"name": name, "kind": "loss", "error": max(errors)})
    return rows


def check_optimizers(rng):
    rows = []
    shapes = {"0.W": (3, 3, 32, 64), "0.b": (1, 64), "1.W": (1152, 256)}
    for name in OPTIMIZERS:
        settings = OPTIMIZER_SETTINGS.get(name, dict(lr=0.01))
        cpu, gpu = (initialize_optimizer(name, **settings) for _ in range(2))
        errors = []
        for step in range(3):
            for key, shape in shapes.items():
                param = rng.normal(size=shape)
                grad = rng.normal(size=shape) * (0.01 if step == 1 else 1.0)
                delta = gpu.update(key, backend.to_device(param, "gpu"),
                                   backend.to_device(grad, "gpu"), step / 3)
                errors.append(max_relative_error(delta, cpu.update(key, param, grad, step / 3)))
        rows.append({"name": name, "kind": "optimizer", "error": max(errors)})
    return rows


# ------------------------------------------------------- 2, 3. training, files

def recipe_model(device, dtype=np.float64, epochs=RECIPE.epochs):
    model = build_model(RECIPE, RECIPE.optimizer.lr, epochs, seed=0).to(device)
    return model.build(input_shape=(28, 28, 1), n_out=10, dtype=dtype)


def batches_of(split, count):
    """``count`` batches from the training split's sampler (shuffle, flips, label smoothing)."""
    np.random.seed(0)
    split.reset()
    return [split.sample() for _ in range(count)]


def train_steps(model, batches, steps_per_epoch):
    """Training steps as ``Trainer`` runs them; returns the losses read."""
    losses = []
    model.set_mode("train")
    with model.session():
        for k, (X, Y) in enumerate(batches):
            Y_hat = model.forward(X)
            Y = backend.to_device(Y, model.device)
            loss = model.backpropagate(Y, Y_hat)
            losses.append(backend.read_scalars([loss, scoring.error_value(model, Y, Y_hat)])[0])
            model.update(k / steps_per_epoch)
    return losses


def check_training(dataset, plan):
    """The recipe's network trained ``plan.steps`` steps in float64 on both devices."""
    split = Dataset(dataset.train.data[:plan.batch * plan.steps].astype(np.float64),
                    dataset.train.labels[:plan.batch * plan.steps].astype(np.float64),
                    plan.batch).train
    split.augment, split.label_smoothing = dataset.train.augment, dataset.train.label_smoothing
    batches = batches_of(split, plan.steps)
    models = {device: recipe_model(device) for device in ("cpu", "gpu")}
    losses = {}
    for device, model in models.items():
        np.random.seed(3)  # the same dropout masks on both
        losses[device] = train_steps(model, batches, plan.steps)
    states = {device: model.state_dict() for device, model in models.items()}
    # Relative to the largest value of the layer: a convolution's bias right before
    # batch norm has a zero gradient but for rounding, and stays at rounding noise.
    scales = {}
    for key, value in states["cpu"].items():
        layer = key.split(".")[0]
        scales[layer] = max(scales.get(layer, 0.0), float(np.max(np.abs(value))))
    parameters = max(max_relative_error(states["gpu"][key], value, scales[key.split(".")[0]])
                     for key, value in states["cpu"].items())
    loss = max(abs(a - b) / abs(b) for a, b in zip(losses["gpu"], losses["cpu"], strict=True))
    return {"steps": plan.steps, "batch": plan.batch, "parameters_error": parameters,
            "loss_error": loss}, models["gpu"]


def check_checkpoint(model, X):
    """A checkpoint saved on the GPU, loaded on the CPU: same arrays, same predictions."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "gpu.npz")
        model.save(path)
        on_cpu = load_model(path, device="cpu")
    state, loaded = model.state_dict(), on_cpu.state_dict()
    same = all(type(loaded[key]) is np.ndarray
               and np.array_equal(backend.to_host(value), loaded[key])
               for key, value in state.items())
    predictions = max_relative_error(model.predict(X)[0], on_cpu.predict(X)[0])
    return {"arrays_equal": bool(same), "predictions_error": predictions}


# ------------------------------------------------------------------- 4. speed

def time_ours(model, batches, xp):
    synchronize(xp)
    start = time.perf_counter()
    train_steps(model, batches, len(batches))
    synchronize(xp)
    return time.perf_counter() - start


def torch_side(model, batches):
    """PyTorch's recipe network on the GPU with the library model's weights, and a
    function that trains it an epoch on ``batches`` and returns the seconds."""
    import torch

    from bench_training import check_same_network, torch_network

    torch.manual_seed(0)
    net = torch_network(torch)
    check_same_network(model, net, batches, torch)  # copies the weights; on the CPU
    net = net.cuda()
    optimizer = torch.optim.SGD(net.parameters(), lr=RECIPE.optimizer.lr, momentum=0.9,
                                weight_decay=RECIPE.optimizer.weight_decay)
    schedule = model.optimizer.lr
    smoothing = RECIPE.get("label_smoothing", 0.0)
    # NCHW copies made once, before timing; each step copies its batch to the GPU.
    host = [(np.ascontiguousarray(X.transpose(0, 3, 1, 2)), Y.argmax(axis=1))
            for X, Y in batches]

    def epoch(steps=None, tf32=False):
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        net.train()
        chosen = host if steps is None else host[:steps]
        torch.cuda.synchronize()
        start = time.perf_counter()
        for k, (X, y) in enumerate(chosen):
            x, target = torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda()
            for group in optimizer.param_groups:
                group["lr"] = schedule(k / len(host))
            loss = torch.nn.functional.cross_entropy(net(x), target, label_smoothing=smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()  # one read per step, as ours
        torch.cuda.synchronize()
        return time.perf_counter() - start

    return epoch, {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version()}


def time_epochs(dataset, plan, repeats, xp):
    """Seconds per epoch of training steps: ours (float32), and PyTorch's with TF32 off and on."""
    split = dataset.train
    steps = split.samples_per_epoch
    batches = batches_of(split, steps)
    model = build_model(RECIPE, RECIPE.optimizer.lr, RECIPE.epochs, seed=0)
    model.build(input_shape=(28, 28, 1), n_out=10, dtype=np.float32)
    sides = {}
    facts = {}
    if plan.torch:
        torch_epoch, facts = torch_side(model, batches)
        sides["torch_tf32_off"] = lambda: torch_epoch(tf32=False)
        sides["torch_tf32_on"] = lambda: torch_epoch(tf32=True)
        torch_epoch(steps=plan.warm_up)
    model.to("gpu")
    train_steps(model, batches[:plan.warm_up], steps)
    sides["ours"] = lambda: time_ours(model, batches, xp)
    times = {name: [] for name in sides}
    for _ in range(repeats):
        for name, run in sides.items():
            times[name].append(run())
    result = {"steps_per_epoch": steps, "batch": split.batch_size, "repeats": repeats,
              "warm_up_steps": plan.warm_up, **facts}
    for name, seconds in times.items():
        result[f"{name}_seconds"] = statistics.median(seconds)
        result[f"{name}_all_seconds"] = seconds
    if plan.torch:
        result["ours_over_torch_tf32_off"] = result["ours_seconds"] / result[
            "torch_tf32_off_seconds"]
        result["ours_over_torch_tf32_on"] = result["ours_seconds"] / result[
            "torch_tf32_on_seconds"]
    result["breakdown"] = breakdown(model, batches[:plan.profile_steps], xp)
    return result


def breakdown(model, batches, xp):
    """Milliseconds per step in each layer's forward and backward, the GPU waited on
    before and after each call; "rest" is the loss, the read and the update."""
    seconds = collections.defaultdict(float)

    def watch(call, key):
        def timed(*args, **kwargs):
            synchronize(xp)
            start = time.perf_counter()
            result = call(*args, **kwargs)
            synchronize(xp)
            seconds[key] += time.perf_counter() - start
            return result
        return timed

    watched = []
    for i, layer in enumerate(model.layers):
        for phase in ("forward", "backward"):
            # An instance attribute, over the class's method until deleted.
            setattr(layer, phase, watch(getattr(layer, phase), (i, phase)))
            watched.append((layer, phase))
    try:
        total = time_ours(model, batches, xp)
    finally:
        for layer, phase in watched:
            delattr(layer, phase)
    per_step = 1e3 / len(batches)
    rows = [{"layer": f"{i} {type(layer).__name__}",
             "forward_ms": seconds[(i, "forward")] * per_step,
             "backward_ms": seconds[(i, "backward")] * per_step}
            for i, layer in enumerate(model.layers)]
    layers = sum(seconds.values()) * per_step
    return {"steps": len(batches), "layers": rows, "step_ms": total * per_step,
            "rest_ms": total * per_step - layers}


# ------------------------------------------------------------------ 5. recipe

def run_recipe(dataset, plan):
    """The recipe trained on the GPU as the training script does; its time and accuracy."""
    model = build_model(RECIPE, RECIPE.optimizer.lr, plan.epochs, seed=0).to("gpu")
    with tempfile.TemporaryDirectory() as folder:
        last, best = os.path.join(folder, "last.npz"), os.path.join(folder, "best.npz")
        start = time.perf_counter()
        model.train(dataset, plan.epochs, verbose=False, checkpoint=last, best_checkpoint=best)
        seconds = time.perf_counter() - start
        final = model.evaluate(dataset.test.data, dataset.test.labels)["accuracy"]
        if os.path.isfile(best):
            model.load(best)
        accuracy = model.evaluate(dataset.test.data, dataset.test.labels)["accuracy"]
    return {"epochs": plan.epochs, "seconds": seconds, "test_accuracy": accuracy,
            "best_epoch": model.epoch, "final_test_accuracy": final,
            "epoch_seconds": [r["seconds"] for r in model.history["epochs"]]}


# -------------------------------------------------------------------- report

def load_data(data_dir, plan):
    dataset = initialize_dataset("fashion_mnist", batch_size=RECIPE.batch_size,
                                 data_dir=data_dir, augment=RECIPE.augment)
    dataset.train.label_smoothing = RECIPE.get("label_smoothing", 0.0)
    if plan.train is not None:  # the fake's small run: the first images of each split
        small = Dataset(dataset.train.data[:plan.train], dataset.train.labels[:plan.train],
                        plan.batch * 8, dataset.validate.data[:plan.train // 2],
                        dataset.validate.labels[:plan.train // 2],
                        dataset.test.data[:plan.train // 2], dataset.test.labels[:plan.train // 2])
        small.train.augment = dataset.train.augment
        small.train.label_smoothing = dataset.train.label_smoothing
        dataset = small
    return dataset


def device_facts(xp, device):
    facts = {"device": device, "numpy": np.__version__, "python": sys.version.split()[0]}
    if device == "fake":
        facts["gpu"] = "fake device (tests/fake_gpu.py) on the CPU"
        return facts
    properties = xp.cuda.runtime.getDeviceProperties(0)
    name = properties["name"]
    facts.update(gpu=name.decode() if isinstance(name, bytes) else name,
                 cupy=xp.__version__, cuda_runtime=xp.cuda.runtime.runtimeGetVersion())
    return facts


def table(result):
    """The short table printed at the end."""
    checks, speed, recipe = result["checks"], result["speed"], result["recipe"]
    worst = max(checks["layers"] + checks["others"], key=lambda row: row["error"])
    # A layer without a case is inf: say so, or the row reads like a numerical failure.
    no_case = ", no case in LAYER_CASES" if worst.get("mode") == "-" else ""
    lines = [
        f"{result['facts']['gpu']}",
        "| check | figure | target | |",
        "|---|---:|---:|---|",
        f"| layers, activations, losses, optimizers: max relative error (worst: "
        f"{worst['name']}{no_case}) | {worst['error']:.1e} | <= {TOLERANCE:g} | "
        f"{'ok' if worst['error'] <= TOLERANCE else 'FAILED'} |",
        f"| {checks['training']['steps']} training steps, float64: parameters | "
        f"{checks['training']['parameters_error']:.1e} | <= {TOLERANCE:g} | "
        f"{'ok' if checks['training']['parameters_error'] <= TOLERANCE else 'FAILED'} |",
        f"| GPU checkpoint on the CPU: predictions | "
        f"{checks['checkpoint']['predictions_error']:.1e} | <= {TOLERANCE:g}, arrays equal | "
        f"{'ok' if checks['checkpoint']['ok'] else 'FAILED'} |",
        f"| epoch of training steps, ours | {speed['ours_seconds']:.2f} s | | |",
    ]
    if "torch_tf32_off_seconds" in speed:
        ratio = speed["ours_over_torch_tf32_off"]
        lines += [
            f"| epoch, PyTorch TF32 off / on | {speed['torch_tf32_off_seconds']:.2f} s / "
            f"{speed['torch_tf32_on_seconds']:.2f} s | | |",
            f"| ours / PyTorch (TF32 off) | {ratio:.2f} | <= {RATIO_TARGET} | "
            f"{'met' if ratio <= RATIO_TARGET else 'missed'} |",
        ]
    lines += [
        f"| recipe, {recipe['epochs']} epochs: wall time | {recipe['seconds']:.1f} s | "
        f"< {RECIPE_SECONDS_TARGET:g} s | "
        f"{'met' if recipe['seconds'] < RECIPE_SECONDS_TARGET else 'missed'} |",
        f"| recipe: test accuracy (best epoch {recipe['best_epoch']}) | "
        f"{recipe['test_accuracy']:.4f} | >= {ACCURACY_TARGET} | "
        f"{'met' if recipe['test_accuracy'] >= ACCURACY_TARGET else 'missed'} |",
        "",
        f"Where a watched step's {speed['breakdown']['step_ms']:.2f} ms go (ms):",
        "| layer | forward | backward |",
        "|---|---:|---:|",
        *(f"| {row['layer']} | {row['forward_ms']:.2f} | {row['backward_ms']:.2f} |"
          for row in speed["breakdown"]["layers"]),
        f"| rest: loss, read, update | {speed['breakdown']['rest_ms']:.2f} | |",
    ]
    return "\n".join(lines)


def run(data_dir, device, repeats):
    """Every check and timing; returns (result dict, whether the checks passed)."""
    plan = PLANS[device]
    xp = backend.gpu_module()
    rng = np.random.default_rng(0)
    result = {"facts": device_facts(xp, device), "tolerance": TOLERANCE}
    dataset = load_data(data_dir, plan)
    print("1. layers, activations, losses and optimizers, float64", flush=True)
    layers = check_layers(plan, rng)
    others = check_activations_and_losses(plan, rng) + check_optimizers(rng)
    print("2, 3. training steps and a checkpoint, float64", flush=True)
    training, gpu_model = check_training(dataset, plan)
    checkpoint = check_checkpoint(gpu_model, dataset.test.data[:plan.batch].astype(np.float64))
    checkpoint["ok"] = checkpoint["arrays_equal"] and \
        checkpoint["predictions_error"] <= TOLERANCE
    result["checks"] = {"layers": layers, "others": others, "training": training,
                        "checkpoint": checkpoint}
    passed = (all(row["error"] <= TOLERANCE for row in layers + others)
              and training["parameters_error"] <= TOLERANCE
              and training["loss_error"] <= TOLERANCE and checkpoint["ok"])
    print("4, 5. epochs and a breakdown, float32", flush=True)
    result["speed"] = time_epochs(dataset, plan, repeats, xp)
    print(f"6. the recipe, {plan.epochs} epochs", flush=True)
    result["recipe"] = run_recipe(dataset, plan)
    result["checks_passed"] = passed
    result["targets"] = {
        "recipe_seconds": result["recipe"]["seconds"] < RECIPE_SECONDS_TARGET,
        "test_accuracy": result["recipe"]["test_accuracy"] >= ACCURACY_TARGET,
        "ours_over_torch": (result["speed"].get("ours_over_torch_tf32_off", np.inf)
                            <= RATIO_TARGET) if plan.torch else None,
    }
    return result, passed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True,
                        help="folder with the four Fashion-MNIST .gz files")
    parser.add_argument("--out", default=None, help="write every figure to this JSON file")
    parser.add_argument("--device", choices=sorted(PLANS), default="gpu",
                        help="gpu (CuPy), or fake: a dry run on tests/fake_gpu.py's device")
    parser.add_argument("--repeats", type=int, default=2,
                        help="epochs timed per side in step 4 (default 2; the median is kept)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    start = time.perf_counter()
    try:
        if args.device == "fake":
            from tests.fake_gpu import fakecupy

            with backend.use_gpu_module(fakecupy):
                result, passed = run(args.data_dir, args.device, args.repeats)
        else:
            result, passed = run(args.data_dir, args.device, args.repeats)
    except ValueError as error:  # no CuPy or no GPU, the data not found
        print(f"error: {error}", file=sys.stderr)
        return 2
    result["seconds"] = time.perf_counter() - start
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, default=str)
    print(table(result))
    print(f"correctness checks {'passed' if passed else 'FAILED'}; "
          f"{result['seconds']:.0f} s in all")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
