"""Training progress in one record: ``TrainingState``.

A network holds its progress in ``model.training_state``; the ``Trainer`` is
the one writer of it, through the methods below, and a checkpoint saves and
checks it as one unit (``to_json`` / ``from_json``). The course's names for
its fields (``model.epoch``, ``model.history``, ``model.epoch_log``, ...)
read and write through to it.

In a checkpoint's description the progress is the fields ``epoch``,
``iteration``, ``batch_size``, ``partial`` (the running totals of the
unfinished epoch) and ``history``; in the middle of an epoch the array
``data/order`` holds the training split's order.
"""

import numpy as np

from .utils.checks import is_count


def _new_totals():
    return {"loss": 0.0, "error": 0.0, "count": 0}


class TrainingState:
    """Where training stands.

    Attributes
    ----------
    epoch            epochs completed
    iteration        steps done in the current, unfinished epoch (0 between epochs)
    history          {"iteration_loss": [float per step], "epochs": [one record per
                     epoch: "epoch", "train_loss", "train_error", "seconds", and
                     "validate_loss", "validate_error" with a validation split]},
                     and "stopped_early" after an early stop
    epoch_totals     running sums of the unfinished epoch: {"loss", "error", "count"}
                     (loss and error weighted by the examples counted)
    data_order       the training split's order in the unfinished epoch, or None
    data_batch_size  the training split's batch size in the unfinished epoch, or None
    epoch_log        the last epoch's figures as the course's ``Logger.push`` takes
                     them: {"loss": {"train", "validate"}, "error": {...}, "params":
                     {name: norm}}; not saved in checkpoints
    """

    def __init__(self):
        self.epoch = 0
        self.iteration = 0
        self.history = {"iteration_loss": [], "epochs": []}
        self.epoch_totals = _new_totals()
        self.data_order = None
        self.data_batch_size = None
        self.epoch_log = {"loss": {}, "error": {}}

    # ------------------------------------------------- the Trainer's steps

    def start_epoch(self):
        """Zero the running totals for an epoch that starts from its first step."""
        self.epoch_totals = _new_totals()

    def count_step(self, loss, error, n):
        """One step done on ``n`` examples with mean ``loss`` and ``error``."""
        self.iteration += 1
        self.epoch_totals["loss"] += loss * n
        self.epoch_totals["error"] += error * n
        self.epoch_totals["count"] += n
        self.history["iteration_loss"].append(loss)

    def keep_position(self, data):
        """Remember where the training split ``data`` stands in the unfinished epoch
        (its order and batch size), or nothing between epochs."""
        self.data_order = data.order.copy() if self.iteration else None
        self.data_batch_size = data.batch_size if self.iteration else None

    def steps_done(self):
        """The epoch's steps are done: no position in it to keep."""
        self.iteration = 0
        self.data_order = None
        self.data_batch_size = None

    def count_epoch(self, record):
        """Count the epoch ``record`` describes. A new epoch ends an early stop."""
        self.epoch += 1
        self.history["epochs"].append(record)
        self.history.pop("stopped_early", None)
        self.epoch_log.pop("stopped_early", None)

    def stop_early(self, best_epoch, patience):
        """Record that training stops now, ``patience`` epochs after ``best_epoch``."""
        self.history["stopped_early"] = {"epoch": self.epoch, "best_epoch": best_epoch,
                                         "patience": patience}
        self.epoch_log["stopped_early"] = self.epoch

    # ---------------------------------------------------------- checkpoints

    def to_json(self, batch_size=None):
        """The progress as a checkpoint holds it.

        Parameters
        ----------
        batch_size  the training split's batch size, needed in the middle of an epoch

        Returns
        -------
        (fields of the checkpoint's description, {"data/order": array} in the
        middle of an epoch, else {}); ValueError in the middle of an epoch
        without the split's order or ``batch_size``
        """
        arrays = {}
        if self.iteration:
            if self.data_order is None or not batch_size:
                raise ValueError("in the middle of an epoch a checkpoint needs the training "
                                 "split's order and batch size")
            arrays["data/order"] = np.asarray(self.data_order)
        fields = {"epoch": self.epoch, "iteration": self.iteration,
                  "batch_size": batch_size if self.iteration else None,
                  "partial": self.epoch_totals, "history": self.history}
        return fields, arrays

    @classmethod
    def from_json(cls, fields, arrays):
        """The progress a checkpoint holds (as ``to_json`` gives it), checked.

        Returns
        -------
        TrainingState; ValueError naming what does not fit (KeyError or
        TypeError when a field is missing or of the wrong kind)
        """
        for what in ("epoch", "iteration"):
            if not is_count(fields[what]):
                raise ValueError(f"{what} must be a whole number >= 0, got {fields[what]!r}")
        _check_history(fields["history"], fields["epoch"], fields["iteration"])
        order = arrays.get("data/order")
        if fields["iteration"]:
            _check_position(fields, order)
        state = cls()
        state.epoch, state.iteration = fields["epoch"], fields["iteration"]
        state.history, state.epoch_totals = fields["history"], fields["partial"]
        state.data_order, state.data_batch_size = order, fields.get("batch_size")
        return state


def _check_history(history, epoch, iteration):
    if not isinstance(history.get("epochs"), list) or \
            not isinstance(history.get("iteration_loss"), list):
        raise ValueError("its history is malformed")
    if len(history["epochs"]) != epoch:
        raise ValueError(f"it records {len(history['epochs'])} epochs of history but says "
                         f"{epoch} were done")
    stop = history.get("stopped_early")
    if stop is not None:
        fields = ("epoch", "best_epoch", "patience")
        if not isinstance(stop, dict) or not all(is_count(stop.get(k)) for k in fields) \
                or stop["epoch"] != epoch or iteration or stop["patience"] < 1 \
                or not 1 <= stop["best_epoch"] <= stop["epoch"] - stop["patience"]:
            raise ValueError(f"its early-stop record {stop!r} does not fit: expected "
                             f"{{'epoch': {epoch}, 'best_epoch': b, 'patience': p}} with "
                             f"1 <= b <= epoch - p, saved between epochs")


def _check_position(fields, order):
    """The unfinished epoch's order, batch size and running totals."""
    if order is None:
        raise ValueError("saved in the middle of an epoch, but the data order is missing")
    if order.ndim != 1 or not np.issubdtype(order.dtype, np.integer) \
            or not np.array_equal(np.sort(order), np.arange(order.size)):
        raise ValueError("its data order is not a permutation of the training examples")
    if not is_count(fields.get("batch_size")) or fields["batch_size"] < 1:
        raise ValueError("saved in the middle of an epoch, but without its batch size")
    partial = fields["partial"]
    if not all(isinstance(partial.get(k), (int, float)) for k in ("loss", "error", "count")):
        raise ValueError("its running totals of the unfinished epoch are malformed")
