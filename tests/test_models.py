"""The network (neural_networks/models.py): learning, train and predict, the
output width, build and seeding; its backward (the first layer with parameters
computes no input gradient, the layers before it run none) and its thread
session from what its layers declare; load_model from a checkpoint alone,
including the checkpoint ``python train_ffnn.py`` writes, whose evaluation must
give the test accuracy the script printed. Scores are in test_scoring.py, the
summary table in test_summary.py, state dicts in test_network_state.py."""

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

import neural_networks
from neural_networks.datasets import Dataset, initialize_dataset
from neural_networks.layers import BatchNorm
from neural_networks.models import NeuralNetwork, initialize_model, load_model
from neural_networks.utils import AttrDict
from tests.test_checkpoints import build_model as build_cnn
from tests.test_checkpoints import make_dataset as cnn_dataset
from tests.test_checkpoints import state_of

REPO_ROOT = Path(__file__).resolve().parent.parent


def two_layer_args(hidden=8, activation="relu", output="softmax"):
    return [
        AttrDict(name="fully_connected", activation=activation, n_out=hidden,
                 weight_init="xavier_uniform"),
        AttrDict(name="fully_connected", activation=output, n_out=None,
                 weight_init="xavier_uniform"),
    ]


def build(seed=0, loss="cross_entropy", lr=0.1, momentum=0.9, logger=None, output="softmax"):
    return initialize_model(
        "feed_forward", loss=loss, layer_args=two_layer_args(output=output),
        optimizer_args=AttrDict(name="SGD", lr=lr, momentum=momentum),
        logger=logger, seed=seed,
    )


def snapshot(model):
    return [{k: v.copy() for k, v in layer.parameters.items()} for layer in model.layers]


class TestLearning(unittest.TestCase):
    def test_two_layer_network_learns_iris(self):
        dataset = initialize_dataset("iris", batch_size=15, standardize=True)
        model = build(seed=0)
        model.train(dataset, 0, verbose=False)  # builds the output layer, no step
        X, Y = dataset.train.data, dataset.train.labels
        _, initial_loss = model.predict(X, Y)
        model.train(dataset, 30, verbose=False)
        Y_hat, final_loss = model.predict(X, Y)
        self.assertLess(final_loss, 0.5 * initial_loss)
        self.assertLess(final_loss, 0.3)
        train_accuracy = np.mean(Y_hat.argmax(axis=1) == Y.argmax(axis=1))
        self.assertGreater(train_accuracy, 0.9)
        test_accuracy = 1 - model.test(dataset, verbose=False)["test_error"]
        self.assertGreater(test_accuracy, 0.85)

    def test_l2_network_learns_a_separable_problem(self):
        rng = np.random.default_rng(1)
        X = rng.normal(size=(120, 2))
        Y = np.eye(2)[(X[:, 0] + X[:, 1] > 0).astype(int)]
        dataset = Dataset(X, Y, batch_size=20)
        model = build(seed=1, loss="l2", output="sigmoid", lr=0.5)
        model.train(dataset, 0, verbose=False)
        _, initial_loss = model.predict(X, Y)
        model.train(dataset, 40, verbose=False)
        Y_hat, final_loss = model.predict(X, Y)
        self.assertLess(final_loss, 0.5 * initial_loss)
        self.assertGreater(np.mean(Y_hat.argmax(axis=1) == Y.argmax(axis=1)), 0.9)

    def test_same_seed_same_parameters(self):
        runs = []
        for seed in (3, 3, 4):
            dataset = initialize_dataset("iris", batch_size=15)
            model = build(seed=seed)
            model.train(dataset, 2, verbose=False)
            runs.append(snapshot(model))
        for a, b in zip(runs[0], runs[1], strict=True):
            for name in a:
                np.testing.assert_array_equal(a[name], b[name])
        self.assertFalse(np.array_equal(runs[0][0]["W"], runs[2][0]["W"]))


