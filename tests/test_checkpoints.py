"""Checkpoints and fault-tolerant training (neural_networks/checkpoints.py and
NeuralNetwork.save / load / train in neural_networks/models.py).

- A save/load round trip restores parameters, BatchNorm running statistics,
  optimizer state (Adam moments and step counts, SGD momentum buffers), the
  epoch, numpy's generator state, the layer arguments and the history.
- Writes are atomic: a write that fails half-way (simulated) leaves the
  previous checkpoint byte-identical and no temporary file; a real process
  SIGKILLed while saving a large checkpoint in a loop leaves a checkpoint that
  loads and is one complete version.
- Resume is exact: a small net exercising every source of state and
  randomness (Conv2D, BatchNorm, Pool2D, Flatten, Dropout, FullyConnected;
  Adam with a cosine schedule with warm-up; crop+flip augmentation) resumed
  from its epoch-2 checkpoint, in this process and in a fresh one, ends with
  exactly the parameters (np.array_equal, float64) of the uninterrupted run;
  so does a run stopped by SIGINT in the middle of an epoch (and at the last
  step of one), which raises TrainingInterrupted with its checkpoint.
- Loading into a different architecture raises ValueError naming the layer
  and the differing settings or shapes.
- A non-finite loss raises NonFiniteLossError naming the epoch and iteration
  and suggesting a lower learning rate; the bad step is not applied and the
  last good checkpoint stays byte-identical. Parameters that turn NaN after a
  finite loss never reach the `last` or `best` checkpoint.
- Every corrupt checkpoint (truncated, bit-flipped, junk, entries missing,
  invalid JSON, wrong dtypes or shapes, NaN parameters, another loss or
  optimizer, another batch size when resuming mid-epoch, an input shape or
  early-stop record that does not fit) is a ValueError naming the file, and
  the model is left as it was.
- The input shape of one example is saved and restored; a file written
  before it joined the format still loads, its shapes known at the next batch.
- Hostile files, small on disk (an array header declaring terabytes, a
  member inflating to 1.5 GiB, sizes beyond the file, a name twice, JSON
  nested 100,000 deep, integers of thousands of digits, an input shape of
  trillions of values), are ValueErrors naming the file, with a traced peak
  under 64 MiB.
- A network saved before it saw data loads as it was and trains on exactly
  as the saved one; a float32 file with float64 optimizer state or running
  statistics (written before inputs took the network's dtype) loads in
  float32.
"""

import copy
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import unittest
import warnings
import zipfile
import zlib
from unittest import mock

import numpy as np

from neural_networks import checkpoints
from neural_networks.augmentation import RandomCropFlip
from neural_networks.datasets import Dataset
from neural_networks.models import NeuralNetwork, load_model
from neural_networks.optimizers import OPTIMIZERS, SGD
from neural_networks.utils import AttrDict
from tests.make_checkpoint_fixtures import FIXTURES, fixture_dataset
from tests.make_checkpoint_fixtures import FOLDER as FIXTURE_FOLDER
from tests.make_checkpoint_fixtures import build as build_fixture

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

N_TRAIN, N_VALIDATE, BATCH_SIZE, CLASSES = 40, 12, 10, 3
STEPS_PER_EPOCH = N_TRAIN // BATCH_SIZE
EPOCHS = 4

LAYER_ARGS = [
    AttrDict(name="conv2d", n_out=4, kernel_shape=(3, 3), activation="linear"),
    AttrDict(name="batchnorm", activation="relu"),
    AttrDict(name="pool2d", kernel_shape=2, stride=2, mode="max"),
    AttrDict(name="flatten"),
    AttrDict(name="dropout", p=0.3),
    AttrDict(name="fully_connected", n_out=None, activation="softmax"),
]

ADAM_ARGS = dict(name="Adam", lr=0.01, lr_scheduler="cosine", total_epochs=EPOCHS,
                 warmup_epochs=1, weight_decay=1e-3)
SGD_ARGS = dict(name="SGD", lr=0.05, momentum=0.9)


