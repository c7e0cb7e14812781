"""Training progress in one record (neural_networks/training_state.py).

- A new TrainingState starts at epoch 0 with an empty history; its steps
  (count_step, keep_position, steps_done, count_epoch, stop_early) move it as
  the Trainer does, checked by hand.
- to_json / from_json: between epochs and in the middle of one (with the
  training split's order), a round trip gives the same progress; every field
  that does not fit is a ValueError naming it.
- The network holds one: the course's names (model.epoch, model.history,
  model.epoch_log, ...) read and write through to it, a driver that replaces
  model.epoch_log as the course's train loop may still logs through it, training
  moves it, and loading a checkpoint replaces it as one unit (the Logger's
  epoch log stays).
"""

import os
import tempfile
import unittest

import numpy as np

from neural_networks.datasets import Data, Dataset
from neural_networks.models import NeuralNetwork
from neural_networks.training_state import TrainingState
from neural_networks.utils import AttrDict

FIELDS = ("epoch", "iteration", "history", "epoch_totals", "data_order", "data_batch_size",
          "epoch_log")


def mid_epoch_state():
    """A state two steps into its second epoch over 10 examples in batches of 4."""
    state = TrainingState()
    state.count_step(0.5, 0.25, 4)
    state.count_epoch({"epoch": 1, "train_loss": 0.5, "train_error": 0.25, "seconds": 0.1})
    state.steps_done()
    state.start_epoch()
    data = Data(np.arange(10.0)[:, None], batch_size=4)
    data.reset()
    for loss, n in ((0.75, 4), (0.25, 4)):
        data.sample()
        state.count_step(loss, 0.5, n)
    state.keep_position(data)
    return state, data


class TestSteps(unittest.TestCase):
    def test_a_new_state(self):
        state = TrainingState()
        self.assertEqual((state.epoch, state.iteration), (0, 0))
        self.assertEqual(state.history, {"iteration_loss": [], "epochs": []})
        self.assertEqual(state.epoch_totals, {"loss": 0.0, "error": 0.0, "count": 0})
        self.assertEqual((state.data_order, state.data_batch_size), (None, None))
        self.assertEqual(state.epoch_log, {"loss": {}, "error": {}})

    def test_the_steps_of_an_epoch(self):
        state, data = mid_epoch_state()
        self.assertEqual((state.epoch, state.iteration), (1, 2))
        self.assertEqual(state.history["iteration_loss"], [0.5, 0.75, 0.25])
        # 0.75 * 4 + 0.25 * 4 and 0.5 * 4 * 2, over 8 examples.
        self.assertEqual(state.epoch_totals, {"loss": 4.0, "error": 4.0, "count": 8})
        np.testing.assert_array_equal(state.data_order, data.order)
        self.assertIsNot(state.data_order, data.order)  # a copy: the split moves on
        self.assertEqual(state.data_batch_size, 4)
        state.steps_done()
        self.assertEqual((state.iteration, state.data_order, state.data_batch_size),
                         (0, None, None))

    def test_an_early_stop_lasts_until_the_next_epoch(self):
        state = TrainingState()
        for epoch in (1, 2, 3):
            state.count_epoch({"epoch": epoch})
        state.stop_early(1, 2)
        self.assertEqual(state.history["stopped_early"],
                         {"epoch": 3, "best_epoch": 1, "patience": 2})
        self.assertEqual(state.epoch_log["stopped_early"], 3)
        state.count_epoch({"epoch": 4})
        self.assertNotIn("stopped_early", state.history)
        self.assertNotIn("stopped_early", state.epoch_log)