class TestTrainAndPredict(unittest.TestCase):
    def setUp(self):
        self.dataset = initialize_dataset("iris", batch_size=35)
        self.model = build(seed=0)

    def test_train_twice_keeps_the_layers(self):
        self.model.train(self.dataset, 1, verbose=False)
        self.assertEqual(len(self.model.layers), 2)
        shapes = [layer.parameters["W"].shape for layer in self.model.layers]
        self.assertEqual(shapes, [(4, 8), (8, 3)])
        self.model.train(self.dataset, 1, verbose=False)
        self.assertEqual(len(self.model.layers), 2)
        self.assertEqual([layer.parameters["W"].shape for layer in self.model.layers], shapes)
        Y_hat, _ = self.model.predict(self.dataset.test.data)
        self.assertEqual(Y_hat.shape, (30, 3))

    def test_predict_does_not_backpropagate(self):
        self.model.train(self.dataset, 1, verbose=False)
        params = snapshot(self.model)
        # Non-zero sentinel gradients must survive predict untouched.
        for layer in self.model.layers:
            for name in layer.gradients:
                layer.gradients[name] = np.full_like(layer.parameters[name], 7.0)
        X, Y = self.dataset.validate.data, self.dataset.validate.labels
        patches = [mock.patch.object(layer, "backward", side_effect=AssertionError("backward"))
                   for layer in self.model.layers]
        patches.append(mock.patch.object(self.model.loss, "backward",
                                         side_effect=AssertionError("loss.backward")))
        for p in patches:
            p.start()
        try:
            Y_hat, loss = self.model.predict(X, Y)
        finally:
            for p in patches:
                p.stop()
        for layer, before in zip(self.model.layers, params, strict=True):
            for name in before:
                np.testing.assert_array_equal(layer.parameters[name], before[name])
                np.testing.assert_array_equal(layer.gradients[name], 7.0)
        # The loss is the cross-entropy of the returned outputs, by hand.
        self.assertAlmostEqual(loss, -np.sum(Y * np.log(Y_hat)) / len(Y), places=12)
        # And the outputs are the forward pass, by hand.
        W1, b1 = params[0]["W"], params[0]["b"]
        W2, b2 = params[1]["W"], params[1]["b"]
        Z = np.maximum(X @ W1 + b1, 0) @ W2 + b2
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(Y_hat, P / P.sum(axis=1, keepdims=True), rtol=1e-12)

    def test_predict_without_labels(self):
        self.model.train(self.dataset, 1, verbose=False)
        Y_hat, loss = self.model.predict(self.dataset.test.data)
        self.assertIsNone(loss)
        self.assertEqual(Y_hat.shape, (30, 3))

    def test_predict_in_chunks_matches_one_pass(self):
        self.model.train(self.dataset, 1, verbose=False)
        X = self.dataset.train.data
        whole, _ = self.model.predict(X)
        chunked, _ = self.model.predict(X, batch_size=7)
        np.testing.assert_allclose(chunked, whole, rtol=1e-14)

class TestOutputWidth(unittest.TestCase):
    """An output n_out given in layer_args must match the data; None takes the data's."""

    def model(self, n_out):
        args = two_layer_args()
        args[-1]["n_out"] = n_out
        return initialize_model("feed_forward", "cross_entropy", args,
                                AttrDict(name="SGD", lr=0.1), seed=0)

    def test_an_explicit_n_out_that_disagrees_with_the_data_is_refused(self):
        dataset = initialize_dataset("iris", batch_size=35)  # 3 classes
        model = self.model(2)
        with self.assertRaisesRegex(ValueError, r"n_out=2 but the data has 3 outputs"):
            model.train(dataset, 1, verbose=False)
        self.assertFalse(model.built)
        self.assertEqual(model.epoch, 0)
        with self.assertRaisesRegex(ValueError, r"n_out=2 but the data has 3 outputs"):
            self.model(2).build((4,), n_out=3)

    def test_n_out_none_or_the_same_takes_the_data(self):
        dataset = initialize_dataset("iris", batch_size=35)
        for n_out in (None, 3):
            with self.subTest(n_out=n_out):
                model = self.model(n_out)
                model.train(dataset, 1, verbose=False)
                self.assertEqual(model.layers[-1].parameters["W"].shape, (8, 3))


