"""The training loop, apart from the network (CS231n's Solver beside its model).

A ``Trainer`` runs epochs of mini-batch steps on a ``NeuralNetwork``:
validation after every epoch, the history, the checkpoint schedule
(``last`` after every epoch, ``best`` at every new best validation error),
the guard against non-finite values, clean stops on Ctrl-C or SIGTERM, and
early stopping (``patience``). It keeps no state of its own between runs:
the progress (epoch, position in the epoch, history) is the model's
``training_state``, which the Trainer alone writes and checkpoints save, so
a model whose run raised, or that was loaded from a checkpoint, trains on
from where it stopped.
"""

import os
import signal
import threading
import time

import numpy as np
from tqdm import tqdm

from . import backend, checkpoints, scoring
from .datasets.batching import check_label_rows
from .run_folder import METRIC_COLUMNS
from .utils.checks import check_number
from .utils.files import check_writable, make_folder_for


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss, parameter or validation loss."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during training, after the step in progress was finished
    and the checkpoint ``checkpoint`` written.

    ``exit_status`` is what a shell reports for that signal: 130 for SIGINT,
    143 for SIGTERM.
    """

    def __init__(self, message, checkpoint, signum=signal.SIGINT):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.signum = signum
        self.exit_status = 128 + int(signum)


class StopSignals:
    """While active, SIGINT and SIGTERM set ``signum`` (and call ``on_stop(signum)``
    if given) instead of stopping the process; the handlers in place before come
    back at the first signal (so a second Ctrl-C stops at once) and on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled, on_stop=None):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum = None
        self.on_stop = on_stop
        self._previous = {}

    @property
    def stopped(self):
        return self.signum is not None

    def _handle(self, signum, frame):
        self.signum = signum
        self._put_back()
        if self.on_stop is not None:
            self.on_stop(signum)

    def _put_back(self):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __enter__(self):
        if self.enabled:
            for signum in self.SIGNALS:
                self._previous[signum] = signal.getsignal(signum)
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        self._put_back()
        return False


def check_epochs(epochs):
    """``epochs`` as an int >= 0, or ValueError."""
    return check_number("epochs", epochs, at_least=0, whole=True)


def epoch_metrics(record):
    """One epoch's record of ``model.history["epochs"]`` under the names of
    ``run_folder.METRIC_COLUMNS``: the names ``train`` returns, metrics.csv's
    columns and the epoch line's words. The validation values are None for an
    epoch without a validation split.

    ``model.history`` keeps its own record per epoch (``train_error``,
    ``validate_loss``, ``validate_error``), the layout checkpoints store.
    """
    validated = "validate_error" in record
    return {
        "epoch": record["epoch"],
        "train_loss": record["train_loss"],
        "train_accuracy": 1 - record["train_error"],
        "val_loss": record["validate_loss"] if validated else None,
        "val_accuracy": 1 - record["validate_error"] if validated else None,
        "seconds": record["seconds"],
    }


def metrics_rows(history):
    """``epoch_metrics`` of every finished epoch of ``history`` (``model.history``)."""
    return [epoch_metrics(record) for record in history["epochs"]]


def metrics_history(history):
    """``history``'s epochs as one list per metric (as Keras' ``History.history``),
    keyed by ``run_folder.METRIC_COLUMNS`` in that order: what ``train`` returns."""
    rows = metrics_rows(history)
    return {name: [row[name] for row in rows] for name in METRIC_COLUMNS}


def format_duration(seconds):
    """A duration with a precision that shows something: "3.2 ms", "12 ms",
    "3.4 s", "3 min 52 s"."""
    if seconds < 0.01:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s"


def epoch_line(row, last, label_smoothing=0.0):
    """The line printed after an epoch, from its ``epoch_metrics`` row, in the same
    words: "epoch 3/10  train_loss 0.4711  train_accuracy 0.8476  val_loss 0.4402
    val_accuracy 0.8667  (12 ms)". With label smoothing the train loss says so: it
    is the loss on the smoothed labels, and sits above a validation loss on the
    true ones."""
    words = [f"epoch {row['epoch']}/{last}"]
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        if row[name] is not None:
            words.append(f"{name} {row[name]:.4f}")
            if name == "train_loss" and label_smoothing:
                words[-1] += f" (labels smoothed by {label_smoothing:g})"
    words.append(f"({format_duration(row['seconds'])})")
    return "  ".join(words)


def best_epoch(history):
    """The first epoch (from 1) with the lowest validation error in ``history``, or None."""
    errors = [(r["validate_error"], r["epoch"]) for r in history["epochs"] if "validate_error" in r]
    return min(errors)[1] if errors else None


