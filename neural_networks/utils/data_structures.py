"""Small data structures used across the package."""

import numpy as np


class AttrDict(dict):
    """A dict whose keys can also be read and written as attributes.

    >>> args = AttrDict({"name": "relu"})
    >>> args.name
    'relu'
    """

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value

    def __delattr__(self, key):
        try:
            del self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getstate__(self):
        return dict(self)

    def __setstate__(self, state):
        self.update(state)


def integers_to_one_hot(integer_vector, max_val=None):
    """Turn a vector of class indices into one-hot rows.

    Parameters
    ----------
    integer_vector  array of non-negative integers, shape (n,)
    max_val         largest class index; defaults to the largest value present

    Returns
    -------
    float array of shape (n, max_val + 1) with a single 1 per row
    """
    integer_vector = np.asarray(integer_vector)
    if integer_vector.ndim != 1:
        raise ValueError(
            f"integers_to_one_hot expects a 1-D vector of class indices, "
            f"got an array of shape {integer_vector.shape}"
        )
    if integer_vector.size and not np.issubdtype(integer_vector.dtype, np.integer):
        if not np.all(np.equal(np.mod(integer_vector, 1), 0)):
            raise ValueError("integers_to_one_hot expects whole numbers, got fractions")
        integer_vector = integer_vector.astype(np.int64)
    if integer_vector.size and integer_vector.min() < 0:
        raise ValueError(
            f"class indices must be >= 0, got {integer_vector.min()}"
        )
    if max_val is None:
        max_val = int(integer_vector.max()) if integer_vector.size else 0
    if integer_vector.size and integer_vector.max() > max_val:
        raise ValueError(
            f"class index {integer_vector.max()} exceeds max_val={max_val}"
        )
    one_hot = np.zeros((integer_vector.shape[0], max_val + 1))
    one_hot[np.arange(integer_vector.shape[0]), integer_vector] = 1.0
    return one_hot
