"""Writing a file all at once or not at all.

``write_atomic`` writes into a temporary file beside the target and moves it
over the target with ``os.replace``, so a reader (or a process killed while
writing) only ever sees the previous file or the complete new one. Every
file this package writes goes through it. The temporary file's name says
which process wrote it, so the next write into the folder removes what a
writer that was killed left (``remove_dead_temporaries``).
"""

import errno
import json
import os
import re
import secrets
import shutil
import stat

import numpy as np

from . import processes

# What os.stat calls the things that are not regular files, for error messages.
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _kind(mode):
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _check_target(path, target):
    """ValueError unless ``target`` is a regular file or absent and its folder exists.

    Only ``os.stat`` is used: opening a FIFO to look at it would block.
    """
    try:
        mode = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # the folder is looked at below
    except OSError as error:
        raise ValueError(f"cannot write {path}: {error.strerror}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(f"expected {path} to be a regular file (or not to exist), "
                         f"but it is {_kind(mode)}; refusing to replace it")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise ValueError(f"cannot write {path}: its folder {folder} {what}")
    return mode


def temporary_name(name):
    """A name for a temporary file or folder beside ``name``, unique to this process and
    this call: ``.<name>.<process id>.<machine tag><random>.tmp``, which tells
    ``remove_dead_temporaries`` whose it is."""
    # Cut long names: the suffix must not push the name past NAME_MAX.
    return f".{name[:100]}.{os.getpid()}.{processes.host_tag()}{secrets.token_hex(4)}.tmp"


# What temporary_name makes: the writer's process id, then its machine's tag.
_TEMPORARY = re.compile(r"\..*\.([0-9]+)\.([0-9a-f]{8})[0-9a-f]{8}\.tmp", re.DOTALL)


def remove_dead_temporaries(folder):
    """Remove from ``folder`` the temporary files (and folders) of ``temporary_name``
    left by writers of this machine that are no longer running (a process killed
    while it wrote); those of live processes, and of other machines sharing the
    folder, stay.

    Returns
    -------
    the paths removed
    """
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry)
        if match is None or processes.alive(int(match.group(1)), host=match.group(2)):
            continue
        path = os.path.join(folder, entry)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except FileNotFoundError:
            continue  # another process cleaned it first
        except OSError:
            continue  # not ours to remove (permissions): harmless to leave
        removed.append(path)
    return removed


def _open_temporary(folder, name):
    """Create and open a new file in ``folder`` whose name is unique to this
    process and this call; returns (fd, temporary path)."""
    while True:
        tmp = os.path.join(folder, temporary_name(name))
        try:
            # 0o666 less the umask, like open(); mkstemp's 0o600 would hide results.
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


def check_writable(path):
    """Raise ValueError now, before any work, if ``write_atomic(path, ...)`` would
    refuse ``path`` (a folder, FIFO or device; a missing folder)."""
    path = os.fspath(path)
    if os.path.basename(path) in ("", ".", ".."):
        raise ValueError(f"expected a file path, got {path!r}, which names a folder")
    _check_target(path, os.path.realpath(path))
    return path


def make_folder_for(path):
    """Create the missing folders above the file ``path`` (as ``mkdir -p`` does) and
    return ``path``; ValueError naming the folder when it cannot be made (a file in
    its place, no permission)."""
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cannot make the folder {folder} for {path}: "
                             f"{error.strerror or error}") from None
    return path


def write_atomic(path, write, binary=True):
    """Write a file through ``write(f)`` so that ``path`` is replaced all at once.

    Parameters
    ----------
    path    the file to write; it must be a regular file or not exist, and its
            folder must exist. A symbolic link is followed: the file it
            points to is replaced, the link stays.
    write   called with the open temporary file (bytes if ``binary``, else
            UTF-8 text with no newline translation)
    binary  open the temporary file in binary mode

    Returns
    -------
    path

    Raises ValueError naming ``path`` when it is a folder, FIFO, device or
    socket, when its folder is missing, and for any OSError while writing
    (no permission, disk full, ...). On any exception, KeyboardInterrupt
    included, the temporary file is removed and the previous file at
    ``path`` is left as it was.
    """
    path = check_writable(path)
    target = os.path.realpath(path)
    old_mode = _check_target(path, target)
    folder, name = os.path.split(target)
    remove_dead_temporaries(folder)
    try:
        fd, tmp = _open_temporary(folder, name)
    except OSError as error:
        raise ValueError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb") if binary else \
                os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if old_mode is not None:
                os.fchmod(f.fileno(), stat.S_IMODE(old_mode))
            write(f)
            f.flush()
            os.fsync(f.fileno())
        move_into_place(tmp, target)
    except BaseException as error:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            raise ValueError(f"cannot write {path}: {reason}") from error
        raise
    return path


def move_into_place(source, path):
    """Rename the finished file ``source`` to ``path`` in one step (both in one file
    system), as ``write_atomic`` ends, for a file another writer made (a download);
    returns ``path``. OSError as ``os.replace`` raises it."""
    os.replace(source, path)
    _sync_folder(os.path.dirname(os.path.realpath(path)))
    return path


def _sync_folder(folder):
    # Make the rename itself survive a power cut; some file systems cannot.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.EBADF, errno.EROFS):
            raise
    finally:
        os.close(fd)


def write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically; see ``write_atomic``."""
    return write_atomic(path, lambda f: f.write(data))


def write_text(path, text, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically, newlines as they are in ``text``.

    The text is encoded before the file is touched, so a character that
    ``encoding`` cannot hold (a UnicodeEncodeError, a ValueError) leaves
    ``path`` as it was.
    """
    return write_bytes(path, text.encode(encoding))


def to_json(value):
    """json.dumps' fallback: numpy scalars and arrays become Python numbers and lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically.

    numpy scalars and arrays are written as numbers and lists; any other
    object that JSON cannot hold is a ValueError, and nothing is written.
    """
    try:
        text = json.dumps(obj, indent=2, default=to_json)
    except (TypeError, ValueError) as error:
        raise ValueError(f"cannot write {path} as JSON: {error}") from None
    return write_text(path, text + "\n")
