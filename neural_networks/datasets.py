"""Datasets: batching (``Data``), splits (``Dataset``) and loaders by name."""

import math
import os
from pathlib import Path

import numpy as np

from .utils.data_processing import standardize

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS_DIR = REPO_ROOT / "datasets"


class Data:
    """One split, served in shuffled mini-batches.

    Parameters
    ----------
    data        array (n, ...) of examples
    batch_size  examples per batch; the last batch of an epoch may be smaller
    labels      array (n, k) of one-hot labels, or None
    out_dim     number of classes / outputs

    ``sample()`` returns the next ``(X, Y)`` and draws a fresh permutation at
    the start of every epoch (``samples_per_epoch = ceil(n / batch_size)``).
    """

    def __init__(self, data, batch_size=50, labels=None, out_dim=None):
        data = np.asarray(data)
        if data.ndim < 1 or data.shape[0] == 0:
            raise ValueError(f"Data needs at least one example, got an array of shape {data.shape}")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape[0] != data.shape[0]:
                raise ValueError(
                    f"data and labels differ in length: {data.shape[0]} examples "
                    f"but {labels.shape[0]} labels"
                )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.data = data
        self.labels = labels
        self.out_dim = out_dim
        self.batch_size = batch_size
        self.n_samples = data.shape[0]
        self.samples_per_epoch = math.ceil(self.n_samples / batch_size)
        self.iteration = 0
        self.order = np.arange(self.n_samples)

    def shuffle(self):
        """Draw a new order of the examples."""
        self.order = np.random.permutation(self.n_samples)

    def sample(self):
        """Return the next batch (X, Y); Y is None for an unlabeled split."""
        if self.iteration == 0:
            self.shuffle()
        low = self.iteration * self.batch_size
        idx = self.order[low:low + self.batch_size]
        self.iteration = (self.iteration + 1) % self.samples_per_epoch
        X = self.data[idx]
        Y = self.labels[idx] if self.labels is not None else None
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
        training_labels = np.asarray(training_labels)
        if training_labels.ndim != 2:
            raise ValueError(
                f"training labels must be one-hot rows of shape (n, classes), "
                f"got shape {training_labels.shape}"
            )
        self.out_dim = training_labels.shape[1]
        self.batch_size = batch_size
        self.train = Data(training_set, batch_size, training_labels, self.out_dim)
        self.validate = None
        self.test = None
        if validation_set is not None:
            self.validate = Data(validation_set, batch_size, validation_labels, self.out_dim)
        if test_set is not None:
            self.test = Data(test_set, batch_size, test_labels, self.out_dim)


def _load_npy(path):
    if not os.path.exists(path):
        raise ValueError(
            f"dataset file {path} not found; the Iris splits ship with the repository "
            f"(regenerate them with `python datasets/make_iris.py`)"
        )
    return np.load(path)


def load_iris(batch_size=50, data_dir=None):
    """The Iris splits (105/15/30) standardised with the training split's statistics.

    Parameters
    ----------
    batch_size  training batch size
    data_dir    folder with iris_{train,val,test}_{data,labels}.npy;
                defaults to datasets/iris in the repository

    Returns
    -------
    Dataset with 4 features and 3 one-hot classes
    """
    data_dir = Path(data_dir) if data_dir is not None else DATASETS_DIR / "iris"
    splits = {}
    for split in ("train", "val", "test"):
        X = _load_npy(data_dir / f"iris_{split}_data.npy").astype(np.float64)
        Y = _load_npy(data_dir / f"iris_{split}_labels.npy").astype(np.float64)
        splits[split] = (X, Y)
    mean = splits["train"][0].mean(axis=0, keepdims=True)
    std = splits["train"][0].std(axis=0, keepdims=True)
    scaled = {k: (standardize(X, mean=mean, std=std), Y) for k, (X, Y) in splits.items()}
    return Dataset(
        scaled["train"][0], scaled["train"][1], batch_size,
        validation_set=scaled["val"][0], validation_labels=scaled["val"][1],
        test_set=scaled["test"][0], test_labels=scaled["test"][1],
    )


DATASETS = {"iris": load_iris}


def initialize_dataset(name, batch_size=50, **options):
    """Load a dataset by name (one of ``DATASETS``) as a ``Dataset``."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[name](batch_size=batch_size, **options)
