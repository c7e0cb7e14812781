"""The pictures of a run, every one written into its run folder:

- ``loss.png``, ``accuracy.png``  train and validation per epoch, the epoch
  best.npz keeps marked (``write_curves``)
- ``confusion_matrix.png``  true against predicted test classes (``write_confusion_matrix``)
- ``misclassified.png``     wrongly classified test images (``write_misclassified``)
- ``filters.png``           a CNN's first convolution kernels (``write_filters``)
- ``best_loss.png``         a sweep's chosen model, training loss per iteration
  (``write_best_loss``)

``write_test_pictures`` makes the three of an image run's test set. Every
picture may be a PNG, PDF or SVG (``PLOT_FORMATS``); its file name ends with
the format, and it is written atomically by ``utils.files``. Figures are drawn
with matplotlib's object API (no pyplot state), so drawing is safe from any
thread and leaves nothing open. matplotlib is imported when a picture is
drawn (``_figure``), not with this module: importing the library does not
load it.
"""

import math
import os

import numpy as np

from .utils.files import write_atomic

#: The formats a picture can be written in; the first is the default.
PLOT_FORMATS = ("png", "pdf", "svg")

#: At most this many images in misclassified.png.
MAX_MISCLASSIFIED = 25

# No creation date inside PDF and SVG files: the same figure gives the same bytes.
_NO_DATE = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}


def check_plot_format(fmt):
    """Return ``fmt`` if it is one of ``PLOT_FORMATS``, else raise ValueError."""
    if fmt not in PLOT_FORMATS:
        raise ValueError(f"expected a plot format among {', '.join(PLOT_FORMATS)}, got {fmt!r}")
    return fmt


def _figure(**settings):
    """A new matplotlib Figure (``settings`` as for its constructor)."""
    from matplotlib.figure import Figure

    return Figure(**settings)


def save_figure(fig, path):
    """Write ``fig`` to ``path`` (atomically) in the format its extension names.

    Returns
    -------
    the path written; ValueError, writing nothing, for another extension
    """
    path = os.fspath(path)
    fmt = check_plot_format(os.path.splitext(path)[1][1:])
    write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=100, metadata=_NO_DATE.get(fmt)))
    return path


