"""One-file checkpoints: arrays plus a JSON description, written atomically.

A checkpoint is an ``.npz`` archive (no pickled objects, so loading never
runs code) with one array per parameter, buffer and optimizer state entry,
and a ``meta`` entry holding a JSON document (layer arguments, epoch,
generator state, history). ``write_atomic`` writes a temporary file in the
same folder and moves it over the target with ``os.replace``, so a process
killed while saving leaves the previous checkpoint intact.
"""

import json
import os

import numpy as np

FORMAT_VERSION = 1


def write_atomic(path, arrays, meta):
    """Write ``arrays`` (name -> ndarray) and ``meta`` (JSON-able dict) to ``path``.

    Returns
    -------
    the path written
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    payload = dict(arrays)
    payload["meta"] = np.array(json.dumps({"format": FORMAT_VERSION, **meta}))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read(path):
    """Return ``(arrays, meta)`` from a checkpoint written by ``write_atomic``.

    Raises ValueError when the file is missing or is not such a checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path} is not a readable checkpoint: {error}") from None
    if "meta" not in arrays:
        raise ValueError(f"{path} is not a checkpoint of this library (no 'meta' entry)")
    meta = json.loads(str(arrays.pop("meta")))
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format {meta.get('format')!r}; this version reads "
            f"format {FORMAT_VERSION}"
        )
    return arrays, meta


def generator_state_to_arrays():
    """numpy's global generator state, split into an array and JSON-able scalars."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"rng/keys": keys}, {"name": name, "pos": int(pos), "has_gauss": int(has_gauss),
                                "cached_gaussian": float(cached)}


def restore_generator_state(arrays, meta):
    """Inverse of ``generator_state_to_arrays``."""
    np.random.set_state((meta["name"], arrays["rng/keys"], meta["pos"], meta["has_gauss"],
                         meta["cached_gaussian"]))
