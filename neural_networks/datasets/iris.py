"""Iris: the course's own 105/15/30 splits, shipped inside the package (``iris_splits/``).

The six files are byte for byte those of the course's starter code
(``datasets/iris/iris_{train,val,test}_{data,labels}.npy``; the Spring 2021
and Fall 2023 copies are identical), whose MD5s are ``IRIS_MD5``:
``python datasets/check_iris.py`` checks them, or copies them from a course
checkout. The 150 flowers of Fisher's Iris data, raw (cm), split at random
by the course (not stratified), one-hot float labels.
"""

from pathlib import Path

import numpy as np

from ..utils import data_processing
from .batching import Dataset

# Package data, found next to this module in a checkout and in an installed copy alike.
IRIS_DIR = Path(__file__).resolve().parent / "iris_splits"
IRIS_SPLITS = ("train", "val", "test")

#: MD5 of each shipped file: the course's own.
IRIS_MD5 = {
    "iris_train_data.npy": "10617d19d68aab54bacd65b697010bb1",
    "iris_train_labels.npy": "66a923fcef3686be2e194fb72e274ca3",
    "iris_val_data.npy": "0f10c757225ec4a150e1d29d03a4914f",
    "iris_val_labels.npy": "9f1c74f50716ed9b8f6b3e54dbd0d95c",
    "iris_test_data.npy": "6177da3af10df52d8f197e916da3e621",
    "iris_test_labels.npy": "f1fcf071f60a332555c5e563d2ee7f69",
}


def _load_npy(path):
    if not path.is_file():
        raise ValueError(
            f"Iris file {path} not found; the course's splits ship with the package "
            f"(`python datasets/check_iris.py --from <course checkout>` restores them)"
        )
    return np.load(path, allow_pickle=False)


def load_iris(batch_size=50, data_dir=None, standardize=False):
    """The course's Iris splits: 105 training, 15 validation, 30 test examples.

    Parameters
    ----------
    batch_size   training batch size
    data_dir     folder with iris_{train,val,test}_{data,labels}.npy;
                 defaults to the copy in the package (``IRIS_DIR``)
    standardize  False (the default, as the course gives them): the raw
                 features in cm. True: every split standardised with the
                 training split's mean and standard deviation (what this
                 library's ``train_ffnn.py`` trains on).

    Returns
    -------
    Dataset with 4 features (float64) and 3 one-hot classes
    """
    if standardize is not True and standardize is not False:
        raise ValueError(f"standardize must be True or False, got {standardize!r}")
    data_dir = Path(data_dir) if data_dir is not None else IRIS_DIR
    splits = {}
    for split in IRIS_SPLITS:
        X = _load_npy(data_dir / f"iris_{split}_data.npy").astype(np.float64)
        Y = _load_npy(data_dir / f"iris_{split}_labels.npy").astype(np.float64)
        splits[split] = (X, Y)
    if standardize:
        mean = splits["train"][0].mean(axis=0, keepdims=True)
        std = splits["train"][0].std(axis=0, keepdims=True)
        splits = {k: (data_processing.standardize(X, mean=mean, std=std), Y) for k, (X, Y) in splits.items()}
    return Dataset(
        splits["train"][0], splits["train"][1], batch_size,
        validation_set=splits["val"][0], validation_labels=splits["val"][1],
        test_set=splits["test"][0], test_labels=splits["test"][1],
    )