def make_dataset(channels=2, classes=CLASSES, seed=0, dtype=np.float64):
    """Small random NHWC images, with crop+flip augmentation on the training split."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_VALIDATE
    X = rng.normal(size=(n, 8, 8, channels)).astype(dtype)
    Y = np.eye(classes, dtype=dtype)[rng.integers(0, classes, size=n)]
    dataset = Dataset(X[:N_TRAIN], Y[:N_TRAIN], BATCH_SIZE, validation_set=X[N_TRAIN:],
                      validation_labels=Y[N_TRAIN:])
    dataset.train.augment = RandomCropFlip(pad=2)
    return dataset


def build_model(seed=0, layer_args=LAYER_ARGS, optimizer_args=ADAM_ARGS):
    return NeuralNetwork("cross_entropy", copy.deepcopy(layer_args), dict(optimizer_args),
                         seed=seed)


def state_of(model):
    """Every parameter and buffer, keyed by layer index and name (copies)."""
    state = {}
    for i, layer in enumerate(model.layers):
        for name, value in layer.parameters.items():
            state[f"{i}.{name}"] = value.copy()
        for name, value in getattr(layer, "buffers", {}).items():
            state[f"{i}.{name}"] = value.copy()
    return state


def epoch_records(model):
    """The per-epoch history without the wall-clock times."""
    return [{k: v for k, v in record.items() if k != "seconds"}
            for record in model.history["epochs"]]


# Run in a fresh interpreter: load a checkpoint into a model built with
# another seed, train the given number of epochs, write the final state.
RESUME_SCRIPT = """
import sys
import numpy as np
from tests.test_checkpoints import build_model, make_dataset, state_of
path, epochs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = build_model(seed=987).load(path)
model.train(make_dataset(), epochs, verbose=False)
np.savez(out, **state_of(model))
"""


def resume_in_fresh_process(path, epochs, folder):
    out = os.path.join(folder, "resumed_state.npz")
    subprocess.run([sys.executable, "-c", RESUME_SCRIPT, path, str(epochs), out], cwd=REPO_ROOT,
                   check=True, timeout=120, capture_output=True)
    with np.load(out) as archive:
        return {key: archive[key] for key in archive.files}


class TempDirTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.folder = self._tmp.name
        self.addCleanup(self._tmp.cleanup)

    def path(self, name="model.npz"):
        return os.path.join(self.folder, name)

    def assertStatesEqual(self, actual, expected):
        self.assertEqual(sorted(actual), sorted(expected))
        for key in expected:
            self.assertEqual(actual[key].dtype, expected[key].dtype, key)
            self.assertTrue(np.array_equal(actual[key], expected[key]),
                            f"{key} differs: max |diff| "
                            f"{np.abs(actual[key] - expected[key]).max():.3e}")


class TestRoundTrip(TempDirTestCase):
    def trained(self, optimizer_args, epochs=1):
        model = build_model(seed=0, optimizer_args=optimizer_args)
        model.train(make_dataset(), epochs, verbose=False)
        return model

    def test_adam_model_round_trip(self):
        model = self.trained(ADAM_ARGS, epochs=2)
        generator = np.random.get_state()
        model.save(self.path())
        np.random.seed(12345)  # anything; load must bring the saved state back

        fresh = build_model(seed=1)
        fresh.load(self.path())
        self.assertStatesEqual(state_of(fresh), state_of(model))
        # The running statistics were trained (not the defaults 0 and 1).
        self.assertFalse(np.allclose(fresh.layers[1].buffers["running_mean"], 0))
        self.assertFalse(np.allclose(fresh.layers[1].buffers["running_var"], 1))
        # Adam's moments and step counts.
        self.assertEqual(set(fresh.optimizer.cache), set(model.optimizer.cache))
        for name, entry in model.optimizer.cache.items():
            self.assertEqual(fresh.optimizer.cache[name]["t"], 2 * STEPS_PER_EPOCH)
            self.assertEqual(int(fresh.optimizer.cache[name]["t"]), int(entry["t"]))
            np.testing.assert_array_equal(fresh.optimizer.cache[name]["m"], entry["m"])
            np.testing.assert_array_equal(fresh.optimizer.cache[name]["v"], entry["v"])
        self.assertEqual((fresh.epoch, fresh.iteration), (2, 0))
        restored = np.random.get_state()
        self.assertEqual(restored[0], generator[0])
        np.testing.assert_array_equal(restored[1], generator[1])
        self.assertEqual(restored[2:], generator[2:])
        self.assertEqual(epoch_records(fresh), epoch_records(model))
        self.assertEqual(fresh.history["iteration_loss"], model.history["iteration_loss"])

    def test_sgd_momentum_buffers_round_trip(self):
        model = self.trained(SGD_ARGS)
        model.save(self.path())
        fresh = build_model(seed=1, optimizer_args=SGD_ARGS).load(self.path())
        self.assertStatesEqual(state_of(fresh), state_of(model))
        self.assertEqual(len(model.optimizer.cache), 6)  # W, b, gamma, beta, W, b
        for name, entry in model.optimizer.cache.items():
            self.assertGreater(np.abs(entry["delta"]).max(), 0)
            np.testing.assert_array_equal(fresh.optimizer.cache[name]["delta"], entry["delta"])

    def test_checkpoint_holds_the_layer_arguments(self):
        model = self.trained(ADAM_ARGS)
        model.save(self.path())
        checkpoint = checkpoints.read(self.path())
        arrays, meta = checkpoint.arrays, checkpoint.meta
        self.assertEqual(meta["layer_args"], json.loads(json.dumps(LAYER_ARGS)))
        self.assertEqual(meta["optimizer_args"], ADAM_ARGS)
        self.assertEqual(meta["epoch"], 1)
        described = meta["layers"]
        self.assertEqual([d["type"] for d in described],
                         ["Conv2D", "BatchNorm", "Pool2D", "Flatten", "Dropout", "FullyConnected"])
        self.assertEqual(described[0]["kernel_shape"], [3, 3])
        self.assertEqual(described[1]["momentum"], 0.1)
        self.assertEqual(described[4]["p"], 0.3)
        self.assertEqual(described[5]["n_out"], CLASSES)
        self.assertEqual(described[0]["parameters"]["W"], [3, 3, 2, 4])
        self.assertIn("buffer/1/running_mean", arrays)
        self.assertIn("optimizer/0.W/m", arrays)

    def test_predictions_of_the_loaded_model_are_identical(self):
        model = self.trained(ADAM_ARGS)
        model.save(self.path())
        X = make_dataset().validate.data
        fresh = build_model(seed=3).load(self.path())
        np.testing.assert_array_equal(fresh.predict(X)[0], model.predict(X)[0])

    def test_float32_model_round_trip(self):
        model = build_model(seed=0)
        model.train(make_dataset(dtype=np.float32), 1, verbose=False)
        model.save(self.path())
        fresh = build_model(seed=1).load(self.path())
        state = state_of(fresh)
        for key, value in state.items():
            self.assertEqual(value.dtype, np.float32, key)
        self.assertStatesEqual(state, state_of(model))

    def test_a_file_of_float64_state_beside_float32_weights_loads(self):
        # What a float32 network trained on float64 data wrote before inputs took the
        # network's dtype: float64 momentum and running statistics. It loads, that
        # state in float32.
        for optimizer_args in (SGD_ARGS, ADAM_ARGS):
            with self.subTest(optimizer=optimizer_args["name"]):
                model = build_model(seed=0, optimizer_args=optimizer_args)
                model.train(make_dataset(dtype=np.float32), 1, verbose=False)
                wide = {name: {field: value.astype(np.float64) if field != "t" else value
                               for field, value in entry.items()}
                        for name, entry in model.optimizer.cache.items()}
                model.optimizer.cache = wide
                for name in ("running_mean", "running_var"):
                    model.layers[1].buffers[name] = model.layers[1].buffers[name].astype(
                        np.float64)
                model.save(self.path())
                loaded = build_model(seed=1, optimizer_args=optimizer_args).load(self.path())
                for key, value in state_of(loaded).items():
                    self.assertEqual(value.dtype, np.float32, key)
                    np.testing.assert_array_equal(value, state_of(model)[key].astype(np.float32))
                for name, entry in loaded.optimizer.cache.items():
                    for field, value in entry.items():
                        if field != "t":
                            self.assertEqual(value.dtype, np.float32, f"{name}/{field}")
                            np.testing.assert_array_equal(
                                value, wide[name][field].astype(np.float32))
                loaded.train(make_dataset(dtype=np.float32), 1, verbose=False)

    def test_input_shape_round_trip(self):
        model = build_model(seed=0)
        model.train(make_dataset(), 1, verbose=False)
        model.save(self.path())
        with np.load(self.path()) as archive:
            self.assertEqual(json.loads(str(archive["meta"]))["input_shape"], [8, 8, 2])
        loaded = build_model(seed=1).load(self.path())
        self.assertEqual(loaded.input_shape, (8, 8, 2))
        self.assertIn("(None, 8, 8, 4)", repr(loaded))

    def test_a_file_without_input_shape_still_loads(self):
        model = build_model(seed=0)
        model.train(make_dataset(), 1, verbose=False)
        model.save(self.path())
        with np.load(self.path()) as archive:
            arrays = {k: archive[k] for k in archive.files}
        meta = json.loads(str(arrays["meta"]))
        del meta["input_shape"]  # as the format was before the field joined it
        arrays["meta"] = np.array(json.dumps(meta))
        np.savez(self.path("older.npz"), **arrays)
        loaded = build_model(seed=1).load(self.path("older.npz"))
        self.assertStatesEqual(state_of(loaded), state_of(model))
        self.assertIsNone(loaded.input_shape)
        self.assertIn("Output shapes come with the first batch", repr(loaded))
        self.assertIn("Total parameters: 279", repr(loaded))  # 76 + 8 + 195
        loaded.predict(make_dataset().validate.data)
        self.assertEqual(loaded.input_shape, (8, 8, 2))
        self.assertIn("(None, 4, 4, 4)", repr(loaded))

    def test_missing_or_foreign_file(self):
        model = build_model()
        with self.assertRaisesRegex(ValueError, "no checkpoint"):
            model.load(self.path("absent.npz"))
        with open(self.path("junk.npz"), "wb") as f:
            f.write(b"not a checkpoint")
        with self.assertRaisesRegex(ValueError, "not a readable checkpoint"):
            model.load(self.path("junk.npz"))
        np.savez(self.path("plain.npz"), W=np.ones(3))
        with self.assertRaisesRegex(ValueError, "meta"):
            model.load(self.path("plain.npz"))
        for not_a_path in (None, 3, ["model.npz"]):
            with self.assertRaisesRegex(ValueError, "expected the path of a checkpoint file"):
                model.load(not_a_path)


class TestUntrainedModels(TempDirTestCase):
    """A network saved before it has seen any data (its output layer not built, or
    built without parameters) writes a checkpoint that loads as it was: the
    loaded network trains exactly as the saved one does from the same point."""

    def assert_round_trip(self, model, optimizer_args):
        model.save(self.path())
        saved_built = model.built
        model.train(make_dataset(), 1, verbose=False)
        # Loading sets numpy's generator back to the state saved with the file.
        loaded = load_model(self.path())
        self.assertEqual(loaded.built, saved_built)
        self.assertIsNone(loaded.parameter_dtype())
        self.assertEqual(loaded.epoch, 0)
        self.assertIn(optimizer_args["name"], repr(loaded))
        loaded.train(make_dataset(), 1, verbose=False)
        self.assertStatesEqual(state_of(loaded), state_of(model))
        self.assertEqual(loaded.history["iteration_loss"], model.history["iteration_loss"])
        # model.load into a network built from the same arguments does the same.
        again = build_model(seed=5, optimizer_args=optimizer_args).load(self.path())
        self.assertEqual(again.built, saved_built)

    def test_a_network_whose_output_layer_is_not_built(self):
        for optimizer_args in (SGD_ARGS, ADAM_ARGS):
            with self.subTest(optimizer=optimizer_args["name"]):
                model = build_model(seed=0, optimizer_args=optimizer_args)
                self.assertFalse(model.built)
                self.assert_round_trip(model, optimizer_args)

    def test_a_network_built_without_parameters(self):
        model = build_model(seed=0, optimizer_args=SGD_ARGS).build(n_out=CLASSES)
        self.assert_round_trip(model, SGD_ARGS)

    def test_a_single_layer_network(self):
        layer_args = [AttrDict(name="fully_connected", n_out=None, activation="softmax")]
        model = NeuralNetwork("cross_entropy", layer_args, SGD_ARGS, seed=0)
        model.save(self.path())
        loaded = load_model(self.path())
        self.assertEqual((loaded.built, loaded.n_layers), (False, 1))
        X = np.random.default_rng(0).normal(size=(6, 4))
        loaded.train(Dataset(X, np.eye(2)[[0, 1] * 3], 3), 1, verbose=False)
        self.assertEqual(loaded.layers[0].parameters["W"].shape, (4, 2))

    def test_an_unbuilt_checkpoint_does_not_load_into_a_built_network(self):
        build_model(seed=0).save(self.path())
        model = build_model(seed=1)
        model.train(make_dataset(), 1, verbose=False)
        before = state_of(model)
        with self.assertRaisesRegex(ValueError, "saved before its output layer was built"):
            model.load(self.path())
        self.assertStatesEqual(state_of(model), before)
        self.assertEqual(model.epoch, 1)


class TestAtomicWrite(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.model = build_model(seed=0)
        self.model.train(make_dataset(), 1, verbose=False, checkpoint=self.path())
        with open(self.path(), "rb") as f:
            self.good_bytes = f.read()
        self.good_state = state_of(self.model)
        self.model.train(make_dataset(), 1, verbose=False)  # the model moves on

    def assert_old_checkpoint_intact(self):
        self.assertEqual(os.listdir(self.folder), ["model.npz"])  # no temporary file left
        with open(self.path(), "rb") as f:
            self.assertEqual(f.read(), self.good_bytes)
        fresh = build_model(seed=5).load(self.path())
        self.assertStatesEqual(state_of(fresh), self.good_state)
        self.assertEqual(fresh.epoch, 1)

    def test_write_failing_half_way(self):
        def savez_that_dies(file, **arrays):
            # Part of an archive reaches the disk, then the "process dies".
            file.write(b"PK\x03\x04" + bytes(4096))
            raise OSError("simulated crash while writing the checkpoint")

        with mock.patch.object(np, "savez", savez_that_dies):
            with self.assertRaisesRegex(ValueError, "simulated crash"):
                self.model.save(self.path())
        self.assert_old_checkpoint_intact()

    def test_failure_before_the_final_rename(self):
        with mock.patch.object(os, "replace", side_effect=OSError("simulated crash at rename")):
            with self.assertRaisesRegex(ValueError, "simulated crash"):
                self.model.save(self.path())
        self.assert_old_checkpoint_intact()

    def test_failed_first_save_leaves_no_file(self):
        target = self.path("other.npz")
        with mock.patch.object(np, "savez", side_effect=OSError("simulated")):
            with self.assertRaises(ValueError):
                self.model.save(target)
        self.assertFalse(os.path.exists(target))
        self.assertEqual(os.listdir(self.folder), ["model.npz"])


# A writer that saves a 16 MB checkpoint over and over, each version with all
# parameters equal to its number (also stored as the epoch), and prints the
# number of every version it completed.
WRITER_SCRIPT = """
import sys
from tests.test_checkpoints import build_large_model
model = build_large_model()
version = 0
while True:
    for layer in model.layers:
        for value in layer.parameters.values():
            value[...] = version
    model.epoch = version
    model.save(sys.argv[1])
    print(version, flush=True)
    version += 1
