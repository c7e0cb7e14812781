"""A checkpoint's archive, read without trusting it.

A checkpoint is an uncompressed ``.npz`` archive: a zip file of ``.npy``
arrays. Nothing in it is read on trust. The zip directory comes first:
every entry a ``.npy`` array, no name twice, stored uncompressed (as
``checkpoints.save`` writes them), and the sizes declared all within the
file. Then each entry's npy header must declare exactly the bytes the
directory gives it before the array is read, and no entry may hold Python
objects. Memory is thus bounded by the file's size, whatever its headers
claim, and a damaged file is one ValueError naming it, whatever zipfile,
zlib or numpy raised.
"""

import contextlib
import math
import os
import zipfile
import zlib

import numpy as np

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


@contextlib.contextmanager
def _unreadable(path):
    """Turn what zipfile, zlib and numpy raise on a damaged file into one ValueError."""
    try:
        yield
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError,
            NotImplementedError) as error:
        raise ValueError(f"{path} is not a readable checkpoint (truncated or corrupt?): "
                         f"{error}") from None


@contextlib.contextmanager
def open_archive(path):
    """Open the archive at ``path`` and check its directory.

    Yields
    ------
    (entries, read): {entry name (without ".npy"): ZipInfo}, and ``read(name)``,
    which returns that entry's array once its header is checked. ValueError
    naming ``path`` for anything that is not as ``checkpoints.save`` writes it.
    """
    with _unreadable(path):
        f = open(path, "rb")
    with f:
        with _unreadable(path):
            archive = zipfile.ZipFile(f)
            infos = archive.infolist()
        with archive:
            entries = _check_directory(path, infos, os.fstat(f.fileno()).st_size)
            yield entries, lambda name: _read_entry(path, archive, name, entries[name])


def _check_directory(path, infos, file_size):
    """{entry name: ZipInfo} from the zip directory, or ValueError before anything is read."""
    entries = {}
    for info in infos:
        name = info.filename.removesuffix(".npy")
        if name == info.filename:
            raise ValueError(f"checkpoint {path}: its member {info.filename!r} is not a .npy "
                             f"array")
        if name in entries:
            raise ValueError(f"checkpoint {path}: entry {name} appears twice")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"checkpoint {path}: entry {name} is compressed; save writes "
                             f"every entry uncompressed, so it is refused rather than "
                             f"inflated")
        if info.file_size != info.compress_size:
            raise ValueError(f"checkpoint {path}: entry {name} declares {info.file_size:,} "
                             f"bytes but stores {info.compress_size:,}")
        entries[name] = info
    declared = sum(info.file_size for info in infos)
    if declared > file_size:
        raise ValueError(f"checkpoint {path}: its entries declare {declared:,} bytes, more "
                         f"than the whole file's {file_size:,}")
    return entries


def _read_entry(path, archive, name, info):
    """One entry's array, read once its npy header declares exactly the entry's size."""
    with _unreadable(path), archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        if version not in _HEADER_READERS:
            raise ValueError(f"entry {name} is in npy format {version}")
        shape, _, dtype = _HEADER_READERS[version](stream)
        offset = stream.tell()
    if dtype.hasobject:
        raise ValueError(f"checkpoint {path}: entry {name} holds Python objects, which a "
                         f"checkpoint never does (they would be unpickled)")
    size = math.prod(shape) * dtype.itemsize
    if offset + size != info.file_size:
        raise ValueError(f"checkpoint {path}: entry {name} declares a {dtype} array of shape "
                         f"{shape} ({size:,} bytes) but holds {info.file_size - offset:,} "
                         f"bytes")
    with _unreadable(path), archive.open(info) as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)
