"""The network: a stack of layers, a loss and an optimizer.

``NeuralNetwork`` builds, runs and updates the network. The rest lives
beside it: the training loop in ``training.Trainer`` (``train`` is a thin call
into it) and its progress in ``training_state.TrainingState``, the
parameters and buffers in and out (state dicts, save and load, a checkpoint
restored) in ``network_state``, whose ``StateMethods`` the network inherits,
the checkpoint format in ``checkpoints``, the table of layers in ``summary``,
and predict, the scores and the predictions file in ``scoring``, whose
``ScoringMethods`` the network inherits. ``load_model`` rebuilds a network
from a checkpoint file alone.

A network lives on one device, "cpu" (numpy) or "gpu" (CuPy; see
``backend``): ``initialize_model(..., device="gpu")`` or ``model.to("gpu")``.
Its inputs and labels are moved there as they come in; random draws
(weights, shuffles, dropout masks, augmentation) are made on the host and
copied over, so one seed gives the same run on either device. ``predict``,
``evaluate``, ``classify`` and ``test`` return numpy arrays, and checkpoints
hold host arrays: saved on one device, they load on the other.
"""

import contextlib
from collections.abc import Mapping

import numpy as np

from . import backend, checkpoints, network_state, parallel, summary
from .layers import initialize_layer
from .losses import initialize_loss
from .network_state import StateMethods
from .optimizers import initialize_optimizer
from .scoring import GPU_PREDICT_BATCH as GPU_PREDICT_BATCH
from .scoring import PREDICT_BATCH as PREDICT_BATCH
from .scoring import ScoringMethods
from .training import NonFiniteLossError, Trainer, TrainingInterrupted
from .training_state import TrainingState
from .utils.checks import check_example_shape, check_number
from .utils.data_structures import AttrDict
from .utils.registry import factory, lookup

__all__ = ["NeuralNetwork", "NonFiniteLossError", "TrainingInterrupted", "initialize_model",
           "load_model"]


def _is_float_dtype(dtype):
    """Whether ``dtype`` names float32 or float64 (a bool, not a TypeError, for junk)."""
    try:
        return np.dtype(dtype) in (np.float32, np.float64)
    except TypeError:
        return False


def _check_arguments(layer_args, optimizer_args, seed):
    """``layer_args`` as a list of dicts with a 'name', or ValueError (for the others too)."""
    if isinstance(layer_args, (str, bytes, Mapping)) or not hasattr(layer_args, "__iter__"):
        raise ValueError(f"layer_args must be a list of dicts for initialize_layer, got "
                         f"{type(layer_args).__name__}")
    layer_args = list(layer_args)
    if not layer_args:
        raise ValueError("layer_args must list at least one layer")
    for i, args in enumerate(layer_args):
        if not isinstance(args, Mapping) or "name" not in args:
            raise ValueError(f"layer_args[{i}] must be a dict with a 'name', got {args!r}")
    if not isinstance(optimizer_args, Mapping) or "name" not in optimizer_args:
        raise ValueError(f"optimizer_args must be a dict with a 'name' for "
                         f"initialize_optimizer, got {optimizer_args!r}")
    if seed is not None:
        check_number("seed (or None)", seed, at_least=0, below=2**32, whole=True)
    return layer_args


def _progress(name):
    """``model.<name>``, the course's name for ``model.training_state.<name>``: it reads
    and writes that field."""
    return property(lambda model: getattr(model.training_state, name),
                    lambda model, value: setattr(model.training_state, name, value),
                    doc=f"``training_state.{name}`` (see ``TrainingState``)")


