"""One folder per run, laid out the same way by every script.

A run lives in ``<save_dir>/<name>/``. ``claim`` takes the folder (with
``os.mkdir``, so two runs started together never share one; never a symbolic
link) and ``release`` gives back one the run left empty. ``set_aside`` moves
the run a script's ``--overwrite`` replaces to ``<name>.overwritten`` until
the new run is under way (``drop_set_aside``, ``put_back``). ``take_over`` is
the course's ``Logger``'s way: the run gets ``<save_dir>/<name>/`` itself,
and an earlier run there is moved aside to ``<name>_2`` (or the next free
suffix). ``lock`` marks a folder in use by a live process; ``locked`` holds
that lock from the start of a run on, and gives the folder back if the run
cannot start. The writers put the text files of every run in the folder,
each written atomically by ``utils.files``:

- ``args.json``       what actually ran (``write_args``, read back by ``read_args``)
- ``metrics.csv``     one row per epoch, columns ``METRIC_COLUMNS`` (``write_metrics``)
- ``predictions.csv`` ``Id,Category`` per test example (``write_predictions``)

The pictures are ``plots``'s.
"""

import contextlib
import errno
import itertools
import json
import os
import secrets
import shutil
import stat

import numpy as np

from .scoring import write_predictions  # noqa: F401 (a run's predictions.csv)
from .utils import processes
from .utils.files import write_json, write_text

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
    if os.path.islink(path):
        raise ValueError(f"{path} is a symbolic link (to {os.readlink(path)}), not a folder "
                         f"of its own; a run needs one there: choose another name or remove "
                         f"the link")
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


