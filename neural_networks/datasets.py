"""Datasets: batching (``Data``), splits (``Dataset``) and loaders by name."""

import gzip
import inspect
import io
import math
import os
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .augmentation import initialize_augmentation
from .utils.data_processing import standardize
from .utils.data_structures import integers_to_one_hot

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS_DIR = REPO_ROOT / "datasets"


def _check_finite(values, what):
    """Raise ValueError if a numeric array holds NaN or infinity."""
    if np.issubdtype(values.dtype, np.inexact) and not np.all(np.isfinite(values)):
        bad = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(
            f"{what} must be finite, but entry {tuple(int(i) for i in bad)} is "
            f"{values[tuple(bad)]}"
        )


class Data:
    """One split, served in shuffled mini-batches.

    Parameters
    ----------
    data        array (n, ...) of examples
    batch_size  examples per batch; the last batch of an epoch may be smaller
    labels      array (n, k) of one-hot labels, or None
    out_dim     number of classes / outputs
    augment     optional callable applied to every batch ``sample()`` returns
                (e.g. ``augmentation.RandomCropFlip``); set it on training data only

    ``sample()`` returns the next ``(X, Y)`` and draws a fresh permutation at
    the start of every epoch (``samples_per_epoch = ceil(n / batch_size)``).
    """

    def __init__(self, data, batch_size=50, labels=None, out_dim=None, augment=None):
        data = np.asarray(data)
        if data.ndim < 1 or data.shape[0] == 0:
            raise ValueError(f"Data needs at least one example, got an array of shape {data.shape}")
        _check_finite(data, "data")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape[0] != data.shape[0]:
                raise ValueError(
                    f"data and labels differ in length: {data.shape[0]} examples "
                    f"but {labels.shape[0]} labels"
                )
            _check_finite(labels, "labels")
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
        # A callable applied to every batch sample() returns (training only).
        self.augment = augment

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
        if self.augment is not None:
            X = self.augment(X)
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


# --------------------------------------------------------------------------
# Shared helpers of the image loaders
# --------------------------------------------------------------------------

def _search_places(data_dir, env_var, repo_dir, system_dir):
    """The folders a loader looks in, in order, each with a description.

    Returns
    -------
    list of (description, Path or None); None marks an unset environment variable
    """
    places = []
    if data_dir is not None:
        places.append(("the data_dir argument", Path(data_dir)))
    env_value = os.environ.get(env_var)
    places.append((f"the environment variable {env_var}" + ("" if env_value else " (not set)"),
                   Path(env_value) if env_value else None))
    places.append(("the repository folder", Path(repo_dir)))
    if system_dir is not None:
        places.append(("the system folder", Path(system_dir)))
    return places


def _describe_places(places):
    return "\n".join(f"  {k}. {what}: {path if path is not None else '-'}"
                     for k, (what, path) in enumerate(places, start=1))


def _split_off_validation(n_examples, validation_size, seed):
    """Seeded split of ``range(n_examples)`` into training and validation indices.

    Parameters
    ----------
    n_examples       size of the official training set
    validation_size  examples held out for validation (0 for none)
    seed             seed of a private generator (the global one is not touched)

    Returns
    -------
    (train_idx, validation_idx), each sorted, sizes n_examples - validation_size
    and validation_size
    """
    if isinstance(validation_size, bool) or not isinstance(validation_size, (int, np.integer)) \
            or not 0 <= validation_size < n_examples:
        raise ValueError(
            f"validation_size must be an int in [0, {n_examples}), got {validation_size!r}"
        )
    order = np.random.default_rng(seed).permutation(n_examples)
    return np.sort(order[validation_size:]), np.sort(order[:validation_size])


def _pixel_statistics(images, n_channels):
    """Exact mean and standard deviation of uint8 pixels scaled to [0, 1], per channel.

    Counting how often each of the 256 values occurs gives exact sums without
    a float copy of the whole array (CIFAR-10's training split is 138M pixels).

    Parameters
    ----------
    images      uint8 array (n, ...) whose last axis has n_channels entries
                (or any shape when n_channels is 1)
    n_channels  number of channels

    Returns
    -------
    (mean, std), float64 arrays of shape (n_channels,)
    """
    counts = np.zeros((n_channels, 256), dtype=np.int64)
    rows_per_chunk = 4096
    for start in range(0, images.shape[0], rows_per_chunk):
        pixels = images[start:start + rows_per_chunk].reshape(-1, n_channels)
        for c in range(n_channels):
            counts[c] += np.bincount(pixels[:, c], minlength=256)
    values = np.arange(256, dtype=np.float64) / 255.0
    total = counts.sum(axis=1)
    mean = counts @ values / total
    variance = counts @ values**2 / total - mean**2
    return mean, np.sqrt(np.maximum(variance, 0.0))


