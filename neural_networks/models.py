"""The network: a stack of layers, a loss and an optimizer.

``NeuralNetwork`` builds, runs and updates the network and hands out its
state; the training loop lives in ``training.Trainer`` and the checkpoint
format in ``checkpoints``. The course's methods (``train``, ``test``,
``test_kaggle``, ``save_parameters``) stay and delegate to them.
``load_model`` rebuilds a network from a checkpoint file alone.
"""

import contextlib
import inspect
import numbers
import os
import pickle
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from . import checkpoints, parallel, run_folder
from .layers import BatchNorm, Conv2D, Pool2D, initialize_layer
from .losses import initialize_loss
from .optimizers import initialize_optimizer
from .training import NonFiniteLossError, Trainer, TrainingInterrupted
from .utils.data_structures import AttrDict
from .utils.files import write_atomic
from .utils.registry import factory, lookup

__all__ = ["NeuralNetwork", "NonFiniteLossError", "TrainingInterrupted", "initialize_model",
           "load_model"]


#: Examples per forward pass in ``predict`` and ``evaluate``. Small chunks keep
#: a convolutional network's activations in cache: for the Fashion-MNIST CNN,
#: 10,000 images in chunks of 128 took 3.5 s and 650 MB less peak memory than
#: chunks of 1000 (6-7 s); an MLP is as fast either way.
PREDICT_BATCH = 128


def describe_layer(layer):
    """The layer's type, constructor settings and parameter shapes (JSON-able)."""
    description = {"type": type(layer).__name__}
    for name in inspect.signature(type(layer)).parameters:
        if name == "weight_init":
            continue
        value = getattr(layer, "activation_name" if name == "activation" else name, None)
        description[name] = list(value) if isinstance(value, tuple) else value
    description["parameters"] = {k: list(v.shape) for k, v in layer.parameters.items()}
    return description


def layer_title(description):
    """A layer's type and key settings in a few words, from ``describe_layer``'s
    description: "Conv2D 3x3 s1 same, relu", "Pool2D max 2x2 s2", "Dropout p=0.3"."""
    words = [description["type"]]
    if "kernel_shape" in description:
        if description.get("mode"):
            words.append(description["mode"])
        words += ["x".join(map(str, description["kernel_shape"])), f"s{description['stride']}"]
        pad = description["pad"]
        if isinstance(pad, str):
            words.append(pad)
        elif pad:
            words.append(f"pad {pad}")
    if "p" in description:
        words.append(f"p={description['p']:g}")
    if description.get("keep_dim") == "last":
        words.append("keep last")
    title = " ".join(words)
    activation = description.get("activation")
    return title if activation in (None, "linear") else f"{title}, {activation}"


