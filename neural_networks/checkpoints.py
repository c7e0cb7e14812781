"""The checkpoint file format, and every check made on it, in one place.

A checkpoint is an uncompressed ``.npz`` archive (no pickled objects, so
loading never runs code) holding one array per parameter, buffer and
optimizer state entry, numpy's generator state, the training split's order
when saved in the middle of an epoch, and a ``meta`` entry: a JSON document
with the architecture, the loss and optimizer settings, the shape of one
input example, the progress (epoch, iteration, history) and a CRC-32 of
every other entry.

``input_shape`` (one example, no batch axis: ``[28, 28, 1]``) joined the
format after it was numbered 2; it is optional, so files written before it
still read (the model then learns its input shape from its next batch). A
file that has it must agree with its first layer's ``n_in``.

A network saved before it saw any data (its output layer not built yet, or
no parameters) describes the layers it has, one fewer than its
``layer_args`` before the output layer is built; it loads as it was.

``save`` refuses non-finite parameters and writes through the one atomic
writer, so a process killed while saving leaves the previous checkpoint
intact. ``read`` checks the file on its own (the zip directory and every
array header before reading anything, so a hostile file cannot take more
memory than its size; integrity, entries, dtypes, shapes, finite values)
and ``restore`` checks it against the model (layers, loss, optimizer)
before changing anything: a bad checkpoint is always a ``ValueError``
naming the file and the problem, and the model is untouched.
"""

import json
import math
import os
import zlib

import numpy as np

from . import backend
from .checkpoint_archive import open_archive
from .optimizers import OPTIMIZERS
from .training_state import TrainingState
from .utils.checks import is_count
from .utils.files import to_json, write_atomic

FORMAT_VERSION = 2


class Checkpoint:
    """A checkpoint read from disk and checked on its own.

    Attributes
    ----------
    path            the file it came from
    arrays          name -> ndarray ("param/<layer>/<name>", "buffer/<layer>/<name>",
                    "optimizer/<layer>.<name>/<field>", "rng/keys", "data/order")
    meta            the JSON document (see ``save``)
    training_state  the progress it holds, a ``TrainingState`` (set by ``read``)
    """

    def __init__(self, path, arrays, meta):
        self.path = path
        self.arrays = arrays
        self.meta = meta
        self.training_state = None

    def fail(self, problem):
        """A ValueError naming this checkpoint's file and the problem."""
        return ValueError(f"checkpoint {self.path}: {problem}")

    def entries(self, prefix):
        """{rest of the name: array} of the entries whose names start with ``prefix``."""
        return {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}

    def model_state(self):
        """The parameters and buffers, each as {"<layer>.<name>": array} (``state_dict``'s keys)."""
        def by_layer(prefix):
            return {key.replace("/", ".", 1): value for key, value in self.entries(prefix).items()}

        return by_layer("param/"), by_layer("buffer/")

    def optimizer_state(self):
        """The optimizer's state, as its ``state_dict`` gives it."""
        return self.entries("optimizer/")

    def restore_generator(self):
        """Set numpy's global generator to the state saved in this checkpoint."""
        rng = self.meta["rng"]
        np.random.set_state((rng["name"], self.arrays["rng/keys"], rng["pos"],
                             rng["has_gauss"], rng["cached_gaussian"]))


def _crc32(array):
    """CRC-32 of an array's dtype, shape and bytes."""
    header = f"{array.dtype.str}{array.shape}".encode()
    return zlib.crc32(np.ascontiguousarray(array).view(np.uint8).reshape(-1), zlib.crc32(header))


def check_finite_parameters(model):
    """The name of the first parameter or buffer holding NaN or infinity, or None
    (read from a GPU in one transfer)."""
    names, checks = [], []
    for i, layer in enumerate(model.layers):
        for kind, values in (("parameter", layer.parameters), ("buffer", layer.buffers)):
            for name, value in values.items():
                names.append(f"layer {i} {kind} {name}")
                checks.append(np.isfinite(value).all())
    return next((name for name, finite in zip(names, backend.read_scalars(checks), strict=True)
                 if not finite), None)


