"""A network's arrays in and out: its parameters and buffers as a dict
(``state_dict``), set back from one (``load_state_dict``), restored whole from
a checkpoint (``restore``), and written as the course's per-epoch parameters
file (``save_parameters``).

The network's methods of those names call the functions here, which take the
network first. Keys are "<layer index>.<name>", the names each layer declares
in its ``parameters`` and ``buffers``. Values set or restored go to the
network's device; files get host copies.
"""

import os

import numpy as np

from . import backend, checkpoints
from .utils.files import write_atomic


def buffer_names(model):
    """The "<layer>.<name>" keys of ``state_dict`` that are buffers, not parameters."""
    return {f"{i}.{name}" for i, layer in enumerate(model.layers) for name in layer.buffers}


def state_dict(model):
    """Copies of every parameter and buffer, keyed "<layer index>.<name>", on the
    network's device."""
    return {f"{i}.{name}": value.copy() for i, layer in enumerate(model.layers)
            for values in (layer.parameters, layer.buffers) for name, value in values.items()}


def load_state_dict(model, state):
    """Set parameters and buffers from ``state`` (as ``state_dict`` returns).

    Every entry must name an existing parameter or buffer and match its
    shape and dtype, and every value must be finite; otherwise ValueError,
    and nothing is changed.
    """
    current = state_dict(model)
    if not current:
        raise ValueError("this model has no parameters yet: build(input_shape, n_out) "
                         "or train it first")
    missing = sorted(set(current) - set(state))
    unknown = sorted(set(state) - set(current))
    if missing or unknown:
        raise ValueError(f"state does not fit this model: missing {missing}, unknown {unknown}")
    for key, value in state.items():
        value = backend.as_array(value)
        if value.shape != current[key].shape or value.dtype != current[key].dtype:
            raise ValueError(f"state entry {key} is {value.dtype} {value.shape}; the model "
                             f"has {current[key].dtype} {current[key].shape}")
        if not np.isfinite(value).all():
            raise ValueError(f"state entry {key} holds NaN or infinity")
    buffers = buffer_names(model)
    _assign(model, {k: v for k, v in state.items() if k not in buffers},
            {k: v for k, v in state.items() if k in buffers})


def _assign(model, parameters, buffers):
    """Set parameters and buffers, {"<layer>.<name>": array} each, as copies on the
    network's device; zero the gradients and drop the caches."""
    for key, value in parameters.items():
        i, name = key.split(".", 1)
        layer = model.layers[int(i)]
        layer.parameters[name] = backend.to_device(value, model.device, copy=True)
        layer.gradients[name] = np.zeros_like(layer.parameters[name])
    for key, value in buffers.items():
        i, name = key.split(".", 1)
        model.layers[int(i)].buffers[name] = backend.to_device(value, model.device, copy=True)
    model.clear_gradients()


def restore(model, checkpoint):
    """Restore a checkpoint already read (and checked on its own) into ``model``:
    its layers (the output layer built if the checkpoint has it), parameters,
    buffers, optimizer state, numpy's generator and training state.

    Returns
    -------
    model; a ValueError listing the differences, with the model untouched,
    when the checkpoint does not fit it (``checkpoints.check_fits``)
    """
    meta = checkpoint.meta
    layers = list(model.layers)
    if not model.built and len(meta["layers"]) == model.n_layers:
        layers.append(model.make_output_layer(meta["layers"][-1].get("n_out")))
    checkpoints.check_fits(checkpoint, model, [layer.describe() for layer in layers])
    parameters, buffers = checkpoint.model_state()
    model.layers = layers
    for layer, n_in in zip(model.layers, meta["n_in"], strict=True):
        layer.training = model.training
        layer.n_in = n_in
    _assign(model, parameters, buffers)
    model.optimizer.load_state_dict(checkpoint.optimizer_state())
    model.optimizer.to(model.device)
    checkpoint.restore_generator()
    # The course's epoch log is the Logger's, not the checkpoint's: it stays.
    checkpoint.training_state.epoch_log = model.epoch_log
    model.training_state = checkpoint.training_state
    if meta.get("input_shape") is not None:
        model.input_shape = tuple(meta["input_shape"])
    return model


def save_parameters(model, epoch):
    """Save every layer's parameters to ``<logger dir>/parameters_epoch{epoch}.npz``.

    The archive holds one array per parameter, named "<layer>.<name>"
    (read it with ``np.load``).

    Returns
    -------
    the path written
    """
    if model.logger is None:
        raise ValueError("save_parameters needs a logger (it saves in the logger's folder)")
    parameters = {f"{i}.{name}": backend.to_host(value) for i, layer in enumerate(model.layers)
                  for name, value in layer.parameters.items()}
    os.makedirs(model.logger.save_dir, exist_ok=True)
    path = os.path.join(model.logger.save_dir, f"parameters_epoch{epoch}.npz")
    return write_atomic(path, lambda f: np.savez(f, **parameters))
