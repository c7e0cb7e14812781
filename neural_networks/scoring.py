"""How well a network's outputs fit their targets, and its predictions file.

``ScoringMethods`` holds the network's methods that run it on data and score
what comes out: ``predict``, ``error``, ``score``, ``evaluate``, ``classify``,
``predict_proba``, ``test`` and ``test_kaggle``; ``NeuralNetwork`` inherits
them. scikit-learn is imported by ``score`` only, when a metric is made:
importing the library does not load it. What they return is on the host
(numpy arrays and Python numbers), whichever device the network is on.
"""

import io
import os
import pickle

import numpy as np

from . import backend
from .losses import check_pair
from .utils.checks import check_number
from .utils.files import write_atomic, write_text

#: Examples per forward pass in ``predict`` and ``evaluate`` on the CPU. Small
#: chunks keep a convolutional network's activations in cache: for the
#: Fashion-MNIST CNN, 10,000 images in chunks of 128 took 3.5 s and 650 MB less
#: peak memory than chunks of 1000 (6-7 s); an MLP is as fast either way.
PREDICT_BATCH = 128

#: The same on a GPU, which has no cache to fit and many cores to fill: larger
#: chunks launch fewer kernels.
GPU_PREDICT_BATCH = 1024


def error_value(model, target, out):
    """``error`` as a 0-d array where ``out`` is, not read on the host (``target``
    is moved there); the Trainer reads it with the step's loss in one transfer."""
    target, out = check_pair("error", target, out)
    if model.loss.name == "cross_entropy":
        return 1 - np.mean(np.argmax(target, axis=-1) == np.argmax(out, axis=-1))
    return np.mean((target - out) ** 2)


