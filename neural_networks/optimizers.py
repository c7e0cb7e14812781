"""Optimizers: ``update(param_name, param, param_grad, epoch)`` returns the
step ``delta`` that the model subtracts from the parameter.

Per-parameter state (momentum buffers, Adam moments, step counts) lives in
``optimizer.cache[param_name]`` and is saved with a checkpoint through
``state_dict()`` / ``load_state_dict()``.
"""

from abc import ABC, abstractmethod

import numpy as np

from .schedulers import initialize_scheduler


class Optimizer(ABC):
    """Base class: a learning-rate schedule, clipping, weight decay and state."""

    def __init__(self, lr, lr_scheduler="constant", lr_decay=None, stage_length=None,
                 staircase=None, clip_norm=None, weight_decay=0.0, schedule_options=None):
        self.lr = initialize_scheduler(
            lr_scheduler, lr=lr, decay=lr_decay, stage_length=stage_length, staircase=staircase,
            **(schedule_options or {}),
        )
        if clip_norm is not None and clip_norm <= 0:
            raise ValueError(f"clip_norm must be > 0 or None, got {clip_norm!r}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.clip_norm = clip_norm
        self.weight_decay = weight_decay
        self.cache = {}

    def _clip(self, param_grad):
        """Rescale a gradient whose norm exceeds ``clip_norm`` to that norm."""
        if self.clip_norm is None:
            return param_grad
        norm = np.linalg.norm(param_grad)
        if norm > self.clip_norm:
            return param_grad * (self.clip_norm / norm)
        return param_grad

    @abstractmethod
    def update(self, param_name, param, param_grad, epoch):
        """Return the step for one parameter (same shape and dtype as ``param``)."""

    def state_dict(self):
        """The per-parameter state as a flat dict ``"name/field" -> array``."""
        state = {}
        for name, entry in self.cache.items():
            for field, value in entry.items():
                state[f"{name}/{field}"] = np.array(value, copy=True)
        return state

    def load_state_dict(self, state):
        """Restore what ``state_dict()`` returned."""
        self.cache = {}
        for key, value in state.items():
            name, field = key.rsplit("/", 1)
            self.cache.setdefault(name, {})[field] = value.item() if value.ndim == 0 else value.copy()


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, clipping and weight decay.

    g = clip(grad) + weight_decay * param
    delta_t = momentum * delta_{t-1} + lr(epoch) * g
    (with a constant rate this is exactly torch.optim.SGD's step)
    """

    def __init__(self, lr, lr_scheduler="constant", momentum=0.0, clip_norm=None,
                 lr_decay=None, staircase=None, stage_length=None, weight_decay=0.0,
                 **schedule_options):
        super().__init__(lr, lr_scheduler, lr_decay, stage_length, staircase, clip_norm,
                         weight_decay, schedule_options)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = momentum

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
        """
        grad = self._clip(param_grad)
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        delta = self.lr(epoch) * grad
        if self.momentum:
            entry = self.cache.get(param_name)
            if entry is not None:
                delta = delta + self.momentum * entry["delta"]
            self.cache[param_name] = {"delta": delta}
        return delta.astype(param.dtype, copy=False)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction.

    g = clip(grad) (+ weight_decay * param unless decoupled)
    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
    delta = lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
            (+ lr * weight_decay * param when decoupled, as AdamW)
    """

    decoupled = False

    def __init__(self, lr, lr_scheduler="constant", beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0, clip_norm=None, lr_decay=None, staircase=None,
                 stage_length=None, **schedule_options):
        super().__init__(lr, lr_scheduler, lr_decay, stage_length, staircase, clip_norm,
                         weight_decay, schedule_options)
        for what, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= beta < 1:
                raise ValueError(f"{what} must be in [0, 1), got {beta!r}")
        if eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def update(self, param_name, param, param_grad, epoch):
        """One Adam step; same protocol as ``SGD.update``."""
        grad = self._clip(param_grad)
        if self.weight_decay and not self.decoupled:
            grad = grad + self.weight_decay * param
        entry = self.cache.get(param_name)
        if entry is None:
            entry = {"m": np.zeros_like(param), "v": np.zeros_like(param), "t": 0}
            self.cache[param_name] = entry
        entry["t"] += 1
        t = entry["t"]
        m, v = entry["m"], entry["v"]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * (grad * grad)
        lr = self.lr(epoch)
        denom = np.sqrt(v / (1 - self.beta2**t))
        denom += self.eps
        delta = (lr / (1 - self.beta1**t)) * m / denom
        if self.weight_decay and self.decoupled:
            delta += (lr * self.weight_decay) * param
        return delta.astype(param.dtype, copy=False)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019)."""

    decoupled = True


OPTIMIZERS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}


def initialize_optimizer(name, lr, lr_scheduler=None, momentum=None, clip_norm=None,
                         lr_decay=None, staircase=None, stage_length=None, **options):
    """Build an optimizer from its name; arguments left None take the class default.

    Parameters
    ----------
    name          "SGD", "Adam" or "AdamW"
    lr            base learning rate
    lr_scheduler  schedule name (see ``initialize_scheduler``), "constant" by default
    options       ``weight_decay``; ``beta1``, ``beta2``, ``eps`` (Adam);
                  schedule settings such as ``total_epochs``, ``warmup_epochs``
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    if momentum is not None and name != "SGD":
        raise ValueError(f"momentum is a setting of SGD, not of {name} (use beta1)")
    kwargs = {
        "lr_scheduler": lr_scheduler,
        "momentum": momentum,
        "clip_norm": clip_norm,
        "lr_decay": lr_decay,
        "staircase": staircase,
        "stage_length": stage_length,
        **options,
    }
    return OPTIMIZERS[name](lr, **{k: v for k, v in kwargs.items() if v is not None})
