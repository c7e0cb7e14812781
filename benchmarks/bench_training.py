"""Time one training epoch of the Fashion-MNIST CNN: this library vs PyTorch.

    python benchmarks/bench_training.py [--repeats R] [--breakdown-steps N] [--write] [--quick]

Both sides train the network of ``python train_fashion_mnist.py --model cnn``
(three conv + max-pool + batch-norm + ReLU blocks, a 256-unit hidden layer
with batch norm and dropout, softmax output), float32, batch 128, SGD with
momentum 0.9, weight decay 5e-4 and the cosine learning-rate schedule,
cross-entropy with the recipe's label smoothing, on the 50,000 training images
of the script's split. An epoch is 391 steps of
forward, loss, backward and update; validation is not timed.

Both consume the same batches: the library's own sampler (shuffle and random
flips, as in the script) makes each batch once, before timing, and PyTorch
gets it as an NCHW tensor. PyTorch runs on the CPU with as many threads as
numpy's BLAS (threadpoolctl). Both run in this process, with the same
``keep_freed_memory`` setting the training scripts use, taking turns epoch by
epoch (a pause before each). Before timing, the script copies the library's
initial weights into the PyTorch network and checks that both give the same
predictions, so the two really are the same network.

After the epochs, a breakdown (``step_breakdown.py``): N more training steps
per side (default 40, in two blocks taken in turns, each after a pause and two
uncounted steps) with every part of the step timed as it runs, and summed by
layer type: conv, batch norm, ReLU, pooling, flatten, FC, dropout, loss,
optimizer step, and making the batch (sampling with the flip). Ours wraps
each layer's forward and backward; PyTorch runs its modules one at a time
with one ``torch.autograd.grad`` per module for the backward pass. The
result is ms per step beside PyTorch's, and what each part adds to an
epoch. ``--breakdown-steps 0`` leaves it out.

The result is printed; with ``--write`` it also goes into BENCHMARKS.md as
its "training" section. ``--quick`` times 40 steps per side, scaled to an
epoch, and cannot be written.
"""

import argparse
import statistics
import time

import numpy as np

import step_breakdown
from bench_layers import (OtherProcesses, add_write_option, assert_close, blas_threads,
                          machine_facts, report)
from neural_networks.image_runs import RECIPES, build_model
from neural_networks.datasets import initialize_dataset
from neural_networks.utils.memory import keep_freed_memory

RECIPE = RECIPES[("fashion_mnist", "cnn")]
EPOCHS = RECIPE.epochs  # the cosine schedule spans the script's run
LABEL_SMOOTHING = RECIPE.get("label_smoothing", 0.0)
TARGET = 1.0  # the most ours/PyTorch may take for an epoch
QUICK_STEPS = 40


def training_split(dtype=np.float32):
    """The script's training split: a ``Data`` that shuffles and flips at random."""
    dataset = initialize_dataset("fashion_mnist", batch_size=RECIPE.batch_size, flatten=False,
                                 seed=0, dtype=dtype, augment=RECIPE.augment)
    dataset.train.label_smoothing = LABEL_SMOOTHING
    return dataset.train


def load_batches(train):
    """One epoch of (X NHWC, Y one-hot) batches from the script's sampler."""
    np.random.seed(0)
    return [train.sample() for _ in range(train.samples_per_epoch)]


def ours_model():
    model = build_model(RECIPE, RECIPE.optimizer.lr, EPOCHS, seed=0)
    model.build(n_out=10)
    return model


