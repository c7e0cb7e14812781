"""Datasets: batching (``Data``), splits (``Dataset``) and loaders by name.

- ``batching``       ``Data`` and ``Dataset``
- ``iris``           the Iris splits shipped in the package
- ``idx``            the IDX format MNIST and Fashion-MNIST share
- ``fashion_mnist``  Fashion-MNIST's IDX files
- ``mnist``          MNIST's IDX files
- ``cifar10``        CIFAR-10's python-version batches
- ``array_pickles``  unpickling data and numpy arrays from a file that may be hostile
- ``images``         what the image loaders share (split, statistics, scaling)
- ``places``         where the image loaders look for their files
- ``download``       fetching the official files (``download=True``)
"""

from ..utils.registry import build, factory
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
from .download import download_folder
from .fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    find_fashion_mnist,
    load_fashion_mnist,
)
from .idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_idx
from .iris import IRIS_DIR, load_iris
from .mnist import MNIST_CLASSES, MNIST_FILES, find_mnist, load_mnist

DATASETS = {"iris": load_iris, "fashion_mnist": load_fashion_mnist, "mnist": load_mnist,
            "cifar10": load_cifar10}


@factory(DATASETS, "dataset")
def initialize_dataset(name, batch_size=50, **options):
    """Load a dataset by name as a ``Dataset``.

    Parameters
    ----------
    name        one of ``DATASETS``: "iris", "fashion_mnist", "mnist", "cifar10"
    batch_size  training batch size
    options     the loader's keyword arguments (``load_<name>``), e.g. ``data_dir``,
                or ``download=True`` to fetch an image dataset's official files;
                one the loader does not take is a ValueError listing those it does

    Returns
    -------
    Dataset
    """
    return build(DATASETS, "dataset", name, {"batch_size": batch_size, **options})


__all__ = [
    "CIFAR10_ARCHIVE", "CIFAR10_CLASSES", "CIFAR10_FOLDER", "CIFAR10_TEST_BATCH",
    "CIFAR10_TRAIN_BATCHES", "DATASETS", "Data", "Dataset", "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES", "IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC", "IRIS_DIR", "MNIST_CLASSES",
    "MNIST_FILES", "download_folder", "find_cifar10", "find_fashion_mnist", "find_mnist",
    "initialize_dataset", "load_cifar10", "load_fashion_mnist", "load_iris", "load_mnist",
    "read_idx",
]
