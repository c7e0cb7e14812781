"""Datasets: batching (``Data``), splits (``Dataset``) and loaders by name.

- ``batching``       ``Data`` and ``Dataset``
- ``iris``           the Iris splits shipped in the package
- ``fashion_mnist``  Fashion-MNIST's IDX files
- ``cifar10``        CIFAR-10's python-version batches
- ``images``         what the image loaders share (split, statistics, scaling)
- ``places``         where the image loaders look for their files
"""

from ..utils.registry import build
from .batching import Data, Dataset
from .cifar10 import (
    CIFAR10_ARCHIVE,
    CIFAR10_CLASSES,
    CIFAR10_FOLDER,
    CIFAR10_TEST_BATCH,
    CIFAR10_TRAIN_BATCHES,
    find_cifar10,
    load_cifar10,
)
from .fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    find_fashion_mnist,
    load_fashion_mnist,
    read_idx,
)
from .iris import IRIS_DIR, load_iris

DATASETS = {"iris": load_iris, "fashion_mnist": load_fashion_mnist, "cifar10": load_cifar10}


def initialize_dataset(name, batch_size=50, **options):
    """Load a dataset by name as a ``Dataset``.

    Parameters
    ----------
    name        one of ``DATASETS``: "iris", "fashion_mnist", "cifar10"
    batch_size  training batch size
    options     the loader's keyword arguments (``load_<name>``), e.g. ``data_dir``;
                one the loader does not take is a ValueError listing those it does

    Returns
    -------
    Dataset
    """
    return build(DATASETS, "dataset", name, {"batch_size": batch_size, **options})


__all__ = [
    "CIFAR10_ARCHIVE", "CIFAR10_CLASSES", "CIFAR10_FOLDER", "CIFAR10_TEST_BATCH",
    "CIFAR10_TRAIN_BATCHES", "DATASETS", "Data", "Dataset", "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES", "IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC", "IRIS_DIR", "find_cifar10",
    "find_fashion_mnist", "initialize_dataset", "load_cifar10", "load_fashion_mnist",
    "load_iris", "read_idx",
]
