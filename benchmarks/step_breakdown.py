"""Where the time of a training step goes, by layer type: this library and PyTorch.

``bench_training.py`` runs this after its epoch timings (``--breakdown-steps``).
Both sides run whole training steps of the real networks and optimizers, with
each part of the step timed as it happens (``time.perf_counter`` around the
call) and summed by part:

- ours: every layer's ``forward`` and ``backward`` are wrapped, and so are
  the ReLU and softmax objects that BatchNorm and the output layer apply
  inside theirs, the loss, ``Data.sample`` (batch and flip) and
  ``NeuralNetwork.update``. The time of a wrapped call made inside another
  (the ReLU inside BatchNorm) counts for its own part only, not for the
  enclosing layer's.
- PyTorch: the ``nn.Sequential``'s modules are called one at a time, each on
  its input detached from the graph (so each module's graph stands alone);
  the backward pass is one ``torch.autograd.grad`` per module, in reverse
  order, for its input and its parameters, and the parameter gradients are
  then set as ``.grad`` for the optimizer. Batches come from a sampler written
  with tensor operations (``randperm``, indexing, ``flip`` + ``where``), the
  way a PyTorch program holding the data in memory makes them.
"""

import collections
import contextlib
import functools
import math
import time

from neural_networks.activations import ReLU, SoftMax
from neural_networks.layers import BatchNorm, Conv2D, Dropout, Flatten, FullyConnected, Pool2D

DATA = "data and augmentation"
ACTIVATION = "activation (ReLU)"
LOSS = "loss (softmax + cross-entropy)"
OPTIMIZER = "optimizer step"
#: The parts of a step, in the order of the table.
PARTS = (DATA, "conv", "batch norm", ACTIVATION, "pooling", "flatten", "FC", "dropout",
         LOSS, OPTIMIZER)
#: Parts timed as one call each, with no forward/backward split.
WHOLE = (DATA, OPTIMIZER)

OUR_LAYERS = {Conv2D: "conv", BatchNorm: "batch norm", Pool2D: "pooling",
              Flatten: "flatten", FullyConnected: "FC", Dropout: "dropout"}
OUR_ACTIVATIONS = {ReLU: ACTIVATION, SoftMax: LOSS}
TORCH_MODULES = {"Conv2d": "conv", "BatchNorm2d": "batch norm", "BatchNorm1d": "batch norm",
                 "ReLU": ACTIVATION, "MaxPool2d": "pooling", "ChannelsLast": "flatten",
                 "Linear": "FC", "Dropout": "dropout"}


class Stopwatch:
    """Wall time of wrapped calls, summed by (part, phase).

    A call's time excludes that of wrapped calls made while it runs, so
    nested parts are not counted twice.
    """

    def __init__(self):
        self.seconds = collections.defaultdict(float)
        self._inner = []  # per open call: seconds of the wrapped calls inside it

    def wrap(self, fn, part, phase):
        """``fn`` timed into ``(part, phase)``; phase is "forward", "backward" or "whole"."""
        key = (part, phase)

        def timed(*args, **kwargs):
            self._inner.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.seconds[key] += elapsed - self._inner.pop()
                if self._inner:
                    self._inner[-1] += elapsed

        return timed


@contextlib.contextmanager
def instrumented(model, watch):
    """Wrap the forward and backward of the model's layers, ReLU and softmax
    objects and loss into ``watch``; the wrappers go away on exit."""
    patched = []

    def patch(obj, part):
        for phase in ("forward", "backward"):
            setattr(obj, phase, watch.wrap(getattr(obj, phase), part, phase))
        patched.append(obj)

    for layer in model.layers:
        patch(layer, OUR_LAYERS[type(layer)])
        part = OUR_ACTIVATIONS.get(type(layer.activation))
        if part is not None:  # a linear activation is the identity: left inside its layer
            patch(layer.activation, part)
    patch(model.loss, LOSS)
    try:
        yield
    finally:
        for obj in patched:
            del obj.forward, obj.backward


def ours_steps(model, train, steps, watch):
    """Run ``steps`` training steps of ``model`` on batches of ``train`` (a ``Data``),
    timed into ``watch``. Returns the wall time of the whole steps."""
    model.set_mode("train")
    sample = watch.wrap(train.sample, DATA, "whole")
    update = watch.wrap(model.update, OPTIMIZER, "whole")
    n = train.samples_per_epoch
    with instrumented(model, watch), model.session():  # as Trainer runs its steps
        start = time.perf_counter()
        for k in range(steps):
            X, Y = sample()
            out = model.forward(X)
            model.backward(Y, out)
            update(k / n)
        return time.perf_counter() - start


class TorchSampler:
    """The batches of a ``Data`` split as PyTorch code makes them from tensors in
    memory: a fresh ``randperm`` each epoch, one index per batch, a left-right
    flip of each image with probability 0.5. Images NCHW, labels as class indices."""

    def __init__(self, train, torch):
        self.torch = torch
        self.images = torch.from_numpy(train.data.transpose(0, 3, 1, 2).copy())
        self.labels = torch.from_numpy(train.labels.argmax(axis=1))
        self.batch_size = train.batch_size
        self.batches = train.samples_per_epoch
        self.iteration = 0
        self.order = None

    def sample(self):
        torch = self.torch
        n = len(self.images)
        if self.iteration == 0:
            self.order = torch.randperm(n)
        low = self.iteration * self.batch_size
        high = n if self.iteration == self.batches - 1 else low + self.batch_size
        idx = self.order[low:high]
        self.iteration = (self.iteration + 1) % self.batches
        x = self.images[idx]
        flip = torch.rand(len(idx)) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(3), x), self.labels[idx]


