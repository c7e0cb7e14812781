"""MNIST (handwritten digits) from its four gzip-compressed IDX files."""

import numpy as np

from .download import download_folder, fetcher, wanted
from .idx import IDX_FILES, IDX_WANTED, load_idx_dataset, look_for_idx_files
from .places import DATASETS_DIR, find_in_places, search_places

MNIST_FILES = IDX_FILES
MNIST_ENV = "MNIST_DIR"
MNIST_REPO_DIR = DATASETS_DIR / "mnist"
MNIST_SYSTEM_DIR = None  # no system package ships MNIST's IDX files
MNIST_CLASSES = tuple(str(digit) for digit in range(10))


def find_mnist(data_dir=None, download=False):
    """The folder that holds the four MNIST files.

    Looks in, in order: ``data_dir``, ``$MNIST_DIR``, ``datasets/mnist/`` in the
    repository, the download folder (``download.download_folder``). A folder named
    by ``data_dir`` or the variable is the only one looked in.

    Parameters
    ----------
    data_dir  a folder to look in first, or None
    download  fetch the official files when missing: into the named folder, else
              into the download folder

    Returns
    -------
    Path of that folder; raises ValueError naming the folder and the missing
    files, or every place looked in
    """
    places = search_places(data_dir, MNIST_ENV, MNIST_REPO_DIR, MNIST_SYSTEM_DIR,
                           download_folder("mnist"))
    return find_in_places(places, look_for_idx_files, "MNIST", IDX_WANTED,
                          fetch=fetcher("mnist") if wanted(download) else None)


def load_mnist(batch_size=50, data_dir=None, flatten=False, validation_size=10000, seed=0,
               dtype=np.float32, augment=None, download=False):
    """MNIST: 50,000 training, 10,000 validation and the 10,000 official test images.

    Parameters
    ----------
    batch_size       training batch size
    data_dir         folder with the four IDX ``.gz`` files (see ``find_mnist``
                     for the places looked in without it)
    flatten          True: images as rows (n, 784); False: NHWC (n, 28, 28, 1)
    validation_size  examples of the official training set held out for validation
    seed             seed of the validation split
    dtype            floating dtype of images and labels
    augment          augmentation of the training batches only: a callable on
                     NHWC batches or a name for ``initialize_augmentation`` (a
                     flip does not suit digits); None: off. Needs ``flatten=False``
    download         fetch the official files when no place holds them (into
                     ``data_dir`` if given, else the download folder)

    Returns
    -------
    Dataset with the 10 digits as one-hot classes ("0".."9"); pixels scaled to
    [0, 1], then standardised with the training split's mean and standard
    deviation (``dataset.mean`` and ``dataset.std``, shape (1,))
    """
    folder = find_mnist(data_dir, download)
    dataset = load_idx_dataset(folder, "MNIST", batch_size, flatten, validation_size, seed,
                               dtype, augment)
    dataset.classes = MNIST_CLASSES
    return dataset