class TestJson(unittest.TestCase):
    def test_between_epochs(self):
        state = TrainingState()
        state.count_step(0.5, 0.0, 3)
        state.count_epoch({"epoch": 1, "train_loss": 0.5})
        state.steps_done()
        fields, arrays = state.to_json()
        self.assertEqual(fields, {"epoch": 1, "iteration": 0, "batch_size": None,
                                  "partial": {"loss": 1.5, "error": 0.0, "count": 3},
                                  "history": {"iteration_loss": [0.5],
                                              "epochs": [{"epoch": 1, "train_loss": 0.5}]}})
        self.assertEqual(arrays, {})
        loaded = TrainingState.from_json(fields, arrays)
        self.assertEqual((loaded.epoch, loaded.iteration, loaded.history),
                         (1, 0, state.history))

    def test_in_the_middle_of_an_epoch(self):
        state, _ = mid_epoch_state()
        fields, arrays = state.to_json(batch_size=4)
        self.assertEqual((fields["iteration"], fields["batch_size"]), (2, 4))
        self.assertEqual(list(arrays), ["data/order"])
        loaded = TrainingState.from_json(fields, arrays)
        for name in FIELDS[:-1]:
            with self.subTest(field=name):
                if name == "data_order":
                    np.testing.assert_array_equal(loaded.data_order, state.data_order)
                else:
                    self.assertEqual(getattr(loaded, name), getattr(state, name))
        with self.assertRaisesRegex(ValueError, "in the middle of an epoch a checkpoint needs "
                                                "the training split's order and batch size"):
            state.to_json()

    def test_what_does_not_fit_is_named(self):
        state, _ = mid_epoch_state()
        good_fields, good_arrays = state.to_json(batch_size=4)
        cases = (
            ({"epoch": -1}, {}, "epoch must be a whole number >= 0, got -1"),
            ({"iteration": True}, {}, "iteration must be a whole number >= 0"),
            ({"epoch": 2}, {}, "it records 1 epochs of history but says 2 were done"),
            ({"history": {"epochs": []}}, {}, "its history is malformed"),
            ({"batch_size": 0}, {}, "without its batch size"),
            ({"partial": {"loss": "x", "error": 0, "count": 1}}, {}, "running totals"),
            ({}, {"data/order": np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8])}, "not a permutation"),
            ({}, {"data/order": None}, "the data order is missing"),
            ({"iteration": 0, "history": {**state.history, "stopped_early": {"epoch": 1}}}, {},
             "early-stop record"),
        )
        for fields, arrays, fragment in cases:
            with self.subTest(fragment=fragment):
                arrays = {k: v for k, v in {**good_arrays, **arrays}.items() if v is not None}
                with self.assertRaisesRegex(ValueError, fragment):
                    TrainingState.from_json({**good_fields, **fields}, arrays)


def small_network():
    return NeuralNetwork("cross_entropy",
                         [AttrDict(name="fully_connected", n_out=4, activation="relu"),
                          AttrDict(name="fully_connected", n_out=None, activation="softmax")],
                         AttrDict(name="SGD", lr=0.1), seed=0)


def small_dataset():
    rng = np.random.default_rng(0)
    return Dataset(rng.normal(size=(12, 3)), np.eye(2)[rng.integers(0, 2, size=12)],
                   batch_size=4)


class RecordingLogger:
    """What a course Logger is to the Trainer: something with push(epoch_log)."""

    def __init__(self):
        self.pushed = []

    def push(self, epoch_log):
        self.pushed.append(epoch_log)


class TestTheNetworksRecord(unittest.TestCase):
    def test_the_courses_names_read_and_write_through(self):
        model = small_network()
        for name in FIELDS:
            with self.subTest(field=name):
                self.assertIs(getattr(model, name), getattr(model.training_state, name))
        model.epoch = 7
        self.assertEqual(model.training_state.epoch, 7)
        log = {"loss": {"train": 1.0}, "error": {}}
        model.epoch_log = log  # as a course driver's train loop may
        self.assertIs(model.training_state.epoch_log, log)

    def test_training_moves_it_and_the_logger_gets_its_epoch_log(self):
        model = small_network()
        model.logger = RecordingLogger()
        model.epoch_log = {"loss": {}, "error": {}, "note": "the driver's"}
        model.train(small_dataset(), 2, verbose=False)
        state = model.training_state
        self.assertEqual((state.epoch, state.iteration), (2, 0))
        self.assertEqual(len(state.history["iteration_loss"]), 6)
        self.assertEqual([record["epoch"] for record in state.history["epochs"]], [1, 2])
        self.assertEqual(len(model.logger.pushed), 2)
        self.assertIs(model.logger.pushed[-1], model.epoch_log)
        self.assertEqual(model.epoch_log["note"], "the driver's")
        self.assertEqual(model.epoch_log["loss"]["train"], state.history["epochs"][1]["train_loss"])

    def test_loading_a_checkpoint_replaces_it_as_one_unit(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.npz")
            trained = small_network()
            trained.train(small_dataset(), 2, verbose=False)
            trained.save(path)
            model = small_network()
            log, before = model.epoch_log, model.training_state
            model.load(path)
        self.assertIsNot(model.training_state, before)
        self.assertEqual((model.epoch, model.iteration), (2, 0))
        self.assertEqual(model.history, trained.history)
        self.assertIs(model.epoch_log, log)  # the Logger's, not the checkpoint's


if __name__ == "__main__":
    unittest.main()
