"""The training loop (neural_networks/training.py, reached through NeuralNetwork.train).

- Resume is exact: a small net exercising every source of state and
  randomness (Conv2D, BatchNorm, Pool2D, Flatten, Dropout, FullyConnected;
  Adam with a cosine schedule with warm-up; crop+flip augmentation) resumed
  from its epoch-2 checkpoint, in this process and in a fresh one, ends with
  exactly the parameters (np.array_equal, float64) of the uninterrupted run;
  so does a run stopped by SIGINT or SIGTERM in the middle of an epoch (and at
  the last step of one), which raises TrainingInterrupted with its checkpoint
  and the exit status a shell would report (130, 143).
- A non-finite loss raises NonFiniteLossError naming the epoch and iteration
  and suggesting a lower learning rate; the bad step is not applied and the
  last good checkpoint stays byte-identical. Parameters that turn NaN after a
  finite loss never reach the `last` or `best` checkpoint.
- A model whose run raised trains on; a BatchNorm model never meets a batch
  of one example; misuse (epochs < 0, an unbuilt model, NaN to predict, ...)
  is a ValueError saying what was expected.
- Early stopping (``patience``) stops at the first epoch that ends ``patience``
  epochs without a better validation error, ends with the best epoch's
  parameters, records the stop in the history and in ``last.npz``, and a run
  resumed from its checkpoints stops exactly where the uninterrupted one does.
- train returns the run's history, one list per metric, named as metrics.csv's
  columns; the epoch line uses the same names, says when the train loss is on
  smoothed labels, and gives durations a precision that shows something.
"""

import contextlib
import io
import os
import signal
import tempfile
import unittest
import warnings

import numpy as np

from neural_networks import checkpoints
from neural_networks.datasets import Dataset
from neural_networks.models import (NeuralNetwork, NonFiniteLossError, TrainingInterrupted,
                                    load_model)
from neural_networks.run_folder import METRIC_COLUMNS
from neural_networks.training import epoch_line, format_duration, metrics_history
from neural_networks.utils import AttrDict
from tests.test_checkpoints import (EPOCHS, STEPS_PER_EPOCH, TempDirTestCase, build_model,
                                    epoch_records, make_dataset, resume_in_fresh_process,
                                    state_of)


