"""CIFAR-10 from the "CIFAR-10 python version": a folder of pickled batches or its archive."""

import os
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .array_pickles import load_array_pickle
from .download import download_folder, fetcher, wanted
from .images import attach_augmentation, image_dataset
from .places import DATASETS_DIR, find_in_places, search_places

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{k}" for k in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_BATCHES = CIFAR10_TRAIN_BATCHES + (CIFAR10_TEST_BATCH,)
CIFAR10_ENV = "CIFAR10_DIR"
CIFAR10_REPO_DIR = DATASETS_DIR / "cifar10"
CIFAR10_SYSTEM_DIR = None  # no system package ships CIFAR-10
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_WANTED = f"a {CIFAR10_FOLDER} folder (data_batch_1..5 and test_batch) or {CIFAR10_ARCHIVE}"
# A batch of 10,000 images is a 31 MB pickle; a larger one is refused before it is read.
CIFAR10_MAX_BATCH_BYTES = 2**26


def _look_for_batches(place):
    """How ``place`` holds the batches, as (("folder" or "archive", Path), None),
    else (None, what it lacks)."""
    if place.is_file():
        if place.name.endswith(".tar.gz"):
            return ("archive", place), None
        return None, f"a file that is not a .tar.gz archive such as {CIFAR10_ARCHIVE}"
    if not place.is_dir():
        return None, f"no such file or folder (it must hold {CIFAR10_WANTED})"
    for candidate in (place / CIFAR10_FOLDER, place):
        if all((candidate / n).is_file() for n in CIFAR10_BATCHES):
            return ("folder", candidate), None
    if (place / CIFAR10_ARCHIVE).is_file():
        return ("archive", place / CIFAR10_ARCHIVE), None
    for candidate in (place / CIFAR10_FOLDER, place):
        present = [n for n in CIFAR10_BATCHES if (candidate / n).is_file()]
        if present:
            missing = [n for n in CIFAR10_BATCHES if n not in present]
            return None, f"{candidate} lacks " + ", ".join(missing)
    return None, (f"it holds no {CIFAR10_FOLDER} folder, no batch files "
                  f"({', '.join(CIFAR10_BATCHES)}) and no {CIFAR10_ARCHIVE}")


def _archive_fetcher():
    """Downloads the archive into a place, or beside it when the place names the archive."""
    into_folder = fetcher("cifar10")

    def fetch_archive(place):
        into_folder(place.parent if place.name.endswith(".tar.gz") else place)
    return fetch_archive


def find_cifar10(data_dir=None, download=False):
    """Where the CIFAR-10 python batches are.

    Looks in, in order: ``data_dir``, ``$CIFAR10_DIR``, ``datasets/cifar10/`` in
    the repository, the download folder (``download.download_folder``); a place
    named by ``data_dir`` or the variable is the only one looked in. Each place
    may hold a ``cifar-10-batches-py`` folder, the batch files themselves, or the
    ``cifar-10-python.tar.gz`` archive (``data_dir`` may also name the archive).

    Parameters
    ----------
    data_dir  a folder (or the archive) to look in first, or None
    download  fetch the official archive when missing: into the named place, else
              into the download folder (it is read as it is, not unpacked)

    Returns
    -------
    ("folder", Path) or ("archive", Path); raises ValueError naming the place and
    what it lacks, or every place looked in
    """
    places = search_places(data_dir, CIFAR10_ENV, CIFAR10_REPO_DIR, CIFAR10_SYSTEM_DIR,
                           download_folder("cifar10"))
    return find_in_places(places, _look_for_batches, "CIFAR-10", CIFAR10_WANTED,
                          fetch=_archive_fetcher() if wanted(download) else None)


def _check_batch_size(size, where):
    if size > CIFAR10_MAX_BATCH_BYTES:
        raise ValueError(
            f"{where} is {size} bytes, more than the {CIFAR10_MAX_BATCH_BYTES} bytes a "
            f"CIFAR-10 batch may take: it is not a CIFAR-10 batch"
        )