def plot_curves(path, curves, title, ylabel, xlabel="epoch", mark=None):
    """Draw one figure with a line per entry of ``curves`` and write it to ``path``
    (a .png, .pdf or .svg file).

    Parameters
    ----------
    curves  label -> values; value i is drawn at x = i + 1. Every point has a
            marker, so a curve of one point still shows; x ticks are whole numbers.
    mark    None, or (x, label): a dashed vertical line at x, with its legend entry

    Returns
    -------
    the matplotlib Figure
    """
    from matplotlib.ticker import MaxNLocator

    fig = _figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, values in curves.items():
        if len(values):
            # At most ~50 markers: long per-iteration curves stay readable; a few
            # points (a short run) get bigger ones.
            ax.plot(np.arange(1, len(values) + 1), values, label=label, marker="o",
                    markersize=5 if len(values) <= 20 else 3,
                    markevery=max(1, len(values) // 50))
    # Whole-number ticks, one at least: a one-epoch run shows "1", not 0.96 ... 1.04.
    longest = max((len(values) for values in curves.values()), default=1)
    ax.set_xlim(0.5, max(longest, 1) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if mark is not None:
        ax.axvline(mark[0], color="0.4", linestyle="--", linewidth=1, label=mark[1])
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def write_curves(folder, rows, title, fmt="png", kept_epoch=None, label_smoothing=0.0):
    """Write ``folder/loss.<fmt>`` and ``folder/accuracy.<fmt>`` from metrics rows.

    Parameters
    ----------
    rows             as for ``write_metrics``, one per epoch from epoch 1
    title            what the run is, in words (e.g. "Fashion-MNIST, convolutional network")
    fmt              one of ``PLOT_FORMATS``
    kept_epoch       the epoch whose model the run keeps (best.npz), marked on both
                     pictures as "kept: epoch k"; None for no mark
    label_smoothing  the training labels' smoothing: the loss picture's train curve
                     says so, since that loss is on the smoothed labels

    Returns
    -------
    (path of the loss picture, path of the accuracy picture)
    """
    check_plot_format(fmt)

    def column(key):
        return [r[key] for r in rows if r.get(key) not in (None, "")]

    mark = None if kept_epoch is None else (kept_epoch, f"kept: epoch {kept_epoch} (best.npz)")
    smoothed = f" (labels smoothed by {label_smoothing:g})" if label_smoothing else ""
    paths = []
    for metric in ("loss", "accuracy"):
        path = os.path.join(folder, f"{metric}.{fmt}")
        train = "train" + (smoothed if metric == "loss" else "")
        plot_curves(path, {train: column(f"train_{metric}"),
                           "validation": column(f"val_{metric}")},
                    title=f"{title}: {metric} per epoch", ylabel=metric, mark=mark)
        paths.append(path)
    return tuple(paths)


def _check_names(class_names, k):
    names = [str(name) for name in class_names]
    if len(names) != k:
        raise ValueError(f"expected {k} class names, one per class, got {len(names)}")
    return names


def write_confusion_matrix(folder, matrix, class_names, fmt="png",
                           title="Confusion matrix of the test set"):
    """Write ``folder/confusion_matrix.<fmt>``: the count of each (true, predicted)
    pair of classes, each cell shaded by its share of the true class, so a rare
    class reads as clearly as a common one.

    Parameters
    ----------
    matrix       (classes, classes) whole counts >= 0, rows the true classes and
                 columns the predicted ones (``NeuralNetwork.score``'s)
    class_names  one name per class, in class order

    Returns
    -------
    the path written
    """
    check_plot_format(fmt)
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0 \
            or not np.issubdtype(matrix.dtype, np.integer) or np.any(matrix < 0):
        raise ValueError(f"expected a square matrix of whole counts >= 0, got {matrix.dtype} "
                         f"{matrix.shape}")
    k = matrix.shape[0]
    names = _check_names(class_names, k)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = max(4.0, 0.5 * k + 2.5)
    fig = _figure(figsize=(side + 1.5, side))
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), labels=names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, os.path.join(folder, f"confusion_matrix.{fmt}"))


def _image_axes(fig, n, max_cols):
    """``n`` axes without ticks in a grid of at most ``max_cols`` columns."""
    cols = max(1, min(max_cols, n))
    rows = max(1, math.ceil(n / cols))
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    for ax in axes:
        ax.set_axis_off()
    return axes


def _as_images(images, what):
    """(n, rows, cols, channels) with 1 or 3 channels, from that or (n, rows, cols)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[3] not in (1, 3) \
            or not np.issubdtype(images.dtype, np.number):
        raise ValueError(f"expected {what} of shape (n, rows, cols) or (n, rows, cols, 1 or 3), "
                         f"got {images.dtype} {images.shape}")
    if not np.isfinite(images).all():
        raise ValueError(f"the {what} hold NaN or infinity")
    return images.astype(np.float64)


def _show(ax, image):
    """Draw an (rows, cols, 1 or 3) image with values in [0, 1]: gray or RGB."""
    if image.shape[2] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")


def write_misclassified(folder, images, true, predicted, class_names, fmt="png",
                        title="Misclassified test images", mean=None, std=None):
    """Write ``folder/misclassified.<fmt>``: a grid of the first ``MAX_MISCLASSIFIED``
    images, each titled with its true and predicted class ("true: Coat" over
    "predicted: Shirt"). With no image, the picture says that none was wrong.

    Parameters
    ----------
    images       (n, rows, cols, channels) with 1 channel (gray) or 3 (RGB), or
                 (n, rows, cols)
    true         (n,) true class indices
    predicted    (n,) predicted class indices
    class_names  one name per class
    mean, std    (channels,) the standardisation the images went through, in [0, 1]
                 pixel units (a dataset's ``mean`` and ``std``): pixels are shown as
                 ``x * std + mean``. Without them each image is scaled to its own range.

    Returns
    -------
    the path written
    """
    check_plot_format(fmt)
    images = _as_images(images, "images")
    true, predicted = np.asarray(true), np.asarray(predicted)
    n = images.shape[0]
    names = [str(name) for name in class_names]
    for what, labels in (("true", true), ("predicted", predicted)):
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) \
                or (n and not 0 <= labels.min() <= labels.max() < len(names)):
            raise ValueError(f"expected {n} {what} class indices in [0, {len(names)}), got "
                             f"{labels.dtype} {labels.shape}")
    images, true, predicted = (a[:MAX_MISCLASSIFIED] for a in (images, true, predicted))
    if mean is not None and std is not None:
        images = np.clip(images * np.asarray(std) + np.asarray(mean), 0, 1)
    else:
        low = images.min(axis=(1, 2, 3), keepdims=True)
        high = images.max(axis=(1, 2, 3), keepdims=True)
        images = (images - low) / np.where(high > low, high - low, 1)
    n = images.shape[0]
    cols = max(1, min(5, n))
    fig = _figure(figsize=(2.0 * cols, 2.3 * math.ceil(max(n, 1) / cols) + 0.6))
    for ax, image, t, p in zip(_image_axes(fig, n, cols), images, true, predicted, strict=True):
        _show(ax, image)
        ax.set_title(f"true: {names[t]}\npredicted: {names[p]}", fontsize=8)
    if n == 0:
        fig.text(0.5, 0.5, "No misclassified images:\nevery one was classified right.",
                 ha="center", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, os.path.join(folder, f"misclassified.{fmt}"))


def write_filters(folder, W, fmt="png", title="Filters of the first convolution"):
    """Write ``folder/filters.<fmt>``: each kernel of a convolution as a small image,
    scaled to its own range (darkest = its lowest weight, brightest = its highest).

    Parameters
    ----------
    W  (kernel_rows, kernel_cols, in_channels, n_out) with in_channels 1 (drawn
       gray) or 3 (drawn RGB): the first layer's ``parameters["W"]``

    Returns
    -------
    the path written
    """
    check_plot_format(fmt)
    W = np.asarray(W)
    if W.ndim != 4 or W.shape[2] not in (1, 3) or W.shape[3] == 0:
        raise ValueError(f"expected kernels W of shape (kernel_rows, kernel_cols, "
                         f"in_channels, n_out) with 1 (gray) or 3 (RGB) input channels, "
                         f"got {W.shape}")
    kernels = _as_images(np.moveaxis(W, 3, 0), "kernels")
    low = kernels.min(axis=(1, 2, 3), keepdims=True)
    high = kernels.max(axis=(1, 2, 3), keepdims=True)
    kernels = (kernels - low) / np.where(high > low, high - low, 1)
    n = kernels.shape[0]
    cols = min(8, n)
    fig = _figure(figsize=(1.2 * cols + 0.4, 1.3 * math.ceil(n / cols) + 0.7))
    for i, (ax, kernel) in enumerate(zip(_image_axes(fig, n, cols), kernels, strict=True)):
        _show(ax, kernel)
        ax.set_title(str(i + 1), fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, os.path.join(folder, f"filters.{fmt}"))


def write_best_loss(folder, iteration_loss, lr, hidden, fmt="png"):
    """Write ``folder/best_loss.<fmt>``: the training loss of a sweep's chosen model
    (learning rate ``lr``, ``hidden`` units) at every iteration.

    Returns
    -------
    the path written
    """
    path = os.path.join(folder, f"best_loss.{fmt}")
    plot_curves(path, {"train (per iteration)": iteration_loss},
                title=f"chosen model (lr {lr:g}, hidden {hidden}): training loss",
                ylabel="cross-entropy loss", xlabel="iteration")
    return path


def class_names(dataset, k):
    """The dataset's ``classes`` (names in class order), or "0", "1", ... without them."""
    names = getattr(dataset, "classes", None)
    if names is None or len(names) != k:
        return [str(i) for i in range(k)]
    return [str(name) for name in names]


def image_shape(dataset, X):
    """``X``'s images as (n, rows, cols, channels): flattened square images (an MLP's
    rows) are folded back with the dataset's channel count."""
    X = np.asarray(X)
    if X.ndim != 2:
        return X
    channels = len(np.atleast_1d(getattr(dataset, "mean", [0])))
    side = math.isqrt(X.shape[1] // channels)
    if side * side * channels != X.shape[1]:
        raise ValueError(f"cannot show rows of {X.shape[1]} values as square images of "
                         f"{channels} channel(s)")
    return X.reshape(-1, side, side, channels)


def write_test_pictures(model, dataset, Y_hat, folder, title, fmt="png"):
    """Write the pictures of an image run's test set: ``confusion_matrix`` and
    ``misclassified`` (when the test split has labels) and ``filters`` (when the
    network's first parameter layer is a convolution).

    Parameters
    ----------
    Y_hat  the network's outputs on ``dataset.test.data``, (n, classes)
    title  what the run is, in words, to begin each picture's title

    Returns
    -------
    the paths written
    """
    paths = []
    labels = dataset.test.labels
    names = class_names(dataset, Y_hat.shape[1])
    if labels is not None:
        scores = model.score(labels, Y_hat)
        paths.append(write_confusion_matrix(
            folder, scores["confusion_matrix"], names, fmt,
            title=f"{title}:\nconfusion matrix of the test set"))
        true, predicted = np.argmax(labels, axis=1), np.argmax(Y_hat, axis=1)
        wrong = np.flatnonzero(true != predicted)[:MAX_MISCLASSIFIED]
        paths.append(write_misclassified(
            folder, image_shape(dataset, dataset.test.data[wrong]), true[wrong],
            predicted[wrong], names, fmt, title=f"{title}: misclassified test images",
            mean=getattr(dataset, "mean", None), std=getattr(dataset, "std", None)))
    first = next((layer for layer in model.layers if layer.parameters), None)
    filters = None if first is None else first.image_filters()
    if filters is not None:
        paths.append(write_filters(
            folder, filters, fmt, title=f"{title}: first convolution's filters"))
    return paths