class TestResume(TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        model = build_model(seed=0)
        model.train(make_dataset(), EPOCHS, verbose=False)
        cls.uninterrupted = state_of(model)
        cls.uninterrupted_records = epoch_records(model)
        cls.uninterrupted_losses = list(model.history["iteration_loss"])

    def first_two_epochs(self):
        model = build_model(seed=0)
        model.train(make_dataset(), 2, verbose=False, checkpoint=self.path())
        return model

    def test_resumed_run_equals_the_uninterrupted_run(self):
        self.first_two_epochs()
        np.random.seed(4321)  # disturb the generator: the checkpoint must restore it
        resumed = build_model(seed=99).load(self.path())
        self.assertEqual(resumed.epoch, 2)
        resumed.train(make_dataset(), EPOCHS - 2, verbose=False)
        self.assertEqual(resumed.epoch, EPOCHS)
        self.assertStatesEqual(state_of(resumed), self.uninterrupted)
        self.assertEqual(epoch_records(resumed), self.uninterrupted_records)
        self.assertEqual(resumed.history["iteration_loss"], self.uninterrupted_losses)

    def test_resumed_in_a_fresh_process(self):
        self.first_two_epochs()
        state = resume_in_fresh_process(self.path(), EPOCHS - 2, self.folder)
        self.assertStatesEqual(state, self.uninterrupted)

    def test_the_comparison_notices_missing_state(self):
        # Controls: resuming without the generator state, or without the
        # optimizer state, gives different parameters, so the tests above
        # would notice a checkpoint that lost either.
        self.first_two_epochs()
        for lose in ("generator", "optimizer"):
            with self.subTest(lose=lose):
                resumed = build_model(seed=99).load(self.path())
                if lose == "generator":
                    np.random.seed(4321)
                else:
                    resumed.optimizer.cache = {}
                resumed.train(make_dataset(), EPOCHS - 2, verbose=False)
                final = state_of(resumed)
                self.assertFalse(all(np.array_equal(final[k], v)
                                     for k, v in self.uninterrupted.items()))

    def interrupt_at(self, call, signum=signal.SIGINT):
        """Train with a checkpoint and send ``signum`` from inside the ``call``-th sample()."""
        model = build_model(seed=0)
        dataset = make_dataset()
        original_sample = dataset.train.sample
        calls = []

        def sample():
            calls.append(1)
            if len(calls) == call:
                os.kill(os.getpid(), signum)
            return original_sample()

        dataset.train.sample = sample
        handler = signal.getsignal(signal.SIGINT)
        term_handler = signal.getsignal(signal.SIGTERM)
        try:
            model.train(dataset, EPOCHS, verbose=False, checkpoint=self.path())
        except TrainingInterrupted as interrupted:
            error = interrupted
        except KeyboardInterrupt:
            self.fail("Ctrl-C with a checkpoint must raise TrainingInterrupted")
        else:
            self.fail("training was not interrupted")
        self.assertIs(signal.getsignal(signal.SIGINT), handler)  # the handlers are put back
        self.assertIs(signal.getsignal(signal.SIGTERM), term_handler)
        self.assertEqual(error.exit_status, 128 + signum)
        self.assertEqual(error.checkpoint, self.path())
        self.assertIsInstance(error, KeyboardInterrupt)
        # The step during which Ctrl-C came was finished, and no further step taken.
        self.assertEqual(len(calls), call)
        self.assertEqual(len(model.history["iteration_loss"]), call)
        return model, error

    def test_sigint_mid_epoch_then_resume(self):
        model, error = self.interrupt_at(STEPS_PER_EPOCH + 2)  # epoch 2, step 2
        self.assertEqual((model.epoch, model.iteration), (1, 2))
        self.assertIn("epoch 2", str(error))
        saved = state_of(model)

        np.random.seed(4321)
        resumed = build_model(seed=99).load(self.path())
        self.assertEqual((resumed.epoch, resumed.iteration), (1, 2))
        self.assertStatesEqual(state_of(resumed), saved)
        resumed.train(make_dataset(), EPOCHS - 1, verbose=False)  # finishes epoch 2 first
        self.assertEqual(resumed.epoch, EPOCHS)
        self.assertStatesEqual(state_of(resumed), self.uninterrupted)
        self.assertEqual(epoch_records(resumed), self.uninterrupted_records)
        self.assertEqual(resumed.history["iteration_loss"], self.uninterrupted_losses)

    def test_sigterm_mid_epoch_then_resume(self):
        model, error = self.interrupt_at(STEPS_PER_EPOCH + 3, signal.SIGTERM)
        self.assertEqual((model.epoch, model.iteration), (1, 3))
        self.assertEqual(error.exit_status, 143)
        resumed = build_model(seed=99).load(self.path())
        resumed.train(make_dataset(), EPOCHS - 1, verbose=False)
        self.assertStatesEqual(state_of(resumed), self.uninterrupted)
        self.assertEqual(epoch_records(resumed), self.uninterrupted_records)

    def test_sigint_mid_epoch_then_resume_in_a_fresh_process(self):
        self.interrupt_at(2 * STEPS_PER_EPOCH + 1)  # epoch 3, step 1
        state = resume_in_fresh_process(self.path(), EPOCHS - 2, self.folder)
        self.assertStatesEqual(state, self.uninterrupted)

    def test_sigint_at_the_last_step_of_an_epoch(self):
        model, _ = self.interrupt_at(2 * STEPS_PER_EPOCH)
        self.assertEqual((model.epoch, model.iteration), (2, 0))
        resumed = build_model(seed=99).load(self.path())
        self.assertEqual((resumed.epoch, resumed.iteration), (2, 0))
        resumed.train(make_dataset(), EPOCHS - 2, verbose=False)
        self.assertStatesEqual(state_of(resumed), self.uninterrupted)

    def test_ctrl_c_handler_is_put_back_after_a_run(self):
        def handler(signum, frame):
            raise AssertionError("not to be called")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            model = build_model(seed=0)
            model.train(make_dataset(), 1, verbose=False, checkpoint=self.path())
            self.assertIs(signal.getsignal(signal.SIGINT), handler)
        finally:
            signal.signal(signal.SIGINT, previous)

    def test_sigint_without_a_checkpoint_is_a_plain_keyboard_interrupt(self):
        model = build_model(seed=0)
        dataset = make_dataset()
        original_sample = dataset.train.sample

        def sample():
            os.kill(os.getpid(), signal.SIGINT)
            return original_sample()

        dataset.train.sample = sample
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with self.assertRaises(KeyboardInterrupt) as raised:
                model.train(dataset, 1, verbose=False)
        finally:
            signal.signal(signal.SIGINT, previous)
        self.assertNotIsInstance(raised.exception, TrainingInterrupted)
        self.assertEqual(os.listdir(self.folder), [])


class TestNonFiniteLoss(TempDirTestCase):
    def small_l2_model(self, activation="relu"):
        return NeuralNetwork(
            "l2",
            [AttrDict(name="fully_connected", n_out=8, activation=activation),
             AttrDict(name="fully_connected", n_out=None, activation="linear")],
            dict(name="SGD", lr=0.01), seed=0,
        )

    @staticmethod
    def regression_data(scale=1.0):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(20, 3)) * scale
        Y = rng.normal(size=(20, 2))
        return Dataset(X, Y, batch_size=5)

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_data_that_overflows(self):
        model = self.small_l2_model()
        model.train(self.regression_data(), 1, verbose=False, checkpoint=self.path())
        good_bytes = self.read(self.path())
        good_state = state_of(model)
        huge = self.regression_data(scale=1e200)  # finite, but the squared error is not
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with self.assertRaises(NonFiniteLossError) as raised:
                model.train(huge, 3, verbose=False, checkpoint=self.path())
        message = str(raised.exception)
        self.assertIn("epoch 2", message)
        self.assertIn("iteration 1", message)
        self.assertIn(f"; the last checkpoint ({self.path()}) is kept", message)
        self.assertIn("lower learning rate", message)
        self.assertIsInstance(raised.exception, FloatingPointError)
        self.assertEqual(self.read(self.path()), good_bytes)
        self.assertStatesEqual(state_of(model), good_state)  # the bad step was not applied
        for value in good_state.values():
            self.assertTrue(np.all(np.isfinite(value)))
        self.assertEqual(model.epoch, 1)
        self.assertEqual(len(model.history["iteration_loss"]), STEPS_PER_EPOCH)
        self.assertEqual(os.listdir(self.folder), ["model.npz"])

    def test_learning_rate_that_diverges(self):
        model = self.small_l2_model(activation="linear")
        dataset = self.regression_data()
        model.train(dataset, 1, verbose=False, checkpoint=self.path())
        model.optimizer.lr = lambda epoch: 10.0  # from now on, a rate far too large

        checkpoint_bytes = []
        after_update = []
        original_update = model.update

        def update(epoch):
            original_update(epoch)
            after_update.append(state_of(model))

        model.update = update
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with self.assertRaises(NonFiniteLossError) as raised:
                model.train(dataset, 50, verbose=False, checkpoint=self.path(),
                            on_epoch_end=lambda m, r: checkpoint_bytes.append(self.read(self.path())))
        message = str(raised.exception)
        self.assertIn(f"epoch {model.epoch + 1}, iteration {model.iteration + 1}", message)
        self.assertIn("lower learning rate", message)
        self.assertGreater(model.epoch, 1)  # it took a few epochs to blow up
        # The failing step changed nothing: the parameters are the last update's.
        self.assertStatesEqual(state_of(model), after_update[-1])
        # The checkpoint is the last one written at an epoch's end, and it is finite.
        self.assertEqual(self.read(self.path()), checkpoint_bytes[-1])
        loaded = self.small_l2_model(activation="linear").load(self.path())
        self.assertEqual(loaded.epoch, model.epoch)
        for key, value in state_of(loaded).items():
            self.assertTrue(np.all(np.isfinite(value)), key)

    def test_no_checkpoint_is_written_when_the_first_step_fails(self):
        model = self.small_l2_model()
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with self.assertRaises(NonFiniteLossError) as raised:
                model.train(self.regression_data(scale=1e200), 1, verbose=False,
                            checkpoint=self.path())
        self.assertIn("epoch 1, iteration 1", str(raised.exception))
        # The old message said "the last checkpoint (...) is kept" of a file never written.
        self.assertIn(f"; no checkpoint was written yet ({self.path()})", str(raised.exception))
        self.assertNotIn("is kept", str(raised.exception))
        self.assertEqual(os.listdir(self.folder), [])