class NeuralNetwork(ScoringMethods, StateMethods):
    """A feed-forward network built from a list of layer argument dicts.

    Parameters
    ----------
    loss            name of the loss ("cross_entropy" or "l2")
    layer_args      list of AttrDicts for ``initialize_layer``; the last one's
                    ``n_out`` is set from the dataset when training starts
                    (or by ``build``)
    optimizer_args  dict for ``initialize_optimizer`` (with its ``name``)
    logger          optional ``Logger``
    seed            seed for numpy's global generator (weights, shuffling,
                    dropout, augmentation)
    device          "cpu" or "gpu" (CuPy), where the arrays live and the math
                    runs; ``to(device)`` moves the network later

    Attributes
    ----------
    layers          the layers built so far (the output layer once built)
    device          "cpu" or "gpu"
    input_shape     shape of one example (no batch axis), recorded from the first
                    batch the network sees (or ``build``); None before
    training_state  the training progress, a ``TrainingState``; its fields are also
                    the model's: ``epoch``, ``iteration``, ``history``,
                    ``epoch_totals``, ``data_order``, ``data_batch_size``, ``epoch_log``
    """

    epoch = _progress("epoch")
    iteration = _progress("iteration")
    history = _progress("history")
    epoch_totals = _progress("epoch_totals")
    data_order = _progress("data_order")
    data_batch_size = _progress("data_batch_size")
    epoch_log = _progress("epoch_log")

    def __init__(self, loss, layer_args, optimizer_args, logger=None, seed=None, device="cpu"):
        layer_args = _check_arguments(layer_args, optimizer_args, seed)
        self.device = backend.check_device(device)
        self.loss = initialize_loss(loss)
        output = layer_args[-1].get("activation")
        if self.loss.name == "cross_entropy" and output != "softmax":
            raise ValueError(
                f"the cross-entropy loss needs probabilities: the last layer's activation "
                f"must be 'softmax', got {output!r}"
            )
        if seed is not None:
            np.random.seed(seed)
        self.n_layers = len(layer_args)
        self.layer_args = layer_args
        self.optimizer_args = dict(optimizer_args)
        self.logger = logger
        self.seed = seed
        self.training_state = TrainingState()
        self.optimizer = initialize_optimizer(**self.optimizer_args)
        self.layers = [initialize_layer(**dict(args)) for args in layer_args[:-1]]
        # Build the output layer once now, so a bad argument fails here, not
        # when training starts (building takes nothing from the generator).
        self.make_output_layer(layer_args[-1].get("n_out") or 1)
        self.training = True
        self.input_shape = None

    # ------------------------------------------------------------- building

    def make_output_layer(self, n_out):
        """A new output layer of ``n_out`` units (None: its ``layer_args``'), not added."""
        args = dict(self.layer_args[-1])
        if n_out is not None:
            args["n_out"] = n_out
        return initialize_layer(**args)

    @property
    def built(self):
        """Whether the output layer exists (its ``n_out`` may come from the data)."""
        return len(self.layers) == self.n_layers

    def build(self, input_shape=None, n_out=None, dtype=np.float64):
        """Append the output layer and, with ``input_shape``, create every parameter.

        Parameters
        ----------
        input_shape  shape of one example (no batch axis), e.g. (28, 28, 1); None
                     leaves the parameters to be created by the first batch
        n_out        the output layer's size (the dataset's ``out_dim``); None
                     keeps the one in its ``layer_args``. A ``layer_args`` n_out
                     that differs is a ValueError (None there takes this one)
        dtype        float32 or float64, the parameters' dtype (the network's dtype
                     from then on: later inputs are converted to it)

        Returns
        -------
        self
        """
        if not _is_float_dtype(dtype):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        shape = None if input_shape is None else check_example_shape(input_shape)
        if self.built:
            current = getattr(self.layers[-1], "n_out", None)
            if n_out is not None and current is not None and current != n_out:
                raise ValueError(f"the network's output layer has {current} units but the "
                                 f"data has {n_out} outputs")
        else:
            configured = self.layer_args[-1].get("n_out")
            if n_out is None and configured is None:
                raise ValueError("the output layer's n_out comes from the data: pass n_out "
                                 "(the number of classes or outputs)")
            if n_out is not None and configured is not None and configured != n_out:
                raise ValueError(f"the output layer asks for n_out={configured} but the data "
                                 f"has {n_out} outputs (classes); give n_out={n_out}, or "
                                 f"n_out=None to take it from the data")
            self.layers.append(self.make_output_layer(n_out))
            self.layers[-1].training = self.training
        if shape is not None:
            with self.evaluating():
                self.forward(np.zeros((2, *shape), dtype=dtype))
            self.clear_gradients()
        return self

    def min_train_batch(self):
        """The fewest examples a training batch may hold: the most any layer needs."""
        return max(layer.min_train_batch for layer in self.layers)

    def architecture(self):
        """One description per built layer: type, settings, parameter shapes."""
        return [layer.describe() for layer in self.layers]

    def summary(self):
        """Print the network as a table, as Keras' ``model.summary()`` does (see
        ``__repr__``). Returns None, so Jupyter shows the table and no string;
        ``str(model)`` and ``repr(model)`` give the text."""
        print(repr(self))

    def __repr__(self):
        """The network as a table of its layers (``summary.summary_text``)."""
        return summary.summary_text(self)

    # --------------------------------------------------------------- device

    def to(self, device):
        """Move the network to ``device``, "cpu" or "gpu": its parameters, gradients,
        buffers and optimizer state; later inputs go there as they come in. The
        layers' caches are dropped (run forward again before backward). A GPU
        needs CuPy (``pip install cupy-cuda12x``); without it, or without a GPU,
        a ``backend.DeviceUnavailableError`` (a ValueError) says so.

        Returns
        -------
        self
        """
        self.device = backend.check_device(device)
        for layer in self.layers:
            layer.to(device)
        self.optimizer.to(device)
        return self

    def set_mode(self, mode):
        """Switch every layer to "train" or "eval" mode (BatchNorm, Dropout differ)."""
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        self.training = mode == "train"
        for layer in self.layers:
            layer.training = self.training

    @contextlib.contextmanager
    def evaluating(self):
        """Run the block in eval mode, then restore the mode the model was in."""
        previous = "train" if self.training else "eval"
        self.set_mode("eval")
        try:
            yield self
        finally:
            self.set_mode(previous)

    # ------------------------------------------------------------ the course

    def forward(self, X):
        """Parameters: X, batch first; once the parameters exist, an input of another
        numeric dtype is converted to theirs, and an input on another device is
        moved to the network's. Returns: the network's output, batch first, on the
        network's device."""
        if not self.built:
            raise ValueError(
                "the output layer is not built yet (its n_out comes from the data): call "
                "train(), build(n_out=...) or load() first"
            )
        out = self._as_input(X)
        with self.session():
            for layer in self.layers:
                out = layer.forward(out)
        if self.input_shape is None:
            self.input_shape = tuple(int(d) for d in backend.as_array(X).shape[1:])
        return out

    def _as_input(self, X):
        """X in the parameters' dtype, on the network's device, converted once here
        rather than by every layer.

        Without the dtype conversion, float64 data would turn a float32 network's
        activations, gradients, momentum and running statistics float64 while its
        weights stayed float32, and its checkpoints would mix dtypes. An input
        already of that dtype and device is returned as it is (no copy); before
        the parameters exist the first layer decides (integers become float64).
        float16 and non-numeric inputs go on to the first layer, which refuses
        them. Host data is converted before it is copied to a GPU.
        """
        X = backend.as_array(X)
        dtype = self.parameter_dtype()
        if not (dtype is None or X.dtype == dtype or X.dtype == np.float16
                or X.dtype.kind not in "biuf"):
            X = X.astype(dtype)
        if X.dtype.kind not in "biuf":
            return X
        return backend.to_device(X, self.device)

    def backward(self, target, out):
        """Compute the loss and backpropagate it through every layer that is trained
        or comes after one (the first layer with parameters computes no dL/dX).

        Parameters
        ----------
        target  labels, shape of out
        out     the network's output for the batch

        Returns
        -------
        the loss, a float
        """
        return float(self.backpropagate(target, out))

    def backpropagate(self, target, out):
        """``backward``, returning the loss unread: a 0-d array on the network's
        device (on a GPU, reading it waits for the device; the Trainer reads it
        with the step's error in one transfer). ``target`` is moved to ``out``'s
        device."""
        target = backend.to_device_of(target, out)
        L = self.loss.value(target, out)
        dLdY = self.loss.backward(target, out)
        # The first layer with parameters needs no dL/dX, and the layers before it
        # (if any) no backward at all: nothing of theirs is trained.
        first = next((i for i, layer in enumerate(self.layers) if layer.parameters), None)
        if first is None:
            return L
        with self.session():
            for layer in reversed(self.layers[first + 1:]):
                dLdY = layer.backward(dLdY)
            self.layers[first].backward(dLdY, input_gradient=False)
        return L

    def update(self, epoch):
        """One optimizer step on every parameter, then clear the gradients.

        ``epoch`` goes to the learning-rate schedule (training passes the whole
        epoch number, or for a schedule that moves within an epoch, such as
        cosine, the fractional epoch ``epoch + iteration / iterations_per_epoch``).
        """
        with self.session():
            for i, layer in enumerate(self.layers):
                for name, param in layer.parameters.items():
                    delta = self.optimizer.update(f"{i}.{name}", param, layer.gradients[name],
                                                  epoch)
                    param -= delta
                layer.clear_gradients()

    def session(self):
        """The context this network's forward, backward, update and predict run in.

        A ``parallel.session()`` when a layer declares ``runs_on_threads`` (conv,
        pooling): their passes over memory gain from a thread per core. A
        network of fully connected layers spends its time in matrix products,
        which OpenBLAS already runs on every core, faster than one thread per
        product, and a network on a GPU has the device's cores: for them, a
        context that changes nothing.
        """
        if self.device == "cpu" and any(layer.runs_on_threads for layer in self.layers):
            return parallel.session()
        return contextlib.nullcontext()

    def train(self, dataset, epochs, verbose=True, progress="epochs", checkpoint=None,
              best_checkpoint=None, on_epoch_end=None, patience=None):
        """Train for ``epochs`` more epochs, validating after each one.

        A thin call into ``training.Trainer``; see ``Trainer`` for the
        parameters (``patience`` stops early, keeping the best parameters) and
        for what is raised on a non-finite value or a signal.

        Returns
        -------
        the run's history, one list per metric, as Keras' ``History.history``:
        {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
        "seconds"} (metrics.csv's columns and the epoch line's words), over every
        epoch the model has trained (the course's ``train`` returned None)
        """
        trainer = Trainer(self, dataset, checkpoint=checkpoint, best_checkpoint=best_checkpoint,
                          on_epoch_end=on_epoch_end, verbose=verbose, progress=progress,
                          patience=patience)
        return trainer.run(epochs)


