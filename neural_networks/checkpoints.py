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

``save`` refuses non-finite parameters and writes through the one atomic
writer, so a process killed while saving leaves the previous checkpoint
intact. ``read`` checks the file on its own (integrity, entries, dtypes,
shapes, finite values) and ``restore`` checks it against the model (layers,
loss, optimizer) before changing anything: a bad checkpoint is always a
``ValueError`` naming the file and the problem, and the model is untouched.
"""

import json
import os
import zipfile
import zlib

import numpy as np

from .utils.files import to_json, write_atomic

FORMAT_VERSION = 2

#: The fields of an optimizer's per-parameter state, by optimizer name.
OPTIMIZER_FIELDS = {"SGD": {"delta"}, "Adam": {"m", "v", "t"}, "AdamW": {"m", "v", "t"}}


class Checkpoint:
    """A checkpoint read from disk and checked on its own.

    Attributes
    ----------
    path     the file it came from
    arrays   name -> ndarray ("param/<layer>/<name>", "buffer/<layer>/<name>",
             "optimizer/<layer>.<name>/<field>", "rng/keys", "data/order")
    meta     the JSON document (see ``save``)
    """

    def __init__(self, path, arrays, meta):
        self.path = path
        self.arrays = arrays
        self.meta = meta

    def fail(self, problem):
        """A ValueError naming this checkpoint's file and the problem."""
        return ValueError(f"checkpoint {self.path}: {problem}")

    def entries(self, prefix):
        """{rest of the name: array} of the entries whose names start with ``prefix``."""
        return {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}


def _crc32(array):
    """CRC-32 of an array's dtype, shape and bytes."""
    header = f"{array.dtype.str}{array.shape}".encode()
    return zlib.crc32(np.ascontiguousarray(array).view(np.uint8).reshape(-1), zlib.crc32(header))


def _jsonable_n_in(n_in):
    if isinstance(n_in, tuple):
        return [int(v) for v in n_in]
    return None if n_in is None else int(n_in)


def check_finite_parameters(model):
    """The name of the first parameter or buffer holding NaN or infinity, or None."""
    for i, layer in enumerate(model.layers):
        for kind, values in (("parameter", layer.parameters),
                             ("buffer", getattr(layer, "buffers", {}))):
            for name, value in values.items():
                if not np.isfinite(value).all():
                    return f"layer {i} {kind} {name}"
    return None


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
    name, keys, pos, has_gauss, cached = np.random.get_state()
    arrays = {"rng/keys": keys}
    for key, value in model.state_dict().items():
        kind = "buffer" if key in model.buffer_names() else "param"
        i, entry = key.split(".", 1)
        arrays[f"{kind}/{i}/{entry}"] = value
    for key, value in model.optimizer.state_dict().items():
        arrays[f"optimizer/{key}"] = np.asarray(value)
    if model.iteration:
        if model.data_order is None or not batch_size:
            raise ValueError(f"cannot save {path} in the middle of an epoch without the "
                             f"training split's order and batch size")
        arrays["data/order"] = np.asarray(model.data_order)
    meta = {
        "format": FORMAT_VERSION,
        "loss": model.loss.name,
        "layer_args": model.layer_args,
        "optimizer_args": model.optimizer_args,
        "seed": model.seed,
        "layers": model.architecture(),
        "n_in": [_jsonable_n_in(layer.n_in) for layer in model.layers],
        "input_shape": None if model.input_shape is None else list(model.input_shape),
        "epoch": model.epoch,
        "iteration": model.iteration,
        "batch_size": batch_size if model.iteration else None,
        "partial": model.epoch_totals,
        "history": model.history,
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

    Checks: the file is a readable archive of this format; the JSON parses;
    every entry is present with the CRC-32 it was saved with; parameters
    and buffers are floating, finite and of the shapes the architecture
    lists; the optimizer state and progress are well formed.

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
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError,
            NotImplementedError) as error:
        raise ValueError(f"{path} is not a readable checkpoint (truncated or corrupt?): "
                         f"{error}") from None
    if "meta" not in arrays:
        raise ValueError(f"{path} is not a checkpoint of this library (no 'meta' entry)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (json.JSONDecodeError, UnicodeError) as error:
        raise ValueError(f"checkpoint {path}: its 'meta' entry is not valid JSON ({error})") \
            from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{path} has checkpoint format {found!r}; this version reads "
                         f"format {FORMAT_VERSION}")
    checkpoint = Checkpoint(path, arrays, meta)
    try:
        _check_integrity(checkpoint)
        _check_parameters(checkpoint)
        _check_optimizer(checkpoint)
        _check_input_shape(checkpoint)
        _check_progress(checkpoint)
    except (KeyError, TypeError, AttributeError) as error:
        raise checkpoint.fail(f"malformed description ({type(error).__name__}: {error})") \
            from None
    return checkpoint