class TestNaNNeverReachesACheckpoint(TempDirTestCase):
    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_parameters_that_turn_nan_after_a_finite_loss(self):
        model = build_model(seed=0)
        last, best = self.path("last.npz"), self.path("best.npz")
        model.train(make_dataset(), 1, verbose=False, checkpoint=last, best_checkpoint=best)
        good = {path: self.read(path) for path in (last, best)}
        original_update = model.update

        def update(epoch):
            # The loss of this step was finite; the step itself leaves a NaN.
            original_update(epoch)
            if model.iteration == STEPS_PER_EPOCH - 1:
                model.layers[0].parameters["W"][0, 0, 0, 0] = np.nan

        model.update = update
        with self.assertRaisesRegex(NonFiniteLossError, "layer 0 parameter W"):
            model.train(make_dataset(), 1, verbose=False, checkpoint=last, best_checkpoint=best)
        for path, content in good.items():
            with open(path, "rb") as f:
                self.assertEqual(f.read(), content, path)
        self.assertEqual(model.epoch, 1)  # the bad epoch is not counted

    def test_save_refuses_nan(self):
        model = build_model(seed=0)
        model.train(make_dataset(), 1, verbose=False)
        model.layers[1].buffers["running_var"][0, 0] = np.inf
        with self.assertRaisesRegex(ValueError, "layer 1 buffer running_var"):
            model.save(self.path())
        self.assertEqual(os.listdir(self.folder), [])


