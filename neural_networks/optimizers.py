"""Optimizers: ``update(param_name, param, param_grad, epoch)`` returns the
step ``delta`` that the model subtracts from the parameter."""

from abc import ABC, abstractmethod

import numpy as np

from .schedulers import initialize_scheduler


class Optimizer(ABC):
    """Base class holding a learning-rate schedule and per-parameter state."""

    def __init__(self, lr, lr_scheduler="constant", lr_decay=None, stage_length=None,
                 staircase=None, clip_norm=None):
        self.lr = initialize_scheduler(
            lr_scheduler, lr=lr, decay=lr_decay, stage_length=stage_length, staircase=staircase
        )
        if clip_norm is not None and clip_norm <= 0:
            raise ValueError(f"clip_norm must be > 0 or None, got {clip_norm!r}")
        self.clip_norm = clip_norm
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
        """Return the step for one parameter (same shape as ``param``)."""


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and gradient clipping.

    delta_t = momentum * delta_{t-1} + lr(epoch) * grad
    """

    def __init__(self, lr, lr_scheduler="constant", momentum=0.0, clip_norm=None,
                 lr_decay=None, staircase=None, stage_length=None):
        super().__init__(lr, lr_scheduler, lr_decay, stage_length, staircase, clip_norm)
        if momentum is None:
            momentum = 0.0
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
        epoch       the epoch, for the learning-rate schedule

        Returns
        -------
        delta, same shape and dtype as param
        """
        grad = self._clip(param_grad)
        delta = self.lr(epoch) * grad
        if self.momentum:
            previous = self.cache.get(param_name)
            if previous is not None:
                delta = delta + self.momentum * previous
            self.cache[param_name] = delta
        return delta.astype(param.dtype, copy=False)


OPTIMIZERS = {"SGD": SGD}


def initialize_optimizer(name, lr, lr_scheduler=None, momentum=None, clip_norm=None,
                         lr_decay=None, staircase=None, stage_length=None, **options):
    """Build an optimizer from its name; arguments left None take the class default."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    kwargs = {
        "lr_scheduler": lr_scheduler,
        "momentum": momentum,
        "clip_norm": clip_norm,
        "lr_decay": lr_decay,
        "staircase": staircase,
        "stage_length": stage_length,
        **options,
    }
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return OPTIMIZERS[name](lr, **kwargs)