class TestBuild(unittest.TestCase):
    def test_input_shape_of_numpy_integers(self):
        for shape in ((np.int64(4),), np.array([4]), np.int32(4), [np.uint8(4)]):
            with self.subTest(input_shape=repr(shape)):
                model = build(seed=0).build(input_shape=shape, n_out=3)
                self.assertEqual(model.input_shape, (4,))
                self.assertEqual(model.layers[0].parameters["W"].shape, (4, 8))

    def test_a_seed_is_a_whole_number_that_fits_32_bits(self):
        for seed in (True, -1, 2**32, 1.5, "3", np.float64(3)):
            with self.subTest(seed=repr(seed)):
                with self.assertRaisesRegex(ValueError, r"seed \(or None\) must be a whole "
                                                        r"number and >= 0 and < 4294967296, got "
                                                        + re.escape(repr(seed))):
                    build(seed=seed)
        # numpy's integers are integers: the same draws as the Python int.
        same = [build(seed=seed).build(input_shape=(4,), n_out=3).layers[0].parameters["W"]
                for seed in (7, np.int64(7), np.uint32(7))]
        np.testing.assert_array_equal(same[0], same[1])
        np.testing.assert_array_equal(same[0], same[2])

    def test_a_bad_input_shape_is_refused_before_anything_changes(self):
        # True is no number of features, though numpy would read (True, 4) as (1, 4).
        for shape in ((True, 4), (np.float64(4),), (4.0,), ("4",), [[4]], (0,), ()):
            with self.subTest(input_shape=repr(shape)):
                model = build(seed=0)
                with self.assertRaisesRegex(ValueError, "input_shape must be the shape of one "
                                                        "example"):
                    model.build(input_shape=shape, n_out=3)
                self.assertFalse(model.built)


class TestBackward(unittest.TestCase):
    """The first layer with parameters computes no dL/dX, and the layers before it
    run no backward: nothing of theirs is trained. The parameter gradients are
    those of a backward through every layer, bit for bit."""

    def network(self, layer_args):
        return NeuralNetwork("cross_entropy", [AttrDict(args) for args in layer_args],
                             AttrDict(name="SGD", lr=0.1), seed=0)

    def full_gradients(self, model, X, Y):
        """Every layer's gradients from a backward through every layer, dL/dX included."""
        out = model.forward(X)
        dLdY = model.loss.backward(Y, out)
        for layer in reversed(model.layers):
            dLdY = layer.backward(dLdY)
        return [{k: v.copy() for k, v in layer.gradients.items()} for layer in model.layers]

    def check(self, layer_args, X, first):
        model = self.network(layer_args).build(X.shape[1:], n_out=3)
        Y = np.eye(3)[np.arange(len(X)) % 3]
        np.random.seed(5)  # the same dropout masks in both passes
        expected = self.full_gradients(model, X, Y)
        calls = []
        for i, layer in enumerate(model.layers):
            def record(dLdY, input_gradient=True, i=i, backward=layer.backward):
                calls.append((i, input_gradient))
                return backward(dLdY, input_gradient=input_gradient)
            layer.backward = record
        np.random.seed(5)
        model.backward(Y, model.forward(X))
        last = len(model.layers) - 1
        self.assertEqual(calls, [(i, True) for i in range(last, first, -1)] + [(first, False)])
        for layer, gradients in zip(model.layers, expected, strict=True):
            for name, value in gradients.items():
                np.testing.assert_array_equal(layer.gradients[name], value, err_msg=name)

    def test_an_mlp_skips_the_first_layers_input_gradient(self):
        X = np.random.default_rng(0).standard_normal((6, 5))
        self.check([{"name": "fully_connected", "n_out": 4, "activation": "relu"},
                    {"name": "fully_connected", "n_out": None, "activation": "softmax"}], X, 0)

    def test_layers_before_the_first_parameter_layer_run_no_backward(self):
        X = np.random.default_rng(1).standard_normal((6, 4, 4, 2))
        self.check([{"name": "pool2d", "kernel_shape": 2, "stride": 2},
                    {"name": "flatten"}, {"name": "dropout", "p": 0.2},
                    {"name": "batchnorm", "activation": "relu"},
                    {"name": "fully_connected", "n_out": None, "activation": "softmax"}], X, 3)


class TestSession(unittest.TestCase):
    """A network runs in a parallel session when one of its layers declares that its
    math runs on the thread pool (conv, pooling), whatever the layer's class."""

    def test_from_what_the_layers_declare(self):
        model = build(seed=0).build((4,), n_out=3)
        self.assertIsInstance(model.session(), contextlib.nullcontext)
        model.layers[0].runs_on_threads = True
        self.assertNotIsInstance(model.session(), contextlib.nullcontext)
        cnn = build_cnn(seed=0).build((8, 8, 2), n_out=3)
        self.assertNotIsInstance(cnn.session(), contextlib.nullcontext)