class TestTrainAgain(TempDirTestCase):
    def test_a_run_that_raised_trains_on(self):
        uninterrupted = build_model(seed=0)
        uninterrupted.train(make_dataset(), 2, verbose=False)

        model = build_model(seed=0)
        dataset = make_dataset()
        sample, calls = dataset.train.sample, []

        def sample_that_fails_once():
            calls.append(1)
            if len(calls) == STEPS_PER_EPOCH + 2:
                raise OSError("the data went away for a moment")
            return sample()

        dataset.train.sample = sample_that_fails_once
        with self.assertRaisesRegex(OSError, "went away"):
            model.train(dataset, 2, verbose=False)
        self.assertEqual((model.epoch, model.iteration), (1, 1))
        for layer in model.layers:  # no half-done step is left behind
            self.assertFalse(layer.cache)
        model.train(dataset, 1, verbose=False)  # finishes epoch 2
        self.assertEqual((model.epoch, model.iteration), (2, 0))
        self.assertStatesEqual(state_of(model), state_of(uninterrupted))

    def test_after_a_non_finite_loss(self):
        model = NeuralNetwork("l2", [AttrDict(name="fully_connected", n_out=3,
                                              activation="linear")],
                              dict(name="SGD", lr=0.01), seed=0)
        rng = np.random.default_rng(0)
        X, Y = rng.normal(size=(20, 4)), rng.normal(size=(20, 3))
        huge = Dataset(X * 1e200, Y, batch_size=5)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with self.assertRaises(NonFiniteLossError):
                model.train(huge, 1, verbose=False)
        model.train(Dataset(X, Y, batch_size=5), 2, verbose=False)
        self.assertEqual(model.epoch, 2)


