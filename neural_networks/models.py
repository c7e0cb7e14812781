"""The network: a stack of layers trained by an optimizer against a loss.

Beyond the course's interface, a model switches its layers between training
and evaluation mode, saves and loads complete checkpoints, resumes an
interrupted run exactly, and stops cleanly on a non-finite loss or Ctrl-C.
"""

import contextlib
import inspect
import os
import pickle
import signal
import threading
import time

import numpy as np
from tqdm import tqdm

from . import checkpoints
from .layers import initialize_layer
from .losses import initialize_loss
from .optimizers import initialize_optimizer


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``checkpoint`` is the path saved before stopping."""

    def __init__(self, message, checkpoint):
        super().__init__(message)
        self.checkpoint = checkpoint


class _InterruptGuard:
    """While active, Ctrl-C sets a flag instead of raising; a second Ctrl-C raises."""

    def __init__(self, enabled):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.interrupted = False
        self._previous = None

    def _handle(self, signum, frame):
        self.interrupted = True
        signal.signal(signal.SIGINT, self._previous)

    def __enter__(self):
        if self.enabled:
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _layer_description(layer):
    """The layer's type, constructor settings and parameter shapes (JSON-able)."""
    description = {"type": type(layer).__name__}
    for name in inspect.signature(type(layer)).parameters:
        if name == "weight_init":
            continue
        value = getattr(layer, "activation_name" if name == "activation" else name, None)
        description[name] = list(value) if isinstance(value, tuple) else value
    description["parameters"] = {k: list(v.shape) for k, v in layer.parameters.items()}
    return description


