"""Downloading the image datasets' official files, checked against their official checksums.

``fetch`` is what ``load_<name>(download=True)`` calls when no place holds
the files. It uses pooch (``pooch.retrieve``): each file is streamed into a
temporary folder of this process inside the folder it is meant for, its MD5
is checked, and only then is it renamed to its official name, one rename on
one file system, so a reader never sees part of a file. A file whose MD5
differs is deleted and is a ValueError. The bytes are those the server sent,
never decoded on the way (``Content-Encoding``), so the MD5 is that of the
file as published. A failed download leaves nothing of its own behind: no
temporary file, and no folder it made that holds nothing (files it did
finish and check stay). What a download killed on the way left (its
temporary folder names its process) is removed by the next ``fetch`` into
that folder.

Errors say what went wrong in words (no network connection, an HTTP status,
a host that refused the connection) and name ``$NEURAL_NETWORKS_MIRROR``.
A URL with a ``user:password@`` part is shown with the password as ``***``
wherever it is printed: errors, pooch's log, progress.

Where the files go: a folder the user named (``data_dir``, ``$FASHION_MNIST_DIR``,
...) gets the files themselves; otherwise ``download_folder(name)``:
``$NEURAL_NETWORKS_DATA/<name>``, else ``<the user's cache>/neural_networks/<name>``
(``~/.cache/neural_networks/<name>`` on Linux).

``$NEURAL_NETWORKS_MIRROR`` replaces the official base URL: each file is
fetched as ``<mirror>/<official file name>``, and ``{dataset}`` in the mirror
is replaced by the dataset's name (MNIST and Fashion-MNIST share their file
names, so one mirror serves both as ``https://host/data/{dataset}``).
MNIST's own server has been turning downloads away (403); the error then
suggests torchvision's copy of the same files (``Source.copy``).
"""

import contextlib
import errno
import functools
import os
import re
import shutil
import socket
import ssl
import sys
from http import HTTPStatus
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from ..utils.checks import check_flag
from ..utils.files import move_into_place, remove_dead_temporaries, temporary_name
from ..utils.registry import lookup

DATA_ENV = "NEURAL_NETWORKS_DATA"
MIRROR_ENV = "NEURAL_NETWORKS_MIRROR"
CACHE_NAME = "neural_networks"
#: Seconds a server may take to accept the connection, or to send the next bytes.
TIMEOUT = 30
CHUNK_BYTES = 2**16


class Source(NamedTuple):
    """Where a dataset's official files are: the base URL (ending in "/"), the
    MD5 of each file by official file name, and a known copy of the same files
    to suggest when the official server fails ("" for none)."""

    url: str
    md5: dict
    copy: str = ""