class TestBatchOfOne(unittest.TestCase):
    def test_batchnorm_model_with_a_last_batch_of_one_example(self):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(21, 4))
        Y = np.eye(3)[rng.integers(0, 3, size=21)]
        dataset = Dataset(X, Y, batch_size=10)  # batches of 10, 10 and 1
        model = NeuralNetwork(
            "cross_entropy",
            [AttrDict(name="fully_connected", n_out=6, activation="linear"),
             AttrDict(name="batchnorm", activation="relu"),
             AttrDict(name="fully_connected", n_out=None, activation="softmax")],
            dict(name="SGD", lr=0.1), seed=0)
        sizes = []
        original_forward = model.forward

        def forward(X):
            if model.training:
                sizes.append(X.shape[0])
            return original_forward(X)

        model.forward = forward
        model.train(dataset, 2, verbose=False)
        self.assertEqual(model.epoch, 2)
        self.assertNotIn(1, sizes)
        self.assertEqual(sum(sizes), 2 * 21)  # every example, every epoch


    def test_the_last_batch_is_as_large_as_a_layer_declares_it_needs(self):
        rng = np.random.default_rng(0)
        dataset = Dataset(rng.normal(size=(22, 4)), np.eye(3)[rng.integers(0, 3, size=22)],
                          batch_size=10)  # batches of 10, 10 and 2
        model = NeuralNetwork(
            "cross_entropy",
            [AttrDict(name="fully_connected", n_out=6, activation="relu"),
             AttrDict(name="fully_connected", n_out=None, activation="softmax")],
            dict(name="SGD", lr=0.1), seed=0).build((4,), n_out=3)
        model.layers[0].min_train_batch = 3
        model.train(dataset, 1, verbose=False)
        self.assertEqual(dataset.train.min_last_batch, 3)
        self.assertEqual(len(model.history["iteration_loss"]), 2)  # 10 and 12