class NeuralNetwork:
    """A feed-forward network built from a list of layer argument dicts.

    Parameters
    ----------
    loss            name of the loss ("cross_entropy" or "l2")
    layer_args      list of AttrDicts for ``initialize_layer``; the last one's
                    ``n_out`` is set from the dataset when training starts
    optimizer_args  dict for ``initialize_optimizer`` (with its ``name``)
    logger          optional ``Logger``
    seed            seed for numpy's global generator (weights, shuffling,
                    dropout, augmentation)

    Attributes
    ----------
    epoch      epochs completed
    iteration  steps done in the current, unfinished epoch (0 between epochs)
    history    {"iteration_loss": [...], "epochs": [per-epoch metrics dicts]}
    """

    def __init__(self, loss, layer_args, optimizer_args, logger=None, seed=None):
        if not layer_args:
            raise ValueError("layer_args must list at least one layer")
        if seed is not None:
            np.random.seed(seed)
        self.n_layers = len(layer_args)
        self.layer_args = list(layer_args)
        self.optimizer_args = dict(optimizer_args)
        self.logger = logger
        self.seed = seed
        self.epoch_log = {"loss": {}, "error": {}}
        self.loss = initialize_loss(loss)
        self.optimizer = initialize_optimizer(**self.optimizer_args)
        self.layers = [initialize_layer(**dict(args)) for args in self.layer_args[:-1]]
        self.training = True
        self.epoch = 0
        self.iteration = 0
        self.history = {"iteration_loss": [], "epochs": []}
        self._partial = {"loss": 0.0, "error": 0.0, "count": 0}
        self._resume_order = None
        self._epoch_start = None

    # ----------------------------------------------------------------- layers

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
        self.layers[-1].training = self.training

    def _require_output_layer(self):
        if len(self.layers) < self.n_layers:
            raise ValueError(
                "the output layer is built when training starts (its n_out comes from "
                "the dataset); call train() or load() first"
            )

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
        """One optimizer step on every parameter, then clear the gradients.

        ``epoch`` goes to the learning-rate schedule (training passes the
        fractional epoch ``epoch + iteration / iterations_per_epoch``).
        """
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

    def _check_dataset(self, dataset):
        """Raise ValueError before training if the labels cannot suit the loss."""
        if dataset.train.labels is None:
            raise ValueError("training needs labels, but the training split has none")
        for split_name in ("train", "validate"):
            split = getattr(dataset, split_name)
            if split is None or split.labels is None:
                continue
            labels = split.labels
            if labels.ndim != 2 or labels.shape[1] != dataset.out_dim:
                raise ValueError(
                    f"{split_name} labels must have shape (n, {dataset.out_dim}), "
                    f"got {labels.shape}"
                )
            if self.loss.name == "cross_entropy":
                rows_ok = np.all(labels >= 0) and np.allclose(labels.sum(axis=1), 1, atol=1e-6)
                if not rows_ok:
                    raise ValueError(
                        f"cross-entropy needs one-hot (or probability) label rows; the "
                        f"{split_name} labels have negative entries or rows not summing to 1"
                    )

    def train(self, dataset, epochs, verbose=True, progress="epochs", checkpoint=None,
              best_checkpoint=None, on_epoch_end=None):
        """Train for ``epochs`` more epochs, validating after each one.

        Parameters
        ----------
        dataset          a ``Dataset`` (``validate`` may be None)
        epochs           number of epochs to run; a run resumed in the middle of
                         an epoch finishes that epoch as the first of them
        verbose          print a line per epoch and show a progress bar
        progress         "epochs" (one bar over epochs) or "iterations" (a bar per epoch)
        checkpoint       path written after every epoch (and on Ctrl-C)
        best_checkpoint  path written whenever validation error reaches a new best
        on_epoch_end     function called as ``on_epoch_end(model, record)`` after
                         each epoch, ``record`` being the epoch's metrics dict

        Returns
        -------
        ``epoch_log`` of the last epoch

        Raises
        ------
        NonFiniteLossError   the loss became NaN or infinite (the parameters
                             and the last checkpoint are those of the last good step)
        TrainingInterrupted  Ctrl-C: the step in progress finished and a
                             checkpoint was written (needs ``checkpoint``)
        """
        if progress not in ("epochs", "iterations"):
            raise ValueError(f"progress must be 'epochs' or 'iterations', got {progress!r}")
        self._build_output_layer(dataset.out_dim)
        self._check_dataset(dataset)
        first, last = self.epoch, self.epoch + epochs
        epoch_bar = tqdm(range(first, last), desc="epochs", disable=not verbose or progress != "epochs")
        with _InterruptGuard(enabled=checkpoint is not None) as guard:
            for epoch in epoch_bar:
                record = self._train_epoch(dataset, epoch, last, verbose and progress == "iterations",
                                           guard, checkpoint)
                self._finish_epoch(dataset, record, checkpoint, best_checkpoint)
                if on_epoch_end is not None:
                    on_epoch_end(self, record)
                if verbose:
                    epoch_bar.write(self._epoch_line(record, last))
                if guard.interrupted:
                    raise TrainingInterrupted(
                        f"interrupted after epoch {self.epoch}; checkpoint saved to {checkpoint}",
                        checkpoint,
                    )
        return self.epoch_log

    def _train_epoch(self, dataset, epoch, last, show_bar, guard, checkpoint):
        """Run the remaining steps of epoch ``epoch``; return its metrics."""
        self.set_mode("train")
        data = dataset.train
        n_steps = data.samples_per_epoch
        if self.iteration == 0:
            data.reset()
            self._partial = {"loss": 0.0, "error": 0.0, "count": 0}
        else:
            self._restore_data_position(data)
        self._epoch_start = time.perf_counter()
        bar = tqdm(total=n_steps, initial=self.iteration, desc=f"epoch {epoch + 1}/{last}",
                   disable=not show_bar, leave=False)
        while self.iteration < n_steps:
            X, Y = data.sample()
            Y_hat = self.forward(X)
            L = self.backward(Y, Y_hat)
            if not np.isfinite(L):
                for layer in self.layers:
                    layer.clear_gradients()
                kept = f"; the last checkpoint ({checkpoint}) is kept" if checkpoint else ""
                raise NonFiniteLossError(
                    f"the loss became {L} at epoch {epoch + 1}, iteration {self.iteration + 1}; "
                    f"training stopped before updating the parameters{kept}. "
                    f"Try a lower learning rate (the rate at this step was "
                    f"{self.optimizer.lr(epoch + self.iteration / n_steps):.3g})."
                )
            self.update(epoch + self.iteration / n_steps)
            self.iteration += 1
            n = X.shape[0]
            self._partial["loss"] += L * n
            self._partial["error"] += self.error(Y, Y_hat) * n
            self._partial["count"] += n
            self.history["iteration_loss"].append(L)
            bar.update(1)
            if guard.interrupted and self.iteration < n_steps:
                bar.close()
                self._resume_order = data.order
                self.save(checkpoint)
                raise TrainingInterrupted(
                    f"interrupted at epoch {epoch + 1}, iteration {self.iteration}; "
                    f"checkpoint saved to {checkpoint}", checkpoint,
                )
        bar.close()
        count = self._partial["count"]
        return {
            "epoch": epoch + 1,
            "train_loss": self._partial["loss"] / count,
            "train_error": self._partial["error"] / count,
        }

    def _finish_epoch(self, dataset, record, checkpoint, best_checkpoint):
        """Validate, log, and write the checkpoints at the end of an epoch."""
        self.iteration = 0
        self.epoch += 1
        self._resume_order = None
        self.epoch_log["loss"] = {"train": record["train_loss"]}
        self.epoch_log["error"] = {"train": record["train_error"]}
        if dataset.validate is not None:
            Y_hat, val_loss = self.predict(dataset.validate.data, dataset.validate.labels)
            record["validate_loss"] = val_loss
            record["validate_error"] = self.error(dataset.validate.labels, Y_hat)
            self.epoch_log["loss"]["validate"] = val_loss
            self.epoch_log["error"]["validate"] = record["validate_error"]
        # Wall time of the epoch's steps and its validation (since the resume, if any).
        record["seconds"] = time.perf_counter() - self._epoch_start
        previous_best = min(
            (r["validate_error"] for r in self.history["epochs"] if "validate_error" in r),
            default=np.inf,
        )
        self.history["epochs"].append(record)
        if self.logger is not None:
            self.logger.push(self.epoch_log)
        if checkpoint is not None:
            self.save(checkpoint)
        if best_checkpoint is not None and record.get("validate_error", np.inf) < previous_best:
            self.save(best_checkpoint)

    @staticmethod
    def _epoch_line(record, last):
        line = (f"epoch {record['epoch']}/{last}  train loss {record['train_loss']:.4f}"
                f"  acc {1 - record['train_error']:.4f}")
        if "validate_loss" in record:
            line += (f"  val loss {record['validate_loss']:.4f}"
                     f"  acc {1 - record['validate_error']:.4f}")
        return line + f"  ({record['seconds']:.1f} s)"

    def _restore_data_position(self, data):
        """Put the training split back where a mid-epoch checkpoint left it."""
        if self._resume_order is None or len(self._resume_order) != data.n_samples:
            raise ValueError(
                f"cannot resume in the middle of an epoch: the checkpoint's data order "
                f"does not match this training split ({data.n_samples} examples)"
            )
        data.order = self._resume_order
        data.iteration = self.iteration

    def predict(self, X, Y=None, batch_size=1000):
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
        self._require_output_layer()
        X = np.asarray(X)
        with self.evaluating():
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
        """Loss and error on ``dataset.test`` (in eval mode).

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

    # ------------------------------------------------------------ checkpoints

    def save(self, path):
        """Write a complete checkpoint to ``path`` (atomically).

        It holds every parameter, BatchNorm's running statistics, the
        optimizer state, the epoch and position in it, numpy's generator
        state, the layer arguments and the history, so ``load`` followed by
        ``train`` continues exactly as the uninterrupted run would.
        """
        arrays, rng_meta = checkpoints.generator_state_to_arrays()
        for i, layer in enumerate(self.layers):
            for name, value in layer.parameters.items():
                arrays[f"param/{i}/{name}"] = value
            for name, value in getattr(layer, "buffers", {}).items():
                arrays[f"buffer/{i}/{name}"] = value
        for key, value in self.optimizer.state_dict().items():
            arrays[f"optimizer/{key}"] = value
        if self.iteration:
            arrays["data/order"] = self._resume_order
        meta = {
            "loss": self.loss.name,
            "layer_args": self.layer_args,
            "optimizer_args": self.optimizer_args,
            "seed": self.seed,
            "layers": [_layer_description(layer) for layer in self.layers],
            "n_in": [_jsonable_n_in(layer.n_in) for layer in self.layers],
            "epoch": self.epoch,
            "iteration": self.iteration,
            "partial": self._partial,
            "history": self.history,
            "rng": rng_meta,
        }
        return checkpoints.write_atomic(path, arrays, meta)

    def load(self, path):
        """Restore a checkpoint written by ``save`` into this model.

        Raises ValueError, listing the differences, when the checkpoint was
        made by a different architecture.
        """
        arrays, meta = checkpoints.read(path)
        saved = meta["layers"]
        if len(self.layers) < self.n_layers and len(saved) == self.n_layers:
            self._build_output_layer(saved[-1].get("n_out"))
        self._check_architecture(saved, path)
        for i, layer in enumerate(self.layers):
            n_in = meta["n_in"][i]
            layer.n_in = tuple(n_in) if isinstance(n_in, list) else n_in
            for name in saved[i]["parameters"]:
                layer.parameters[name] = arrays[f"param/{i}/{name}"].copy()
                layer.gradients[name] = np.zeros_like(layer.parameters[name])
            buffer_prefix = f"buffer/{i}/"
            for key, value in arrays.items():
                if key.startswith(buffer_prefix):
                    layer.buffers[key[len(buffer_prefix):]] = value.copy()
            layer.cache.clear()
        prefix = "optimizer/"
        self.optimizer.load_state_dict(
            {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        )
        checkpoints.restore_generator_state(arrays, meta["rng"])
        self.epoch = meta["epoch"]
        self.iteration = meta["iteration"]
        self._partial = meta["partial"]
        self.history = meta["history"]
        self._resume_order = arrays.get("data/order")
        return self

    def _check_architecture(self, saved, path):
        current = [_layer_description(layer) for layer in self.layers]
        problems = []
        if len(saved) != self.n_layers:
            # n_layers, not len(current): the output layer may not be built yet.
            problems.append(f"the checkpoint has {len(saved)} layers, this model {self.n_layers}")
        for i, (old, new) in enumerate(zip(saved, current)):
            for key in sorted(set(old) | set(new)):
                if key == "parameters" and not new["parameters"]:
                    continue  # this layer has not seen an input yet: any shape fits
                if old.get(key) != new.get(key):
                    problems.append(
                        f"layer {i} ({old['type']} in the checkpoint, {new['type']} here): "
                        f"{key} {old.get(key)} in the checkpoint vs {new.get(key)} here"
                    )
        if problems:
            raise ValueError(
                f"checkpoint {path} was saved by a different architecture:\n  "
                + "\n  ".join(problems)
            )


def _jsonable_n_in(n_in):
    if isinstance(n_in, tuple):
        return [int(v) for v in n_in]
    return None if n_in is None else int(n_in)


def write_predictions_csv(path, categories):
    """Write a Kaggle submission: a header ``Id,Category`` then one row per example."""
    # A logger that neither saves nor plots has not created its folder yet.
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
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