"""


def build_large_model():
    """A two-layer network with a 2000 x 1000 weight matrix (16 MB), initialised."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 2000))
    dataset = Dataset(X, np.eye(3)[[0, 1, 2, 0]], batch_size=4)
    model = NeuralNetwork(
        "cross_entropy",
        [AttrDict(name="fully_connected", n_out=1000, activation="relu"),
         AttrDict(name="fully_connected", n_out=None, activation="softmax")],
        dict(name="SGD", lr=0.1), seed=0,
    )
    model.train(dataset, 0, verbose=False)  # builds the output layer
    model.predict(X)  # initialises the parameters
    return model


class TestKilledWhileSaving(TempDirTestCase):
    def test_sigkill_during_save_leaves_a_complete_checkpoint(self):
        path = self.path("large.npz")
        killed_mid_save = False
        for _attempt in range(3):
            writer = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, path], cwd=REPO_ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            sent = False
            try:
                deadline = time.monotonic() + 20
                # Wait until one version is complete and the next is being written.
                while time.monotonic() < deadline and writer.poll() is None:
                    temporary = [n for n in os.listdir(self.folder) if n.endswith(".tmp")]
                    if os.path.exists(path) and temporary:
                        os.kill(writer.pid, signal.SIGKILL)
                        sent = True
                        break
                    time.sleep(0.001)
            finally:
                if writer.poll() is None:
                    writer.kill()
                stdout, stderr = writer.communicate(timeout=30)
            self.assertTrue(sent, f"the writer never was in the middle of a second save "
                                  f"(exit status {writer.returncode}): {stderr[-2000:]}")
            self.assertEqual(writer.returncode, -signal.SIGKILL, stderr)
            completed = [int(line) for line in stdout.split()]
            killed_mid_save = any(n.endswith(".tmp") for n in os.listdir(self.folder))
            if killed_mid_save:
                break
        self.assertTrue(killed_mid_save, "could not kill the writer in the middle of a save")
        self.assertTrue(completed, "the writer reported no complete version")

        model = build_large_model().load(path)
        version = model.epoch
        # The last version reported complete, or the one after it if its rename
        # happened just before the kill; never a mixture.
        self.assertIn(version, (completed[-1], completed[-1] + 1))
        for i, layer in enumerate(model.layers):
            for name, value in layer.parameters.items():
                self.assertTrue(np.all(value == version), f"layer {i} {name} is not version "
                                                          f"{version} throughout")
        self.assertEqual(model.layers[0].parameters["W"].shape, (2000, 1000))