def _check_integrity(checkpoint):
    crcs = checkpoint.meta["crc32"]
    if not isinstance(crcs, dict):
        raise checkpoint.fail("the 'crc32' table is missing")
    missing = sorted(set(crcs) - set(checkpoint.arrays))
    if missing:
        raise checkpoint.fail(f"entries missing: {', '.join(missing)}")
    unexpected = sorted(set(checkpoint.arrays) - set(crcs))
    if unexpected:
        raise checkpoint.fail(f"entries not listed in its table: {', '.join(unexpected)}")
    for name, value in checkpoint.arrays.items():
        if _crc32(value) != crcs[name]:
            raise checkpoint.fail(f"entry {name} does not match its CRC-32 (the file is corrupt)")


def _check_parameters(checkpoint):
    layers = checkpoint.meta["layers"]
    if not isinstance(layers, list) or not layers:
        raise checkpoint.fail("it lists no layers")
    keys = [f"param/{i}/{name}" for i, description in enumerate(layers)
            for name in description["parameters"]]
    keys += [f"buffer/{key}" for key in checkpoint.entries("buffer/")]
    first = None
    for key in keys:
        i, name = key.split("/")[1:]
        shape = layers[int(i)]["parameters"].get(name) if key.startswith("param/") else None
        if key not in checkpoint.arrays:
            raise checkpoint.fail(f"entry {key} is missing")
        dtype = _check_array(checkpoint, key, None if shape is None else tuple(shape))
        first = first or (key, dtype)
        if dtype != first[1]:
            raise checkpoint.fail(f"{key} is {dtype} but {first[0]} is {first[1]}: "
                                  f"parameters mix dtypes")
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
    meta = checkpoint.meta
    name = meta["optimizer_args"]["name"]
    fields = OPTIMIZER_FIELDS.get(name)
    if fields is None:
        raise checkpoint.fail(f"unknown optimizer {name!r}")
    for key, value in checkpoint.entries("optimizer/").items():
        param, _, field = key.rpartition("/")
        if field not in fields:
            raise checkpoint.fail(f"optimizer entry {key} is not a field of {name} "
                                  f"({', '.join(sorted(fields))})")
        i, _, pname = param.partition(".")
        target = f"param/{i}/{pname}"
        if target not in checkpoint.arrays:
            raise checkpoint.fail(f"optimizer entry {key} belongs to no parameter")
        if field == "t":
            if value.shape != () or not np.issubdtype(value.dtype, np.integer) or value < 1:
                raise checkpoint.fail(f"optimizer entry {key} must be a step count >= 1")
            continue
        reference = checkpoint.arrays[target]
        if value.shape != reference.shape or value.dtype != reference.dtype:
            raise checkpoint.fail(f"optimizer entry {key} is {value.dtype} {value.shape}; its "
                                  f"parameter is {reference.dtype} {reference.shape}")
        if not np.isfinite(value).all():
            raise checkpoint.fail(f"optimizer entry {key} holds NaN or infinity")


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_input_shape(checkpoint):
    meta = checkpoint.meta
    n_in = meta["n_in"]
    if not isinstance(n_in, list) or len(n_in) != len(meta["layers"]):
        raise checkpoint.fail(f"expected one n_in per layer ({len(meta['layers'])}), got {n_in!r}")
    shape = meta.get("input_shape")
    if shape is None:
        return
    if not isinstance(shape, list) or not shape or \
            not all(_is_count(d) and d >= 1 for d in shape):
        raise checkpoint.fail(f"expected input_shape to be the shape of one example (whole "
                              f"numbers >= 1, e.g. [28, 28, 1]), got {shape!r}")
    # The first layer reads the last axis (features, channels), or all of it (Flatten).
    first = n_in[0]
    if first is not None and first != (shape if isinstance(first, list) else shape[-1]):
        raise checkpoint.fail(f"its input_shape {shape} does not fit its first layer's "
                              f"n_in {first}")


