"""Fashion-MNIST from its four gzip-compressed IDX files."""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from .images import attach_augmentation, image_dataset
from .places import DATASETS_DIR, find_in_places, search_places

FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FASHION_MNIST_ENV = "FASHION_MNIST_DIR"
FASHION_MNIST_REPO_DIR = DATASETS_DIR / "fashion-mnist"
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FASHION_MNIST_HINT = (
    "Install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu, files in "
    "/usr/share/datasets/fashion-mnist), or download the four files from "
    "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion) into one of "
    "these folders."
)

# IDX magic numbers: 0x0803 (unsigned bytes, 3 dimensions) and 0x0801 (1 dimension).
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
# The largest payload a header may declare. Fashion-MNIST's training images are
# 47 MB; the cap stops a corrupt header from asking for gigabytes.
MAX_IDX_BYTES = 10**9


def _read_exactly(f, n_bytes):
    """uint8 array (k,) of the next k <= n_bytes bytes of ``f``; k < n_bytes only at its end."""
    out = np.empty(n_bytes, dtype=np.uint8)
    view = memoryview(out)
    filled = 0
    while filled < n_bytes:
        got = f.readinto(view[filled:])
        if not got:
            break
        filled += got
    return out[:filled]


def read_idx(path, magic, max_bytes=MAX_IDX_BYTES):
    """Read a gzip-compressed IDX file of unsigned bytes.

    The header is read first; then exactly the number of bytes it declares,
    and one more to check the file ends there. So a file that decompresses
    to more than its header says is refused without inflating the rest.

    Parameters
    ----------
    path       the ``.gz`` file
    magic      the expected magic number: 2051 for images, 2049 for labels
    max_bytes  the largest payload (product of the header's sizes) accepted

    Returns
    -------
    uint8 array of the shape in the header: (n, rows, cols) or (n,)
    """
    # The magic number's last byte is the number of dimensions.
    n_dims = magic & 0xFF
    header_size = 4 * (1 + n_dims)
    try:
        with gzip.open(path, "rb") as f:
            header = f.read(header_size)
            found = int.from_bytes(header[:4], "big") if len(header) >= 4 else None
            if found is not None and found != magic:
                raise ValueError(f"{path} has IDX magic number {found}, expected {magic}")
            if len(header) < header_size:
                raise ValueError(
                    f"{path} is too short for an IDX header: {len(header)} bytes, expected "
                    f"at least {header_size}"
                )
            shape = tuple(int(d) for d in np.frombuffer(header, dtype=">u4", offset=4))
            n_bytes = math.prod(shape)
            if n_bytes > max_bytes:
                raise ValueError(
                    f"{path} has an IDX header declaring shape {shape}, {n_bytes} bytes: more "
                    f"than the limit of {max_bytes} bytes, so the header is taken as corrupt"
                )
            payload = _read_exactly(f, n_bytes)
            if payload.size < n_bytes:
                raise ValueError(
                    f"{path} holds {header_size + payload.size} bytes but its header {shape} "
                    f"needs {header_size + n_bytes}: the file is truncated"
                )
            if f.read(1):
                raise ValueError(
                    f"{path}: its header {shape} needs {header_size + n_bytes} bytes but the "
                    f"file holds more: it is corrupt"
                )
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is not a readable gzip file: {err}") from None
    return payload.reshape(shape)


def _look_for_files(folder):
    """(folder, None) when it holds the four files, else (None, what it lacks)."""
    if not folder.is_dir():
        return None, "no such folder (it must hold " + ", ".join(FASHION_MNIST_FILES.values()) + ")"
    missing = [name for name in FASHION_MNIST_FILES.values() if not (folder / name).is_file()]
    if missing:
        return None, "it lacks " + ", ".join(missing)
    return folder, None


def find_fashion_mnist(data_dir=None):
    """The folder that holds the four Fashion-MNIST files.

    Looks in, in order: ``data_dir``, ``$FASHION_MNIST_DIR``, ``datasets/fashion-mnist/``
    in the repository, ``/usr/share/datasets/fashion-mnist`` (Debian package). A
    folder named by ``data_dir`` or the variable is the only one looked in.

    Returns
    -------
    Path of that folder; raises ValueError naming the folder and the missing
    files, or every place looked in
    """
    places = search_places(data_dir, FASHION_MNIST_ENV, FASHION_MNIST_REPO_DIR,
                           FASHION_MNIST_SYSTEM_DIR)
    return find_in_places(places, _look_for_files, "Fashion-MNIST",
                          "all of " + ", ".join(FASHION_MNIST_FILES.values()), FASHION_MNIST_HINT)


def load_fashion_mnist(batch_size=50, data_dir=None, flatten=False, validation_size=10000,
                       seed=0, dtype=np.float32, augment=None):
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

    Returns
    -------
    Dataset with 10 one-hot classes; pixels scaled to [0, 1], then standardised
    with the training split's mean and standard deviation (one of each, over all
    pixels; kept in ``dataset.mean`` and ``dataset.std``, shape (1,))
    """
    folder = find_fashion_mnist(data_dir)
    magic = {"images": IDX_IMAGES_MAGIC, "labels": IDX_LABELS_MAGIC}
    arrays = {key: read_idx(folder / name, magic[key.split("_")[1]])
              for key, name in FASHION_MNIST_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != (28, 28):
            raise ValueError(f"Fashion-MNIST {split} images must be 28x28, got {images.shape[1:]}")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"Fashion-MNIST {split} split has {images.shape[0]} images but "
                f"{labels.shape[0]} labels"
            )
        if labels.size and labels.max() > 9:
            raise ValueError(f"Fashion-MNIST {split} labels must be 0..9, found {labels.max()}")
    if flatten and augment is not None:
        raise ValueError("augment works on NHWC images; it needs flatten=False")
    shape = (-1, 784) if flatten else (-1, 28, 28, 1)
    dataset = image_dataset(
        arrays["train_images"].reshape(shape), arrays["train_labels"],
        arrays["test_images"].reshape(shape), arrays["test_labels"],
        n_classes=10, batch_size=batch_size, validation_size=validation_size, seed=seed,
        dtype=dtype, n_channels=1,
    )
    attach_augmentation(dataset, augment)
    dataset.classes = FASHION_MNIST_CLASSES
    return dataset