class TestDifferentArchitecture(TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp_class = tempfile.TemporaryDirectory()
        cls.checkpoint = os.path.join(cls._tmp_class.name, "model.npz")
        model = build_model(seed=0)
        model.train(make_dataset(), 1, verbose=False, checkpoint=cls.checkpoint)

    @classmethod
    def tearDownClass(cls):
        cls._tmp_class.cleanup()

    def assert_refused(self, model, *fragments):
        before = state_of(model)
        with self.assertRaises(ValueError) as raised:
            model.load(self.checkpoint)
        message = str(raised.exception)
        for fragment in fragments:
            self.assertIn(fragment, message)
        self.assertStatesEqual(state_of(model), before)  # nothing was loaded
        return message

    def variant(self, index, **changes):
        layer_args = copy.deepcopy(LAYER_ARGS)
        layer_args[index] = AttrDict({**layer_args[index], **changes})
        return layer_args

    def test_different_kernel_shape(self):
        model = build_model(layer_args=self.variant(0, kernel_shape=(5, 5)))
        self.assert_refused(model, "layer 0", "kernel_shape", "[3, 3]", "[5, 5]")

    def test_different_number_of_output_channels(self):
        model = build_model(layer_args=self.variant(0, n_out=6))
        self.assert_refused(model, "layer 0", "n_out", "4", "6")

    def test_different_output_units(self):
        model = build_model()
        model.train(make_dataset(classes=5), 1, verbose=False)
        self.assert_refused(model, "layer 5", "n_out", "3", "5", "[64, 3]", "[64, 5]")

    def test_different_input_shape(self):
        model = build_model()
        model.train(make_dataset(channels=3), 1, verbose=False)
        self.assert_refused(model, "layer 0", "[3, 3, 2, 4]", "[3, 3, 3, 4]")

    def test_fewer_layers(self):
        layer_args = [args for args in copy.deepcopy(LAYER_ARGS) if args["name"] != "dropout"]
        self.assert_refused(build_model(layer_args=layer_args),
                            "the checkpoint has 6 layers, this model 5")

    def test_more_layers(self):
        layer_args = copy.deepcopy(LAYER_ARGS)
        layer_args.insert(5, AttrDict(name="dropout", p=0.1))
        self.assert_refused(build_model(layer_args=layer_args),
                            "the checkpoint has 6 layers, this model 7")

    def test_extra_layer_after_a_matching_prefix(self):
        # Every layer the checkpoint has matches this model's first six (the
        # sixth, an FC with 3 softmax units, equals the saved output layer), but
        # this model has a seventh: it must not load silently.
        layer_args = copy.deepcopy(LAYER_ARGS)
        layer_args[5] = AttrDict(name="fully_connected", n_out=CLASSES, activation="softmax")
        layer_args.append(AttrDict(name="fully_connected", n_out=None, activation="softmax"))
        self.assert_refused(build_model(layer_args=layer_args),
                            "the checkpoint has 6 layers, this model 7")

    def test_different_layer_type(self):
        layer_args = copy.deepcopy(LAYER_ARGS)
        layer_args[2] = AttrDict(name="dropout", p=0.1)
        self.assert_refused(build_model(layer_args=layer_args), "layer 2", "Pool2D", "Dropout")

    def test_different_layer_setting(self):
        model = build_model(layer_args=self.variant(4, p=0.5))
        self.assert_refused(model, "layer 4", "0.3", "0.5")

    def test_same_architecture_loads(self):
        model = build_model(seed=42).load(self.checkpoint)
        self.assertEqual(model.epoch, 1)

    def test_identity_and_linear_are_one_activation(self):
        # The checkpoint's first layer was built with "linear"; Fall 2023 calls it
        # "identity". Either name loads the other's checkpoint, and load_model
        # rebuilds a network saved with "identity".
        model = build_model(seed=42, layer_args=self.variant(0, activation="identity"))
        model.load(self.checkpoint)
        expected = build_model(seed=42).load(self.checkpoint)
        self.assertStatesEqual(state_of(model), state_of(expected))
        path = self.path("identity.npz")
        model.save(path)
        rebuilt = load_model(path)
        self.assertEqual(rebuilt.layer_args[0]["activation"], "identity")
        self.assertStatesEqual(state_of(rebuilt), state_of(expected))


MiB = 1 << 20


def npy_header(shape, dtype="<f8"):
    """The bytes npy format 1.0 begins an array of ``shape`` and ``dtype`` with."""
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": dtype, "fortran_order": False,
                                                  "shape": shape})
    return stream.getvalue()