def _read_cifar10_batches(source, names):
    """Read and check the named batches.

    Each batch is read whole, at most ``CIFAR10_MAX_BATCH_BYTES``, then unpickled by
    ``array_pickles.load_array_pickle``: a corrupt or hostile batch is a ValueError
    naming its file, and never asks for more memory than its own size.

    Returns
    -------
    {name: (uint8 images (n, 32, 32, 3), int labels (n,))}
    """
    kind, path = source
    batches = {}
    try:
        if kind == "folder":
            for name in names:
                with open(path / name, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    _check_batch_size(size, path / name)
                    payload = f.read(size)
                batch = load_array_pickle(payload, path / name)
                batches[name] = _cifar10_images_labels(batch, path / name)
        else:
            with tarfile.open(path, "r:gz") as archive:
                members = {m.name: m for m in archive.getmembers() if m.isfile()}
                for name in names:
                    member = members.get(f"{CIFAR10_FOLDER}/{name}")
                    if member is None:
                        raise ValueError(f"{path} has no member {CIFAR10_FOLDER}/{name}")
                    where = f"{path} member {member.name}"
                    _check_batch_size(member.size, where)
                    with archive.extractfile(member) as f:
                        payload = f.read()
                    batches[name] = _cifar10_images_labels(load_array_pickle(payload, where),
                                                           where)
    except (EOFError, tarfile.TarError, OSError, zlib.error) as err:
        raise ValueError(f"cannot read the CIFAR-10 batches from {path}: {err}") from None
    return batches


def _cifar10_images_labels(batch, name):
    """Validate one unpickled batch; ``name`` is its file, for messages.
    Returns (uint8 images (n, 32, 32, 3), int labels (n,))."""
    if not isinstance(batch, dict):
        raise ValueError(f"CIFAR-10 batch {name} must be a dict, got {type(batch).__name__}")

    def get(key):
        for k in (key.encode(), key):
            if k in batch:
                return batch[k]
        raise ValueError(f"CIFAR-10 batch {name} has no {key!r} entry (keys: {list(batch)})")

    data, labels = get("data"), np.asarray(get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        raise ValueError(
            f"CIFAR-10 batch {name}: 'data' must be a uint8 array (n, 3072), got "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"CIFAR-10 batch {name}: 'labels' must be {data.shape[0]} integers, got "
            f"{labels.dtype} {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"CIFAR-10 batch {name}: labels must be 0..9, found "
                         f"{labels.min()}..{labels.max()}")
    # Each row is the red, green and blue 32x32 planes in turn, each row-major.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _read_images_file(path):
    """(array, names): the array of an ``.npy`` file (names None), or of an ``.npz``
    holding one array or one named "images" (array None when it holds neither)."""
    # Opened here, not by np.load, which leaves its file open when the zip is unreadable.
    with open(path, "rb") as f:
        loaded = np.load(f, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return loaded, None
        with loaded:
            names = list(loaded.keys())
            if len(names) == 1 or "images" in names:
                return loaded[names[0] if len(names) == 1 else "images"], names
            return None, names


def _load_unlabeled_images(path):
    """A Kaggle test set: ``.npy`` (or ``.npz`` with one array, or one named "images")
    of uint8 images (n, 32, 32, 3). Returns that array."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"test_file {path} does not exist")
    try:
        images, names = _read_images_file(path)
    # An .npz is a zip archive: a truncated one, or one whose data fails its CRC, is a
    # BadZipFile, which is neither an OSError nor a ValueError.
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"test_file {path} is not a readable .npy/.npz file: {err}") from None
    if images is None:
        raise ValueError(f"test_file {path} must hold one array or one named 'images', "
                         f"got {names}")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3) \
            or images.shape[0] == 0:
        raise ValueError(
            f"test_file {path} must hold uint8 images of shape (n, 32, 32, 3), got "
            f"{images.dtype} {images.shape}"
        )
    return images


def load_cifar10(batch_size=50, data_dir=None, validation_size=5000, seed=0, dtype=np.float32,
                 augment=None, test_file=None, download=False):
    """CIFAR-10: 45,000 training, 5,000 validation and 10,000 test images, NHWC.

    Parameters
    ----------
    batch_size       training batch size
    data_dir         where the python-version batches are (see ``find_cifar10``
                     for the places looked in without it)
    validation_size  examples of the 50,000 training images held out for validation
    seed             seed of the validation split
    dtype            floating dtype of images and labels
    augment          augmentation of the training batches only: a callable on
                     NHWC batches or a name for ``initialize_augmentation``
                     (e.g. "crop_flip"); None: off
    test_file        optional ``.npy``/``.npz`` of unlabeled uint8 images (n, 32, 32, 3),
                     e.g. a Kaggle test set; it replaces the official test batch and
                     ``dataset.test.labels`` is None
    download         fetch the official archive when no place holds the batches (into
                     ``data_dir`` if given, else the download folder)

    Returns
    -------
    Dataset of images (n, 32, 32, 3) and 10 one-hot classes; pixels scaled to
    [0, 1], then standardised per channel with the training split's statistics
    (``dataset.mean`` and ``dataset.std``, shape (3,))
    """
    source = find_cifar10(data_dir, download)
    # The test file first: a bad one is refused before the batches are read.
    if test_file is not None:
        test_images, test_labels = _load_unlabeled_images(test_file), None
    names = CIFAR10_TRAIN_BATCHES + (() if test_file is not None else (CIFAR10_TEST_BATCH,))
    batches = _read_cifar10_batches(source, names)
    train_images = np.concatenate([batches[name][0] for name in CIFAR10_TRAIN_BATCHES])
    train_labels = np.concatenate([batches[name][1] for name in CIFAR10_TRAIN_BATCHES])
    if test_file is None:
        test_images, test_labels = batches[CIFAR10_TEST_BATCH]
    dataset = image_dataset(train_images, train_labels, test_images, test_labels, n_classes=10,
                            batch_size=batch_size, validation_size=validation_size, seed=seed,
                            dtype=dtype, n_channels=3)
    attach_augmentation(dataset, augment)
    dataset.classes = CIFAR10_CLASSES
    return dataset
