"""Fashion-MNIST from its four gzip-compressed IDX files."""

from pathlib import Path

import numpy as np

from .download import download_folder, fetcher, wanted
from .idx import IDX_FILES, IDX_WANTED, load_idx_dataset, look_for_idx_files
from .places import DATASETS_DIR, find_in_places, repository_folder, search_places

FASHION_MNIST_FILES = IDX_FILES
FASHION_MNIST_ENV = "FASHION_MNIST_DIR"
FASHION_MNIST_REPO_DIR = DATASETS_DIR / "fashion_mnist"
# The repository folder's name until it became the dataset's; still read where it is the only one.
FASHION_MNIST_OLD_REPO_NAME = "fashion-mnist"
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# The Debian package, for the end of the "not found" message.
FASHION_MNIST_OTHER_WAY = ", or apt-get install dataset-fashion-mnist (Debian, Ubuntu)"


def find_fashion_mnist(data_dir=None, download=False):
    """The folder that holds the four Fashion-MNIST files.

    Looks in, in order: ``data_dir``, ``$FASHION_MNIST_DIR``, ``datasets/fashion_mnist/``
    in the repository (or ``datasets/fashion-mnist/``, its older name, where only that
    one exists: ``places.repository_folder`` decides), ``/usr/share/datasets/fashion-mnist``
    (Debian package), the download folder (``download.download_folder``). A folder
    named by ``data_dir`` or the variable is the only one looked in.

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
    repo_dir = repository_folder(FASHION_MNIST_REPO_DIR, FASHION_MNIST_OLD_REPO_NAME)
    places = search_places(data_dir, FASHION_MNIST_ENV, repo_dir, FASHION_MNIST_SYSTEM_DIR,
                           download_folder("fashion_mnist"))
    return find_in_places(places, look_for_idx_files, "Fashion-MNIST", IDX_WANTED,
                          FASHION_MNIST_OTHER_WAY, fetch=fetcher("fashion_mnist") if wanted(download) else None)


def load_fashion_mnist(batch_size=50, data_dir=None, flatten=False, validation_size=10000,
                       seed=0, dtype=np.float32, augment=None, download=False):
    """Fashion-MNIST: 50,000 training, 10,000 validation and the 10,000 official test images.

    Parameters
    ----------
    batch_size       training batch size
    data_dir         folder with the four IDX ``.gz`` files (see ``find_fashion_mnist``
                     for the places looked in without it)
    flatten          True: images as rows (n, 784); False: NHWC (n, 28, 28, 1)
    validation_size  examples of the official training set held out for validation
    seed             seed of the validation split
    dtype            floating dtype of images and labels
    augment          augmentation of the training batches only: a callable on
                     NHWC batches or a name for ``initialize_augmentation``
                     (e.g. "crop_flip"); None: off. Needs ``flatten=False``
    download         fetch the official files when no place holds them (into
                     ``data_dir`` if given, else the download folder)

    Returns
    -------
    Dataset with 10 one-hot classes; pixels scaled to [0, 1], then standardised
    with the training split's mean and standard deviation (one of each, over all
    pixels; kept in ``dataset.mean`` and ``dataset.std``, shape (1,))
    """
    folder = find_fashion_mnist(data_dir, download)
    dataset = load_idx_dataset(folder, "Fashion-MNIST", batch_size, flatten, validation_size,
                               seed, dtype, augment)
    dataset.classes = FASHION_MNIST_CLASSES
    return dataset
