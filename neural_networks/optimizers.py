"""Optimizers: ``update(param_name, param, param_grad, epoch)`` returns the
step ``delta`` that the model subtracts from the parameter.

Per-parameter state (momentum buffers, Adam moments, step counts) lives in
``optimizer.cache[param_name]`` and is saved with a checkpoint through
``state_dict()`` / ``load_state_dict()``. Each optimizer declares the fields
of that state (``state_arrays``, ``state_counts``); checkpoints check a
file's state against that declaration.

A step computes where the parameter is (numpy, or CuPy on a GPU), its state
beside it (``to(device)`` moves the state arrays): on the CPU in cache-sized
pieces on the threads of a parallel session, on a GPU in one piece.
"""

from abc import ABC, abstractmethod

import numpy as np

from . import backend, parallel
from .schedulers import check_flag, check_number, initialize_scheduler
from .utils.registry import build, factory, lookup


def _check_course_schedule(lr_decay, staircase, stage_length):
    """Check the course's exponential-schedule settings under the optimizer's names for them."""
    if lr_decay is not None:
        check_number("lr_decay", lr_decay, above=0)
    if staircase is not None:
        check_flag("staircase", staircase)
    if stage_length is not None:
        check_number("stage_length", stage_length, above=0)


class Optimizer(ABC):
    """Base class: a learning-rate schedule, clipping, weight decay and state.

    The schedule is built here from ``lr_scheduler`` and the schedule
    settings (see ``initialize_scheduler``); a setting left None takes the
    schedule's default, and one the schedule does not take is a ValueError.
    """

    #: The fields of a parameter's state in ``cache[name]``: arrays of the
    #: parameter's shape and dtype, and step counts (ints >= 1).
    state_arrays = ()
    state_counts = ()

    def __init__(self, lr, lr_scheduler="constant", clip_norm=None, weight_decay=0.0,
                 lr_decay=None, staircase=None, stage_length=None, milestones=None,
                 total_epochs=None, warmup_epochs=None, min_lr=None, warmup_start=None):
        _check_course_schedule(lr_decay, staircase, stage_length)
        self.lr = initialize_scheduler(
            lr_scheduler, lr, decay=lr_decay, stage_length=stage_length, staircase=staircase,
            milestones=milestones, total_epochs=total_epochs, warmup_epochs=warmup_epochs,
            min_lr=min_lr, warmup_start=warmup_start,
        )
        if clip_norm is not None:
            check_number("clip_norm", clip_norm, above=0)
        self.clip_norm = clip_norm
        self.weight_decay = check_number("weight_decay", weight_decay, at_least=0)
        self.cache = {}

    @staticmethod
    def _check_param(param_name, param):
        # Adam's eps (1e-8) and small steps round to 0 in float16; refuse it plainly.
        if param.dtype == np.float16:
            raise ValueError(
                f"float16 parameters are not supported: use float32 or float64 "
                f"(parameter {param_name!r} is float16)"
            )

    def _clip(self, param_grad):
        """Rescale a gradient whose norm exceeds ``clip_norm`` to that norm."""
        if self.clip_norm is None:
            return param_grad
        norm = np.linalg.norm(param_grad)
        if backend.get_array_module(norm) is not np:
            # Comparing the norm on the host would wait for the device: scale on the
            # device, by 1 when the norm is within the limit (the gradient's value).
            return param_grad * np.minimum(1, self.clip_norm / norm)
        if norm > self.clip_norm:
            return param_grad * (self.clip_norm / norm)
        return param_grad

    @abstractmethod
    def update(self, param_name, param, param_grad, epoch):
        """Return the step for one parameter (same shape and dtype as ``param``)."""

    def state_dict(self):
        """The per-parameter state as a flat dict ``"name/field" -> array``: copies,
        arrays on the device they are on, step counts as 0-d host arrays."""
        state = {}
        for name, entry in self.cache.items():
            for field, value in entry.items():
                state[f"{name}/{field}"] = backend.copy_of(value)
        return state

    def load_state_dict(self, state):
        """Restore what ``state_dict()`` returned."""
        self.cache = {}
        for key, value in state.items():
            name, field = key.rsplit("/", 1)
            self.cache.setdefault(name, {})[field] = value.item() if value.ndim == 0 else value.copy()

    def to(self, device):
        """Move the state arrays (each field of ``state_arrays``) to ``device``, "cpu"
        or "gpu"; step counts stay Python ints. Returns the optimizer."""
        for entry in self.cache.values():
            for field in self.state_arrays:
                if field in entry:
                    entry[field] = backend.to_device(entry[field], device)
        return self