def _standardize_pixels(images, mean, std, dtype):
    """(images / 255 - mean) / std in ``dtype``, broadcasting mean and std over the last axis.

    Parameters
    ----------
    images     uint8 array (n, ..., channels)
    mean, std  arrays (channels,) in [0, 1] units (the training split's)
    dtype      floating dtype of the result

    Returns
    -------
    array of images' shape and the given dtype
    """
    std = np.maximum(std, 1e-12)
    X = images.astype(dtype)
    # In place, so the only full-size array is the result itself.
    X *= (1.0 / (255.0 * std)).astype(dtype)
    X -= (mean / std).astype(dtype)
    return X


def _check_float_dtype(dtype):
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type such as np.float32, got {dtype}")
    return dtype


def _image_dataset(train_images, train_labels, test_images, test_labels, n_classes, batch_size,
                   validation_size, seed, dtype, n_channels):
    """Split off validation, standardise with training statistics, one-hot the labels.

    Parameters
    ----------
    train_images  uint8 (n, ..., n_channels) official training images
    train_labels  int (n,) class indices
    test_images   uint8 (m, ..., n_channels) test images
    test_labels   int (m,) class indices, or None for an unlabeled test set

    Returns
    -------
    Dataset with ``mean`` and ``std`` (shape (n_channels,), the training split's
    statistics in [0, 1] pixel units) attached
    """
    dtype = _check_float_dtype(dtype)
    train_idx, validation_idx = _split_off_validation(train_images.shape[0], validation_size, seed)
    mean, std = _pixel_statistics(train_images[train_idx], n_channels)

    def prepare(images, labels):
        X = _standardize_pixels(images, mean, std, dtype)
        Y = None if labels is None else integers_to_one_hot(labels, n_classes - 1).astype(dtype)
        return X, Y

    X_train, Y_train = prepare(train_images[train_idx], train_labels[train_idx])
    X_val, Y_val = (prepare(train_images[validation_idx], train_labels[validation_idx])
                    if validation_size else (None, None))
    X_test, Y_test = prepare(test_images, test_labels)
    dataset = Dataset(X_train, Y_train, batch_size, validation_set=X_val,
                      validation_labels=Y_val, test_set=X_test, test_labels=Y_test)
    dataset.mean, dataset.std = mean, std
    return dataset


def _attach_augmentation(dataset, augment):
    """Set ``dataset.train.augment`` (the training split only) from a callable or a name."""
    if augment is None:
        return
    if isinstance(augment, str):
        augment = initialize_augmentation(augment)
    if not callable(augment):
        raise ValueError(
            f"augment must be a callable on NHWC batches or an augmentation name, got {augment!r}"
        )
    dataset.train.augment = augment


# --------------------------------------------------------------------------
# Fashion-MNIST (IDX files)
# --------------------------------------------------------------------------

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

# IDX magic numbers: 0x0803 (unsigned bytes, 3 dimensions) and 0x0801 (1 dimension).
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049


