"""Inverted dropout (Dropout): a random mask in training mode, nothing in eval mode."""

import numpy as np

from .. import backend


def dropout_forward(X, p, training=True):
    """Inverted dropout: zero each value with probability p, scale the rest by 1 / (1 - p).

    The mask is drawn from numpy's global generator on the host, whatever
    device X is on (a GPU gets it copied over), so ``np.random.seed`` fixes it
    and one seed drops the same values on either device.

    Parameters
    ----------
    X         any shape
    p         probability of dropping a value, 0 <= p < 1
    training  False (eval mode) drops nothing

    Returns
    -------
    Y     X's shape and dtype; X itself when nothing is dropped
    mask  X's shape and dtype, on X's device, each entry 0 or 1 / (1 - p); None
          when nothing is dropped (eval mode or p == 0: no draw is made)
    """
    if not training or p == 0:
        return X, None
    keep = backend.to_device_of(np.random.random_sample(X.shape) >= p, X)
    mask = keep.astype(X.dtype) * X.dtype.type(1 / (1 - p))
    return X * mask, mask


def dropout_backward(dY, mask):
    """dL/dX = dY * mask; dY itself when the mask is None (nothing dropped)."""
    return dY if mask is None else dY * mask
