"""Feature scaling helpers.

Each function works column-wise (over axis 0) and accepts precomputed
statistics so that validation and test data can be scaled with the
training split's numbers.
"""

import numpy as np


def center(X, axis=0, mean=None):
    """Subtract the mean.

    Parameters
    ----------
    X     array, shape (n, ...)
    axis  axis (or axes) the statistics are taken over
    mean  precomputed mean; computed from X when None

    Returns
    -------
    X - mean, same shape as X
    """
    if mean is None:
        mean = np.mean(X, axis=axis, keepdims=True)
    return X - mean


def normalize(X, axis=0, max_val=None):
    """Divide by the largest absolute value (or by ``max_val``).

    Returns
    -------
    X / max_val, same shape as X; a column that is all zeros stays zero
    """
    if max_val is None:
        max_val = np.max(np.abs(X), axis=axis, keepdims=True)
    max_val = np.where(max_val == 0, 1, max_val)
    return X / max_val


def standardize(X, axis=0, mean=None, std=None, eps=1e-12):
    """Subtract the mean and divide by the standard deviation.

    Parameters
    ----------
    X     array, shape (n, ...)
    axis  axis (or axes) the statistics are taken over
    mean  precomputed mean (e.g. the training split's); from X when None
    std   precomputed standard deviation; from X when None
    eps   floor on std so a constant feature does not divide by zero

    Returns
    -------
    (X - mean) / std, same shape as X
    """
    if mean is None:
        mean = np.mean(X, axis=axis, keepdims=True)
    if std is None:
        std = np.std(X, axis=axis, keepdims=True)
    return (X - mean) / np.maximum(std, eps)