class ScoringMethods:
    """The methods of ``NeuralNetwork`` that run it on data and score its outputs.

    They use the network's ``loss``, ``layers``, ``device``, ``input_shape``,
    ``logger``, ``forward``, ``evaluating()`` and ``session()``.
    """

    def predict(self, X, Y=None, batch_size=None):
        """Forward pass only (no backpropagation), in eval mode, in chunks.

        Parameters
        ----------
        X           inputs, batch first (on either device)
        Y           labels of the network's output shape, or None
        batch_size  examples per forward pass (bounds memory); None:
                    ``PREDICT_BATCH`` on the CPU, ``GPU_PREDICT_BATCH`` on a GPU

        Returns
        -------
        (Y_hat, loss): outputs for all of X, a numpy array whatever the device, and
        the loss (None without Y)
        """
        if batch_size is None:
            batch_size = PREDICT_BATCH if self.device == "cpu" else GPU_PREDICT_BATCH
        X = backend.as_array(X)
        if X.ndim == 0 or X.shape[0] == 0:
            raise ValueError(f"predict needs at least one example, got an array of shape {X.shape}")
        if np.issubdtype(X.dtype, np.inexact) and not np.isfinite(X).all():
            raise ValueError("predict got inputs holding NaN or infinity")
        batch_size = check_number("batch_size", batch_size, at_least=1, whole=True)
        with self.evaluating(), self.session():
            outputs = [self.forward(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]
        for layer in self.layers:
            layer.cache.clear()
        Y_hat = backend.to_host(np.concatenate(outputs, axis=0))
        loss = None
        if Y is not None:
            # Both losses average over rows, so the whole-set loss is one call.
            loss = self.loss.forward(Y, Y_hat)
        return Y_hat, loss

    def error(self, target, out):
        """1 - accuracy (the argmax of each row) for cross-entropy, the mean squared
        error for l2; ``target`` and ``out`` of one shape, (n, classes). A float."""
        return float(error_value(self, target, out))

    def score(self, Y, Y_hat):
        """The loss and metrics of outputs ``Y_hat`` already computed, against ``Y``.

        Note the order, the loss's: targets first, then outputs. To score inputs
        ``X`` against their labels, call ``evaluate(X, Y)``; ``score(X, Y)`` is a
        ValueError that says so.

        Parameters
        ----------
        Y      targets (n, classes): one-hot (or probability) rows, as everywhere in
               this library; with cross-entropy also integer class indices (n,)
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
        Y, Y_hat = backend.to_host(Y), backend.to_host(Y_hat)
        try:
            return _score(self, Y, Y_hat)
        except ValueError as error:
            raise ValueError(f"{error}. {_score_hint(self, Y, Y_hat)}") from None

    def evaluate(self, X, Y, batch_size=None):
        """The network's loss and metrics on ``(X, Y)``, in eval mode.

        Parameters
        ----------
        X           inputs, batch first (n, ...)
        Y           targets as for ``score``
        batch_size  examples per forward pass (bounds memory), as for ``predict``

        Returns
        -------
        the dict of ``score``
        """
        Y_hat, _ = self.predict(X, batch_size=batch_size)
        return _score(self, backend.to_host(Y), Y_hat)

    def predict_proba(self, X, batch_size=None):
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

    def classify(self, X, batch_size=None):
        """Class labels and class probabilities of the inputs ``X``, in one call (eval mode).

        Returns
        -------
        (labels, probabilities): labels (n,) int64, each example's most probable
        class; probabilities (n, classes), the softmax outputs (``predict_proba``)
        """
        probabilities = self.predict_proba(X, batch_size)
        return np.argmax(probabilities, axis=1).astype(np.int64), probabilities

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
        split = dataset.test
        if split is None or split.labels is None:
            raise ValueError("test() needs a dataset with a labeled test split")
        Y = split.labels
        Y_hat, _ = self.predict(split.data)
        results = {"test_loss": self.loss.forward(Y, Y_hat), "test_error": self.error(Y, Y_hat),
                   "loss": [], "error": []}
        for low in range(0, len(Y), split.batch_size):
            batch = slice(low, low + split.batch_size)
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
        return write_predictions(path, np.argmax(Y_hat, axis=1))


def _score_hint(model, first, second):
    """What to tell a ``score`` call that failed: its signature, and ``evaluate``
    when ``first`` looks like a batch of inputs or ``second`` like labels."""
    hint = "score(Y, Y_hat) takes the targets first, then the network's outputs"
    first, second = np.asarray(first), np.asarray(second)
    inputs = first.ndim > 2 or (model.input_shape is not None
                                and first.shape[1:] == model.input_shape)
    labels = np.issubdtype(second.dtype, np.integer) or (
        second.ndim == 2 and np.isin(second, (0, 1)).all()
        and np.array_equal(second.sum(axis=1), np.ones(len(second))))
    if inputs or labels:
        looks = "inputs and labels" if inputs and labels else "inputs" if inputs else \
            "labels, not outputs"
        hint += (f"; these look like {looks}: evaluate(X, Y) predicts the inputs X "
                 f"and scores the outputs against the labels Y")
    return hint


def _score(model, Y, Y_hat):
    """``score`` without the hint on a bad call (``evaluate`` calls it)."""
    # Imported here: scikit-learn takes a second to import, and only scoring needs it.
    from sklearn.metrics import accuracy_score, confusion_matrix

    Y_hat = np.asarray(Y_hat)
    if Y_hat.ndim != 2 or Y_hat.shape[0] == 0 or not np.issubdtype(Y_hat.dtype, np.floating):
        raise ValueError(f"expected outputs of shape (n, classes) with n >= 1, floating, "
                         f"got {Y_hat.dtype} {Y_hat.shape}")
    if not np.isfinite(Y_hat).all():
        raise ValueError("the outputs hold NaN or infinity")
    Y = _targets(model, Y, *Y_hat.shape)
    loss = model.loss.forward(Y, Y_hat)
    if model.loss.name != "cross_entropy":
        return {"loss": loss, "mse": model.error(Y, Y_hat)}
    k = Y_hat.shape[1]
    true, predicted = np.argmax(Y, axis=1), np.argmax(Y_hat, axis=1)
    matrix = confusion_matrix(true, predicted, labels=np.arange(k))
    support = matrix.sum(axis=1)
    per_class = np.full(k, np.nan)
    np.divide(np.diag(matrix), support, out=per_class, where=support > 0)
    return {"loss": loss, "accuracy": float(accuracy_score(true, predicted)),
            "per_class_accuracy": per_class, "confusion_matrix": matrix}


def _targets(model, Y, n, k):
    """``Y`` checked as (n, k) target rows; class indices (n,) become one-hot rows."""
    Y = np.asarray(Y)
    cross_entropy = model.loss.name == "cross_entropy"
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


def write_predictions(folder_or_path, categories):
    """Write a Kaggle submission: a header ``Id,Category``, then ``i,category`` per example.

    Parameters
    ----------
    folder_or_path  a folder (the file is ``predictions.csv`` in it) or a file path
    categories      (N,) integer class indices

    Returns
    -------
    the path written
    """
    categories = np.asarray(categories)
    whole = np.issubdtype(categories.dtype, np.integer) or (
        np.issubdtype(categories.dtype, np.floating)
        and bool(np.all(np.isfinite(categories) & (categories == np.round(categories)))))
    if categories.ndim != 1 or not whole:
        raise ValueError(f"expected (N,) integer categories, got an array of shape "
                         f"{categories.shape} and dtype {categories.dtype}")
    path = os.fspath(folder_or_path)
    if os.path.isdir(path):
        path = os.path.join(path, "predictions.csv")
    out = io.StringIO()
    out.write("Id,Category\n")
    out.writelines(f"{i},{c}\n" for i, c in enumerate(categories.astype(np.int64).tolist()))
    return write_text(path, out.getvalue())
