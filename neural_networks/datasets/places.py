"""Where the image loaders look for their files.

A folder the user names (the ``data_dir`` argument or an environment
variable) must hold the data: if it does not, that is the error, naming the
folder and what it lacks. Only the default places (the repository's
``datasets/`` folder, a system folder, the download folder) are passed over
silently. With ``download=True`` the data is fetched into the first place
that may receive it: a folder the user named, else the download folder.
"""

import os
from pathlib import Path
from typing import NamedTuple, Optional


# The checkout's top folder; in an installed copy its datasets/ folder simply does not exist.
REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS_DIR = REPO_ROOT / "datasets"


def repository_folder(folder, *old_names):
    """The repository folder a loader reads: ``folder``, named after the dataset as a
    user types it (``datasets/fashion_mnist``), unless it does not exist and a sibling
    under an older name (``datasets/fashion-mnist``) does; then that sibling.

    This function alone decides between them, and the dataset's name wins when both
    exist, so a checkout that still has the older folder keeps working.

    Parameters
    ----------
    folder     Path ``datasets/<name>`` in the repository
    old_names  names the same folder had before, e.g. "fashion-mnist"

    Returns
    -------
    Path of the folder to look in
    """
    folder = Path(folder)
    if folder.is_dir():
        return folder
    for name in old_names:
        if (folder.parent / name).is_dir():
            return folder.parent / name
    return folder


class Place(NamedTuple):
    """One place to look: what it is, its path (None for an unset variable),
    and whether the user named it (then it must hold the data)."""

    what: str
    path: Optional[Path]
    named: bool
    receives_downloads: bool = False


def search_places(data_dir, env_var, repo_dir, system_dir, download_dir=None):
    """The places a loader looks in, in order.

    Parameters
    ----------
    data_dir      the loader's ``data_dir`` argument, or None
    env_var       name of the environment variable that may name a folder
    repo_dir      the default folder in the repository
    system_dir    the default system folder, or None
    download_dir  where downloads go when no folder is named (``download_folder``), or None

    Returns
    -------
    list of ``Place``; the named places and the download folder receive downloads
    """
    places = []
    if data_dir is not None:
        places.append(Place("the data_dir argument", Path(data_dir), True, True))
    env_value = os.environ.get(env_var)
    places.append(Place(f"the environment variable {env_var}" if env_value else
                        f"${env_var} (not set)",
                        Path(env_value) if env_value else None, True, True))
    places.append(Place("the repository folder", Path(repo_dir), False))
    if system_dir is not None:
        places.append(Place("the system folder", Path(system_dir), False))
    places.append(Place("the download folder", download_dir, False, True))
    return places


def looked_in(places):
    """The places of a "not found" message, in brief and in order: each path, and an
    unset variable as ``$NAME (not set)``, so a user learns it exists."""
    return ", ".join(str(place.path) if place.path is not None else place.what
                     for place in places if place.path is not None or place.named)


def find_in_places(places, look, title, wanted, other_way="", fetch=None):
    """The first place that holds the data, in order.

    Parameters
    ----------
    places     list of ``Place`` from ``search_places``
    look       function Path -> (found, lacking): ``found`` is what the loader
               needs (not None) when the place holds the data; otherwise
               ``lacking`` says what the place lacks
    title      the dataset's name, for messages ("Fashion-MNIST")
    wanted     what a place must hold, in brief ("the four IDX files ...")
    other_way  another way to get the files, the message's end
               (", or apt-get install dataset-fashion-mnist"), or ""
    fetch      None, or a function Path -> None that downloads the data into a
               place; it is called on the first place that lacks the data and
               receives downloads

    Returns
    -------
    ``found`` of the first place that holds the data. A named place that does
    not is a ValueError naming it and what it lacks; when no place holds the
    data, the ValueError names every place looked in. Either is one line that
    ends with the option that fetches the files, as a script prints it.
    """
    for place in places:
        if place.path is None:
            continue
        found, lacking = look(place.path)
        if found is None and fetch is not None and place.receives_downloads:
            fetch(place.path)
            found, lacking = look(place.path)
            if found is None:
                raise ValueError(f"{title} was downloaded into {place.path}, but {lacking}")
        if found is not None:
            return found
        if place.named:
            raise ValueError(
                f"{title} not found in {place.path}, named by {place.what}: {lacking}. "
                f"Get it there with --download (in Python: download=True)"
            )
    raise ValueError(
        f"{title} not found: none of {looked_in(places)} holds {wanted}. "
        f"Get it with --download (in Python: download=True){other_way}"
    )