def torch_network(torch, layers=None, input_shape=(28, 28, 1), n_out=10):
    """The recipe's network in PyTorch, layer for layer (NCHW inside).

    ``layers`` (the recipe's by default) are the library's layer settings; each
    becomes its PyTorch module, and a ReLU module follows a layer whose
    activation is "relu". The softmax of the output layer is left out:
    ``F.cross_entropy`` takes the logits.
    """
    nn = torch.nn

    class ChannelsLast(nn.Module):
        """Flatten in NHWC order, as the library's Flatten does."""

        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)

    rows, cols, channels = input_shape
    features = None  # after flatten
    modules = []
    for spec in layers or RECIPE.layers:
        name = spec["name"]
        if name == "conv2d":
            assert spec["pad"] == "same" and spec["stride"] == 1, spec
            modules.append(nn.Conv2d(channels, spec["n_out"], spec["kernel_shape"],
                                     padding=spec["kernel_shape"][0] // 2))
            channels = spec["n_out"]
        elif name == "pool2d":
            assert spec["mode"] == "max", spec
            k, stride, pad = spec["kernel_shape"][0], spec["stride"], spec.get("pad", 0)
            modules.append(nn.MaxPool2d(k, stride, padding=pad))
            rows, cols = ((size + 2 * pad - k) // stride + 1 for size in (rows, cols))
        elif name == "batchnorm":
            modules.append(nn.BatchNorm1d(features) if features else nn.BatchNorm2d(channels))
        elif name == "flatten":
            modules.append(ChannelsLast())
            features = rows * cols * channels
        elif name == "fully_connected":
            width = spec["n_out"] or n_out
            modules.append(nn.Linear(features, width))
            features = width
        elif name == "dropout":
            modules.append(nn.Dropout(spec["p"]))
        else:
            raise ValueError(f"no PyTorch module for layer {name!r}")
        if spec.get("activation") == "relu":
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def copy_weights(model, net, torch):
    """Load the library model's parameters and running statistics into ``net``."""
    ours = [layer for layer in model.layers if layer.parameters]
    theirs = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear,
                                               torch.nn.BatchNorm2d, torch.nn.BatchNorm1d))]
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    with torch.no_grad():
        for layer, module in zip(ours, theirs, strict=True):
            p = layer.parameters
            if "gamma" in p:
                module.weight.copy_(torch.from_numpy(p["gamma"].ravel()))
                module.bias.copy_(torch.from_numpy(p["beta"].ravel()))
                module.running_mean.copy_(torch.from_numpy(layer.buffers["running_mean"].ravel()))
                module.running_var.copy_(torch.from_numpy(layer.buffers["running_var"].ravel()))
            elif p["W"].ndim == 4:  # (kr, kc, c_in, c_out) -> (c_out, c_in, kr, kc)
                module.weight.copy_(torch.from_numpy(p["W"].transpose(3, 2, 0, 1).copy()))
                module.bias.copy_(torch.from_numpy(p["b"].ravel()))
            else:  # (n_in, n_out) -> (n_out, n_in)
                module.weight.copy_(torch.from_numpy(p["W"].T.copy()))
                module.bias.copy_(torch.from_numpy(p["b"].ravel()))


def check_same_network(model, net, batches, torch):
    """Same weights, same input: same predictions (eval mode, float32 rounding)."""
    X = batches[0][0]
    with model.evaluating():
        model.forward(X[:2])  # the layers make their parameters on first use
        ours = model.forward(X)
    copy_weights(model, net, torch)
    net.eval()
    with torch.no_grad():
        theirs = torch.softmax(net(torch.from_numpy(X.transpose(0, 3, 1, 2).copy())), dim=1)
    net.train()
    assert_close(ours, theirs.numpy(), 1e-4)


def ours_epoch(model, batches):
    """The training steps of NeuralNetwork.train, on the prepared batches.

    Like ``Trainer``, the epoch runs in one ``model.session()``.
    """
    model.set_mode("train")
    n = len(batches)
    with model.session():
        for k, (X, Y) in enumerate(batches):
            out = model.forward(X)
            model.backward(Y, out)
            model.update(k / n)