def wandering_validation(seed=0):
    """A learnable training split and a validation split with random labels, so the
    validation error wanders and stops improving after a few epochs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 5))
    Y = np.eye(3)[np.argmax(X[:, :3], axis=1)]
    Y[40:] = np.eye(3)[rng.integers(0, 3, size=20)]
    return Dataset(X[:40], Y[:40], 10, validation_set=X[40:], validation_labels=Y[40:])


def small_classifier():
    return NeuralNetwork(
        "cross_entropy",
        [AttrDict(name="fully_connected", n_out=16, activation="relu"),
         AttrDict(name="fully_connected", n_out=None, activation="softmax")],
        dict(name="SGD", lr=0.2, momentum=0.9), seed=0)


class TestEarlyStopping(TempDirTestCase):
    PATIENCE, EPOCHS = 2, 40

    @classmethod
    def setUpClass(cls):
        """The run without patience, its state after every epoch, and where a run with
        patience must stop: the first epoch e with e - (first best epoch up to e) >= P."""
        model, cls.states = small_classifier(), []
        model.train(wandering_validation(), cls.EPOCHS, verbose=False,
                    on_epoch_end=lambda m, record: cls.states.append(m.state_dict()))
        cls.records = epoch_records(model)
        errors = [r["validate_error"] for r in cls.records]
        cls.stop = next(e for e in range(1, cls.EPOCHS + 1)
                        if e - (int(np.argmin(errors[:e])) + 1) >= cls.PATIENCE)
        cls.best = int(np.argmin(errors[:cls.stop])) + 1

    def assert_state(self, model, state):
        self.assertEqual(sorted(model.state_dict()), sorted(state))
        for key, value in model.state_dict().items():
            self.assertTrue(np.array_equal(value, state[key]), key)

    def test_stops_after_patience_epochs_without_improvement(self):
        self.assertLess(self.stop, self.EPOCHS)  # the data make the test mean something
        model = small_classifier()
        model.train(wandering_validation(), self.EPOCHS, verbose=False, patience=self.PATIENCE)
        self.assertEqual(model.epoch, self.stop)
        self.assertEqual(epoch_records(model), self.records[:self.stop])
        record = {"epoch": self.stop, "best_epoch": self.best, "patience": self.PATIENCE}
        self.assertEqual(model.history["stopped_early"], record)
        self.assertEqual(model.epoch_log["stopped_early"], self.stop)
        # It ends as the best epoch ended, not as the last one.
        self.assert_state(model, self.states[self.best - 1])
        self.assertFalse(np.array_equal(model.layers[0].parameters["W"],
                                        self.states[self.stop - 1]["0.W"]))
        # The record describes the last epoch: one more epoch trained takes it away.
        model.train(wandering_validation(), 1, verbose=False)
        self.assertNotIn("stopped_early", model.history)
        self.assertNotIn("stopped_early", model.epoch_log)

    def test_checkpoints_of_an_early_stop(self):
        model = small_classifier()
        model.train(wandering_validation(), self.EPOCHS, verbose=False, patience=self.PATIENCE,
                    checkpoint=self.path("last.npz"), best_checkpoint=self.path("best.npz"))
        # last.npz: the last epoch trained, with the stop recorded; best.npz: the best.
        last = load_model(self.path("last.npz"))
        self.assertEqual(last.epoch, self.stop)
        self.assertEqual(last.history["stopped_early"]["best_epoch"], self.best)
        self.assert_state(last, self.states[self.stop - 1])
        best = checkpoints.read(self.path("best.npz"))
        self.assertEqual(best.meta["epoch"], self.best)
        self.assert_state(model, self.states[self.best - 1])

    def test_a_resumed_run_stops_where_the_uninterrupted_one_does(self):
        # Stopped one epoch after the best: the best parameters exist only in best.npz.
        first = small_classifier()
        first.train(wandering_validation(), self.best + 1, verbose=False,
                    patience=self.PATIENCE, checkpoint=self.path("last.npz"),
                    best_checkpoint=self.path("best.npz"))
        self.assertNotIn("stopped_early", first.history)
        resumed = load_model(self.path("last.npz"))
        with self.assertRaisesRegex(ValueError, f"best_checkpoint written at epoch {self.best}"):
            resumed.train(wandering_validation(), self.EPOCHS, verbose=False,
                          patience=self.PATIENCE)
        self.assertEqual(resumed.epoch, self.best + 1)  # refused before any step
        resumed.train(wandering_validation(), self.EPOCHS, verbose=False,
                      patience=self.PATIENCE, best_checkpoint=self.path("best.npz"))
        self.assertEqual(resumed.epoch, self.stop)
        self.assertEqual(epoch_records(resumed), self.records[:self.stop])
        self.assert_state(resumed, self.states[self.best - 1])

    def test_bad_patience_is_refused(self):
        for patience in (0, -1, 1.5, True, "2"):
            with self.subTest(patience=patience):
                model = small_classifier()
                with self.assertRaisesRegex(ValueError, r"patience \(epochs, or None\) must be a "
                                                        f"whole number and >= 1, got {patience!r}"):
                    model.train(wandering_validation(), 3, verbose=False, patience=patience)
                self.assertEqual(model.epoch, 0)
        data = wandering_validation()
        no_validation = Dataset(data.train.data, data.train.labels, 10)
        with self.assertRaisesRegex(ValueError, "no labeled validation split"):
            small_classifier().train(no_validation, 3, verbose=False, patience=2)


class TestMisuse(unittest.TestCase):
    def setUp(self):
        self.model = NeuralNetwork(
            "cross_entropy",
            [AttrDict(name="fully_connected", n_out=4, activation="relu"),
             AttrDict(name="fully_connected", n_out=None, activation="softmax")],
            dict(name="SGD", lr=0.1), seed=0)
        rng = np.random.default_rng(0)
        self.X = rng.normal(size=(12, 3))
        self.dataset = Dataset(self.X, np.eye(2)[rng.integers(0, 2, size=12)], batch_size=4)

    def test_epochs_must_be_a_whole_number_at_least_zero(self):
        for epochs in (-1, 1.5, "3", True, None):
            with self.subTest(epochs=epochs):
                with self.assertRaisesRegex(ValueError, "epochs must be a whole number and >= 0"):
                    self.model.train(self.dataset, epochs, verbose=False)
        self.model.train(self.dataset, 0, verbose=False)
        self.assertEqual(self.model.epoch, 0)

    def test_what_train_is_given(self):
        with self.assertRaisesRegex(ValueError, "expected a Dataset .* got ndarray"):
            self.model.train(self.X, 1, verbose=False)
        with tempfile.TemporaryDirectory() as tmp:
            a_file = os.path.join(tmp, "a_file")
            open(a_file, "w").close()
            for path, fragment in ((os.path.join(a_file, "last.npz"), "cannot make the folder"),
                                   (tmp, "folder"), ("/dev/null", "character device")):
                with self.subTest(path=path):
                    with self.assertRaisesRegex(ValueError, fragment):
                        self.model.train(self.dataset, 2, verbose=False, checkpoint=path)
                    # Refused before any step: nothing was trained.
                    self.assertEqual((self.model.epoch, self.model.history["iteration_loss"]),
                                     (0, []))
        for shape in ((0,), (), (2.5,), (-3, 1)):
            with self.subTest(input_shape=shape):
                with self.assertRaisesRegex(ValueError, "input_shape"):
                    self.model.build(input_shape=shape, n_out=2)

    def test_missing_checkpoint_folders_are_made(self):
        with tempfile.TemporaryDirectory() as tmp:
            last = os.path.join(tmp, "runs", "first", "last.npz")
            best = os.path.join(tmp, "runs", "best", "best.npz")
            self.model.train(self.dataset, 1, verbose=False, checkpoint=last,
                             best_checkpoint=best)
            self.assertEqual(load_model(last).epoch, 1)
            # best.npz comes with a validated epoch; its folder is there already.
            self.assertTrue(os.path.isdir(os.path.dirname(best)))

    def test_forward_on_an_unbuilt_model(self):
        with self.assertRaisesRegex(ValueError, "output layer is not built"):
            self.model.forward(self.X)
        with self.assertRaisesRegex(ValueError, "output layer is not built"):
            self.model.predict(self.X)

    def test_build_then_forward(self):
        self.model.build(input_shape=(3,), n_out=2)
        self.assertEqual(self.model.layers[0].parameters["W"].shape, (3, 4))
        self.assertEqual(self.model.forward(self.X).shape, (12, 2))
        with self.assertRaisesRegex(ValueError, "2 units but the data has 5"):
            self.model.build(n_out=5)

    def test_predict_refuses_nan_and_empty_input(self):
        self.model.train(self.dataset, 1, verbose=False)
        bad = self.X.copy()
        bad[3, 1] = np.nan
        with self.assertRaisesRegex(ValueError, "NaN"):
            self.model.predict(bad)
        with self.assertRaisesRegex(ValueError, "at least one example"):
            self.model.predict(self.X[:0])
        with self.assertRaisesRegex(ValueError, "batch_size"):
            self.model.predict(self.X, batch_size=0)

    def test_cross_entropy_needs_a_softmax_output(self):
        for output in ("sigmoid", "linear", None):
            with self.subTest(output=output):
                with self.assertRaisesRegex(ValueError, "must be 'softmax'"):
                    NeuralNetwork("cross_entropy",
                                  [AttrDict(name="fully_connected", n_out=None,
                                            activation=output)],
                                  dict(name="SGD", lr=0.1))

    def test_bad_constructor_arguments(self):
        softmax = [AttrDict(name="fully_connected", n_out=None, activation="softmax")]
        for args, fragment in (
            (("cross_entropy", [], dict(name="SGD", lr=0.1)), "at least one layer"),
            (("cross_entropy", "fully_connected", dict(name="SGD", lr=0.1)), "list of dicts"),
            (("cross_entropy", [{"n_out": 3}], dict(name="SGD", lr=0.1)), "layer_args[0]"),
            (("cross_entropy", softmax, {"lr": 0.1}), "optimizer_args"),
        ):
            with self.subTest(fragment=fragment):
                with self.assertRaises(ValueError) as raised:
                    NeuralNetwork(*args)
                self.assertIn(fragment, str(raised.exception))
        with self.assertRaisesRegex(ValueError, "seed"):
            NeuralNetwork("cross_entropy", softmax, dict(name="SGD", lr=0.1), seed=-1)


class TestHistory(unittest.TestCase):
    """train returns the whole run's history, one list per metric, under the names of
    metrics.csv's columns, which the epoch line prints too."""

    def setUp(self):
        self.model = NeuralNetwork(
            "cross_entropy",
            [AttrDict(name="fully_connected", n_out=6, activation="relu"),
             AttrDict(name="fully_connected", n_out=None, activation="softmax")],
            dict(name="SGD", lr=0.1, momentum=0.9), seed=0)
        rng = np.random.default_rng(0)
        X, Y = rng.normal(size=(30, 3)), np.eye(3)[rng.integers(0, 3, size=30)]
        self.dataset = Dataset(X[:24], Y[:24], 8, validation_set=X[24:],
                               validation_labels=Y[24:])

    def train(self, epochs, dataset=None):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            history = self.model.train(dataset or self.dataset, epochs)
        return history, out.getvalue().splitlines()

    def test_train_returns_every_epoch_under_the_csv_names(self):
        self.train(2)
        history, lines = self.train(1)  # a second call: the run's epochs from the first
        self.assertEqual(list(history), list(METRIC_COLUMNS))
        self.assertEqual(history["epoch"], [1, 2, 3])
        for name in METRIC_COLUMNS:
            self.assertEqual(len(history[name]), 3, name)
        # The last validation figures, by hand from the model's outputs.
        Y_hat, _ = self.model.predict(self.dataset.validate.data)
        Y = self.dataset.validate.labels
        self.assertAlmostEqual(history["val_loss"][-1], -np.mean(np.log(Y_hat[Y == 1])),
                               places=12)
        self.assertAlmostEqual(history["val_accuracy"][-1],
                               np.mean(Y_hat.argmax(axis=1) == Y.argmax(axis=1)), places=15)
        # Epoch 3's line names them the same way, with the same values.
        (line,) = lines
        for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            self.assertIn(f"  {name} {history[name][-1]:.4f}", line)
        self.assertTrue(line.startswith("epoch 3/3  train_loss "), line)

    def test_without_validation_the_validation_lists_hold_none(self):
        data = self.dataset.train
        history, lines = self.train(2, Dataset(data.data, data.labels, 8))
        self.assertEqual(history["val_loss"], [None, None])
        self.assertEqual(history["val_accuracy"], [None, None])
        self.assertNotIn("val_", lines[-1])

    def test_the_epoch_line(self):
        row = {"epoch": 3, "train_loss": 0.61234, "train_accuracy": 0.9, "val_loss": 0.28111,
               "val_accuracy": 0.915, "seconds": 22.94}
        self.assertEqual(epoch_line(row, 10), "epoch 3/10  train_loss 0.6123  train_accuracy "
                                              "0.9000  val_loss 0.2811  val_accuracy 0.9150  "
                                              "(22.9 s)")
        # Trained on smoothed labels, the train loss says so (it is not comparable
        # with the validation loss on the true labels).
        self.assertEqual(epoch_line(row, 10, label_smoothing=0.1),
                         "epoch 3/10  train_loss 0.6123 (labels smoothed by 0.1)  "
                         "train_accuracy 0.9000  val_loss 0.2811  val_accuracy 0.9150  (22.9 s)")

    def test_durations_show_something_at_every_scale(self):
        # An Iris epoch of 5 steps takes milliseconds: never "(0.0 s)".
        for seconds, text in ((0.0032, "3.2 ms"), (0.0123, "12 ms"), (0.4, "400 ms"),
                              (3.44, "3.4 s"), (59.9, "59.9 s"), (232.4, "3 min 52 s")):
            with self.subTest(seconds=seconds):
                self.assertEqual(format_duration(seconds), text)
        row = {"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": None,
               "val_accuracy": None, "seconds": 0.0042}
        self.assertTrue(epoch_line(row, 100).endswith("  (4.2 ms)"))

    def test_old_checkpoints_keep_their_history(self):
        # model.history keeps the layout checkpoints store; only train's return
        # value uses the new names.
        self.train(2)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "last.npz")
            self.model.save(path)
            loaded = load_model(path)
        self.assertEqual(set(loaded.history["epochs"][0]),
                         {"epoch", "train_loss", "train_error", "validate_loss",
                          "validate_error", "seconds"})
        self.assertEqual(metrics_history(loaded.history), metrics_history(self.model.history))


if __name__ == "__main__":
    unittest.main()
