"""What the image loaders share: the validation split, pixel statistics,
standardisation, one-hot labels and the training split's augmentation."""

from collections.abc import Mapping

import numpy as np

from ..augmentation import initialize_augmentation
from ..utils.checks import check_number
from ..utils.data_structures import integers_to_one_hot
from .batching import Dataset


def split_off_validation(n_examples, validation_size, seed):
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
    check_number("validation_size", validation_size, at_least=0, below=n_examples, whole=True)
    order = np.random.default_rng(seed).permutation(n_examples)
    return np.sort(order[validation_size:]), np.sort(order[:validation_size])


def pixel_statistics(images, n_channels):
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


def standardize_pixels(images, mean, std, dtype):
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


def check_float_dtype(dtype):
    """``np.dtype(dtype)``, or ValueError unless it is a floating type."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type such as np.float32, got {dtype}")
    return dtype


def image_dataset(train_images, train_labels, test_images, test_labels, n_classes, batch_size,
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
    dtype = check_float_dtype(dtype)
    train_idx, validation_idx = split_off_validation(train_images.shape[0], validation_size, seed)
    mean, std = pixel_statistics(train_images[train_idx], n_channels)

    def prepare(images, labels):
        X = standardize_pixels(images, mean, std, dtype)
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


def attach_augmentation(dataset, augment):
    """Set ``dataset.train.augment`` (the training split only) from a callable, a
    name, or a mapping of a name and its settings (``{"name": "crop_flip", "pad": 2}``)."""
    if augment is None:
        return
    if isinstance(augment, str):
        augment = initialize_augmentation(augment)
    elif isinstance(augment, Mapping):
        settings = dict(augment)
        if "name" not in settings:
            raise ValueError(f"an augmentation given as a mapping needs a 'name', got {augment!r}")
        augment = initialize_augmentation(settings.pop("name"), **settings)
    if not callable(augment):
        raise ValueError(
            f"augment must be a callable on NHWC batches, an augmentation name or a mapping "
            f"of a name and its settings, got {augment!r}"
        )
    dataset.train.augment = augment