#: Numbers of a parameter that a step takes through all its operations at once.
PIECE = 1 << 16


def _in_pieces(size, work, scratch_arrays=0, dtype=np.float64, xp=np):
    """Call work(start, stop, scratch) for cache-sized pieces of a flat parameter.

    The pieces run on the threads of a parallel session; each goes through
    every operation of the step while it is in cache. ``scratch`` is a list of
    ``scratch_arrays`` arrays of the piece's length, private to the thread. On
    a GPU (``xp`` not numpy) the whole parameter is one piece.
    """
    piece_size = PIECE if xp is np else max(size, 1)
    pieces = [(start, min(size, start + piece_size)) for start in range(0, size, piece_size)]
    scratch = xp.empty((parallel.slots(), scratch_arrays, min(size, piece_size)), dtype=dtype)

    def piece(k, slot):
        start, stop = pieces[k]
        work(start, stop, [array[:stop - start] for array in scratch[slot]])

    parallel.for_each(piece, len(pieces))


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, clipping and weight decay.

    g = clip(grad) + weight_decay * param
    delta_t = momentum * delta_{t-1} + lr(epoch) * g
    (with a constant rate this is exactly torch.optim.SGD's step)
    """

    state_arrays = ("delta",)  # with momentum only

    def __init__(self, lr, lr_scheduler="constant", momentum=0.0, clip_norm=None,
                 lr_decay=None, staircase=None, stage_length=None, weight_decay=0.0,
                 milestones=None, total_epochs=None, warmup_epochs=None, min_lr=None,
                 warmup_start=None):
        super().__init__(lr, lr_scheduler, clip_norm, weight_decay, lr_decay, staircase,
                         stage_length, milestones, total_epochs, warmup_epochs, min_lr,
                         warmup_start)
        self.momentum = check_number("momentum", momentum, at_least=0, below=1)

    def update(self, param_name, param, param_grad, epoch):
        """One SGD step.

        Parameters
        ----------
        param_name  a key unique to this parameter (its momentum buffer)
        param       current value, any shape
        param_grad  dL/dparam, same shape
        epoch       the (possibly fractional) epoch, for the learning-rate schedule

        Returns
        -------
        delta, same shape and dtype as param

        Raises
        ------
        ValueError for a float16 parameter
        """
        self._check_param(param_name, param)
        grad = backend.as_array(self._clip(param_grad))
        xp = backend.get_array_module(param)
        lr = self.lr(epoch)
        entry = self.cache.get(param_name) if self.momentum else None
        previous = None if entry is None else entry["delta"].reshape(-1)
        # A new array (the caller may keep it), computed in cache-sized pieces. It is
        # the momentum buffer too, so it takes the parameter's dtype, whatever the
        # gradient's: a checkpoint holds one dtype.
        delta = xp.empty(param.shape, dtype=param.dtype)
        out_all, p, g = delta.reshape(-1), param.reshape(-1), grad.reshape(-1)

        def piece(start, stop, scratch):
            out = out_all[start:stop]
            if self.weight_decay:
                np.multiply(p[start:stop], self.weight_decay, out=out)
                out += g[start:stop]  # g + weight_decay * param
            else:
                out[...] = g[start:stop]
            out *= lr
            if previous is not None:
                out += np.multiply(previous[start:stop], self.momentum, out=scratch[0])

        _in_pieces(p.size, piece, 1, delta.dtype, xp)
        if self.momentum:
            self.cache[param_name] = {"delta": delta}
        return delta


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction.

    g = clip(grad) (+ weight_decay * param unless decoupled)
    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
    delta = lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
            (+ lr * weight_decay * param when decoupled, as AdamW)
    """

    decoupled = False
    state_arrays = ("m", "v")
    state_counts = ("t",)

    def __init__(self, lr, lr_scheduler="constant", beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0, clip_norm=None, lr_decay=None, staircase=None,
                 stage_length=None, milestones=None, total_epochs=None, warmup_epochs=None,
                 min_lr=None, warmup_start=None):
        super().__init__(lr, lr_scheduler, clip_norm, weight_decay, lr_decay, staircase,
                         stage_length, milestones, total_epochs, warmup_epochs, min_lr,
                         warmup_start)
        self.beta1 = check_number("beta1", beta1, at_least=0, below=1)
        self.beta2 = check_number("beta2", beta2, at_least=0, below=1)
        self.eps = check_number("eps", eps, above=0)

    def update(self, param_name, param, param_grad, epoch):
        """One Adam step; same protocol as ``SGD.update``."""
        self._check_param(param_name, param)
        grad = backend.as_array(self._clip(param_grad))
        xp = backend.get_array_module(param)
        entry = self.cache.get(param_name)
        if entry is None:
            entry = {"m": xp.zeros(param.shape, param.dtype),
                     "v": xp.zeros(param.shape, param.dtype), "t": 0}
            self.cache[param_name] = entry
        # Updated in place through flat views below, in the parameter's dtype.
        for moment in ("m", "v"):
            entry[moment] = xp.ascontiguousarray(entry[moment], dtype=param.dtype)
        entry["t"] += 1
        t = entry["t"]
        lr = self.lr(epoch)
        b1, b2, wd = self.beta1, self.beta2, self.weight_decay
        delta = xp.empty(param.shape, dtype=param.dtype)
        out_all, p, g_all = delta.reshape(-1), param.reshape(-1), grad.reshape(-1)
        m_all, v_all = entry["m"].reshape(-1), entry["v"].reshape(-1)

        # Every operation of the step on one cache-sized piece at a time:
        #   g = grad (+ weight_decay * param unless decoupled)
        #   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) (g g)
        #   delta = (lr / (1 - b1^t)) m / (sqrt(v / (1 - b2^t)) + eps)
        #           (+ (lr weight_decay) param when decoupled)
        def piece(start, stop, scratch):
            s1, s2 = scratch
            g, m, v, out = g_all[start:stop], m_all[start:stop], v_all[start:stop], \
                out_all[start:stop]
            if wd and not self.decoupled:
                np.multiply(p[start:stop], wd, out=s2)
                s2 += g
                g = s2
            m *= b1
            m += np.multiply(g, 1 - b1, out=s1)
            v *= b2
            np.multiply(g, g, out=s1)
            s1 *= 1 - b2
            v += s1
            np.divide(v, 1 - b2**t, out=s1)
            np.sqrt(s1, out=s1)
            s1 += self.eps
            np.multiply(m, lr / (1 - b1**t), out=out)
            out /= s1
            if wd and self.decoupled:
                out += np.multiply(p[start:stop], lr * wd, out=s2)

        _in_pieces(p.size, piece, 2, delta.dtype, xp)
        return delta


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019)."""

    decoupled = True


OPTIMIZERS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}


@factory(OPTIMIZERS, "optimizer")
def initialize_optimizer(name, lr, lr_scheduler=None, momentum=None, clip_norm=None,
                         lr_decay=None, staircase=None, stage_length=None, **options):
    """Build an optimizer from its name; arguments left None take the class default.

    Every keyword must be one the optimizer or its schedule takes: a misspelt
    one (``betas=``, ``weight_decai=``, ``warmup=``) is a ValueError listing
    the accepted ones, and so is a schedule setting the chosen schedule has
    no use for (``milestones`` with "cosine", ``lr_decay`` with "cosine").

    One exception, kept for the course's configs, which hand ``lr_decay``,
    ``stage_length`` and ``staircase`` to every optimizer whatever its
    schedule: with the constant schedule (``lr_scheduler`` None or
    "constant") those three are checked (``lr_decay`` and ``stage_length``
    finite and > 0, ``staircase`` True or False), then ignored, as the
    course's code ignored them. ``lr_decay`` is the schedule's ``decay``, and
    error messages from the schedule call it that.

    Parameters
    ----------
    name          "SGD", "Adam" or "AdamW"
    lr            base learning rate, a finite number > 0
    lr_scheduler  schedule name (see ``initialize_scheduler``), "constant" by default
    momentum      SGD only, in [0, 1)
    clip_norm     gradient norm limit, > 0
    lr_decay, staircase, stage_length   the exponential and step schedules' settings
    options       ``weight_decay``; ``beta1``, ``beta2``, ``eps`` (Adam, AdamW);
                  ``milestones`` (step); ``total_epochs``, ``warmup_epochs``,
                  ``min_lr``, ``warmup_start`` (cosine)

    Returns
    -------
    an ``Optimizer``
    """
    lookup(OPTIMIZERS, "optimizer", name)
    # build() drops None values, so a missing lr is caught here, by name.
    check_number("lr", lr, above=0)
    if momentum is not None and name != "SGD":
        raise ValueError(f"momentum is a setting of SGD, not of {name} (use beta1)")
    course_schedule = {"lr_decay": lr_decay, "staircase": staircase, "stage_length": stage_length}
    if lr_scheduler in (None, "constant"):
        _check_course_schedule(lr_decay, staircase, stage_length)
        course_schedule = {}
    settings = {"lr": lr, "lr_scheduler": lr_scheduler, "momentum": momentum,
                "clip_norm": clip_norm, **course_schedule, **options}
    return build(OPTIMIZERS, "optimizer", name, settings)
