"""Image augmentation for NHWC training batches.

An augmentation is a callable ``augment(X) -> X'`` on a batch
(batch, rows, cols, channels); ``Data`` applies it to the training batches it
serves when ``Data.augment`` is set. Random draws come from numpy's global
generator, so a model's seed (and a checkpoint's saved generator state)
makes them reproducible. A batch on a GPU is augmented there, with the same
draws, made on the host.
"""


import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import backend
from .utils.checks import check_flag, check_number
from .utils.registry import build, factory


class RandomCropFlip:
    """Random crop after zero padding, and random horizontal flip.

    Each image is padded with ``pad`` zeros on every side, a window of the
    original size is cut at a random offset in [0, 2*pad] per axis, and with
    probability ``flip_probability`` the result is mirrored left-right. The
    crop is two gathers over the batch and the flip one masked copy; no
    loop over examples.

    Parameters
    ----------
    pad               zeros added on each side before cropping (0: no crop)
    flip              whether to flip horizontally at random
    flip_probability  chance of a flip per image
    """

    def __init__(self, pad=4, flip=True, flip_probability=0.5):
        self.pad = check_number("pad", pad, at_least=0, whole=True)
        self.flip = check_flag("flip", flip)
        self.flip_probability = check_number("flip_probability", flip_probability,
                                             at_least=0, at_most=1)

    def __call__(self, X):
        """Parameters: X (batch, rows, cols, channels), on either device.
        Returns: a new array of that shape, on X's device."""
        X = backend.as_array(X)
        if X.ndim != 4:
            raise ValueError(
                f"RandomCropFlip expects NHWC batches (batch, rows, cols, channels), "
                f"got shape {X.shape}"
            )
        n, rows, cols, channels = X.shape
        p = self.pad
        # Drawn in this order whatever the settings, so that a seed gives the
        # same batches as it always has.
        row_offsets = np.random.randint(0, 2 * p + 1, size=n)
        col_offsets = np.random.randint(0, 2 * p + 1, size=n)
        flipped = np.random.random_sample(n) < self.flip_probability if self.flip else None
        if p:
            xp = backend.get_array_module(X)
            padded = xp.zeros((n, rows + 2 * p, cols + 2 * p, channels), dtype=X.dtype)
            padded[:, p:p + rows, p:p + cols] = X
            batch = np.arange(n)[:, None]
            # Whole padded rows first, then in each row the window's columns,
            # one contiguous span of cols*channels numbers: both gathers copy
            # long runs, where one gather per pixel would copy `channels` numbers.
            taken = padded[batch, row_offsets[:, None] + np.arange(rows)]
            spans = sliding_window_view(taken.reshape(n, rows, (cols + 2 * p) * channels),
                                        cols * channels, axis=2)
            out = spans[batch, np.arange(rows), (col_offsets * channels)[:, None]]
            out = out.reshape(X.shape)
        else:
            out = X.copy()
        if flipped is not None and flipped.any():
            # Indices rather than the mask: on a GPU a mask index waits for the
            # device to count its True entries; host indices are copied over.
            which = np.flatnonzero(flipped)
            out[which] = out[which, :, ::-1]
        return out


class RandomFlip(RandomCropFlip):
    """Random horizontal flip only (``RandomCropFlip`` without the crop)."""

    def __init__(self, flip_probability=0.5):
        super().__init__(pad=0, flip=True, flip_probability=flip_probability)


AUGMENTATIONS = {"crop_flip": RandomCropFlip, "flip": RandomFlip}


@factory(AUGMENTATIONS, "augmentation")
def initialize_augmentation(name, **options):
    """Build an augmentation by name (``"crop_flip"``, ``"flip"``); None gives None (none).

    ``options`` are the class's settings (``pad``, ``flip``,
    ``flip_probability``); an unknown name, or an option the augmentation
    does not take, is a ValueError listing what is accepted.
    """
    if name is None:
        return None
    return build(AUGMENTATIONS, "augmentation", name, options)