MODELS = {"feed_forward": NeuralNetwork}


def load_model(path, device="cpu"):
    """Rebuild a network from its checkpoint alone, as it was when saved.

    The checkpoint (``save``, or a training script's ``last.npz`` / ``best.npz``)
    holds the loss, layer and optimizer arguments and seed to build the
    network, and its parameters, buffers, optimizer state and progress: the
    model predicts, evaluates and trains on as the saved one would. As with
    ``load``, numpy's global generator is set to the state saved with it.
    ``device`` ("cpu" or "gpu") is where the network is put, whichever device
    saved it.

    Returns
    -------
    NeuralNetwork; a ValueError naming the file if it is not a sound checkpoint
    """
    checkpoint = checkpoints.read(path)
    meta = checkpoint.meta
    backend.check_device(device)
    try:
        model = NeuralNetwork(meta["loss"], [AttrDict(args) for args in meta["layer_args"]],
                              AttrDict(meta["optimizer_args"]), seed=meta.get("seed"),
                              device=device)
    except ValueError as error:
        raise checkpoint.fail(f"its arguments do not build a network: {error}") from None
    return network_state.restore(model, checkpoint)


@factory(MODELS, "model")
def initialize_model(name, loss, layer_args, optimizer_args, logger=None, seed=None,
                     device="cpu"):
    """Build a model by name (``"feed_forward"``) on ``device``, "cpu" or "gpu"."""
    return lookup(MODELS, "model", name)(loss, layer_args, optimizer_args, logger=logger,
                                         seed=seed, device=device)