def torch_epoch(net, optimizer, batches, torch, schedule):
    net.train()
    n = len(batches)
    for k, (X, Y) in enumerate(batches):
        x = torch.from_numpy(X.transpose(0, 3, 1, 2).copy())
        y = torch.from_numpy(Y.argmax(axis=1))
        for group in optimizer.param_groups:
            group["lr"] = schedule(k / n)
        loss = torch.nn.functional.cross_entropy(net(x), y, label_smoothing=LABEL_SMOOTHING)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def run(repeats, quick, breakdown_steps):
    """Time the epochs, then the breakdown (none with ``breakdown_steps`` 0).

    Returns
    -------
    median seconds per epoch by side, steps per epoch, threads per side, and
    ``step_breakdown.run``'s result (or None)
    """
    import torch

    threads = blas_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    train = training_split()
    batches = load_batches(train)
    model = ours_model()
    net = torch_network(torch)
    check_same_network(model, net, batches, torch)
    optimizer = torch.optim.SGD(net.parameters(), lr=RECIPE.optimizer.lr, momentum=0.9,
                                weight_decay=RECIPE.optimizer.weight_decay)
    schedule = model.optimizer.lr  # the library's cosine schedule, for both sides
    timed = batches[:QUICK_STEPS] if quick else batches
    scale = len(batches) / len(timed)
    sides = {
        "ours": lambda: ours_epoch(model, timed),
        "PyTorch": lambda: torch_epoch(net, optimizer, timed, torch, schedule),
    }
    times = {name: [] for name in sides}
    for _ in range(repeats):
        for name, epoch in sides.items():
            time.sleep(1.0)
            start = time.perf_counter()
            epoch()
            seconds = (time.perf_counter() - start) * scale
            times[name].append(seconds)
            print(f"{name}: {seconds:.1f} s per epoch", flush=True)
    breakdown = None
    if breakdown_steps:
        sampler = step_breakdown.TorchSampler(train, torch)
        breakdown = step_breakdown.run({
            "ours": lambda steps, watch: step_breakdown.ours_steps(model, train, steps, watch),
            "PyTorch": lambda steps, watch: step_breakdown.torch_steps(
                net, optimizer, sampler, schedule, steps, watch, torch, LABEL_SMOOTHING),
        }, breakdown_steps)
    return ({name: statistics.median(t) for name, t in times.items()}, len(batches), threads,
            breakdown)


def breakdown_lines(breakdown, result, steps, breakdown_steps, threads):
    """The breakdown's text and table for BENCHMARKS.md (and the terminal)."""
    rows, walls = step_breakdown.table(breakdown, breakdown_steps, steps)
    per_step = {name: 1e3 * seconds / steps for name, seconds in result.items()}
    return [
        "### Where the time of a step goes",
        "",
        f"{breakdown_steps} more training steps per side after the epochs above (batch "
        f"{RECIPE.batch_size}, float32, {threads} threads each: numpy's BLAS and "
        "`torch.set_num_threads`), in two blocks taken in turns, each after a 1 s pause "
        "and two steps not counted. Each part of the step is timed with "
        "`time.perf_counter` around its call as the step runs, summed by layer type, "
        f"and given in ms per step (mean over the {breakdown_steps} steps); the last "
        f"column is ours minus PyTorch over an epoch of {steps} steps.",
        "",
        "- **ours**: every layer's `forward` and `backward` is wrapped, and so are "
        "the output layer's softmax object, the loss, `Data.sample` (a batch and its "
        "random flips) and `NeuralNetwork.update` (the SGD step on every parameter, "
        "then clearing gradients and caches), all inside one `model.session()` (a "
        "`parallel.session()` for this network) as in `Trainer`. A wrapped call's "
        "time counts for its own row only: the softmax's is subtracted from the FC row and counted under loss. `BatchNorm` "
        "applies its ReLU inside its own forward and backward (fused with the scale "
        "and shift, and with the sums of the backward pass), so the ReLU's time counts "
        "under batch norm and the activation row is empty. The conv and hidden FC "
        "layers have the identity as their activation, left in their rows. Like "
        "PyTorch, ours skips the first conv layer's input gradient.",
        "- **PyTorch**: the `nn.Sequential`'s modules are called one at a time, each on "
        "its input detached from the graph, so each module's graph stands alone; the "
        "backward pass is one `torch.autograd.grad` per module, last first, for its "
        "input (not for the first conv, whose input is the batch) and its parameters, "
        "timed per module; the parameter gradients are then set as `.grad`. BatchNorm "
        "and ReLU are separate modules there. Loss: `F.cross_entropy` on the logits "
        "(with the recipe's label smoothing, as ours) and its gradient. Optimizer step: setting the learning rate, "
        "`optimizer.step()` and `zero_grad(set_to_none=True)`. Batches come from "
        "tensors in memory: `randperm` once per epoch, indexing, and `flip` + "
        "`where` for a random half of the images (no `DataLoader`).",
        "- **rest of the step**: the whole step's wall time less the rows above "
        "(Python loops and glue; on the PyTorch side also the detaching and the "
        "`.grad` assignments).",
        "- the epochs above time steps on batches made before timing; here each step "
        "makes its own (the data row). The shuffle at the start of an epoch falls in "
        "an uncounted step on both sides.",
        "",
        *rows,
        "",
        f"Splitting the step costs a little: the whole instrumented step took "
        f"{walls['ours']:.1f} ms (ours) and {walls['PyTorch']:.1f} ms (PyTorch), "
        f"against {per_step['ours']:.1f} ms and {per_step['PyTorch']:.1f} ms per step "
        "in the epochs above (epoch time / steps). The per-epoch gaps add up to the "
        "instrumented steps' difference, not exactly to the epochs' difference.",
    ]


