"""Downloading the image datasets' official files, checked against their official checksums.

``fetch`` is what ``load_<name>(download=True)`` calls when no place holds
the files. It uses pooch (``pooch.retrieve``): each file is streamed into a
temporary file in the folder it is meant for, its MD5 is checked, and only
then is it renamed to its official name, one rename on one file system, so a
reader never sees part of a file. A file whose MD5 differs is deleted and is
a ValueError.

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

import functools
import os
import sys
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from ..utils.registry import lookup

DATA_ENV = "NEURAL_NETWORKS_DATA"
MIRROR_ENV = "NEURAL_NETWORKS_MIRROR"
CACHE_NAME = "neural_networks"


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
    if not isinstance(download, bool):
        raise ValueError(f"download must be True or False, got {download!r}")
    return download


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


def file_urls(name):
    """{official file name: URL} of ``name``'s files, from ``$NEURAL_NETWORKS_MIRROR`` if set."""
    source = lookup(SOURCES, "downloadable dataset", name)
    mirror = os.environ.get(MIRROR_ENV)
    base = source.url
    if mirror:
        base = mirror.replace("{dataset}", name).rstrip("/") + "/"
        if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
            raise ValueError(f"{MIRROR_ENV} must be an http:// or https:// URL, got {mirror!r}")
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
    list of the Paths downloaded. A file whose MD5 is not the official one is
    deleted and is a ValueError naming the URL and both checksums; a network
    error is a ValueError naming the URL and ``$NEURAL_NETWORKS_MIRROR``
    """
    pooch = _import_pooch()
    import requests  # pooch's own dependency

    urls = file_urls(name)
    source = SOURCES[name]
    copy = f"\nA copy of the same files: {MIRROR_ENV}={source.copy}" if source.copy else ""
    folder = Path(folder)
    if progress is None:
        progress = _on_a_terminal() and _tqdm_installed()
    elif progress and not _tqdm_installed():
        raise ValueError("progress=True needs the package tqdm: pip install tqdm")
    fetched = []
    for file, url in urls.items():
        if (folder / file).is_file():
            continue
        try:
            pooch.retrieve(url, f"md5:{source.md5[file]}", fname=file, path=folder,
                           downloader=pooch.HTTPDownloader(progressbar=progress,
                                                           chunk_size=2**16))
        except requests.RequestException as err:
            raise ValueError(
                f"cannot download {url}: {err}\nTo fetch the files from elsewhere, set "
                f"{MIRROR_ENV} to a URL that serves them as <URL>/{file}.{copy}"
            ) from None
        except OSError as err:
            raise ValueError(f"cannot save {file} in {folder}: {err}") from None
        except ValueError as err:
            # pooch's ValueError here: the MD5 differs, and it has deleted the download.
            raise ValueError(
                f"{url} is not the official {file}: its checksum differs, so it was not "
                f"saved in {folder}. {err}"
            ) from None
        _make_readable(folder / file)
        fetched.append(folder / file)
    return fetched
