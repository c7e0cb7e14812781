"""A network's arrays in and out: its parameters and buffers as a dict
(``state_dict``), set back from one (``load_state_dict``), written to and read
from a checkpoint (``save``, ``load``; ``restore`` for a checkpoint already
read), written as the course's per-epoch parameters file
(``save_parameters``), their norms (``parameter_norms``) and dtype
(``parameter_dtype``), and the gradients cleared (``clear_gradients``).

``StateMethods`` holds the network's methods of those names; ``NeuralNetwork``
inherits them. Keys are "<layer index>.<name>", the names each layer declares
in its ``parameters`` and ``buffers``. Values set or restored go to the
network's device; files get host copies.
"""

import os

import numpy as np

from . import backend, checkpoints
from .utils.files import write_atomic


class StateMethods:
    """The methods of ``NeuralNetwork`` that take its arrays in and out.

    They use the network's ``layers``, ``device``, ``logger`` and
    ``data_batch_size``.
    """

    def parameter_dtype(self):
        """The parameters' dtype, or None before they exist."""
        for layer in self.layers:
            for value in layer.parameters.values():
                return value.dtype
        return None

    def clear_gradients(self):
        """Zero every gradient and drop every layer's cache."""
        for layer in self.layers:
            layer.clear_gradients()

    def buffer_names(self):
        """The "<layer>.<name>" keys of ``state_dict`` that are buffers, not parameters."""
        return {f"{i}.{name}" for i, layer in enumerate(self.layers) for name in layer.buffers}

    def state_dict(self):
        """Copies of every parameter and buffer, keyed "<layer index>.<name>", on the
        network's device."""
        return {f"{i}.{name}": value.copy() for i, layer in enumerate(self.layers)
                for values in (layer.parameters, layer.buffers) for name, value in values.items()}

    def load_state_dict(self, state):
        """Set parameters and buffers from ``state`` (as ``state_dict`` returns).

        Every entry must name an existing parameter or buffer and match its
        shape and dtype, and every value must be finite; otherwise ValueError,
        and nothing is changed.
        """
        current = self.state_dict()
        if not current:
            raise ValueError("this model has no parameters yet: build(input_shape, n_out) "
                             "or train it first")
        missing = sorted(set(current) - set(state))
        unknown = sorted(set(state) - set(current))
        if missing or unknown:
            raise ValueError(f"state does not fit this model: missing {missing}, "
                             f"unknown {unknown}")
        for key, value in state.items():
            value = backend.as_array(value)
            if value.shape != current[key].shape or value.dtype != current[key].dtype:
                raise ValueError(f"state entry {key} is {value.dtype} {value.shape}; the model "
                                 f"has {current[key].dtype} {current[key].shape}")
            if not np.isfinite(value).all():
                raise ValueError(f"state entry {key} holds NaN or infinity")
        buffers = self.buffer_names()
        _assign(self, {k: v for k, v in state.items() if k not in buffers},
                {k: v for k, v in state.items() if k in buffers})

    def parameter_norms(self):
        """{"layer index.name": Euclidean norm} of every parameter (the logger's "params"),
        read from a GPU in one transfer."""
        names = [f"{i}.{name}" for i, layer in enumerate(self.layers) for name in layer.parameters]
        norms = [np.linalg.norm(param) for layer in self.layers
                 for param in layer.parameters.values()]
        return dict(zip(names, backend.read_scalars(norms), strict=True))

    def save_parameters(self, epoch):
        """Save every layer's parameters to ``<logger dir>/parameters_epoch{epoch}.npz``.

        The archive holds one array per parameter, named "<layer>.<name>"
        (read it with ``np.load``).

        Returns
        -------
        the path written
        """
        if self.logger is None:
            raise ValueError("save_parameters needs a logger (it saves in the logger's folder)")
        parameters = {f"{i}.{name}": backend.to_host(value)
                      for i, layer in enumerate(self.layers)
                      for name, value in layer.parameters.items()}
        os.makedirs(self.logger.save_dir, exist_ok=True)
        path = os.path.join(self.logger.save_dir, f"parameters_epoch{epoch}.npz")
        return write_atomic(path, lambda f: np.savez(f, **parameters))

    def save(self, path, batch_size=None):
        """Write a complete checkpoint to ``path`` (atomically; see ``checkpoints``).

        It holds every parameter, BatchNorm's running statistics, the
        optimizer state, the progress, numpy's generator state and the layer
        arguments, so ``load`` followed by ``train`` continues exactly as the
        uninterrupted run would. ``batch_size`` is needed only in the middle
        of an epoch (it defaults to the batch size of that epoch).
        """
        return checkpoints.save(path, self, batch_size or self.data_batch_size)

    def load(self, path):
        """Restore a checkpoint written by ``save`` into this model.

        Everything is checked before anything changes: a corrupt file, or a
        checkpoint of another architecture, loss or optimizer, is a
        ValueError naming the file and the problem.

        Returns
        -------
        self
        """
        return restore(self, checkpoints.read(path))


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