SOURCES = {
    # The "MD5 Checksum" column of the table under "Get the Data" in the
    # dataset's README, https://github.com/zalandoresearch/fashion-mnist
    "fashion_mnist": Source("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }),
    # LeCun's page gives no checksums; these are the ones torchvision checks
    # (torchvision/datasets/mnist.py, MNIST.resources). The server has often answered
    # downloads with 403 Forbidden (reports since 2021); the copy is torchvision's mirror.
    "mnist": Source("http://yann.lecun.com/exdb/mnist/", {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }, copy="https://ossci-datasets.s3.amazonaws.com/mnist"),
    # The md5sum column of the download table on https://www.cs.toronto.edu/~kriz/cifar.html
    # ("CIFAR-10 python version").
    "cifar10": Source("https://www.cs.toronto.edu/~kriz/", {
        "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
    }),
}


def _import_pooch():
    try:
        import pooch
    except ImportError:
        raise ValueError("download=True needs the package pooch: pip install pooch") from None
    return pooch


def wanted(download):
    """``download`` if it is True or False; a ValueError for anything else (a string
    such as "no" must not start a download)."""
    return check_flag("download", download)


def fetcher(name):
    """``fetch`` for ``name``, a function of the folder alone (``find_in_places``' ``fetch``).
    A missing pooch is a ValueError now, before any place is looked in."""
    _import_pooch()
    return functools.partial(fetch, name)


def download_folder(name):
    """Where ``name``'s files are downloaded when no folder is named.

    Returns
    -------
    Path ``$NEURAL_NETWORKS_DATA/<name>``, else ``<user cache>/neural_networks/<name>``;
    None when the variable is unset and pooch (which knows the cache folder) is not installed
    """
    root = os.environ.get(DATA_ENV)
    if root:
        return Path(root) / name
    try:
        import pooch
    except ImportError:
        return None
    return Path(pooch.os_cache(CACHE_NAME)) / name


# The scheme and the authority up to its last "@": the user and password, if any.
_USER_INFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")


def redact(url):
    """``url`` as it may be printed: the password of a ``user:password@`` part as ``***``.

    ``redact("https://me:secret@host/data")`` is ``"https://me:***@host/data"``;
    a URL without a password comes back as it is.
    """
    def hide(match):
        user, colon, _ = match.group(2).partition(":")
        return match.group(1) + user + (":***" if colon else "") + "@"
    return _USER_INFO.sub(hide, url, count=1)


def file_urls(name):
    """{official file name: URL} of ``name``'s files, from ``$NEURAL_NETWORKS_MIRROR`` if set."""
    source = lookup(SOURCES, "downloadable dataset", name)
    mirror = os.environ.get(MIRROR_ENV)
    base = source.url
    if mirror:
        base = mirror.replace("{dataset}", name).rstrip("/") + "/"
        if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
            raise ValueError(f"{MIRROR_ENV} must be an http:// or https:// URL, "
                             f"got {redact(mirror)!r}")
    return {file: base + file for file in source.md5}


def _tqdm_installed():
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def _on_a_terminal():
    # A bar redrawn with carriage returns is for a terminal, not a log file.
    return sys.stderr is not None and sys.stderr.isatty()


def _make_readable(path):
    # pooch's temporary file is created 0600 and renamed into place; give the data
    # the mode open() would have, 0666 less the umask, so a shared folder stays shared.
    # (Setting the umask is the only way to read it.)
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _progress_bar(size, file):
    from tqdm import tqdm
    return tqdm(total=size, desc=file, unit="B", unit_scale=True, ncols=79, ascii=True,
                file=sys.stderr)


def _downloader(url, file, progress, written):
    """pooch's ``downloader`` for ``url``: the bytes exactly as the server sends them.

    pooch is handed the URL with its password hidden (it logs the URL it is given),
    so only this function holds the real one. ``Accept-Encoding: identity`` asks the
    server not to compress, and a ``Content-Encoding`` it sends anyway is not undone:
    ``requests`` would gunzip an official ``.gz`` served with ``Content-Encoding: gzip``,
    and its MD5 would no longer be the official one. Each temporary file pooch asks
    for is added to ``written``.
    """
    import requests

    def download(shown_url, output_file, pooch_instance):
        written.append(output_file)
        with requests.get(url, stream=True, timeout=TIMEOUT,
                          headers={"Accept-Encoding": "identity"}) as response:
            response.raise_for_status()
            length = response.headers.get("Content-Length", "")
            bar = _progress_bar(int(length) if length.isdigit() else None, file) \
                if progress else None
            try:
                with open(output_file, "wb") as f:
                    for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
                        f.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
    return download


def _causes(error):
    """``error`` and every exception it wraps (``__cause__``, ``__context__``, urllib3's
    ``reason``, exceptions among its ``args``), each once."""
    seen, pending = set(), [error]
    while pending:
        e = pending.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        pending += [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]


def _why(error, url):
    """What stopped the download of ``url``, in words, from what requests or urllib3 raised."""
    import requests
    import urllib3

    host = urlsplit(url).netloc.rpartition("@")[2]
    response = getattr(error, "response", None)
    if response is not None:
        # The standard phrase: a server's own may be anything ("not on this mirror").
        try:
            phrase = HTTPStatus(response.status_code).phrase
        except ValueError:
            phrase = response.reason
        return f"{host} answered HTTP {response.status_code} {phrase}"
    causes = list(_causes(error))

    def found(*kinds, errnos=None):
        return any(isinstance(c, kinds) and (errnos is None or c.errno in errnos)
                   for c in causes)

    # Most telling first: urllib3's "cannot connect" error is also a timeout error.
    if found(socket.gaierror, errnos=(socket.EAI_AGAIN,)):
        return (f"no network connection: the host name {urlsplit(url).hostname} could not be "
                f"looked up")
    if found(socket.gaierror):
        return (f"the host name {urlsplit(url).hostname} could not be looked up: no such host, "
                f"or no network connection")
    if found(ConnectionRefusedError):
        return f"{host} refused the connection: no server answers there"
    if found(OSError, errnos=(errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH)):
        return f"no network connection: {host} cannot be reached"
    if found(TimeoutError, requests.Timeout, urllib3.exceptions.ReadTimeoutError):
        return f"{host} did not answer within {TIMEOUT} s"
    if found(ssl.SSLError):
        return f"the secure connection to {host} failed (a certificate or TLS error)"
    if found(ConnectionResetError, urllib3.exceptions.ProtocolError):
        return f"the connection to {host} broke off during the download"
    return f"the download from {host} failed ({type(error).__name__})"


def _folders_to_make(folder):
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for path in (folder, *folder.parents):
        if os.path.lexists(path):
            break
        missing.append(path)
    return missing


def _undo(written, made):
    """Remove what a failed ``fetch`` left: the temporary files it wrote (pooch removes
    its own when it can) and the folders it made, while they are empty. Files that
    were finished and checked stay, so the next try fetches only the rest."""
    for path in reversed(written):  # a temporary folder after the files in it
        with contextlib.suppress(OSError):
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    for path in made:
        try:
            path.rmdir()
        except OSError:
            break


def fetch(name, folder, progress=None):
    """Download those of ``name``'s official files that ``folder`` lacks.

    Parameters
    ----------
    name      a key of ``SOURCES``: "fashion_mnist", "mnist", "cifar10"
    folder    where the files go (created if needed), under their official names
    progress  a progress bar per file (tqdm, on stderr); None: when stderr is a
              terminal and tqdm is installed

    Returns
    -------
    list of the Paths downloaded. Any failure is a one-line ValueError: a file
    whose MD5 is not the official one is deleted, and the error names the URL
    and both checksums; a network error says what failed in words, the host,
    and ``$NEURAL_NETWORKS_MIRROR``. A failure removes the temporary files and
    the empty folders this call made; URLs in errors and logs have no password.
    """
    pooch = _import_pooch()
    import requests  # pooch's own dependency, and urllib3 is requests'
    import urllib3

    urls = file_urls(name)
    source = SOURCES[name]
    folder = Path(folder)
    if progress is None:
        progress = _on_a_terminal() and _tqdm_installed()
    elif progress and not _tqdm_installed():
        raise ValueError("progress=True needs the package tqdm: pip install tqdm")
    made, written, fetched = _folders_to_make(folder), [], []
    remove_dead_temporaries(folder)
    try:
        for file, url in urls.items():
            if (folder / file).is_file():
                continue
            # pooch's temporary file goes into a folder named after this process, so
            # that what a killed download leaves can be told from a live one's.
            partial = folder / temporary_name(file)
            written.append(partial)
            try:
                pooch.retrieve(redact(url), f"md5:{source.md5[file]}", fname=file, path=partial,
                               downloader=_downloader(url, file, progress, written))
                move_into_place(partial / file, folder / file)
                os.rmdir(partial)
            except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
                raise ValueError(_cannot_download(url, file, err, source)) from None
            except OSError as err:
                raise ValueError(f"cannot save {file} in {folder}: {err}") from None
            except ValueError as err:
                # pooch's ValueError here: the MD5 differs, and it has deleted the download.
                raise ValueError(
                    f"{redact(url)} is not the official {file}: its checksum differs, so it "
                    f"was not saved in {folder}. {err}"
                ) from None
            _make_readable(folder / file)
            fetched.append(folder / file)
    except BaseException:
        _undo(written, made)
        raise
    return fetched


def _cannot_download(url, file, error, source):
    """The one-line message of a download that failed on the way."""
    mirror = os.environ.get(MIRROR_ENV)
    where = f"point {MIRROR_ENV} (now {redact(mirror)})" if mirror else f"set {MIRROR_ENV}"
    copy = f" (a copy of these files: {MIRROR_ENV}={source.copy})" if source.copy else ""
    return (f"cannot download {redact(url)}: {_why(error, url)}. To download from another "
            f"server, {where} to a URL that serves the files as <URL>/{file}{copy}")