def read_idx(path, magic):
    """Read a gzip-compressed IDX file of unsigned bytes.

    Parameters
    ----------
    path   the ``.gz`` file
    magic  the expected magic number: 2051 for images, 2049 for labels

    Returns
    -------
    uint8 array of the shape in the header: (n, rows, cols) or (n,)
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is not a readable gzip file: {err}") from None
    # The magic number's last byte is the number of dimensions.
    n_dims = magic & 0xFF
    header_size = 4 * (1 + n_dims)
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found is not None and found != magic:
        raise ValueError(f"{path} has IDX magic number {found}, expected {magic}")
    if len(raw) < header_size:
        raise ValueError(
            f"{path} is too short for an IDX header: {len(raw)} bytes, expected at least "
            f"{header_size}"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=n_dims, offset=4))
    expected = header_size + math.prod(shape)
    if len(raw) != expected:
        raise ValueError(
            f"{path} holds {len(raw)} bytes but its header {shape} needs {expected}: "
            f"the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def find_fashion_mnist(data_dir=None):
    """The first folder, in search order, that holds the four Fashion-MNIST files.

    Looks in: ``data_dir``, ``$FASHION_MNIST_DIR``, ``datasets/fashion-mnist/`` in
    the repository, ``/usr/share/datasets/fashion-mnist`` (Debian package).

    Returns
    -------
    Path of that folder; raises ValueError naming every place looked otherwise
    """
    places = _search_places(data_dir, FASHION_MNIST_ENV, FASHION_MNIST_REPO_DIR,
                            FASHION_MNIST_SYSTEM_DIR)
    for _, folder in places:
        if folder is not None and all((folder / f).is_file() for f in FASHION_MNIST_FILES.values()):
            return folder
    raise ValueError(
        "Fashion-MNIST not found: no folder holds all of "
        + ", ".join(FASHION_MNIST_FILES.values()) + ".\nLooked in, in order:\n"
        + _describe_places(places)
        + "\nInstall them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu, files in "
        "/usr/share/datasets/fashion-mnist), or download the four files from "
        "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion) into one of "
        "these folders."
    )


def load_fashion_mnist(batch_size=50, data_dir=None, flatten=False, validation_size=10000,
                       seed=0, dtype=np.float32, augment=None):
    """Fashion-MNIST: 50,000 training, 10,000 validation and the 10,000 official test images.

    Parameters
    ----------
    batch_size       training batch size
    data_dir         folder with the four IDX ``.gz`` files; searched first
                     (see ``find_fashion_mnist`` for the other places)
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
    arrays = {
        key: read_idx(folder / name, IDX_IMAGES_MAGIC if key.endswith("images") else IDX_LABELS_MAGIC)
        for key, name in FASHION_MNIST_FILES.items()
    }
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
    dataset = _image_dataset(
        arrays["train_images"].reshape(shape), arrays["train_labels"],
        arrays["test_images"].reshape(shape), arrays["test_labels"],
        n_classes=10, batch_size=batch_size, validation_size=validation_size, seed=seed,
        dtype=dtype, n_channels=1,
    )
    _attach_augmentation(dataset, augment)
    dataset.classes = FASHION_MNIST_CLASSES
    return dataset


# --------------------------------------------------------------------------
# CIFAR-10 ("CIFAR-10 python version")
# --------------------------------------------------------------------------

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{k}" for k in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_ENV = "CIFAR10_DIR"
CIFAR10_REPO_DIR = DATASETS_DIR / "cifar10"
CIFAR10_SYSTEM_DIR = None  # no system package ships CIFAR-10
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR-10 batch, refusing everything but a numpy array's pieces.

    The batches are pickles, and a pickle can call any function; these are
    the only ones a batch needs (``_codecs.encode`` is how Python 3 writes bytes
    with protocol 2).
    """

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise ValueError(
                f"refusing to unpickle {module}.{name}: a CIFAR-10 batch holds only a dict "
                f"of numpy arrays, lists and strings"
            )
        return super().find_class(module, name)


def _cifar10_sources(folder):
    """How ``folder`` holds the CIFAR-10 batches: ("folder", path), ("archive", path) or None."""
    names = CIFAR10_TRAIN_BATCHES + (CIFAR10_TEST_BATCH,)
    if folder.is_file() and folder.name.endswith(".tar.gz"):
        return ("archive", folder)
    for candidate in (folder / CIFAR10_FOLDER, folder):
        if all((candidate / n).is_file() for n in names):
            return ("folder", candidate)
    if (folder / CIFAR10_ARCHIVE).is_file():
        return ("archive", folder / CIFAR10_ARCHIVE)
    return None


def find_cifar10(data_dir=None):
    """Where the CIFAR-10 python batches are, searching like ``find_fashion_mnist``.

    In each place (``data_dir``, ``$CIFAR10_DIR``, ``datasets/cifar10/``) it accepts
    a ``cifar-10-batches-py`` folder, the batch files themselves, or the
    ``cifar-10-python.tar.gz`` archive (``data_dir`` may also name the archive).

    Returns
    -------
    ("folder", Path) or ("archive", Path); raises ValueError naming every place looked
    """
    places = _search_places(data_dir, CIFAR10_ENV, CIFAR10_REPO_DIR, CIFAR10_SYSTEM_DIR)
    for _, folder in places:
        if folder is not None:
            source = _cifar10_sources(folder)
            if source is not None:
                return source
    raise ValueError(
        f"CIFAR-10 not found: no place holds a {CIFAR10_FOLDER} folder (data_batch_1..5 and "
        f"test_batch) or {CIFAR10_ARCHIVE}.\nLooked in, in order:\n" + _describe_places(places)
        + "\nDownload the 'CIFAR-10 python version' from "
        "https://www.cs.toronto.edu/~kriz/cifar.html and put the archive (or its unpacked "
        "folder) in one of these places."
    )


def _read_cifar10_batches(source, names):
    """Unpickle the named batches. Returns {name: dict with bytes keys}."""
    kind, path = source
    batches = {}
    try:
        if kind == "folder":
            for name in names:
                with open(path / name, "rb") as f:
                    batches[name] = _BatchUnpickler(f, encoding="bytes").load()
        else:
            with tarfile.open(path, "r:gz") as archive:
                members = {m.name: m for m in archive.getmembers() if m.isfile()}
                for name in names:
                    member = members.get(f"{CIFAR10_FOLDER}/{name}")
                    if member is None:
                        raise ValueError(f"{path} has no member {CIFAR10_FOLDER}/{name}")
                    with archive.extractfile(member) as f:
                        batches[name] = _BatchUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, tarfile.TarError, OSError, zlib.error) as err:
        raise ValueError(f"cannot read the CIFAR-10 batches from {path}: {err}") from None
    return batches


def _cifar10_images_labels(batch, name):
    """Validate one unpickled batch. Returns (uint8 images (n, 32, 32, 3), int labels (n,))."""
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


def _load_unlabeled_images(path):
    """A Kaggle test set: ``.npy`` (or ``.npz`` with one array, or one named "images")
    of uint8 images (n, 32, 32, 3). Returns that array."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"test_file {path} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"test_file {path} is not a readable .npy/.npz file: {err}") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.keys())
            if len(keys) == 1 or "images" in keys:
                images = loaded[keys[0] if len(keys) == 1 else "images"]
            else:
                raise ValueError(
                    f"test_file {path} must hold one array or one named 'images', got {keys}"
                )
    else:
        images = loaded
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3) \
            or images.shape[0] == 0:
        raise ValueError(
            f"test_file {path} must hold uint8 images of shape (n, 32, 32, 3), got "
            f"{images.dtype} {images.shape}"
        )
    return images


