"""The IDX format of MNIST and Fashion-MNIST, and the loading both share.

Both datasets are four gzip-compressed IDX files with the same names: the
training and test images (n, 28, 28) and their labels 0..9.
"""

import gzip
import math
import zlib

import numpy as np

from .images import attach_augmentation, image_dataset

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# What a folder must hold, in brief, for the "not found" message.
IDX_WANTED = "the four IDX files {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz"

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


def look_for_idx_files(folder):
    """(folder, None) when it holds the four files, else (None, what it lacks)."""
    if not folder.is_dir():
        return None, "no such folder (it must hold " + ", ".join(IDX_FILES.values()) + ")"
    missing = [name for name in IDX_FILES.values() if not (folder / name).is_file()]
    if missing:
        return None, "it lacks " + ", ".join(missing)
    return folder, None


def load_idx_dataset(folder, title, batch_size, flatten, validation_size, seed, dtype, augment):
    """Read the four IDX files in ``folder`` and make the splits.

    Parameters
    ----------
    folder           the folder holding ``IDX_FILES``
    title            the dataset's name, for messages ("MNIST")
    batch_size       training batch size
    flatten          True: images as rows (n, 784); False: NHWC (n, 28, 28, 1)
    validation_size  examples of the official training set held out for validation
    seed             seed of the validation split
    dtype            floating dtype of images and labels
    augment          augmentation of the training batches (callable or name), or None

    Returns
    -------
    Dataset with 10 one-hot classes, images (n, 784) if ``flatten`` else
    (n, 28, 28, 1), standardised with the training split's statistics
    """
    magic = {"images": IDX_IMAGES_MAGIC, "labels": IDX_LABELS_MAGIC}
    arrays = {key: read_idx(folder / name, magic[key.split("_")[1]])
              for key, name in IDX_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != (28, 28):
            raise ValueError(f"{title} {split} images must be 28x28, got {images.shape[1:]}")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{title} {split} split has {images.shape[0]} images but "
                f"{labels.shape[0]} labels"
            )
        if labels.size and labels.max() > 9:
            raise ValueError(f"{title} {split} labels must be 0..9, found {labels.max()}")
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
    return dataset