def save(path, model, batch_size=None):
    """Write ``model`` (parameters, buffers, optimizer, progress, generator) to ``path``.

    Parameters
    ----------
    path        the ``.npz`` file; replaced atomically
    model       a ``NeuralNetwork``
    batch_size  the training split's batch size, needed to resume in the
                middle of an epoch (None when saved between epochs)

    Returns
    -------
    the path written

    Raises ValueError, writing nothing, when a parameter or buffer is not finite.
    """
    path = os.fspath(path)
    bad = check_finite_parameters(model)
    if bad is not None:
        raise ValueError(f"refusing to save {path}: {bad} holds NaN or infinity")
    try:
        progress, progress_arrays = model.training_state.to_json(batch_size)
    except ValueError as error:
        raise ValueError(f"cannot save {path}: {error}") from None
    name, keys, pos, has_gauss, cached = np.random.get_state()
    arrays = {"rng/keys": keys}
    # Host arrays, whichever device the network is on: the file loads on either.
    for i, layer in enumerate(model.layers):
        for kind, values in (("param", layer.parameters), ("buffer", layer.buffers)):
            arrays.update((f"{kind}/{i}/{entry}", backend.to_host(value))
                          for entry, value in values.items())
    for key, value in model.optimizer.state_dict().items():
        arrays[f"optimizer/{key}"] = backend.to_host(value)
    arrays.update(progress_arrays)
    meta = {
        "format": FORMAT_VERSION,
        "loss": model.loss.name,
        "layer_args": model.layer_args,
        "optimizer_args": model.optimizer_args,
        "seed": model.seed,
        "layers": model.architecture(),
        "n_in": [list(layer.n_in) if isinstance(layer.n_in, tuple) else layer.n_in
                 for layer in model.layers],
        "input_shape": None if model.input_shape is None else list(model.input_shape),
        **progress,
        "rng": {"name": name, "pos": int(pos), "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached)},
        "crc32": {k: _crc32(v) for k, v in arrays.items()},
    }
    payload = dict(arrays)
    payload["meta"] = np.array(json.dumps(meta, default=to_json))

    def write(f):
        np.savez(f, **payload)

    return write_atomic(path, write)


# ------------------------------------------------------------------ reading

def read(path):
    """Read and check a checkpoint on its own.

    Checks: the file is a readable archive of this format, read only after its
    zip directory, description and array headers agree (see ``_read_archive``);
    the JSON parses, within this format's limits; every entry is present with the
    CRC-32 it was saved with; parameters and buffers are floating, finite and of
    the shapes the architecture lists; the optimizer state and progress are well
    formed.

    Returns
    -------
    Checkpoint; raises ValueError naming the file and the problem
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"expected the path of a checkpoint file, got {path!r}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"no checkpoint at {path}" if not os.path.exists(path)
                         else f"{path} is not a regular file, so not a checkpoint")
    checkpoint = _read_archive(path)
    try:
        _check_integrity(checkpoint)
        _check_parameters(checkpoint)
        _check_optimizer(checkpoint)
        _check_input_shape(checkpoint)
        _check_generator(checkpoint)
        checkpoint.training_state = _read_progress(checkpoint)
    except (KeyError, TypeError, AttributeError) as error:
        raise checkpoint.fail(f"malformed description ({type(error).__name__}: {error})") \
            from None
    _take_parameter_dtype(checkpoint)
    return checkpoint


# ------------------------------------------------------- the description

#: Digits of the longest integer a description may hold: every number this
#: library writes fits in 64 bits (20 digits).
MAX_DIGITS = 20

#: Values in one example of ``input_shape`` at most: 2**26 (e.g. 4096 x 4096
#: x 4), 512 MiB in float64, far beyond any image this library trains on. A
#: larger shape is a damaged file, and building an example of it (``summary``
#: does) would exhaust memory.
MAX_EXAMPLE_VALUES = 2**26

def _read_archive(path):
    """The description and arrays of the archive at ``path``, as a Checkpoint.

    The archive's directory and each entry's header are checked before any
    entry is read (``checkpoint_archive``); the description (``meta``) is read
    first, then only the entries its CRC table lists.
    """
    with open_archive(path) as (entries, read):
        if "meta" not in entries:
            raise ValueError(f"{path} is not a checkpoint of this library (no 'meta' entry)")
        checkpoint = Checkpoint(path, {}, _parse_description(path, str(read("meta"))))
        names = [name for name in entries if name != "meta"]
        _check_listing(checkpoint, names)
        checkpoint.arrays = {name: read(name) for name in names}
    return checkpoint


def _whole_number(text):
    """json's parse_int, refusing the integers of thousands of digits no checkpoint holds."""
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise ValueError(f"holds a {digits:,}-digit integer; this format's numbers have at "
                         f"most {MAX_DIGITS} digits")
    return int(text)


def _parse_description(path, text):
    """The ``meta`` JSON document as a dict of this format, or ValueError naming ``path``."""
    try:
        meta = json.loads(text, parse_int=_whole_number)
    except (json.JSONDecodeError, UnicodeError) as error:
        raise ValueError(f"checkpoint {path}: its 'meta' entry is not valid JSON ({error})") \
            from None
    except ValueError as error:
        raise ValueError(f"checkpoint {path}: its 'meta' entry {error}") from None
    except RecursionError:
        # The descriptions save writes nest a few levels; Python's parser gives up at ~1000.
        raise ValueError(f"checkpoint {path}: its 'meta' entry nests lists or objects too "
                         f"deeply to be a description this library writes") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{path} has checkpoint format {found!r}; this version reads "
                         f"format {FORMAT_VERSION}")
    return meta


