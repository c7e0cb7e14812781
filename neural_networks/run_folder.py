"""One folder per run, laid out the same way by every script.

A run lives in ``<save_dir>/<name>/``. ``claim`` takes the folder (with
``os.mkdir``, so two runs started together never share one) and ``release``
gives back one the run left empty. The writers put the common files in it,
each written atomically by ``utils.files``:

- ``args.json``       what actually ran (``write_args``, read back by ``read_args``)
- ``metrics.csv``     one row per epoch, columns ``METRIC_COLUMNS`` (``write_metrics``)
- ``loss.png``, ``accuracy.png``  train and validation per epoch (``write_curves``)
- ``predictions.csv`` ``Id,Category`` per test example (``write_predictions``)
"""

import errno
import io
import itertools
import json
import os

import numpy as np
from matplotlib.figure import Figure

from .utils.files import write_atomic, write_json, write_text

#: Columns of metrics.csv, in order.
METRIC_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")


# ------------------------------------------------------------ the folder

def check_name(name):
    """Return ``name`` if it is a plain folder name, else raise ValueError."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name \
            or "\0" in name:
        raise ValueError(f"a run name must be a plain folder name such as 'iris_ffnn' "
                         f"(no '/', not '.' or '..'), got {name!r}")
    return name


def _make_save_dir(save_dir):
    if os.path.exists(save_dir) and not os.path.isdir(save_dir):
        raise ValueError(f"save_dir {save_dir} is a file, expected a folder to hold the runs")
    try:
        os.makedirs(save_dir, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create save_dir {save_dir}: {error.strerror}") from None


def _mkdir(path):
    """os.mkdir(path): True if this call made it, False if something is there already."""
    try:
        os.mkdir(path)
        return True
    except FileExistsError:
        return False
    except OSError as error:
        name, save_dir = os.path.basename(path), os.path.dirname(path)
        limit = os.pathconf(save_dir, "PC_NAME_MAX") if os.path.isdir(save_dir) else None
        if error.errno == errno.ENAMETOOLONG and limit and len(name.encode()) > limit:
            raise ValueError(f"run name {name[:40]}... is too long: {len(name.encode())} "
                             f"bytes, and {save_dir} allows at most {limit}") from None
        raise ValueError(f"cannot create the run folder {path} in {save_dir}: "
                         f"{error.strerror}") from None


def _reuse(path, overwrite):
    """The existing ``path`` if it is a folder that is empty or may be overwritten."""
    if not os.path.isdir(path):
        raise ValueError(f"{path} exists and is not a folder; choose another name")
    if not overwrite and os.listdir(path):
        raise FileExistsError(
            f"{path} already holds a run; choose another name or pass --overwrite "
            f"(overwrite=True) to replace it")
    return path


def claim(save_dir, name=None, default_name="run", overwrite=False):
    """Take the folder of a new run under ``save_dir`` (created if missing).

    Rules
    -----
    - ``name`` given: ``save_dir/name``, made now, or reused if it is an empty
      folder; a folder that holds anything is a FileExistsError unless
      ``overwrite``.
    - no ``name``: the first of ``default_name``, ``default_name_2``,
      ``default_name_3``, ... that this call creates with ``os.mkdir``; with
      ``overwrite``, ``default_name`` whatever it holds.
    - never a path that is not a folder (ValueError).

    Returns
    -------
    the path of the run folder, which exists when this returns

    Raises ValueError for a name that is not a plain folder name or too long
    for the file system, and for a save_dir that is a file or cannot be
    written.
    """
    save_dir = os.fspath(save_dir) or "."
    check_name(default_name if name is None else name)
    _make_save_dir(save_dir)
    if name is not None or overwrite:
        path = os.path.join(save_dir, default_name if name is None else name)
        return path if _mkdir(path) else _reuse(path, overwrite)
    for k in itertools.count(1):
        path = os.path.join(save_dir, default_name if k == 1 else f"{default_name}_{k}")
        if _mkdir(path):
            return path


def release(path):
    """Remove the run folder ``path`` if it is still empty but for this process's
    lock (a run that could not start leaves nothing behind). Returns True if it
    was removed."""
    unlock(path)
    try:
        os.rmdir(path)
        return True
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise ValueError(f"cannot release the run folder {path}: {error.strerror}") from None


#: The file that marks a run folder as in use by a live process.
LOCK_NAME = ".lock"


def _holder(lock_path):
    """The process id written in a lock file, or None if it cannot be read."""
    try:
        with open(lock_path) as f:
            return int(f.read().strip() or -1)
    except (OSError, ValueError):
        return None


def _alive(pid):
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    return True


def lock(folder):
    """Mark ``folder`` as in use by this process, or raise FileExistsError if a live
    process holds it.

    The lock file is created with O_EXCL, so of two runs that claimed the same
    folder at the same moment (or resume the same run) exactly one goes on. A
    lock left by a process that died (SIGKILL, a power cut) is taken over.
    """
    path = os.path.join(folder, LOCK_NAME)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = _holder(path)
            if pid == os.getpid():
                return path
            if _alive(pid):
                raise FileExistsError(f"{folder} is in use by another run (process {pid}); "
                                      f"wait for it to finish or choose another name") from None
            try:
                os.remove(path)  # left by a process that is gone
            except FileNotFoundError:
                pass
            continue
        except OSError as error:
            raise ValueError(f"cannot use the run folder {folder}: {error.strerror}") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        return path
    raise FileExistsError(f"{folder} is in use by another run; choose another name")


def unlock(folder):
    """Remove this process's lock from ``folder`` (nothing if it holds none)."""
    path = os.path.join(folder, LOCK_NAME)
    if _holder(path) == os.getpid():
        os.remove(path)


