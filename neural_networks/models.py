"""The network: a stack of layers trained by an optimizer against a loss."""

import os
import pickle

import numpy as np
from tqdm import tqdm

from .layers import initialize_layer
from .losses import initialize_loss
from .optimizers import initialize_optimizer


class NeuralNetwork:
    """A feed-forward network built from a list of layer argument dicts.

    Parameters
    ----------
    loss            name of the loss ("cross_entropy" or "l2")
    layer_args      list of AttrDicts for ``initialize_layer``; the last one's
                    ``n_out`` is set from the dataset when training starts
    optimizer_args  dict for ``initialize_optimizer`` (with its ``name``)
    logger          optional ``Logger``
    seed            seed for numpy's global generator (weights, shuffling)
    """

    def __init__(self, loss, layer_args, optimizer_args, logger=None, seed=None):
        if not layer_args:
            raise ValueError("layer_args must list at least one layer")
        if seed is not None:
            np.random.seed(seed)
        self.n_layers = len(layer_args)
        self.layer_args = layer_args
        self.optimizer_args = optimizer_args
        self.logger = logger
        self.seed = seed
        self.epoch_log = {"loss": {}, "error": {}}
        self.loss = initialize_loss(loss)
        self.optimizer = initialize_optimizer(**optimizer_args)
        self.layers = [initialize_layer(**dict(args)) for args in layer_args[:-1]]
        self.history = {"iteration_loss": []}

    def _build_output_layer(self, out_dim):
        """Append the last layer with ``n_out = out_dim`` (only once)."""
        if len(self.layers) == self.n_layers:
            n_out = getattr(self.layers[-1], "n_out", None)
            if out_dim is not None and n_out is not None and n_out != out_dim:
                raise ValueError(
                    f"the network's output layer has {n_out} units but the dataset "
                    f"has {out_dim} outputs"
                )
            return
        args = dict(self.layer_args[-1])
        if out_dim is not None:
            args["n_out"] = out_dim
        self.layers.append(initialize_layer(**args))

    def _require_output_layer(self):
        if len(self.layers) < self.n_layers:
            raise ValueError(
                "the output layer is built when training starts (its n_out comes from "
                "the dataset); call train() first"
            )

    def forward(self, X):
        """Parameters: X, batch first. Returns: the network's output, batch first."""
        for layer in self.layers:
            X = layer.forward(X)
        return X

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
        for layer in reversed(self.layers):
            dLdY = layer.backward(dLdY)
        return L

    def update(self, epoch):
        """One optimizer step on every parameter, then clear the gradients."""
        param_log = {}
        for i, layer in enumerate(self.layers):
            for name, param in layer.parameters.items():
                delta = self.optimizer.update(f"{i}.{name}", param, layer.gradients[name], epoch)
                param -= delta
                param_log[f"{i}.{name}"] = float(np.linalg.norm(param))
            layer.clear_gradients()
        self.epoch_log["params"] = param_log

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

    def train(self, dataset, epochs, verbose=True):
        """Train for ``epochs`` epochs, validating after each one.

        Parameters
        ----------
        dataset  a ``Dataset`` (``validate`` may be None)
        epochs   number of epochs
        verbose  show a progress bar over epochs and a line per epoch
        """
        self._build_output_layer(dataset.out_dim)
        bar = tqdm(range(epochs), desc="epochs", disable=not verbose)
        for epoch in bar:
            losses, errors, sizes = [], [], []
            for _ in range(dataset.train.samples_per_epoch):
                X, Y = dataset.train.sample()
                Y_hat = self.forward(X)
                L = self.backward(Y, Y_hat)
                losses.append(L)
                errors.append(self.error(Y, Y_hat))
                sizes.append(X.shape[0])
                self.history["iteration_loss"].append(L)
                self.update(epoch)
            self.epoch_log["loss"]["train"] = float(np.average(losses, weights=sizes))
            self.epoch_log["error"]["train"] = float(np.average(errors, weights=sizes))
            line = (f"epoch {epoch + 1}/{epochs}  train loss {self.epoch_log['loss']['train']:.4f}"
                    f"  acc {1 - self.epoch_log['error']['train']:.4f}")
            if dataset.validate is not None:
                Y_hat, L = self.predict(dataset.validate.data, dataset.validate.labels)
                self.epoch_log["loss"]["validate"] = L
                self.epoch_log["error"]["validate"] = self.error(dataset.validate.labels, Y_hat)
                line += (f"  val loss {L:.4f}"
                         f"  acc {1 - self.epoch_log['error']['validate']:.4f}")
            if self.logger is not None:
                self.logger.push(self.epoch_log)
            if verbose:
                bar.write(line)
        return self.epoch_log

    def predict(self, X, Y=None, batch_size=1000):
        """Forward pass only (no backpropagation), in chunks of ``batch_size``.

        Parameters
        ----------
        X  inputs, batch first
        Y  labels of the network's output shape, or None

        Returns
        -------
        (Y_hat, loss): outputs for all of X and the loss (None without Y)
        """
        self._require_output_layer()
        X = np.asarray(X)
        outputs = [self.forward(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]
        for layer in self.layers:
            layer.cache.clear()
        Y_hat = np.concatenate(outputs, axis=0)
        loss = None
        if Y is not None:
            # Both losses average over rows, so the whole-set loss is one call.
            loss = self.loss.forward(Y, Y_hat)
        return Y_hat, loss

    def test(self, dataset, save_predictions=False):
        """Loss and error on ``dataset.test``.

        Returns
        -------
        {"test_loss": float, "test_error": float} plus "prediction" (the
        outputs, shape (n, out_dim)) when ``save_predictions``
        """
        if dataset.test is None or dataset.test.labels is None:
            raise ValueError("test() needs a dataset with a labeled test split")
        Y_hat, loss = self.predict(dataset.test.data, dataset.test.labels)
        results = {"test_loss": loss, "test_error": self.error(dataset.test.labels, Y_hat)}
        if save_predictions:
            results["prediction"] = Y_hat
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
            path = os.path.join(folder, "kaggle_predictions.csv")
        write_predictions_csv(path, np.argmax(Y_hat, axis=1))
        return path

    def save_parameters(self, epoch):
        """Pickle every layer's parameters to ``<logger dir>/parameters_epoch{epoch}``."""
        if self.logger is None:
            raise ValueError("save_parameters needs a logger (it saves in the logger's folder)")
        parameters = {i: dict(layer.parameters) for i, layer in enumerate(self.layers)}
        os.makedirs(self.logger.save_dir, exist_ok=True)
        path = os.path.join(self.logger.save_dir, f"parameters_epoch{epoch}")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            pickle.dump(parameters, f)
        os.replace(tmp, path)
        return path


def write_predictions_csv(path, categories):
    """Write a Kaggle submission: a header ``Id,Category`` then one row per example."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write("Id,Category\n")
        f.writelines(f"{i},{int(c)}\n" for i, c in enumerate(categories))
    os.replace(tmp, path)


MODELS = {"feed_forward": NeuralNetwork}


def initialize_model(name, loss, layer_args, optimizer_args, logger=None, seed=None):
    """Build a model by name (``"feed_forward"``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name](loss, layer_args, optimizer_args, logger=logger, seed=seed)