def _check_listing(checkpoint, entries):
    """The entries must be exactly those of the CRC table: none is read before this."""
    crcs = checkpoint.meta.get("crc32")
    if not isinstance(crcs, dict):
        raise checkpoint.fail("the 'crc32' table is missing")
    missing = sorted(set(crcs) - set(entries))
    if missing:
        raise checkpoint.fail(f"entries missing: {', '.join(missing)}")
    unexpected = sorted(set(entries) - set(crcs))
    if unexpected:
        raise checkpoint.fail(f"entries not listed in its table: {', '.join(unexpected)}")


def _check_integrity(checkpoint):
    crcs = checkpoint.meta["crc32"]
    for name, value in checkpoint.arrays.items():
        if _crc32(value) != crcs[name]:
            raise checkpoint.fail(f"entry {name} does not match its CRC-32 (the file is corrupt)")


def _check_parameters(checkpoint):
    layers, layer_args = checkpoint.meta["layers"], checkpoint.meta.get("layer_args")
    if not isinstance(layer_args, list) or not layer_args \
            or not all(isinstance(args, dict) for args in layer_args):
        raise checkpoint.fail(f"expected its layer_args to be a list of dicts, got "
                              f"{layer_args!r:.200}")
    # A network saved before its output layer was built describes one layer less.
    if not isinstance(layers, list) or len(layer_args) - len(layers) not in (0, 1):
        raise checkpoint.fail(f"expected it to describe its {len(layer_args)} layers (or all "
                              f"but the output layer, if saved before that was built), got "
                              f"{layers!r:.200}")
    keys = [f"param/{i}/{name}" for i, description in enumerate(layers)
            for name in description["parameters"]]
    first = None
    for key in keys:
        i, name = key.split("/")[1:]
        if key not in checkpoint.arrays:
            raise checkpoint.fail(f"entry {key} is missing")
        dtype = _check_array(checkpoint, key, tuple(layers[int(i)]["parameters"][name]))
        first = first or (key, dtype)
        if dtype != first[1]:
            raise checkpoint.fail(f"{key} is {dtype} but {first[0]} is {first[1]}: "
                                  f"parameters mix dtypes")
    for key in checkpoint.entries("buffer/"):
        _check_array(checkpoint, f"buffer/{key}", None)
    for key in checkpoint.entries("param/"):
        i, name = key.split("/", 1)
        if not i.isdigit() or int(i) >= len(layers) or name not in layers[int(i)]["parameters"]:
            raise checkpoint.fail(f"entry param/{key} belongs to no layer it describes")


def _check_array(checkpoint, key, shape):
    """Check one parameter or buffer; return its dtype."""
    value = checkpoint.arrays[key]
    if value.dtype not in (np.float32, np.float64):
        raise checkpoint.fail(f"{key} has dtype {value.dtype}; expected float32 or float64")
    if shape is not None and value.shape != shape:
        raise checkpoint.fail(f"{key} has shape {value.shape}; its layer lists {shape}")
    if not np.isfinite(value).all():
        raise checkpoint.fail(f"{key} holds NaN or infinity")
    return value.dtype


def _check_optimizer(checkpoint):
    """Each entry a field the optimizer declares (``state_arrays``, ``state_counts``) of a
    parameter the checkpoint holds: an array of its shape, or a step count >= 1."""
    name = checkpoint.meta["optimizer_args"]["name"]
    optimizer = OPTIMIZERS.get(name)
    if optimizer is None:
        raise checkpoint.fail(f"unknown optimizer {name!r}")
    fields = {*optimizer.state_arrays, *optimizer.state_counts}
    for key, value in checkpoint.entries("optimizer/").items():
        param, _, field = key.rpartition("/")
        if field not in fields:
            raise checkpoint.fail(f"optimizer entry {key} is not a field of {name} "
                                  f"({', '.join(sorted(fields))})")
        i, _, pname = param.partition(".")
        target = f"param/{i}/{pname}"
        if target not in checkpoint.arrays:
            raise checkpoint.fail(f"optimizer entry {key} belongs to no parameter")
        if field in optimizer.state_counts:
            if value.shape != () or not np.issubdtype(value.dtype, np.integer) or value < 1:
                raise checkpoint.fail(f"optimizer entry {key} must be a step count >= 1")
            continue
        reference = checkpoint.arrays[target]
        # Another float dtype than the parameter's is taken (_take_parameter_dtype).
        if value.shape != reference.shape or value.dtype not in (np.float32, np.float64):
            raise checkpoint.fail(f"optimizer entry {key} is {value.dtype} {value.shape}; its "
                                  f"parameter is {reference.dtype} {reference.shape}")
        if not np.isfinite(value).all():
            raise checkpoint.fail(f"optimizer entry {key} holds NaN or infinity")


