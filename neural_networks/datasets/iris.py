"""Iris: 105/15/30 splits shipped inside the package (``iris_splits/``)."""

from pathlib import Path

import numpy as np

from ..utils.data_processing import standardize
from .batching import Dataset

# Package data, found next to this module in a checkout and in an installed copy alike.
IRIS_DIR = Path(__file__).resolve().parent / "iris_splits"
IRIS_SPLITS = ("train", "val", "test")


def _load_npy(path):
    if not path.is_file():
        raise ValueError(
            f"Iris file {path} not found; the splits ship with the package "
            f"(regenerate them with `python datasets/make_iris.py` in the repository)"
        )
    return np.load(path, allow_pickle=False)


def load_iris(batch_size=50, data_dir=None):
    """The Iris splits (105/15/30) standardised with the training split's statistics.

    Parameters
    ----------
    batch_size  training batch size
    data_dir    folder with iris_{train,val,test}_{data,labels}.npy;
                defaults to the copy in the package (``IRIS_DIR``)

    Returns
    -------
    Dataset with 4 features and 3 one-hot classes
    """
    data_dir = Path(data_dir) if data_dir is not None else IRIS_DIR
    splits = {}
    for split in IRIS_SPLITS:
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
