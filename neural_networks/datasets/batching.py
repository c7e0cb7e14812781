"""Mini-batches of one split (``Data``) and the splits of one dataset (``Dataset``)."""

import math

import numpy as np

from .. import backend
from ..utils.checks import check_number


def _check_finite(values, what):
    """Raise ValueError if a numeric array holds NaN or infinity."""
    if np.issubdtype(values.dtype, np.inexact) and not np.all(np.isfinite(values)):
        bad = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(
            f"{what} must be finite, but entry {tuple(int(i) for i in bad)} is "
            f"{values[tuple(bad)]}"
        )


def check_label_rows(labels, what, classes=None):
    """Raise ValueError unless ``labels`` (an array) is 2-D: one row per example.

    Class indices (a vector of whole numbers) are the usual mistake: the message
    gives the one-line fix, ``integers_to_one_hot`` with ``classes`` columns
    (when known; else as many as the largest index needs).
    """
    if labels.ndim == 2:
        return
    expected = f"{what} must be one-hot rows of shape (n, classes), one row per example"
    whole = labels.ndim == 1 and labels.size and np.issubdtype(labels.dtype, np.number) \
        and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)) \
        and labels.min() >= 0
    if whole:
        max_val = int(labels.max()) if classes is None else classes - 1
        raise ValueError(
            f"{expected}; got class indices, shape {labels.shape} with values from "
            f"{labels.min():g} to {labels.max():g}. Make them rows first: "
            f"from neural_networks.utils import integers_to_one_hot, then "
            f"integers_to_one_hot(labels, max_val={max_val})"
        )
    one_target = " (one target per example: labels.reshape(-1, 1))" if labels.ndim == 1 else ""
    raise ValueError(f"{expected}; got shape {labels.shape}{one_target}")


def _check_min_last_batch(value):
    return check_number("min_last_batch", value, at_least=1, whole=True)


class Data:
    """One split, served in shuffled mini-batches.

    Parameters
    ----------
    data            array (n, ...) of examples
    batch_size      examples per batch; the last batch of an epoch may be smaller
    labels          array (n, k) of one-hot labels, or None (class indices (n,) are
                    refused with the fix: ``utils.integers_to_one_hot``)
    out_dim         number of classes / outputs
    augment         optional callable applied to every batch ``sample()`` returns
                    (e.g. ``augmentation.RandomCropFlip``); set it on training data only
    min_last_batch  smallest last batch served on its own; a smaller remainder
                    joins the batch before it (2 keeps batch norm from a batch of
                    one row). The default 1 gives ``ceil(n / batch_size)`` batches.
    label_smoothing epsilon in [0, 1): ``sample()`` serves label rows
                    (1 - epsilon) * Y + epsilon / k (k classes) instead of Y, which
                    makes the cross-entropy loss PyTorch's ``label_smoothing``;
                    set it on training data only

    Attributes
    ----------
    order      int array (n,): the epoch's permutation of the examples
    iteration  batches served so far in the current epoch (0: the next call
               of ``sample()`` draws a new order)

    ``sample()`` returns the next ``(X, Y)`` and draws a fresh permutation at
    the start of every epoch; an epoch is ``samples_per_epoch`` calls. The
    arrays are kept on the host (a GPU's are copied back): a network on a GPU
    gets each batch copied over as it comes.
    """

    def __init__(self, data, batch_size=50, labels=None, out_dim=None, augment=None,
                 min_last_batch=1, label_smoothing=0.0):
        data = backend.to_host(data)
        if data.ndim < 1 or data.shape[0] == 0:
            raise ValueError(f"Data needs at least one example, got an array of shape {data.shape}")
        _check_finite(data, "data")
        if labels is not None:
            labels = backend.to_host(labels)
            if labels.shape[0] != data.shape[0]:
                raise ValueError(
                    f"data and labels differ in length: {data.shape[0]} examples "
                    f"but {labels.shape[0]} labels"
                )
            _check_finite(labels, "labels")
            check_label_rows(labels, "labels", out_dim)
        self.data = data
        self.labels = labels
        self.out_dim = out_dim
        self.batch_size = check_number("batch_size", batch_size, at_least=1, whole=True)
        self.n_samples = data.shape[0]
        self.min_last_batch = min_last_batch
        self.iteration = 0
        self.order = np.arange(self.n_samples)
        # A callable applied to every batch sample() returns (training only).
        self.augment = augment
        self.label_smoothing = label_smoothing

    @property
    def label_smoothing(self):
        """epsilon of the label rows ``sample()`` serves (0: the labels as they are)."""
        return self._label_smoothing

    @label_smoothing.setter
    def label_smoothing(self, value):
        check_number("label_smoothing", value, at_least=0, below=1)
        if value and self.labels is not None and self.labels.ndim != 2:
            raise ValueError(f"label_smoothing needs one-hot label rows (n, classes), got "
                             f"labels of shape {self.labels.shape}")
        self._label_smoothing = float(value)

    @property
    def min_last_batch(self):
        """Smallest last batch served on its own (set it between epochs)."""
        return self._min_last_batch

    @min_last_batch.setter
    def min_last_batch(self, value):
        self._min_last_batch = _check_min_last_batch(value)

    @property
    def samples_per_epoch(self):
        """Batches per epoch: ``ceil(n / batch_size)``, one less when a last
        batch smaller than ``min_last_batch`` joins the one before it."""
        n_batches = math.ceil(self.n_samples / self.batch_size)
        remainder = self.n_samples % self.batch_size
        if n_batches > 1 and 0 < remainder < self.min_last_batch:
            return n_batches - 1
        return n_batches

    def shuffle(self):
        """Draw a new order of the examples."""
        self.order = np.random.permutation(self.n_samples)

    def sample(self):
        """Return the next batch (X, Y); Y is None for an unlabeled split."""
        if self.iteration == 0:
            self.shuffle()
        n_batches = self.samples_per_epoch
        low = self.iteration * self.batch_size
        # The last batch runs to the end, taking in a remainder too small to stand alone.
        high = self.n_samples if self.iteration == n_batches - 1 else low + self.batch_size
        idx = self.order[low:high]
        self.iteration = (self.iteration + 1) % n_batches
        X = self.data[idx]
        if self.augment is not None:
            X = self.augment(X)
        Y = self.labels[idx] if self.labels is not None else None
        if Y is not None and self.label_smoothing:
            epsilon = self.label_smoothing
            Y = Y * (1 - epsilon) + epsilon / Y.shape[1]
        return X, Y

    def reset(self):
        """Start the next ``sample()`` at a fresh epoch."""
        self.iteration = 0


class Dataset:
    """Training, validation and test splits of one dataset.

    Attributes
    ----------
    train, validate, test  ``Data`` (validate and test may be None)
    out_dim                number of label columns of the training split
    """

    def __init__(self, training_set, training_labels, batch_size, validation_set=None,
                 validation_labels=None, test_set=None, test_labels=None):
        training_labels = backend.to_host(training_labels)
        check_label_rows(training_labels, "training labels")
        self.out_dim = training_labels.shape[1]
        for what, labels in (("validation labels", validation_labels),
                             ("test labels", test_labels)):
            if labels is not None:
                check_label_rows(backend.to_host(labels), what, self.out_dim)
        self.batch_size = batch_size
        self.train = Data(training_set, batch_size, training_labels, self.out_dim)
        self.validate = None
        self.test = None
        if validation_set is not None:
            self.validate = Data(validation_set, batch_size, validation_labels, self.out_dim)
        if test_set is not None:
            self.test = Data(test_set, batch_size, test_labels, self.out_dim)