def take_over(save_dir, name, on_move=None):
    """Take ``save_dir/name`` for a new run, as the course's ``Logger`` does, with
    any earlier run in that folder moved aside first, so nothing is lost.

    Rules
    -----
    - missing, or an empty folder: made or reused.
    - a folder holding an earlier run: that folder is renamed to the first free
      name of ``name_2``, ``name_3``, ..., then ``save_dir/name`` is made afresh.
      The new name is claimed with ``os.mkdir`` and the earlier run renamed over
      that empty claim, so two runs never move to the same place and the earlier
      run is always whole under one of its two names. ``on_move(path, moved_to)``
      is called as soon as it has moved.
    - a folder in use by a live process (its ``.lock``): FileExistsError; of two
      runs started together, one goes on and the other gets this error.
    - a file, or a symbolic link: ValueError; nothing is moved.

    The folder is locked for this process (``lock``) when this returns.

    Returns
    -------
    (path of the run folder, where the earlier run went or None)

    Raises ValueError, leaving everything where it was, for a name that is not a
    plain folder name and when a folder cannot be made, locked or renamed (a
    read-only ``save_dir``, say).
    """
    save_dir = os.fspath(save_dir) or "."
    check_name(name)
    _make_save_dir(save_dir)
    path = os.path.join(save_dir, name)
    moved_to = None
    for _ in range(10):
        _mkdir(path)
        try:
            info = os.lstat(path)  # one look, so what is judged is what is locked
        except FileNotFoundError:
            continue  # made, then moved aside by another run before this look: again
        folder = info.st_dev, info.st_ino
        if not stat.S_ISDIR(info.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a folder"
            raise ValueError(f"{path} is {what}; a run needs a folder of its own there: move "
                             f"it or choose another model_name")
        try:
            with locked(path):
                # Lock files (and another run's lock on its way in) are no run.
                if all(_is_lock_file(entry) for entry in os.listdir(path)):
                    return path, moved_to
                moved_to = _move_aside(path, save_dir, name)
        except ValueError:
            if _identity(path) != folder:
                continue  # another run moved it aside meanwhile: make it afresh
            raise
        if on_move is not None:
            on_move(path, moved_to)
    raise FileExistsError(f"{path} keeps being taken by other runs; choose another model_name")


def _is_lock_file(name):
    """Whether ``name`` is a lock (``LOCK_NAME``) or the private file ``lock`` links it from."""
    return name == LOCK_NAME or name.startswith(LOCK_NAME + ".")


def _identity(path):
    """(device, inode) of ``path``, or None if nothing is there: a folder renamed
    away keeps its inode, so one made afresh in its place has another."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def _rename_onto(path, target):
    """Rename the run folder ``path`` onto ``target``, an empty folder this process has
    just claimed with ``_mkdir`` (POSIX rename replaces an empty folder in one step);
    ValueError, ``target`` removed and nothing moved, if the file system refuses."""
    try:
        os.rename(path, target)
    except OSError as error:
        os.rmdir(target)
        raise ValueError(f"cannot move the earlier run in {path} aside to {target}: "
                         f"{error.strerror}; nothing was moved") from None


def _move_aside(path, save_dir, name):
    """Rename the run folder ``path`` (locked by this process) to the first free
    ``save_dir/name_k``, k = 2, 3, ...; return the new path."""
    for k in itertools.count(2):
        target = os.path.join(save_dir, f"{name}_{k}")
        if _mkdir(target):
            break
    _rename_onto(path, target)
    # This process's lock moved with the folder, and so may have the private file
    # of a run that tried to lock it meanwhile (that attempt has failed: the
    # folder is gone from under it). The earlier run gets back only its own files.
    for entry in os.listdir(target):
        if _is_lock_file(entry):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(target, entry))
    return target


#: What an overwritten run's folder is renamed to, after its own name, while the run
#: replacing it gets going (``set_aside``).
SET_ASIDE_SUFFIX = ".overwritten"


def set_aside(folder):
    """Move the earlier run in ``folder`` (locked by this process) to
    ``folder + SET_ASIDE_SUFFIX`` and make ``folder`` afresh, locked: a run that
    overwrites another starts from an empty folder, and the earlier run stays whole
    until the new one is under way (``drop_set_aside``), or comes back (``put_back``).

    Returns
    -------
    the path the earlier run went to; None when ``folder`` held nothing but locks

    Raises ValueError, moving nothing, when that path is taken (an earlier
    overwrite left a run there, having been killed before its first
    checkpoint) or the move fails; FileExistsError, after the move, if another
    run took ``folder`` in the meantime.
    """
    if all(_is_lock_file(entry) for entry in os.listdir(folder)):
        return None
    aside = os.path.normpath(folder) + SET_ASIDE_SUFFIX
    if not _mkdir(aside):
        raise ValueError(f"cannot overwrite {folder}: {aside} holds the run that an earlier "
                         f"--overwrite of it set aside, and that overwriting run stopped before "
                         f"its first checkpoint. Resume it with --resume (the run set aside is "
                         f"deleted once it has a checkpoint), or move or delete {aside}")
    # This process's lock goes along and keeps the earlier run from being resumed.
    _rename_onto(folder, aside)
    if not _mkdir(folder):
        raise FileExistsError(f"another run took {folder} while its earlier run was moved "
                              f"aside; the earlier run is whole in {aside}")
    lock(folder)
    return aside


def drop_set_aside(folder):
    """Delete the earlier run ``set_aside`` moved away from ``folder``, if one is there
    and no other live process holds it: the run now in ``folder`` is under way."""
    aside = os.path.normpath(folder) + SET_ASIDE_SUFFIX
    if os.path.isdir(aside) and not os.path.islink(aside) and not in_use(aside):
        shutil.rmtree(aside)


def put_back(folder):
    """Undo ``set_aside``: remove what the new run wrote in ``folder`` and move the
    earlier run back in its place. Returns False, changing nothing, when no earlier
    run waits there."""
    aside = os.path.normpath(folder) + SET_ASIDE_SUFFIX
    if not os.path.isdir(aside) or os.path.islink(aside) or in_use(aside):
        return False
    shutil.rmtree(folder)
    os.rename(aside, folder)
    unlock(folder)
    return True


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


def _read_lock(lock_path):
    """(process id, host tag or None, start mark or None) written in a lock file, or
    None if it is gone or names no process. A lock of an older version holds the id
    alone."""
    try:
        with open(lock_path) as f:
            lines = f.read().split("\n")
        pid = int(lines[0].strip())
    except (OSError, ValueError):
        return None
    fields = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
    return pid, fields.get("host"), fields.get("started")


def _holder(lock_path):
    """The process id written in a lock file, or None if it is gone or names none."""
    held = _read_lock(lock_path)
    return None if held is None else held[0]


def _create_lock(path):
    """Create the lock file ``path`` naming this process (its id, machine and start, see
    ``utils.processes``), all at once: it is written to a private file first and then
    linked to ``path``, so no process ever reads a lock that exists but is still
    empty. FileExistsError if ``path`` exists.

    The private file lies beside the run folder, not in it: another run may rename
    the folder aside at any moment, and what is in it then goes along (a private
    file inside would turn up in the moved run, or be gone when it is removed).
    Where the folder around it cannot be written (a resumed run in a read-only
    ``save_dir``), nobody can move the folder either, and the file goes inside."""
    pid = os.getpid()
    folder = os.path.dirname(path)
    mark = f"{LOCK_NAME}.{pid}.{secrets.token_hex(4)}"
    started = processes.start_mark(pid)
    text = (f"{pid}\nhost {processes.host_tag()}\n"
            + (f"started {started}\n" if started else ""))
    try:
        private = _write_new(os.path.join(os.path.dirname(folder) or ".",
                                          f".{os.path.basename(folder)}{mark}"), text)
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        private = _write_new(os.path.join(folder, mark), text)  # a lock file by its name
    try:
        os.link(private, path)
    finally:
        os.remove(private)


def _write_new(path, text):
    """Write ``text`` to a new file ``path``; return the path."""
    with open(path, "x") as f:
        f.write(text)
    return path


def _in_use_message(folder, path, held):
    pid, host, _ = held
    where = "" if host in (None, processes.host_tag()) else " on another machine"
    return (f"{folder} is in use by another run (process {pid}{where}); wait for it to "
            f"finish or choose another name. If no run uses the folder (a lock left by a "
            f"run that was killed), delete {path}")


def lock(folder):
    """Mark ``folder`` as in use by this process, or raise FileExistsError if a live
    process holds it.

    The lock file appears in one step (a hard link) with the holder's process id,
    machine and start time in it, so of two runs that claimed the same folder at
    the same moment (or resume the same run) exactly one goes on. A lock left by
    a process that died (SIGKILL, a power cut) is taken over, also when its
    process id now belongs to another process (the start time differs). The
    error for a live holder says how to clear a lock that is stale all the same.
    """
    path = os.path.join(folder, LOCK_NAME)
    attempts = 3
    for attempt in range(attempts):
        try:
            _create_lock(path)
            return path
        except FileExistsError:
            held = _read_lock(path)
            if held is None:
                # Gone or replaced between the two looks (another run unlocked, moved the
                # folder aside, or locked it afresh): look again. Only a lock that stays
                # unreadable is reported.
                if attempt == attempts - 1 and os.path.exists(path):
                    raise FileExistsError(f"{folder} holds a lock file {LOCK_NAME} that names "
                                          f"no process; if no run uses the folder, delete "
                                          f"it") from None
                continue
            if held is not None and processes.alive(*held):
                if held[0] == os.getpid():
                    return path
                raise FileExistsError(_in_use_message(folder, path, held)) from None
            try:
                os.remove(path)  # left by a process that is gone
            except FileNotFoundError:
                pass
        except OSError as error:
            raise ValueError(f"cannot use the run folder {folder}: {error.strerror}") from None
    raise FileExistsError(f"{folder} is in use by another run; choose another name")


@contextlib.contextmanager
def locked(folder, give_back=None):
    """Lock ``folder`` for this process (``lock``) as a run starts in it, for the
    ``with`` block that gets the run going. If the block raises (or the lock cannot
    be taken), ``give_back(folder)`` undoes the start, by default ``unlock``, and the
    error goes on: what went wrong is the message, so a failure to give the folder
    back is not raised over it. If the block ends normally the folder stays locked
    for the run, which calls ``unlock`` when it ends."""
    try:
        lock(folder)
        yield folder
    except BaseException:
        with contextlib.suppress(OSError, ValueError):
            (give_back or unlock)(folder)
        raise


def in_use(folder):
    """True if another live process holds ``folder``'s lock (see ``lock``)."""
    held = _read_lock(os.path.join(folder, LOCK_NAME))
    return held is not None and held[0] != os.getpid() and processes.alive(*held)


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