def load_cifar10(batch_size=50, data_dir=None, validation_size=5000, seed=0, dtype=np.float32,
                 augment=None, test_file=None):
    """CIFAR-10: 45,000 training, 5,000 validation and 10,000 test images, NHWC.

    Parameters
    ----------
    batch_size       training batch size
    data_dir         where the python-version batches are; searched first (see
                     ``find_cifar10`` for the other places)
    validation_size  examples of the 50,000 training images held out for validation
    seed             seed of the validation split
    dtype            floating dtype of images and labels
    augment          augmentation of the training batches only: a callable on
                     NHWC batches or a name for ``initialize_augmentation``
                     (e.g. "crop_flip"); None: off
    test_file        optional ``.npy``/``.npz`` of unlabeled uint8 images (n, 32, 32, 3),
                     e.g. a Kaggle test set; it replaces the official test batch and
                     ``dataset.test.labels`` is None

    Returns
    -------
    Dataset of images (n, 32, 32, 3) and 10 one-hot classes; pixels scaled to
    [0, 1], then standardised per channel with the training split's statistics
    (``dataset.mean`` and ``dataset.std``, shape (3,))
    """
    source = find_cifar10(data_dir)
    names = CIFAR10_TRAIN_BATCHES + (() if test_file is not None else (CIFAR10_TEST_BATCH,))
    batches = _read_cifar10_batches(source, names)
    parts = [_cifar10_images_labels(batches[name], name) for name in CIFAR10_TRAIN_BATCHES]
    train_images = np.concatenate([images for images, _ in parts])
    train_labels = np.concatenate([labels for _, labels in parts])
    if test_file is not None:
        test_images, test_labels = _load_unlabeled_images(test_file), None
    else:
        test_images, test_labels = _cifar10_images_labels(batches[CIFAR10_TEST_BATCH],
                                                          CIFAR10_TEST_BATCH)
    dataset = _image_dataset(train_images, train_labels, test_images, test_labels, n_classes=10,
                             batch_size=batch_size, validation_size=validation_size, seed=seed,
                             dtype=dtype, n_channels=3)
    _attach_augmentation(dataset, augment)
    dataset.classes = CIFAR10_CLASSES
    return dataset


DATASETS = {"iris": load_iris, "fashion_mnist": load_fashion_mnist, "cifar10": load_cifar10}


def initialize_dataset(name, batch_size=50, **options):
    """Load a dataset by name as a ``Dataset``.

    Parameters
    ----------
    name        one of ``DATASETS``: "iris", "fashion_mnist", "cifar10"
    batch_size  training batch size
    options     the loader's keyword arguments (``load_<name>``), e.g. ``data_dir``

    Returns
    -------
    Dataset
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    loader = DATASETS[name]
    accepted = [p for p in inspect.signature(loader).parameters if p != "batch_size"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"dataset {name!r} takes the options {accepted}, got unknown {unknown}")
    return loader(batch_size=batch_size, **options)