def _check_progress(checkpoint):
    meta = checkpoint.meta
    for what in ("epoch", "iteration"):
        if not _is_count(meta[what]):
            raise checkpoint.fail(f"{what} must be a whole number >= 0, got {meta[what]!r}")
    history = meta["history"]
    if not isinstance(history.get("epochs"), list) or \
            not isinstance(history.get("iteration_loss"), list):
        raise checkpoint.fail("its history is malformed")
    if len(history["epochs"]) != meta["epoch"]:
        raise checkpoint.fail(f"it records {len(history['epochs'])} epochs of history but "
                              f"says {meta['epoch']} were done")
    stop = history.get("stopped_early")
    if stop is not None:
        fields = ("epoch", "best_epoch", "patience")
        if not isinstance(stop, dict) or not all(_is_count(stop.get(k)) for k in fields) \
                or stop["epoch"] != meta["epoch"] or meta["iteration"] or stop["patience"] < 1 \
                or not 1 <= stop["best_epoch"] <= stop["epoch"] - stop["patience"]:
            raise checkpoint.fail(f"its early-stop record {stop!r} does not fit: expected "
                                  f"{{'epoch': {meta['epoch']}, 'best_epoch': b, 'patience': p}} "
                                  f"with 1 <= b <= epoch - p, saved between epochs")
    keys, rng = checkpoint.arrays.get("rng/keys"), meta["rng"]
    if keys is None or keys.dtype != np.uint32 or keys.shape != (624,) \
            or rng.get("name") != "MT19937" or not 0 <= rng.get("pos", -1) <= 624:
        raise checkpoint.fail("its random generator state is malformed")
    order = checkpoint.arrays.get("data/order")
    if meta["iteration"]:
        if order is None:
            raise checkpoint.fail("saved in the middle of an epoch, but the data order is missing")
        if order.ndim != 1 or not np.issubdtype(order.dtype, np.integer) \
                or not np.array_equal(np.sort(order), np.arange(order.size)):
            raise checkpoint.fail("its data order is not a permutation of the training examples")
        if not _is_count(meta.get("batch_size")) or meta["batch_size"] < 1:
            raise checkpoint.fail("saved in the middle of an epoch, but without its batch size")
        partial = meta["partial"]
        if not all(isinstance(partial.get(k), (int, float)) for k in ("loss", "error", "count")):
            raise checkpoint.fail("its running totals of the unfinished epoch are malformed")


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
    if len(saved) != model.n_layers:
        # n_layers, not len(current): the output layer may not be built yet.
        problems.append(f"the checkpoint has {len(saved)} layers, this model {model.n_layers}")
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


def model_state(checkpoint):
    """The checkpoint's parameters and buffers, each as {"<layer>.<name>": array}."""
    def by_layer(prefix):
        return {key.replace("/", ".", 1): value
                for key, value in checkpoint.entries(prefix).items()}

    return by_layer("param/"), by_layer("buffer/")


def restore_generator(checkpoint):
    """Set numpy's global generator to the state saved in ``checkpoint``."""
    rng = checkpoint.meta["rng"]
    np.random.set_state((rng["name"], checkpoint.arrays["rng/keys"], rng["pos"],
                         rng["has_gauss"], rng["cached_gaussian"]))