# ----------------------------------------------------------- the files

def write_args(folder, args):
    """Write ``args`` (a JSON-able dict of what actually ran) to ``folder/args.json``."""
    return write_json(os.path.join(folder, "args.json"), args)


def read_args(folder):
    """The dict in ``folder/args.json``; ValueError if it is missing or not a JSON object."""
    path = os.path.join(folder, "args.json")
    try:
        with open(path) as f:
            args = json.load(f)
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(args, dict):
        raise ValueError(f"expected {path} to hold a JSON object, got {type(args).__name__}")
    return args


def _cell(value):
    """A metrics.csv cell: empty for a missing value, repr for floats (exact round trip)."""
    if value is None or value == "":
        return ""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    raise ValueError(f"expected a number or nothing in a metrics row, got {value!r}")


def write_metrics(folder, rows):
    """Write ``folder/metrics.csv``: a header ``METRIC_COLUMNS``, then one line per row.

    Parameters
    ----------
    rows  dicts keyed by ``METRIC_COLUMNS``; a missing, None or "" value (no
          validation split) is an empty cell
    """
    lines = [",".join(METRIC_COLUMNS)]
    for row in rows:
        unknown = set(row) - set(METRIC_COLUMNS)
        if unknown:
            raise ValueError(f"metrics rows have the keys {METRIC_COLUMNS}, got also "
                             f"{sorted(unknown)}")
        lines.append(",".join(_cell(row.get(key)) for key in METRIC_COLUMNS))
    return write_text(os.path.join(folder, "metrics.csv"), "\n".join(lines) + "\n")


def plot_curves(path, curves, title, ylabel, xlabel="epoch"):
    """Draw one figure with a line per entry of ``curves`` and write it as a PNG.

    Parameters
    ----------
    curves  label -> values; value i is drawn at x = i + 1. Every point has a
            marker, so a curve of one point still shows.

    Returns
    -------
    the matplotlib Figure
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, values in curves.items():
        if len(values):
            # At most ~50 markers: long per-iteration curves stay readable.
            ax.plot(np.arange(1, len(values) + 1), values, label=label, marker="o",
                    markersize=3, markevery=max(1, len(values) // 50))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    return fig


def write_curves(folder, rows, title):
    """Write ``folder/loss.png`` and ``folder/accuracy.png`` from metrics rows.

    Parameters
    ----------
    rows   as for ``write_metrics``, one per epoch from epoch 1
    title  what the run is, in words (e.g. "fashion_mnist cnn")

    Returns
    -------
    (path of loss.png, path of accuracy.png)
    """
    def column(key):
        return [r[key] for r in rows if r.get(key) not in (None, "")]

    paths = []
    for metric in ("loss", "accuracy"):
        path = os.path.join(folder, f"{metric}.png")
        plot_curves(path, {"train": column(f"train_{metric}"),
                           "validation": column(f"val_{metric}")},
                    title=f"{title}: {metric} per epoch", ylabel=metric)
        paths.append(path)
    return tuple(paths)


def write_predictions(folder_or_path, categories):
    """Write a Kaggle submission: a header ``Id,Category``, then ``i,category`` per example.

    Parameters
    ----------
    folder_or_path  a folder (the file is ``predictions.csv`` in it) or a file path
    categories      (N,) integer class indices

    Returns
    -------
    the path written
    """
    categories = np.asarray(categories)
    whole = np.issubdtype(categories.dtype, np.integer) or (
        np.issubdtype(categories.dtype, np.floating)
        and bool(np.all(np.isfinite(categories) & (categories == np.round(categories)))))
    if categories.ndim != 1 or not whole:
        raise ValueError(f"expected (N,) integer categories, got an array of shape "
                         f"{categories.shape} and dtype {categories.dtype}")
    path = os.fspath(folder_or_path)
    if os.path.isdir(path):
        path = os.path.join(path, "predictions.csv")
    out = io.StringIO()
    out.write("Id,Category\n")
    out.writelines(f"{i},{c}\n" for i, c in enumerate(categories.astype(np.int64).tolist()))
    return write_text(path, out.getvalue())
