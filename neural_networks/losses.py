"""Loss functions over a batch of m rows.

``forward(Y, Y_hat)`` returns the scalar loss and ``backward(Y, Y_hat)``
returns dL/dY_hat, an array of Y_hat's shape and dtype. Both compute where
Y_hat is (numpy, or CuPy on a GPU), the labels Y copied there if they are
elsewhere; ``value(Y, Y_hat)`` is the loss left there unread, a 0-d array.
"""

from abc import ABC, abstractmethod

import numpy as np

from . import backend
from .utils.registry import build, factory


def check_pair(name, Y, Y_hat):
    """Labels and predictions as arrays on the predictions' device; ValueError
    unless they have the same shape."""
    Y_hat = backend.as_array(Y_hat)
    Y = backend.to_device_of(Y, Y_hat)
    if Y.shape != Y_hat.shape:
        raise ValueError(
            f"{name}: labels and predictions must have the same shape, "
            f"got labels {Y.shape} and predictions {Y_hat.shape}"
        )
    if Y.ndim == 0 or Y.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty batch, got shape {Y.shape}")
    return Y, Y_hat


class Loss(ABC):
    """Base class: ``loss(Y, Y_hat)`` is ``loss.forward(Y, Y_hat)``."""

    def __init__(self, name):
        self.name = name

    def __call__(self, Y, Y_hat):
        return self.forward(Y, Y_hat)

    @abstractmethod
    def forward(self, Y, Y_hat):
        """Parameters: Y, Y_hat of shape (m, k). Returns: the loss, a float."""

    def value(self, Y, Y_hat):
        """The loss as a 0-d array where Y_hat is, not read on the host (on a GPU,
        ``float()`` of it waits for the device). A loss without its own gives
        ``forward``'s float."""
        return self.forward(Y, Y_hat)

    @abstractmethod
    def backward(self, Y, Y_hat):
        """Parameters: Y, Y_hat of shape (m, k). Returns: dL/dY_hat, shape (m, k)."""


class CrossEntropy(Loss):
    """J = -(1/m) * sum(Y * ln(Y_hat)) for one-hot (or soft) label rows Y."""

    @staticmethod
    def _floor(Y_hat):
        # A probability of exactly 0 would give log(0) = -inf and 0/0 = nan;
        # the smallest normal number of the dtype changes nothing else.
        return np.maximum(Y_hat, np.finfo(Y_hat.dtype).tiny)

    def forward(self, Y, Y_hat):
        return float(self.value(Y, Y_hat))

    def value(self, Y, Y_hat):
        Y, Y_hat = check_pair("CrossEntropy", Y, Y_hat)
        m = Y.shape[0]
        # Labels take the predictions' dtype: no float64 temporaries for float32.
        Y = Y.astype(Y_hat.dtype, copy=False)
        return -np.sum(Y * np.log(self._floor(Y_hat))) / m

    def backward(self, Y, Y_hat):
        Y, Y_hat = check_pair("CrossEntropy", Y, Y_hat)
        m = Y.shape[0]
        Y = Y.astype(Y_hat.dtype, copy=False)
        return (-Y / (m * self._floor(Y_hat))).astype(Y_hat.dtype, copy=False)


class L2(Loss):
    """J = (1/(2m)) * sum((Y - Y_hat)**2)."""

    def forward(self, Y, Y_hat):
        return float(self.value(Y, Y_hat))

    def value(self, Y, Y_hat):
        Y, Y_hat = check_pair("L2", Y, Y_hat)
        m = Y.shape[0]
        return np.sum((Y - Y_hat) ** 2) / (2 * m)

    def backward(self, Y, Y_hat):
        Y, Y_hat = check_pair("L2", Y, Y_hat)
        m = Y.shape[0]
        return ((Y_hat - Y) / m).astype(Y_hat.dtype, copy=False)


LOSSES = {"cross_entropy": CrossEntropy, "l2": L2}


@factory(LOSSES, "loss")
def initialize_loss(name):
    """Build a loss from its name: ``"cross_entropy"`` or ``"l2"``; the loss keeps the name.

    An unknown name is a ValueError listing the valid ones.
    """
    return build(LOSSES, "loss", name, {"name": name})
