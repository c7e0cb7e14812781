"""Where the image loaders look for their files.

A folder the user names (the ``data_dir`` argument or an environment
variable) must hold the data: if it does not, that is the error, naming the
folder and what it lacks. Only the default places (the repository's
``datasets/`` folder, a system folder) are passed over silently.
"""

import os
from pathlib import Path
from typing import NamedTuple, Optional

# The checkout's top folder; in an installed copy its datasets/ folder simply does not exist.
REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS_DIR = REPO_ROOT / "datasets"


class Place(NamedTuple):
    """One place to look: what it is, its path (None for an unset variable),
    and whether the user named it (then it must hold the data)."""

    what: str
    path: Optional[Path]
    named: bool


def search_places(data_dir, env_var, repo_dir, system_dir):
    """The places a loader looks in, in order.

    Parameters
    ----------
    data_dir    the loader's ``data_dir`` argument, or None
    env_var     name of the environment variable that may name a folder
    repo_dir    the default folder in the repository
    system_dir  the default system folder, or None

    Returns
    -------
    list of ``Place``
    """
    places = []
    if data_dir is not None:
        places.append(Place("the data_dir argument", Path(data_dir), True))
    env_value = os.environ.get(env_var)
    places.append(Place(f"the environment variable {env_var}" + ("" if env_value else " (not set)"),
                        Path(env_value) if env_value else None, True))
    places.append(Place("the repository folder", Path(repo_dir), False))
    if system_dir is not None:
        places.append(Place("the system folder", Path(system_dir), False))
    return places


def describe_places(places):
    """One numbered line per place: its description and path."""
    return "\n".join(f"  {k}. {place.what}: {place.path if place.path is not None else '-'}"
                     for k, place in enumerate(places, start=1))


def find_in_places(places, look, title, wanted, hint):
    """The first place that holds the data, in order.

    Parameters
    ----------
    places  list of ``Place`` from ``search_places``
    look    function Path -> (found, lacking): ``found`` is what the loader
            needs (not None) when the place holds the data; otherwise
            ``lacking`` says what the place lacks
    title   the dataset's name, for messages ("Fashion-MNIST")
    wanted  what a place must hold, for the message when none does
    hint    how to get the files, the message's last lines

    Returns
    -------
    ``found`` of the first place that holds the data. A named place that
    does not is a ValueError naming it and what it lacks; when no place
    holds the data, the ValueError names every place looked in.
    """
    for place in places:
        if place.path is None:
            continue
        found, lacking = look(place.path)
        if found is not None:
            return found
        if place.named:
            raise ValueError(
                f"{title} not found in {place.path}, named by {place.what}: {lacking}.\n"
                f"A folder you name is the only place looked in. The places, in search order:\n"
                + describe_places(places) + "\n" + hint
            )
    raise ValueError(
        f"{title} not found: no place holds {wanted}.\nLooked in, in order:\n"
        + describe_places(places) + "\n" + hint
    )