def section(result, steps, threads, repeats, facts, extra):
    """The training section of BENCHMARKS.md; ``extra`` lines (the breakdown) go last."""
    ratio = result["ours"] / result["PyTorch"]
    lines = [
        "<!-- training start -->",
        "## Training: one Fashion-MNIST CNN epoch",
        "",
        "Written by `python benchmarks/bench_training.py --write`: one epoch "
        f"({steps} steps of batch {RECIPE.batch_size}, float32, forward + loss + backward "
        "+ SGD update) of the `train_fashion_mnist.py --model cnn` network, this library "
        f"vs the same network in PyTorch ({threads} threads each), on the same batches; "
        f"median of {repeats} epoch(s) per side, taken in turns. See the script's "
        "docstring for the details.",
        "",
        *facts,
        "- both sides: `keep_freed_memory()` (glibc keeps freed memory, as in the "
        "training scripts)",
        "",
        "| side | s per epoch |",
        "|---|---:|",
        f"| ours | {result['ours']:.1f} |",
        f"| PyTorch | {result['PyTorch']:.1f} |",
        "",
        f"ours/PyTorch: **{ratio:.2f}** (target: <= {TARGET}: "
        f"{'met' if ratio <= TARGET else 'MISSED'}).",
        *([""] + extra if extra else []),
        "<!-- training end -->",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2,
                        help="epochs timed per side (default 2; the median is reported)")
    add_write_option(parser)
    parser.add_argument("--quick", action="store_true",
                        help=f"time {QUICK_STEPS} steps per side, scale to an epoch "
                             "(not with --write)")
    parser.add_argument("--breakdown-steps", type=int, default=40, metavar="N",
                        help="steps per side of the per-layer-type breakdown after the "
                             "epochs (default 40; 0: no breakdown)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.breakdown_steps < 0:
        parser.error(f"--breakdown-steps must be >= 0, got {args.breakdown_steps}")
    if args.write and args.quick:
        parser.error("--write puts a full run into BENCHMARKS.md: leave out --quick")
    import torch

    keep_freed_memory()
    torch.set_num_threads(blas_threads())
    facts = machine_facts(torch)
    print("\n".join(facts), flush=True)
    others = OtherProcesses()
    others.start()
    result, steps, threads, breakdown = run(args.repeats, args.quick, args.breakdown_steps)
    facts.append(others.fact())
    print(facts[-1])
    ratio = result["ours"] / result["PyTorch"]
    print(f"ours {result['ours']:.1f} s, PyTorch {result['PyTorch']:.1f} s per epoch: "
          f"ours/PyTorch {ratio:.2f}")
    extra = (breakdown_lines(breakdown, result, steps, args.breakdown_steps, threads)
             if breakdown else [])
    if extra:
        print("\n".join(extra))
    report("training", section(result, steps, threads, args.repeats, facts, extra), args.write)


if __name__ == "__main__":
    main()