def stop_line(stop):
    """The line printed when training stops early, from the record ``stop``
    (``history["stopped_early"]``: {"epoch", "best_epoch", "patience"})."""
    return (f"stopped early after epoch {stop['epoch']}: the validation error has not "
            f"improved since epoch {stop['best_epoch']} (patience {stop['patience']}); the "
            f"model has epoch {stop['best_epoch']}'s parameters")


def checkpoint_kept(checkpoint):
    """What the error of a non-finite value says of the ``checkpoint`` path (nothing
    without one)."""
    if checkpoint is None:
        return ""
    if os.path.isfile(checkpoint):
        return f"; the last checkpoint ({checkpoint}) is kept"
    return f"; no checkpoint was written yet ({checkpoint})"


def check_labels(model, dataset):
    """Raise ValueError before training if the labels cannot suit the model's loss."""
    if dataset.train.labels is None:
        raise ValueError("training needs labels, but the training split has none")
    for split_name in ("train", "validate"):
        split = getattr(dataset, split_name)
        if split is None or split.labels is None:
            continue
        labels = split.labels
        check_label_rows(labels, f"{split_name} labels", dataset.out_dim)
        if labels.shape[1] != dataset.out_dim:
            raise ValueError(
                f"{split_name} labels must have shape (n, {dataset.out_dim}), got {labels.shape}"
            )
        if model.loss.name == "cross_entropy":
            rows_ok = np.all(labels >= 0) and np.allclose(labels.sum(axis=1), 1, atol=1e-6)
            if not rows_ok:
                raise ValueError(
                    f"cross-entropy needs one-hot (or probability) label rows; the "
                    f"{split_name} labels have negative entries or rows not summing to 1"
                )