class TestLoadModel(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.tmp = self._tmp.name

    def assert_same_state(self, a, b):
        sa, sb = state_of(a), state_of(b)
        self.assertEqual(sorted(sa), sorted(sb))
        for key in sa:
            self.assertTrue(np.array_equal(sa[key], sb[key]), key)

    def round_trip(self, model, dataset, X):
        """Train 2 epochs saving last.npz; the rebuilt model must predict and then train
        on exactly as the original does."""
        path = os.path.join(self.tmp, "last.npz")
        model.train(dataset, 2, verbose=False, checkpoint=path)
        loaded = neural_networks.load_model(path)
        self.assertIsInstance(loaded, NeuralNetwork)
        self.assertEqual((loaded.epoch, loaded.iteration), (2, 0))
        self.assertEqual(loaded.input_shape, model.input_shape)
        self.assertEqual(repr(loaded), repr(model))
        self.assert_same_state(loaded, model)
        np.testing.assert_array_equal(loaded.predict(X)[0], model.predict(X)[0])
        # The checkpoint holds numpy's generator: each continues from it in turn.
        model.train(dataset, 2, verbose=False)
        loaded = load_model(path)
        loaded.train(dataset, 2, verbose=False)
        self.assert_same_state(loaded, model)
        self.assertEqual(loaded.history["iteration_loss"], model.history["iteration_loss"])
        return loaded

    def test_iris_like_network(self):
        dataset = initialize_dataset("iris", batch_size=35)
        loaded = self.round_trip(build(seed=0), dataset, dataset.test.data)
        self.assertEqual(loaded.layer_args[-1]["n_out"], None)  # as given: from the data
        self.assertEqual(loaded.layers[-1].n_out, 3)

    def test_small_cnn_with_batchnorm_and_dropout(self):
        dataset = cnn_dataset()
        loaded = self.round_trip(build_cnn(seed=0), dataset, dataset.validate.data)
        self.assertTrue(any(isinstance(layer, BatchNorm) for layer in loaded.layers))

    def test_a_file_written_by_save(self):
        model = build(seed=0).build((4,), n_out=3)
        path = model.save(os.path.join(self.tmp, "model.npz"))
        loaded = load_model(path)
        self.assertEqual(loaded.input_shape, (4,))
        self.assertIn("Total parameters: 67", repr(loaded))
        X = np.random.default_rng(0).normal(size=(6, 4))
        np.testing.assert_array_equal(loaded.predict(X)[0], model.predict(X)[0])

    def test_a_bad_file_is_a_value_error_naming_it(self):
        junk = os.path.join(self.tmp, "junk.npz")
        with open(junk, "wb") as f:
            f.write(b"not a checkpoint")
        with self.assertRaisesRegex(ValueError, re.escape(junk)):
            load_model(junk)
        good = build(seed=0).build((4,), n_out=3).save(os.path.join(self.tmp, "good.npz"))
        with np.load(good) as archive:
            arrays = {k: archive[k] for k in archive.files}
        hidden = {"name": "fully_connected", "n_out": 8, "activation": "relu"}
        for layer_args, fragment in (("fully_connected", "list of dicts"),
                                     ([hidden, {**hidden, "n_out": 3}], "do not build a network"),
                                     ([{**hidden, "n_out": 3}], "describe its 1 layers")):
            with self.subTest(fragment=fragment):
                meta = json.loads(str(arrays["meta"]))
                meta["layer_args"] = layer_args
                bad = os.path.join(self.tmp, "bad.npz")
                np.savez(bad, **{**arrays, "meta": np.array(json.dumps(meta))})
                with self.assertRaisesRegex(ValueError, f"{re.escape(bad)}.*{fragment}"):
                    load_model(bad)


class TestTrainFfnnCheckpoint(unittest.TestCase):
    """The checkpoint ``python train_ffnn.py`` saves rebuilds with
    load_model, and its evaluation gives the test accuracy the script printed."""

    def test_reloads_and_evaluates_to_the_printed_accuracy(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([sys.executable, "train_ffnn.py", "--save-dir", tmp],
                                  cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            printed = re.match(r"^Test accuracy: (\d\.\d{4}) ",
                               proc.stdout.strip().splitlines()[-1])
            self.assertIsNotNone(printed, proc.stdout)
            model = load_model(os.path.join(tmp, "iris_ffnn", "last.npz"))
        # The script trains on standardised features (the loader's default is raw).
        test = initialize_dataset("iris", standardize=True).test
        scores = model.evaluate(test.data, test.labels)
        self.assertEqual(f"{scores['accuracy']:.4f}", printed.group(1))
        self.assertEqual(scores["confusion_matrix"].sum(), len(test.labels))
        self.assertIn("Total parameters: 83", repr(model))


if __name__ == "__main__":
    unittest.main()