def npy_bytes(array):
    stream = io.BytesIO()
    np.lib.format.write_array(stream, array)
    return stream.getvalue()


def zeros_deflated(header, n_mib):
    """A raw deflate stream of ``header`` then ``n_mib`` MiB of zeros, about 1 kB per MiB.

    A full flush ends each block with the compressor's history empty, so the block
    of one MiB of zeros is the same bytes every time and can be repeated.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head + block * n_mib + compressor.flush()


def patch_directory(path, member, **fields):
    """Rewrite ``member``'s entry in the zip's central directory (the sizes and method
    zipfile reads): fields "method", "compressed_size", "size" (uncompressed)."""
    offsets = {"method": (10, "<H"), "compressed_size": (20, "<I"), "size": (24, "<I")}
    with open(path, "rb") as f:
        data = bytearray(f.read())
    start = -1
    while True:
        start = data.index(b"PK\x01\x02", start + 1)
        length = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46:start + 46 + length] == member.encode():
            break
    for field, value in fields.items():
        offset, layout = offsets[field]
        struct.pack_into(layout, data, start + offset, value)
    with open(path, "wb") as f:
        f.write(data)


class TestHostileCheckpoints(TempDirTestCase):
    """Files made to exhaust memory or the parser, small on disk. Each is a
    ValueError naming the file and the problem, raised before the memory its
    headers claim is taken (a traced peak under 64 MiB while loading), and the
    model is left as it was."""

    @classmethod
    def setUpClass(cls):
        cls._tmp_class = tempfile.TemporaryDirectory()
        good = os.path.join(cls._tmp_class.name, "good.npz")
        build_model(seed=0).train(make_dataset(), 1, verbose=False, checkpoint=good)
        with zipfile.ZipFile(good) as archive:
            cls.members = {info.filename: archive.read(info) for info in archive.infolist()}
        cls.meta = str(np.lib.format.read_array(io.BytesIO(cls.members["meta.npy"])))

    @classmethod
    def tearDownClass(cls):
        cls._tmp_class.cleanup()

    def write(self, members, name="hostile.npz"):
        path = self.path(name)
        with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
            warnings.simplefilter("ignore")  # "Duplicate name", when that is the point
            for member, data in members:
                archive.writestr(member, data)
        return path

    def with_meta(self, text):
        members = dict(self.members)
        members["meta.npy"] = npy_bytes(np.array(text))
        return self.write(members.items())

    def assert_refused(self, path, *fragments):
        model = build_model(seed=1)
        model.train(make_dataset(), 1, verbose=False)
        before = state_of(model)
        tracemalloc.start()
        try:
            with self.assertRaises(ValueError) as raised:
                model.load(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        message = str(raised.exception)
        for fragment in (path, *fragments):
            self.assertIn(fragment, message)
        self.assertLess(peak, 64 * MiB)
        self.assertStatesEqual(state_of(model), before)
        return message

    def test_the_good_file_rebuilt_loads(self):
        # The files below are this one with one thing changed.
        path = self.write(self.members.items())
        self.assertEqual(build_model(seed=1).load(path).epoch, 1)

    def test_an_entry_whose_header_declares_terabytes(self):
        members = dict(self.members)
        data = members["param/0/W.npy"]
        members["param/0/W.npy"] = npy_header((2**40,)) + data[len(npy_header((3, 3, 2, 4))):]
        self.assert_refused(self.write(members.items()), "entry param/0/W", "(1099511627776,)",
                            "8,796,093,022,208 bytes")

    def test_an_unlisted_entry_that_inflates_to_1_5_gib(self):
        header = npy_header((3 * 2**26,))  # 1.5 GiB of float64
        path = self.write([*self.members.items(), ("extra.npy", zeros_deflated(header, 1536))])
        patch_directory(path, "extra.npy", method=zipfile.ZIP_DEFLATED,
                        size=len(header) + 1536 * MiB)
        self.assertLess(os.path.getsize(path), 8 * MiB)
        self.assert_refused(path, "entry extra is compressed")

    def test_an_unlisted_entry_is_never_read(self):
        # Its header declares 8 TiB it does not hold: reading it would fail, or take
        # the memory; it is refused by its name first.
        path = self.write([*self.members.items(), ("extra.npy", npy_header((2**40,)))])
        self.assert_refused(path, "entries not listed in its table: extra")

    def test_sizes_the_directory_declares_beyond_the_file(self):
        path = self.write(self.members.items())
        patch_directory(path, "param/0/W.npy", size=3 * 2**29, compressed_size=3 * 2**29)
        self.assert_refused(path, "more than the whole file's")

    def test_an_entry_twice(self):
        path = self.write([*self.members.items(), ("param/0/W.npy", self.members["param/0/W.npy"])])
        self.assert_refused(path, "entry param/0/W appears twice")

    def test_a_description_nested_100000_levels_deep(self):
        deep = '{"deep": ' + "[" * 100_000 + "]" * 100_000 + ", " + self.meta[1:]
        self.assert_refused(self.with_meta(deep), "nests lists or objects too deeply")

    def test_an_integer_of_thousands_of_digits(self):
        # 5,000 digits is past what Python converts at all; 1,000 is not.
        for digits in (5000, 1000):
            for field in ('"epoch": 1', '"seed": 0', '"n_out": 4'):
                with self.subTest(digits=digits, field=field):
                    self.assertIn(field, self.meta)
                    huge = field[:-1] + "7" * digits
                    path = self.with_meta(self.meta.replace(field, huge, 1))
                    self.assert_refused(path, f"{digits:,}-digit integer")

    def test_an_input_shape_of_two_trillion_values(self):
        meta = json.loads(self.meta)
        meta["input_shape"] = [10**6, 10**6, 2]
        self.assert_refused(self.with_meta(json.dumps(meta)), "[1000000, 1000000, 2]",
                            "2,000,000,000,000 values")


def crc32(array):
    """The CRC-32 the format documents: over dtype and shape, then the bytes."""
    header = f"{array.dtype.str}{array.shape}".encode()
    return zlib.crc32(np.ascontiguousarray(array).tobytes(), zlib.crc32(header))


class TestCorruptCheckpoints(TempDirTestCase):
    """Each way a checkpoint can be broken is a ValueError naming the file."""

    @classmethod
    def setUpClass(cls):
        cls._tmp_class = tempfile.TemporaryDirectory()
        cls.good = os.path.join(cls._tmp_class.name, "good.npz")
        model = build_model(seed=0)
        model.train(make_dataset(), 1, verbose=False, checkpoint=cls.good)
        with open(cls.good, "rb") as f:
            cls.good_bytes = f.read()
        with np.load(cls.good) as archive:
            cls.good_arrays = {k: archive[k] for k in archive.files}

    @classmethod
    def tearDownClass(cls):
        cls._tmp_class.cleanup()

    def fresh_model(self, **kwargs):
        model = build_model(seed=1, **kwargs)
        model.train(make_dataset(), 1, verbose=False)
        return model

    def assert_refused(self, path, *fragments, model=None):
        model = model or self.fresh_model()
        before, epoch = state_of(model), model.epoch
        with self.assertRaises(ValueError) as raised:
            model.load(path)
        message = str(raised.exception)
        self.assertIn(path, message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        self.assertStatesEqual(state_of(model), before)
        self.assertEqual(model.epoch, epoch)
        return message

    def write(self, arrays, name="bad.npz", reseal=True):
        """Write ``arrays`` as a checkpoint, with a matching CRC table if ``reseal``."""
        arrays = dict(arrays)
        if reseal:
            meta = json.loads(str(arrays["meta"]))
            meta["crc32"] = {k: crc32(v) for k, v in arrays.items() if k != "meta"}
            arrays["meta"] = np.array(json.dumps(meta))
        path = self.path(name)
        np.savez(path, **arrays)
        return path

    def with_meta(self, change):
        arrays = dict(self.good_arrays)
        meta = json.loads(str(arrays["meta"]))
        change(meta)
        arrays["meta"] = np.array(json.dumps(meta))
        return arrays

    def test_truncated(self):
        for size in (0, 10, len(self.good_bytes) // 2, len(self.good_bytes) - 1):
            with self.subTest(size=size):
                path = self.path(f"cut{size}.npz")
                with open(path, "wb") as f:
                    f.write(self.good_bytes[:size])
                self.assert_refused(path)

    def test_junk(self):
        path = self.path("junk.npz")
        with open(path, "wb") as f:
            f.write(np.random.default_rng(0).bytes(5000))
        self.assert_refused(path, "not a readable checkpoint")

    def test_bit_flips_never_load_other_values(self):
        # A flip in a part of the zip nobody reads (a timestamp) may load; the
        # values loaded must then be exactly the saved ones.
        reference = self.fresh_model().load(self.good)
        expected = state_of(reference)
        rng = np.random.default_rng(1)
        positions = rng.choice(len(self.good_bytes), size=60, replace=False)
        refused = 0
        for position in positions:
            data = bytearray(self.good_bytes)
            data[position] ^= 1 << int(rng.integers(8))
            path = self.path("flipped.npz")
            with open(path, "wb") as f:
                f.write(data)
            model = self.fresh_model()
            try:
                model.load(path)
            except ValueError as error:
                self.assertIn(path, str(error))
                refused += 1
                continue
            self.assertStatesEqual(state_of(model), expected)
        self.assertGreater(refused, 40)

    def test_a_zip_flag_python_cannot_read(self):
        # Bit 5 of a central-directory entry's flags ("compressed patched data")
        # makes zipfile raise NotImplementedError rather than an OSError.
        data = bytearray(self.good_bytes)
        entry = data.index(b"PK\x01\x02")
        data[entry + 8] |= 0x20
        path = self.path("patched.npz")
        with open(path, "wb") as f:
            f.write(data)
        self.assert_refused(path, "not a readable checkpoint")

    def test_missing_entry(self):
        arrays = dict(self.good_arrays)
        del arrays["param/0/W"]
        self.assert_refused(self.write(arrays, reseal=False), "param/0/W", "missing")
        self.assert_refused(self.write(arrays), "param/0/W", "missing")
        del arrays["meta"]
        self.assert_refused(self.write(arrays, reseal=False), "no 'meta'")

    def test_invalid_json(self):
        arrays = dict(self.good_arrays)
        arrays["meta"] = np.array('{"format": 2, "layers": [')
        self.assert_refused(self.write(arrays, reseal=False), "not valid JSON")

    def test_malformed_description(self):
        self.assert_refused(self.write(self.with_meta(lambda m: m.pop("history"))), "malformed")
        self.assert_refused(self.write(self.with_meta(lambda m: m.update(epoch=-1))), "epoch")

    def test_changed_values_fail_their_crc(self):
        arrays = dict(self.good_arrays)
        arrays["param/5/b"] = arrays["param/5/b"] + 1
        self.assert_refused(self.write(arrays, reseal=False), "param/5/b", "CRC")

    def test_wrong_dtype(self):
        arrays = dict(self.good_arrays)
        arrays["param/0/W"] = arrays["param/0/W"].astype(np.float32)
        self.assert_refused(self.write(arrays), "param/0/W", "mix dtypes")
        arrays["param/0/W"] = arrays["param/0/W"].astype(np.int64)
        self.assert_refused(self.write(arrays), "param/0/W", "int64")

    def test_wrong_shape(self):
        arrays = dict(self.good_arrays)
        arrays["param/5/W"] = arrays["param/5/W"][:-1]
        self.assert_refused(self.write(arrays), "param/5/W", "shape")
        arrays = dict(self.good_arrays)
        arrays["optimizer/0.W/m"] = arrays["optimizer/0.W/m"][..., :1]
        self.assert_refused(self.write(arrays), "optimizer entry 0.W/m")

    def test_nan_parameters(self):
        arrays = dict(self.good_arrays)
        arrays["param/1/gamma"] = arrays["param/1/gamma"].copy()
        arrays["param/1/gamma"][0, 0] = np.nan
        self.assert_refused(self.write(arrays), "param/1/gamma", "NaN")

    def test_another_loss_or_optimizer(self):
        l2_layers = copy.deepcopy(LAYER_ARGS)
        l2_layers[-1]["activation"] = "linear"
        model = NeuralNetwork("l2", l2_layers, dict(ADAM_ARGS), seed=0)
        self.assert_refused(self.good, "loss 'cross_entropy'", model=model)
        self.assert_refused(self.good, "optimizer 'Adam'", "'SGD'",
                            model=self.fresh_model(optimizer_args=SGD_ARGS))

    def test_input_shape_that_does_not_fit(self):
        for shape, fragment in (("8x8x2", "expected input_shape"), ([], "expected input_shape"),
                                ([8, 0, 2], "expected input_shape"),
                                ([8, 8.5, 2], "expected input_shape"),
                                ([8, 8, 3], "does not fit its first layer's n_in 2")):
            with self.subTest(shape=shape):
                path = self.write(self.with_meta(lambda m: m.update(input_shape=shape)))
                self.assert_refused(path, fragment)
        path = self.write(self.with_meta(lambda m: m.update(n_in=m["n_in"][:-1])))
        self.assert_refused(path, "one n_in per layer")

    def test_early_stop_record_that_does_not_fit(self):
        # The good file has 1 epoch: no stop can be recorded after it.
        for record in ({"epoch": 1, "best_epoch": 1, "patience": 1},
                       {"epoch": 1, "best_epoch": 0, "patience": 1}, "epoch 1",
                       {"epoch": 2, "best_epoch": 1, "patience": 1}):
            with self.subTest(record=record):
                path = self.write(self.with_meta(
                    lambda m: m["history"].update(stopped_early=record)))
                self.assert_refused(path, "early-stop record")

    def test_another_batch_size_mid_epoch(self):
        model = build_model(seed=0)
        dataset = make_dataset()
        model.train(dataset, 1, verbose=False)
        # Stop after two steps of the second epoch, then save.
        sample, calls = dataset.train.sample, []

        def failing_sample():
            if len(calls) == 2:
                raise RuntimeError("stop here")
            calls.append(1)
            return sample()

        dataset.train.sample = failing_sample
        with self.assertRaises(RuntimeError):
            model.train(dataset, 1, verbose=False)
        self.assertEqual(model.iteration, 2)
        model.save(self.path("mid.npz"))
        resumed = build_model(seed=3).load(self.path("mid.npz"))
        other = make_dataset()
        other.train.batch_size = BATCH_SIZE // 2
        before = state_of(resumed)
        with self.assertRaisesRegex(ValueError, f"batch size {BATCH_SIZE}"):
            resumed.train(other, 1, verbose=False)
        self.assertStatesEqual(state_of(resumed), before)
        resumed.train(make_dataset(), 1, verbose=False)  # the same batch size works
        self.assertEqual(resumed.epoch, 2)



class TestCheckpointsOfEarlierVersions(unittest.TestCase):
    """Checkpoints written by main at 532846c, before training progress became one
    record and layers described themselves (tests/make_checkpoint_fixtures.py wrote
    them there): they load with today's code, predict what that version predicted
    from them, and train on to the same parameters, bit for bit."""

    def test_each_loads_predicts_and_trains_on_as_it_did(self):
        for name, fixture in FIXTURES.items():
            with self.subTest(checkpoint=name):
                path = os.path.join(FIXTURE_FOLDER, f"{name}.npz")
                with np.load(os.path.join(FIXTURE_FOLDER, f"{name}.expected.npz")) as archive:
                    expected = {key: archive[key] for key in archive.files}
                model = load_model(path)
                self.assertEqual((model.epoch, model.iteration),
                                 (fixture["epochs"], fixture["stop_at"]))
                self.assertEqual(model.data_batch_size, 8 if fixture["stop_at"] else None)
                outputs = model.predict(expected["input"])[0]
                np.testing.assert_array_equal(outputs, expected["output"])
                model.train(fixture_dataset(fixture["shape"]), fixture["until"] - model.epoch,
                            verbose=False)
                self.assertEqual(model.epoch, fixture["until"])
                trained = {k[len("trained/"):]: v for k, v in expected.items()
                           if k.startswith("trained/")}
                self.assertEqual(sorted(model.state_dict()), sorted(trained))
                for key, value in model.state_dict().items():
                    np.testing.assert_array_equal(value, trained[key], err_msg=key)

    def test_each_loads_into_a_network_built_from_its_settings(self):
        for name, fixture in FIXTURES.items():
            with self.subTest(checkpoint=name):
                model = build_fixture(fixture, seed=3).load(
                    os.path.join(FIXTURE_FOLDER, f"{name}.npz"))
                self.assertEqual(model.epoch, fixture["epochs"])
                self.assertIn("(trainable:", repr(model))


class Momentum(SGD):
    """An optimizer of another name and state field, to register for a test."""

    state_arrays = ("velocity",)

    def update(self, param_name, param, param_grad, epoch):
        velocity = 0.9 * self.cache.get(param_name, {}).get("velocity", 0) \
            + self.lr(epoch) * param_grad
        self.cache[param_name] = {"velocity": velocity}
        return velocity


class TestOptimizerDeclarations(TempDirTestCase):
    """A checkpoint's optimizer state is checked against the fields its optimizer
    declares (state_arrays, state_counts), so an optimizer added to the registry
    saves and loads without checkpoints.py knowing it."""

    def test_a_new_optimizer_round_trips(self):
        with mock.patch.dict(OPTIMIZERS, {"Momentum": Momentum}):
            args = dict(name="Momentum", lr=0.05)
            model = build_model(seed=0, optimizer_args=args)
            model.train(make_dataset(), 1, verbose=False, checkpoint=self.path())
            loaded = build_model(seed=1, optimizer_args=args).load(self.path())
            for key, entry in model.optimizer.cache.items():
                np.testing.assert_array_equal(loaded.optimizer.cache[key]["velocity"],
                                              entry["velocity"])
            with np.load(self.path()) as archive:
                arrays = {k: archive[k] for k in archive.files}
            arrays["optimizer/0.W/delta"] = arrays.pop("optimizer/0.W/velocity")
            meta = json.loads(str(arrays["meta"]))
            meta["crc32"] = {k: crc32(v) for k, v in arrays.items() if k != "meta"}
            arrays["meta"] = np.array(json.dumps(meta))
            np.savez(self.path("renamed.npz"), **arrays)
            with self.assertRaisesRegex(ValueError, r"optimizer entry 0.W/delta is not a field "
                                                    r"of Momentum \(velocity\)"):
                build_model(seed=1, optimizer_args=args).load(self.path("renamed.npz"))

if __name__ == "__main__":
    unittest.main()