def torch_steps(net, optimizer, sampler, schedule, steps, watch, torch, label_smoothing=0.0):
    """Run ``steps`` training steps of ``net`` (an ``nn.Sequential``), module by
    module, timed into ``watch``, with ``label_smoothing`` in the loss. Returns
    the wall time of the whole steps."""
    modules = list(net)
    parts = [TORCH_MODULES[type(m).__name__] for m in modules]
    forward = [watch.wrap(m, part, "forward") for m, part in zip(modules, parts, strict=True)]
    backward = [watch.wrap(torch.autograd.grad, part, "backward") for part in parts]
    params = [list(m.parameters()) for m in modules]
    loss_forward = watch.wrap(
        functools.partial(torch.nn.functional.cross_entropy, label_smoothing=label_smoothing),
        LOSS, "forward")
    loss_backward = watch.wrap(torch.autograd.grad, LOSS, "backward")
    sample = watch.wrap(sampler.sample, DATA, "whole")
    n = sampler.batches

    def optimizer_step(epoch):
        for group in optimizer.param_groups:
            group["lr"] = schedule(epoch)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    update = watch.wrap(optimizer_step, OPTIMIZER, "whole")
    net.train()
    start = time.perf_counter()
    for k in range(steps):
        x, y = sample()
        inputs, outputs = [], []
        for i, module in enumerate(forward):
            # The first module's input, the batch, needs no gradient, as in training.
            x = x if i == 0 else x.detach().requires_grad_()
            inputs.append(x)
            x = module(x)
            outputs.append(x)
        logits = x.detach().requires_grad_()
        (dx,) = loss_backward(loss_forward(logits, y), logits)
        for i in reversed(range(len(modules))):
            wrt = params[i] if i == 0 else [inputs[i], *params[i]]
            grads = backward[i](outputs[i], wrt, dx)
            if i > 0:
                dx, grads = grads[0], grads[1:]
            for p, g in zip(params[i], grads, strict=True):
                p.grad = g
        update(k / n)
    return time.perf_counter() - start


def run(sides, steps, blocks=2, warm_up=2):
    """Time ``steps`` steps of each side, taking turns in ``blocks`` blocks.

    ``sides`` maps a name to ``fn(steps, watch) -> seconds``. Each block
    starts after a pause (the other library's worker threads stop spinning)
    and ``warm_up`` steps that are not counted.

    Returns
    -------
    {name: (Stopwatch with the summed parts, wall seconds of the timed steps)}
    """
    result = {name: (Stopwatch(), 0.0) for name in sides}
    per_block = [math.ceil(steps / blocks)] * (steps % blocks) + \
        [steps // blocks] * (blocks - steps % blocks)
    for count in per_block:
        for name, fn in sides.items():
            time.sleep(1.0)
            fn(warm_up, Stopwatch())
            watch, wall = result[name]
            result[name] = (watch, wall + fn(count, watch))
    return result


def milliseconds(watch, part, phase, steps):
    return 1e3 * watch.seconds.get((part, phase), 0.0) / steps


def table(result, steps, steps_per_epoch, names=("ours", "PyTorch")):
    """The breakdown as markdown rows: ms per step by part and phase for both
    sides, their ratio and the gap in seconds per epoch."""
    ours, theirs = names
    header = ("| part of the step | ours fwd | ours bwd | ours total | PyTorch fwd | "
              "PyTorch bwd | PyTorch total | ours/PyTorch | ours - PyTorch, s per epoch |")
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    sums = {name: 0.0 for name in names}

    def row(label, a_cells, b_cells, a_total, b_total):
        ratio = f"{a_total / b_total:.2f}" if b_total > 0 else "-"
        gap = (a_total - b_total) * steps_per_epoch / 1e3
        return (f"| {label} | {' | '.join(a_cells)} | {a_total:.2f} | {' | '.join(b_cells)} "
                f"| {b_total:.2f} | {ratio} | {gap:+.1f} |")

    for part in PARTS:
        cells, totals = {}, {}
        for name in names:
            watch = result[name][0]
            if part in WHOLE:
                totals[name] = milliseconds(watch, part, "whole", steps)
                cells[name] = ["-", "-"]
            else:
                fwd = milliseconds(watch, part, "forward", steps)
                bwd = milliseconds(watch, part, "backward", steps)
                totals[name] = fwd + bwd
                cells[name] = [f"{fwd:.2f}", f"{bwd:.2f}"]
            sums[name] += totals[name]
        lines.append(row(part, cells[ours], cells[theirs], totals[ours], totals[theirs]))
    walls = {name: 1e3 * result[name][1] / steps for name in names}
    rest = {name: walls[name] - sums[name] for name in names}
    lines.append(row("rest of the step (loop, glue)", ["-", "-"], ["-", "-"],
                     rest[ours], rest[theirs]))
    lines.append(row("**whole step**", ["-", "-"], ["-", "-"], walls[ours], walls[theirs]))
    return lines, walls