def _take_parameter_dtype(checkpoint):
    """Convert buffers and optimizer state of another float dtype to the parameters'.

    A float32 network fed float64 data used to keep float64 momentum, moments
    and running statistics beside its float32 weights (inputs now take the
    network's dtype); the files it wrote load, their state in the weights' dtype.
    """
    parameters = checkpoint.entries("param/")
    if not parameters:
        return
    dtype = next(iter(parameters.values())).dtype
    for key, value in checkpoint.arrays.items():
        if key.startswith(("buffer/", "optimizer/")) and value.dtype.kind == "f":
            checkpoint.arrays[key] = value.astype(dtype, copy=False)


def _check_input_shape(checkpoint):
    meta = checkpoint.meta
    n_in = meta["n_in"]
    if not isinstance(n_in, list) or len(n_in) != len(meta["layers"]):
        raise checkpoint.fail(f"expected one n_in per layer ({len(meta['layers'])}), got {n_in!r}")
    shape = meta.get("input_shape")
    if shape is None:
        return
    if not isinstance(shape, list) or not shape or \
            not all(is_count(d) and d >= 1 for d in shape):
        raise checkpoint.fail(f"expected input_shape to be the shape of one example (whole "
                              f"numbers >= 1, e.g. [28, 28, 1]), got {shape!r}")
    if math.prod(shape) > MAX_EXAMPLE_VALUES:
        raise checkpoint.fail(f"its input_shape {shape} makes examples of "
                              f"{math.prod(shape):,} values; expected at most "
                              f"{MAX_EXAMPLE_VALUES:,}")
    # The first layer reads the last axis (features, channels), or all of it (Flatten).
    first = n_in[0] if n_in else None
    if first is not None and first != (shape if isinstance(first, list) else shape[-1]):
        raise checkpoint.fail(f"its input_shape {shape} does not fit its first layer's "
                              f"n_in {first}")


def _read_progress(checkpoint):
    """The checkpoint's ``TrainingState``, or ValueError naming the file and the problem."""
    try:
        return TrainingState.from_json(checkpoint.meta, checkpoint.arrays)
    except ValueError as error:
        raise checkpoint.fail(str(error)) from None


def _check_generator(checkpoint):
    keys, rng = checkpoint.arrays.get("rng/keys"), checkpoint.meta["rng"]
    if keys is None or keys.dtype != np.uint32 or keys.shape != (624,) \
            or rng.get("name") != "MT19937" or not 0 <= rng.get("pos", -1) <= 624:
        raise checkpoint.fail("its random generator state is malformed")


# --------------------------------------------------------------- restoring

def check_fits(checkpoint, model, architecture):
    """Raise ValueError, listing the differences, unless ``model`` can take ``checkpoint``.

    ``architecture`` describes the model's layers as they would be after
    loading (its output layer included, if loading would build it).
    """
    meta = checkpoint.meta
    problems = []
    if meta["loss"] != model.loss.name:
        problems.append(f"loss {meta['loss']!r} in the checkpoint vs {model.loss.name!r} here")
    saved_optimizer = meta["optimizer_args"]["name"]
    if saved_optimizer != model.optimizer_args.get("name"):
        problems.append(f"optimizer {saved_optimizer!r} in the checkpoint vs "
                        f"{model.optimizer_args.get('name')!r} here")
    saved, current = meta["layers"], architecture
    # Whole networks, built or not: a network's output layer may not be built yet.
    if len(meta["layer_args"]) != model.n_layers:
        problems.append(f"the checkpoint has {len(meta['layer_args'])} layers, this model "
                        f"{model.n_layers}")
    elif len(saved) < len(current):
        problems.append("the checkpoint was saved before its output layer was built (its "
                        "n_out comes from the data); this model has built it")
    # strict=False: a layer-count mismatch is reported above; compare the layers both have.
    for i, (old, new) in enumerate(zip(saved, current, strict=False)):
        for key in sorted(set(old) | set(new)):
            if key == "parameters" and not new["parameters"]:
                continue  # this layer has not seen an input yet: any shape fits
            if old.get(key) != new.get(key):
                problems.append(
                    f"layer {i} ({old['type']} in the checkpoint, {new['type']} here): "
                    f"{key} {old.get(key)} in the checkpoint vs {new.get(key)} here"
                )
    dtype = model.parameter_dtype()
    saved_dtype = next(iter(checkpoint.entries("param/").values()), None)
    if dtype is not None and saved_dtype is not None and saved_dtype.dtype != dtype:
        problems.append(f"parameters are {saved_dtype.dtype} in the checkpoint, {dtype} here")
    if problems:
        raise ValueError(f"checkpoint {checkpoint.path} does not fit this model:\n  "
                         + "\n  ".join(problems))