def _table(rows):
    """Rows of text cells as aligned columns: numbers (the last column) to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    last = len(widths) - 1
    return ["  ".join(cell.rjust(w) if i == last else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def _is_float_dtype(dtype):
    """Whether ``dtype`` names float32 or float64 (a bool, not a TypeError, for junk)."""
    try:
        return np.dtype(dtype) in (np.float32, np.float64)
    except TypeError:
        return False


def _example_shape(input_shape):
    """``input_shape`` as a tuple of ints >= 1 (numpy integers too, never bools), or
    ValueError."""
    # dtype=object keeps each entry as it came: a plain array would turn True into 1.
    dims = np.atleast_1d(np.asarray(input_shape, dtype=object)).tolist()
    if not dims or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                           and d >= 1 for d in dims):
        raise ValueError(f"input_shape must be the shape of one example, whole numbers "
                         f">= 1 such as (28, 28, 1), got {input_shape!r}")
    return tuple(int(d) for d in dims)


def _check_layer_args(layer_args):
    if isinstance(layer_args, (str, bytes, Mapping)) or not hasattr(layer_args, "__iter__"):
        raise ValueError(f"layer_args must be a list of dicts for initialize_layer, got "
                         f"{type(layer_args).__name__}")
    layer_args = list(layer_args)
    if not layer_args:
        raise ValueError("layer_args must list at least one layer")
    for i, args in enumerate(layer_args):
        if not isinstance(args, Mapping) or "name" not in args:
            raise ValueError(f"layer_args[{i}] must be a dict with a 'name', got {args!r}")
    return layer_args


class NeuralNetwork:
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

    Attributes
    ----------
    layers          the layers built so far (the output layer once built)
    input_shape     shape of one example (no batch axis), recorded from the first
                    batch the network sees (or ``build``); None before
    epoch           epochs completed
    iteration       steps done in the current, unfinished epoch (0 between epochs)
    history         {"iteration_loss": [...], "epochs": [per-epoch metrics dicts]}
    epoch_totals    running sums of the unfinished epoch's loss and error
    data_order      the training split's order in the unfinished epoch (or None)
    data_batch_size the batch size of the unfinished epoch (or None)
    """

    def __init__(self, loss, layer_args, optimizer_args, logger=None, seed=None):
        layer_args = _check_layer_args(layer_args)
        if not isinstance(optimizer_args, Mapping) or "name" not in optimizer_args:
            raise ValueError(f"optimizer_args must be a dict with a 'name' for "
                             f"initialize_optimizer, got {optimizer_args!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or not 0 <= seed < 2**32):
            raise ValueError(f"seed must be None or a whole number in [0, 2**32), got {seed!r}")
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
        self.epoch_log = {"loss": {}, "error": {}}
        self.optimizer = initialize_optimizer(**self.optimizer_args)
        self.layers = [initialize_layer(**dict(args)) for args in layer_args[:-1]]
        # Build the output layer once now, so a bad argument fails here, not
        # when training starts (building takes nothing from the generator).
        self._output_layer(layer_args[-1].get("n_out") or 1)
        self.training = True
        self.input_shape = None
        self.epoch = 0
        self.iteration = 0
        self.history = {"iteration_loss": [], "epochs": []}
        self.epoch_totals = {"loss": 0.0, "error": 0.0, "count": 0}
        self.data_order = None
        self.data_batch_size = None

    # ------------------------------------------------------------- building

    def _output_layer(self, n_out):
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
        shape = None if input_shape is None else _example_shape(input_shape)
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
            self.layers.append(self._output_layer(n_out))
            self.layers[-1].training = self.training
        if shape is not None:
            with self.evaluating():
                self.forward(np.zeros((2, *shape), dtype=dtype))
            self.clear_gradients()
        return self

    def has_batchnorm(self):
        return any(isinstance(layer, BatchNorm) for layer in self.layers)

    def architecture(self):
        """One description per built layer: type, settings, parameter shapes."""
        return [describe_layer(layer) for layer in self.layers]

    def parameter_dtype(self):
        """The parameters' dtype, or None before they exist."""
        for layer in self.layers:
            for value in layer.parameters.values():
                return value.dtype
        return None

    def summary(self):
        """Print the network as a table, as Keras' ``model.summary()`` does (see
        ``__repr__``). Returns None, so Jupyter shows the table and no string;
        ``str(model)`` and ``repr(model)`` give the text."""
        print(repr(self))

    def __repr__(self):
        """The network as a table: one row per layer (index, type with its key
        settings, output shape with None for the batch axis, parameter count),
        then the total.

        Shapes and counts need the input shape, known once the network has
        seen a batch (or ``build(input_shape, n_out)``); before that they are
        "?" and the table says so. Every parameter is trainable; buffers
        (BatchNorm's running statistics) are not parameters and not counted.

        Returns
        -------
        the table, a str
        """
        layers = list(self.layers)
        if not self.built:
            # Only to describe it: the output layer's n_out comes from the data.
            layers.append(self._output_layer(self.layer_args[-1].get("n_out") or 1))
        # A checkpoint of the older format brings parameters but no input shape.
        counted = self.built and self.parameter_dtype() is not None
        shaped = counted and self.input_shape is not None
        shapes = self._output_shapes() if shaped else [None] * len(layers)
        counts = [sum(v.size for v in layer.parameters.values()) if counted else None
                  for layer in layers]

        def shape_text(shape):
            return "?" if shape is None else f"({', '.join(map(str, ('None', *shape)))})"

        rows = [["#", "layer", "output shape", "parameters"],
                ["", "input", shape_text(self.input_shape), ""]]
        rows += [[str(i), layer_title(describe_layer(layer)), shape_text(shape),
                  "?" if count is None else f"{count:,}"]
                 for i, (layer, shape, count) in enumerate(zip(layers, shapes, counts,
                                                               strict=True))]
        lines = [f"NeuralNetwork ({self.loss.name} loss, {self.optimizer_args['name']} "
                 f"optimizer)", *_table(rows)]
        if counted:
            total = sum(counts)
            lines.append(f"Total parameters: {total:,} (trainable: {total:,})")
            n_buffers = sum(v.size for layer in self.layers
                            for v in getattr(layer, "buffers", {}).values())
            if n_buffers:
                lines.append(f"Buffers (BatchNorm running statistics, not trained): "
                             f"{n_buffers:,} values, not counted as parameters")
        if not shaped:
            lines.append(f"Output shapes{'' if counted else ' and parameters'} come with the "
                         f"first batch, or with build(input_shape, n_out).")
        return "\n".join(lines)

    def _output_shapes(self):
        """Each layer's output shape for one example (no batch axis), from a forward
        pass of zeros in eval mode that leaves every layer's cache as it was."""
        caches = [layer.cache for layer in self.layers]
        X = np.zeros((1, *self.input_shape), dtype=self.parameter_dtype() or np.float64)
        shapes = []
        try:
            with self.evaluating():
                for layer in self.layers:
                    layer.cache = OrderedDict()
                    X = layer.forward(X)
                    shapes.append(X.shape[1:])
        finally:
            for layer, cache in zip(self.layers, caches, strict=True):
                layer.cache = cache
        return shapes

    # ---------------------------------------------------------------- modes

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
        numeric dtype is converted to theirs. Returns: the network's output, batch first."""
        if not self.built:
            raise ValueError(
                "the output layer is not built yet (its n_out comes from the data): call "
                "train(), build(n_out=...) or load() first"
            )
        out = self._in_model_dtype(X)
        with self.session():
            for layer in self.layers:
                out = layer.forward(out)
        if self.input_shape is None:
            self.input_shape = tuple(int(d) for d in np.shape(X)[1:])
        return out

    def _in_model_dtype(self, X):
        """X in the parameters' dtype, converted once here rather than by every layer.

        Without this, float64 data would turn a float32 network's activations,
        gradients, momentum and running statistics float64 while its weights
        stayed float32, and its checkpoints would mix dtypes. An input already
        of that dtype is returned as it is (no copy); before the parameters
        exist the first layer decides (integers become float64). float16 and
        non-numeric inputs go on to the first layer, which refuses them.
        """
        X = np.asarray(X)
        dtype = self.parameter_dtype()
        if dtype is None or X.dtype == dtype or X.dtype == np.float16 \
                or X.dtype.kind not in "biuf":
            return X
        return X.astype(dtype)

    def backward(self, target, out):
        """Compute the loss and backpropagate it through every layer.

        Parameters
        ----------
        target  labels, shape of out
        out     the network's output for the batch

        Returns
        -------
        the loss, a float
        """
        L = self.loss.forward(target, out)
        dLdY = self.loss.backward(target, out)
        with self.session():
            for layer in reversed(self.layers[1:]):
                dLdY = layer.backward(dLdY)
            first = self.layers[0]
            if isinstance(first, Conv2D):  # the input needs no gradient
                first.backward(dLdY, input_gradient=False)
            else:
                first.backward(dLdY)
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

        A ``parallel.session()`` when the network has image layers (conv or
        pooling): their passes over memory gain from a thread per core. A
        network of fully connected layers spends its time in matrix products,
        which OpenBLAS already runs on every core, faster than one thread per
        product: for it, a context that changes nothing.
        """
        if any(isinstance(layer, (Conv2D, Pool2D)) for layer in self.layers):
            return parallel.session()
        return contextlib.nullcontext()

    def parameter_norms(self):
        """{"layer index.name": Euclidean norm} of every parameter (the logger's "params")."""
        return {f"{i}.{name}": float(np.linalg.norm(param))
                for i, layer in enumerate(self.layers) for name, param in layer.parameters.items()}

    def clear_gradients(self):
        """Zero every gradient and drop every layer's cache."""
        for layer in self.layers:
            layer.clear_gradients()

    def error(self, target, out):
        """1 - accuracy for cross-entropy, mean squared error for l2."""
        target = np.asarray(target)
        out = np.asarray(out)
        if target.shape != out.shape:
            raise ValueError(
                f"labels and predictions must have the same shape, got {target.shape} "
                f"and {out.shape}"
            )
        if self.loss.name == "cross_entropy":
            return float(1 - np.mean(np.argmax(target, axis=-1) == np.argmax(out, axis=-1)))
        return float(np.mean((target - out) ** 2))

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

    def predict(self, X, Y=None, batch_size=PREDICT_BATCH):
        """Forward pass only (no backpropagation), in eval mode, in chunks.

        Parameters
        ----------
        X           inputs, batch first
        Y           labels of the network's output shape, or None
        batch_size  examples per forward pass (bounds memory)

        Returns
        -------
        (Y_hat, loss): outputs for all of X and the loss (None without Y)
        """
        X = np.asarray(X)
        if X.ndim == 0 or X.shape[0] == 0:
            raise ValueError(f"predict needs at least one example, got an array of shape {X.shape}")
        if np.issubdtype(X.dtype, np.inexact) and not np.isfinite(X).all():
            raise ValueError("predict got inputs holding NaN or infinity")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        with self.evaluating(), self.session():
            outputs = [self.forward(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]
        for layer in self.layers:
            layer.cache.clear()
        Y_hat = np.concatenate(outputs, axis=0)
        loss = None
        if Y is not None:
            # Both losses average over rows, so the whole-set loss is one call.
            loss = self.loss.forward(Y, Y_hat)
        return Y_hat, loss

    def classify(self, X, batch_size=PREDICT_BATCH):
        """Class labels and class probabilities of the inputs ``X``, in one call (eval mode).

        ``predict`` keeps the course's ``(Y_hat, loss)`` pair; this is what a
        classifier's user wants from it (``labels, probabilities = model.classify(X)``).

        Parameters
        ----------
        X           inputs, batch first (n, ...)
        batch_size  examples per forward pass (bounds memory)

        Returns
        -------
        (labels, probabilities): labels (n,) int64, each example's most probable
        class; probabilities (n, classes), the softmax outputs (``predict_proba``)
        """
        probabilities = self.predict_proba(X, batch_size=batch_size)
        return np.argmax(probabilities, axis=1).astype(np.int64), probabilities

    def predict_proba(self, X, batch_size=PREDICT_BATCH):
        """The class probabilities of the inputs ``X`` (scikit-learn's name), in eval mode.

        Returns
        -------
        (n, classes) array, each row the softmax output for one example; a
        ValueError for a network without the cross-entropy loss (its outputs are
        not probabilities: use ``predict``)
        """
        if self.loss.name != "cross_entropy":
            raise ValueError(f"class probabilities need a classifier (the cross_entropy "
                             f"loss); this network's loss is {self.loss.name}: use "
                             f"predict(X), which returns (outputs, loss)")
        return self.predict(X, batch_size=batch_size)[0]

    def evaluate(self, X, Y, batch_size=PREDICT_BATCH):
        """The network's loss and metrics on ``(X, Y)``, in eval mode.

        Parameters
        ----------
        X           inputs, batch first (n, ...)
        Y           targets (n, classes): one-hot (or probability) rows, as everywhere
                    in this library; with cross-entropy also integer class indices (n,)
        batch_size  examples per forward pass (bounds memory)

        Returns
        -------
        the dict of ``score``
        """
        Y_hat, _ = self.predict(X, batch_size=batch_size)
        return self._score(Y, Y_hat)

    def score(self, Y, Y_hat):
        """The loss and metrics of outputs ``Y_hat`` already computed, against ``Y``.

        Note the order, the loss's: targets first, then outputs. To score inputs
        ``X`` against their labels, call ``evaluate(X, Y)``; ``score(X, Y)`` is a
        ValueError that says so.

        Parameters
        ----------
        Y      targets as for ``evaluate``
        Y_hat  the network's outputs, (n, classes)

        Returns
        -------
        cross-entropy: {"loss": float, "accuracy": float,
        "per_class_accuracy": (classes,) the fraction of each true class predicted
        right (NaN for a class absent from Y), "confusion_matrix": (classes, classes)
        ints, rows the true classes, columns the predicted ones} (scikit-learn's
        ``accuracy_score`` and ``confusion_matrix``; a row's class is its argmax).
        l2: {"loss": float, "mse": float}, the mean squared error as ``error`` gives
        it (classes mean nothing to a regression).
        """
        try:
            return self._score(Y, Y_hat)
        except ValueError as error:
            raise ValueError(f"{error}. {self._score_hint(Y, Y_hat)}") from None

    def _score_hint(self, first, second):
        """What to tell a ``score`` call that failed: its signature, and ``evaluate``
        when ``first`` looks like a batch of inputs or ``second`` like labels."""
        hint = "score(Y, Y_hat) takes the targets first, then the network's outputs"
        first, second = np.asarray(first), np.asarray(second)
        inputs = first.ndim > 2 or (self.input_shape is not None
                                    and first.shape[1:] == self.input_shape)
        labels = np.issubdtype(second.dtype, np.integer) or (
            second.ndim == 2 and np.isin(second, (0, 1)).all()
            and np.array_equal(second.sum(axis=1), np.ones(len(second))))
        if inputs or labels:
            looks = "inputs and labels" if inputs and labels else "inputs" if inputs else \
                "labels, not outputs"
            hint += (f"; these look like {looks}: evaluate(X, Y) predicts the inputs X "
                     f"and scores the outputs against the labels Y")
        return hint

    def _score(self, Y, Y_hat):
        """``score`` without the hint on a bad call (``evaluate`` calls it)."""
        # Imported here: scikit-learn takes a second to import, and only scoring needs it.
        from sklearn.metrics import accuracy_score, confusion_matrix

        Y_hat = np.asarray(Y_hat)
        if Y_hat.ndim != 2 or Y_hat.shape[0] == 0 or not np.issubdtype(Y_hat.dtype, np.floating):
            raise ValueError(f"expected outputs of shape (n, classes) with n >= 1, floating, "
                             f"got {Y_hat.dtype} {Y_hat.shape}")
        if not np.isfinite(Y_hat).all():
            raise ValueError("the outputs hold NaN or infinity")
        Y = self._targets(Y, *Y_hat.shape)
        loss = self.loss.forward(Y, Y_hat)
        if self.loss.name != "cross_entropy":
            return {"loss": loss, "mse": self.error(Y, Y_hat)}
        k = Y_hat.shape[1]
        true, predicted = np.argmax(Y, axis=1), np.argmax(Y_hat, axis=1)
        matrix = confusion_matrix(true, predicted, labels=np.arange(k))
        support = matrix.sum(axis=1)
        per_class = np.full(k, np.nan)
        np.divide(np.diag(matrix), support, out=per_class, where=support > 0)
        return {"loss": loss, "accuracy": float(accuracy_score(true, predicted)),
                "per_class_accuracy": per_class, "confusion_matrix": matrix}

    def _targets(self, Y, n, k):
        """``Y`` checked as (n, k) target rows; class indices (n,) become one-hot rows."""
        Y = np.asarray(Y)
        cross_entropy = self.loss.name == "cross_entropy"
        if cross_entropy and Y.ndim == 1 and np.issubdtype(Y.dtype, np.integer) \
                and Y.shape[0] == n:
            if Y.min() < 0 or Y.max() >= k:
                raise ValueError(f"class indices must be in [0, {k}), got values from "
                                 f"{Y.min()} to {Y.max()}")
            Y = np.eye(k)[Y]
        if Y.shape != (n, k) or not np.issubdtype(Y.dtype, np.number):
            indices = f" or integer class indices of shape ({n},)" if cross_entropy else ""
            raise ValueError(f"expected targets of shape ({n}, {k}){indices} for {n} outputs "
                             f"of {k} classes, got {Y.dtype} {Y.shape}")
        if not np.isfinite(Y).all():
            raise ValueError("the targets hold NaN or infinity")
        if cross_entropy and (np.any(Y < 0) or not np.allclose(Y.sum(axis=1), 1, atol=1e-6)):
            raise ValueError("cross-entropy targets must be one-hot (or probability) rows; "
                             "these have negative entries or rows not summing to 1")
        return Y

    def test(self, dataset, save_predictions=False, verbose=True):
        """Loss and error on ``dataset.test`` (in eval mode): this library's
        whole-split figures and the course's per-batch ones, in one dict.

        Parameters
        ----------
        dataset           a ``Dataset`` with a labeled test split
        save_predictions  also return the outputs, and pickle the returned dict to
                          ``test_predictions.p`` in the logger's folder (when the
                          model has a logger with a folder), as the course does
        verbose           print the course's line ``Test Loss: <loss> Test Accuracy:
                          <accuracy>``, each rounded to 4 places

        Returns
        -------
        {"test_loss": float, "test_error": float,  the whole test split's
         "loss": [float, ...], "error": [float, ...],  the course's: one per
             consecutive batch of ``dataset.test.batch_size`` examples, in the
             split's order
         "prediction": (n, out_dim) outputs}  (only with ``save_predictions``)

        The printed loss and accuracy are ``test_loss`` and ``1 - test_error``:
        the means of the per-batch lists weighted by each batch's size (the
        course printed their plain means, which count a short last batch as
        much as a full one).
        """
        test = dataset.test
        if test is None or test.labels is None:
            raise ValueError("test() needs a dataset with a labeled test split")
        Y = test.labels
        Y_hat, _ = self.predict(test.data)
        results = {"test_loss": self.loss.forward(Y, Y_hat), "test_error": self.error(Y, Y_hat),
                   "loss": [], "error": []}
        for low in range(0, len(Y), test.batch_size):
            batch = slice(low, low + test.batch_size)
            results["loss"].append(float(self.loss.forward(Y[batch], Y_hat[batch])))
            results["error"].append(self.error(Y[batch], Y_hat[batch]))
        if verbose:
            print(f"Test Loss: {round(results['test_loss'], 4)} "
                  f"Test Accuracy: {round(1 - results['test_error'], 4)}")
        if save_predictions:
            results["prediction"] = Y_hat
            folder = getattr(self.logger, "save_dir", None)
            if folder is not None and os.path.isdir(folder):
                write_atomic(os.path.join(folder, "test_predictions.p"),
                             lambda f: pickle.dump(results, f))
        return results

    def test_kaggle(self, dataset, path=None):
        """Write ``kaggle_predictions.csv`` (columns Id,Category) for ``dataset.test``.

        Parameters
        ----------
        dataset  a ``Dataset`` whose test split may be unlabeled
        path     where to write; defaults to the logger's folder (or the current one)

        Returns
        -------
        the path written
        """
        if dataset.test is None:
            raise ValueError("test_kaggle() needs a dataset with a test split")
        Y_hat, _ = self.predict(dataset.test.data)
        if path is None:
            folder = self.logger.save_dir if self.logger is not None else "."
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, "kaggle_predictions.csv")
        return run_folder.write_predictions(path, np.argmax(Y_hat, axis=1))

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
        parameters = {f"{i}.{name}": value for i, layer in enumerate(self.layers)
                      for name, value in layer.parameters.items()}
        os.makedirs(self.logger.save_dir, exist_ok=True)
        path = os.path.join(self.logger.save_dir, f"parameters_epoch{epoch}.npz")
        return write_atomic(path, lambda f: np.savez(f, **parameters))

    # ------------------------------------------------------------- state

    def buffer_names(self):
        """The "<layer>.<name>" keys of ``state_dict`` that are buffers, not parameters."""
        return {f"{i}.{name}" for i, layer in enumerate(self.layers)
                for name in getattr(layer, "buffers", {})}

    def state_dict(self):
        """Copies of every parameter and buffer, keyed "<layer index>.<name>"."""
        state = {}
        for i, layer in enumerate(self.layers):
            for name, value in layer.parameters.items():
                state[f"{i}.{name}"] = value.copy()
            for name, value in getattr(layer, "buffers", {}).items():
                state[f"{i}.{name}"] = value.copy()
        return state

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
            raise ValueError(f"state does not fit this model: missing {missing}, unknown {unknown}")
        for key, value in state.items():
            value = np.asarray(value)
            if value.shape != current[key].shape or value.dtype != current[key].dtype:
                raise ValueError(f"state entry {key} is {value.dtype} {value.shape}; the model "
                                 f"has {current[key].dtype} {current[key].shape}")
            if not np.isfinite(value).all():
                raise ValueError(f"state entry {key} holds NaN or infinity")
        buffers = self.buffer_names()
        self._assign({k: v for k, v in state.items() if k not in buffers},
                     {k: v for k, v in state.items() if k in buffers})

    def _assign(self, parameters, buffers):
        for key, value in parameters.items():
            i, name = key.split(".", 1)
            layer = self.layers[int(i)]
            layer.parameters[name] = np.array(value, copy=True)
            layer.gradients[name] = np.zeros_like(layer.parameters[name])
        for key, value in buffers.items():
            i, name = key.split(".", 1)
            self.layers[int(i)].buffers[name] = np.array(value, copy=True)
        self.clear_gradients()

    # ----------------------------------------------------------- checkpoints

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
        return self._restore(checkpoints.read(path))

    def _restore(self, checkpoint):
        """Restore a checkpoint already read (and checked on its own) into this model."""
        meta = checkpoint.meta
        saved = meta["layers"]
        layers = list(self.layers)
        if not self.built and len(saved) == self.n_layers:
            layers.append(self._output_layer(saved[-1].get("n_out")))
        checkpoints.check_fits(checkpoint, self, [describe_layer(layer) for layer in layers])
        parameters, buffers = checkpoints.model_state(checkpoint)
        self.layers = layers
        for layer in self.layers:
            layer.training = self.training
        for i, layer in enumerate(self.layers):
            n_in = meta["n_in"][i]
            layer.n_in = tuple(n_in) if isinstance(n_in, list) else n_in
        self._assign(parameters, buffers)
        self.optimizer.load_state_dict(checkpoint.entries("optimizer/"))
        checkpoints.restore_generator(checkpoint)
        self.epoch = meta["epoch"]
        self.iteration = meta["iteration"]
        self.epoch_totals = meta["partial"]
        self.history = meta["history"]
        self.data_order = checkpoint.arrays.get("data/order")
        self.data_batch_size = meta.get("batch_size")
        if meta.get("input_shape") is not None:
            self.input_shape = tuple(meta["input_shape"])
        return self


MODELS = {"feed_forward": NeuralNetwork}


def load_model(path):
    """Rebuild a network from its checkpoint alone, as it was when saved.

    The checkpoint (``save``, or a training script's ``last.npz`` / ``best.npz``)
    holds the loss, layer and optimizer arguments and seed to build the
    network, and its parameters, buffers, optimizer state and progress: the
    model predicts, evaluates and trains on as the saved one would. As with
    ``load``, numpy's global generator is set to the state saved with it.

    Returns
    -------
    NeuralNetwork; a ValueError naming the file if it is not a sound checkpoint
    """
    checkpoint = checkpoints.read(path)
    meta = checkpoint.meta
    try:
        model = NeuralNetwork(meta["loss"], [AttrDict(args) for args in meta["layer_args"]],
                              AttrDict(meta["optimizer_args"]), seed=meta.get("seed"))
    except ValueError as error:
        raise checkpoint.fail(f"its arguments do not build a network: {error}") from None
    return model._restore(checkpoint)


@factory(MODELS, "model")
def initialize_model(name, loss, layer_args, optimizer_args, logger=None, seed=None):
    """Build a model by name (``"feed_forward"``)."""
    return lookup(MODELS, "model", name)(loss, layer_args, optimizer_args, logger=logger,
                                         seed=seed)