class Trainer:
    """Train a model on a dataset, epoch after epoch.

    Parameters
    ----------
    model            a ``NeuralNetwork``
    dataset          a ``Dataset`` (``validate`` may be None)
    checkpoint       path written after every epoch and when stopped by a signal
                     (None: no checkpoint, and Ctrl-C is a plain KeyboardInterrupt)
    best_checkpoint  path written whenever the validation error reaches a new best
    on_epoch_end     called as ``on_epoch_end(model, record)`` after each epoch
    verbose          print a line per epoch and show progress bars
    progress         "epochs" (one bar over the epochs) or "iterations" (a bar per epoch)
    patience         None, or stop early once the validation error has not improved
                     for this many epochs (an int >= 1; needs a labeled validation
                     split)

    Early stopping
    --------------
    The epochs counted since the best validation error (the first epoch with
    the lowest one, over the model's whole history) reach ``patience``: training
    stops, ``model.history["stopped_early"]`` records {"epoch", "best_epoch",
    "patience"} (as does ``epoch_log["stopped_early"]``, the epoch), the
    ``checkpoint`` is that last epoch's state with the record, and the model
    gets the parameters and buffers of the best epoch back (kept in memory, or
    read from ``best_checkpoint`` when the best epoch came before this run).
    ``model.epoch`` stays the last epoch trained. The record goes away with the
    next epoch trained; training again with ``patience`` stops again after one
    epoch unless it improves.
    """

    def __init__(self, model, dataset, checkpoint=None, best_checkpoint=None,
                 on_epoch_end=None, verbose=True, progress="epochs", patience=None):
        if progress not in ("epochs", "iterations"):
            raise ValueError(f"progress must be 'epochs' or 'iterations', got {progress!r}")
        if not all(hasattr(dataset, name) for name in ("train", "validate", "out_dim")):
            raise ValueError(f"expected a Dataset (with train, validate and out_dim) to train "
                             f"on, got {type(dataset).__name__}")
        if patience is not None:
            check_number("patience (epochs, or None)", patience, at_least=1, whole=True)
            if dataset.validate is None or dataset.validate.labels is None:
                raise ValueError("patience (early stopping) watches the validation error, but "
                                 "the dataset has no labeled validation split")
        # A checkpoint that cannot be written should stop the run now, not after an epoch.
        for path in (checkpoint, best_checkpoint):
            if path is not None:
                check_writable(make_folder_for(path))
        self.model = model
        self.dataset = dataset
        self.checkpoint = checkpoint
        self.best_checkpoint = best_checkpoint
        self.on_epoch_end = on_epoch_end
        self.verbose = verbose
        self.progress = progress
        self.patience = None if patience is None else int(patience)
        self.best_state = None  # (epoch, state_dict) of the best epoch, with patience

    def run(self, epochs):
        """Train ``epochs`` more epochs; a run stopped in the middle of an epoch
        finishes that epoch as the first of them.

        Returns
        -------
        the whole run's history, one list per metric (``metrics_history``):
        {"epoch": [1, 2, ...], "train_loss": [...], "train_accuracy": [...],
        "val_loss": [...], "val_accuracy": [...], "seconds": [...]}, every epoch
        the model has trained, from its first (a resumed run's earlier ones too)

        Raises
        ------
        NonFiniteLossError   a loss, parameter or validation loss became NaN or
                             infinite; the parameters are those of the last good
                             step and no checkpoint holds the bad values
        TrainingInterrupted  SIGINT or SIGTERM (only with ``checkpoint``): the step
                             in progress finished and the checkpoint was written
        """
        epochs = check_epochs(epochs)
        model, dataset = self.model, self.dataset
        model.build(n_out=dataset.out_dim)
        check_labels(model, dataset)
        needed = model.min_train_batch()
        if needed > 1 and hasattr(dataset.train, "min_last_batch"):
            # Batch normalisation cannot train on a batch of one row.
            dataset.train.min_last_batch = needed
        if self.patience is not None:
            self.best_state = self._state_of_best_epoch()
        first, last = model.epoch, model.epoch + epochs
        show_epochs = self.verbose and self.progress == "epochs"
        epoch_bar = tqdm(range(first, last), desc="epochs", disable=not show_epochs)
        # One session for the whole run, rather than one per forward, backward and update.
        with StopSignals(enabled=self.checkpoint is not None) as signals, model.session():
            for epoch in epoch_bar:
                record = self._train_epoch(epoch, last, signals)
                self._finish_epoch(record)
                if self.on_epoch_end is not None:
                    self.on_epoch_end(model, record)
                if self.verbose:
                    epoch_bar.write(epoch_line(epoch_metrics(record), last,
                                               getattr(dataset.train, "label_smoothing", 0)))
                if signals.stopped:
                    raise TrainingInterrupted(
                        f"stopped after epoch {model.epoch}; checkpoint saved to "
                        f"{self.checkpoint}", self.checkpoint, signals.signum,
                    )
                if "stopped_early" in model.history:
                    model.load_state_dict(self.best_state[1])
                    if self.verbose:
                        epoch_bar.write(stop_line(model.history["stopped_early"]))
                    break
        return metrics_history(model.history)

    # --------------------------------------------------------- early stopping

    def _state_of_best_epoch(self):
        """(epoch, state) of the best epoch so far, or None before any validation.

        The model holds that state only if it ended that epoch and has not trained
        since; otherwise ``best_checkpoint`` must hold it (as a resumed run's does).
        Raises ValueError, before any training, if neither does.
        """
        model, epoch = self.model, best_epoch(self.model.history)
        if epoch is None:
            return None
        if epoch == model.epoch and model.iteration == 0:
            return epoch, model.state_dict()
        path = self.best_checkpoint
        saved = checkpoints.read(path) if path is not None and os.path.isfile(path) else None
        if saved is None or saved.training_state.epoch != epoch:
            held = "nothing" if saved is None else f"epoch {saved.training_state.epoch}"
            raise ValueError(
                f"patience keeps the best epoch's parameters, but the best validation error "
                f"so far is epoch {epoch}'s, the model has trained since, and best_checkpoint "
                f"{path} holds {held}: pass the best_checkpoint written at epoch {epoch}")
        parameters, buffers = saved.model_state()
        return epoch, {**parameters, **buffers}

    def _check_patience(self):
        """After an epoch is counted: keep its state if it is the best, record a stop."""
        model = self.model
        best = best_epoch(model.history)
        if best == model.epoch:
            self.best_state = (best, model.state_dict())
        elif model.epoch - best >= self.patience:
            model.training_state.stop_early(best, self.patience)

    # -------------------------------------------------------------- one epoch

    def _train_epoch(self, epoch, last, signals):
        """Run the remaining steps of epoch ``epoch``; return its metrics."""
        model, data = self.model, self.dataset.train
        state = model.training_state
        model.set_mode("train")
        if state.iteration == 0:
            data.reset()
            state.start_epoch()
        else:
            self._restore_data_position(data)
        n_steps = data.samples_per_epoch
        start = time.perf_counter()
        bar = tqdm(total=n_steps, initial=state.iteration, desc=f"epoch {epoch + 1}/{last}",
                   disable=not (self.verbose and self.progress == "iterations"), leave=False)
        try:
            while state.iteration < n_steps:
                self._step(epoch, n_steps, data)
                bar.update(1)
                if signals.stopped and state.iteration < n_steps:
                    state.keep_position(data)
                    self._save(self.checkpoint)
                    raise TrainingInterrupted(
                        f"stopped at epoch {epoch + 1}, iteration {state.iteration}; "
                        f"checkpoint saved to {self.checkpoint}", self.checkpoint, signals.signum,
                    )
        finally:
            bar.close()
            # Whatever stopped the epoch, the model can train on from here.
            state.keep_position(data)
        totals = state.epoch_totals
        return {
            "epoch": epoch + 1,
            "train_loss": totals["loss"] / totals["count"],
            "train_error": totals["error"] / totals["count"],
            "seconds": time.perf_counter() - start,
        }

    def _step(self, epoch, n_steps, data):
        """One mini-batch: forward, loss, backward, update.

        The batch is made on the host and moved to the network's device. The
        step's loss and error are read from the device together, once (a GPU
        runs ahead of the host until then), and before the update, so that a
        non-finite loss stops the run with the parameters of the last good step.
        """
        model = self.model
        X, Y = data.sample()
        Y = backend.to_device(Y, model.device)  # once, for the loss, its gradient and the error
        try:
            Y_hat = model.forward(X)
            loss = model.backpropagate(Y, Y_hat)
            L, error = backend.read_scalars([loss, scoring.error_value(model, Y, Y_hat)])
        except BaseException:
            model.clear_gradients()
            raise
        if not np.isfinite(L):
            model.clear_gradients()
            raise NonFiniteLossError(
                f"the loss became {L} at epoch {epoch + 1}, iteration {model.iteration + 1}; "
                f"training stopped before updating the parameters{checkpoint_kept(self.checkpoint)}. Try a lower "
                f"learning rate (the rate at this step was "
                f"{model.optimizer.lr(self._schedule_epoch(epoch, n_steps)):.3g})."
            )
        model.update(self._schedule_epoch(epoch, n_steps))
        model.training_state.count_step(L, error, X.shape[0])

    def _schedule_epoch(self, epoch, n_steps):
        """The epoch the learning-rate schedule is given at this step: the whole
        ``epoch`` (0, 1, ...), as the course's ``train`` gives it, or, for a schedule
        that declares ``moves_within_epoch`` (cosine), ``epoch + iteration / n_steps``."""
        if getattr(self.model.optimizer.lr, "moves_within_epoch", False):
            return epoch + self.model.iteration / n_steps
        return epoch

    def _restore_data_position(self, data):
        """Put the training split back where the unfinished epoch stopped."""
        model, state = self.model, self.model.training_state
        order = state.data_order
        if order is None or len(order) != data.n_samples:
            raise ValueError(
                f"cannot continue in the middle of epoch {model.epoch + 1}: the model "
                f"stopped there over a training split of "
                f"{'unknown size' if order is None else len(order)} examples, this one has "
                f"{data.n_samples}; train on the same training split"
            )
        if state.data_batch_size != data.batch_size:
            raise ValueError(
                f"cannot continue in the middle of epoch {model.epoch + 1}: it was run with "
                f"batch size {state.data_batch_size}, this training split has "
                f"{data.batch_size}; use the same batch size to finish the epoch"
            )
        data.order = order.copy()
        data.iteration = state.iteration

    def _finish_epoch(self, record):
        """Validate, check for non-finite values, log, and write the checkpoints."""
        model, dataset = self.model, self.dataset
        state = model.training_state
        state.steps_done()
        log = state.epoch_log
        log["loss"] = {"train": record["train_loss"]}
        log["error"] = {"train": record["train_error"]}
        # Once per epoch, not once per step: only the logger reads them.
        log["params"] = model.parameter_norms()
        start = time.perf_counter()
        if dataset.validate is not None:
            Y_hat, val_loss = model.predict(dataset.validate.data, dataset.validate.labels)
            record["validate_loss"] = val_loss
            record["validate_error"] = model.error(dataset.validate.labels, Y_hat)
            log["loss"]["validate"] = val_loss
            log["error"]["validate"] = record["validate_error"]
        record["seconds"] += time.perf_counter() - start
        bad = checkpoints.check_finite_parameters(model)
        if bad is None and not np.isfinite(record.get("validate_loss", 0.0)):
            bad = "the validation loss"
        if bad is not None:
            # The epoch is not counted: its end state must never reach a checkpoint.
            raise NonFiniteLossError(
                f"{bad} became NaN or infinite during epoch {record['epoch']}{checkpoint_kept(self.checkpoint)}. Try a "
                f"lower learning rate or gradient clipping (clip_norm)."
            )
        previous_best = min((r["validate_error"] for r in state.history["epochs"]
                             if "validate_error" in r), default=np.inf)
        state.count_epoch(record)
        if self.patience is not None:
            self._check_patience()
        if model.logger is not None:
            model.logger.push(state.epoch_log)
        # last.npz before best.npz: a kill between the two leaves best.npz behind, and
        # last.npz, saved at this very moment, can then rewrite it (resume.check_best).
        # The other order could leave best.npz at an epoch a resumed run never reaches.
        if self.checkpoint is not None:
            self._save(self.checkpoint)
        if self.best_checkpoint is not None and \
                record.get("validate_error", np.inf) < previous_best:
            self._save(self.best_checkpoint)

    def _save(self, path):
        if path is not None:
            checkpoints.save(path, self.model, self.model.training_state.data_batch_size)
