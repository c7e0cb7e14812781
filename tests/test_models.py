"""The network: learning, train/predict/test/test_kaggle/save_parameters,
error and seeding; summary(), repr and print(model); evaluate and score (checked by
hand and against scikit-learn); load_model from a checkpoint alone, including
the checkpoint ``python train_ffnn.py`` writes, whose evaluation must give the
test accuracy the script printed."""

import contextlib
import csv
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix

import neural_networks
from neural_networks import runs
from neural_networks.datasets import Dataset, initialize_dataset
from neural_networks.layers import BatchNorm
from neural_networks.logs import Logger
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

    def test_classify_gives_integer_labels_and_probabilities(self):
        self.model.train(self.dataset, 2, verbose=False)
        X = self.dataset.test.data
        labels, probabilities = self.model.classify(X, batch_size=7)
        # The forward pass by hand.
        W1, b1 = self.model.layers[0].parameters["W"], self.model.layers[0].parameters["b"]
        W2, b2 = self.model.layers[1].parameters["W"], self.model.layers[1].parameters["b"]
        Z = np.maximum(X @ W1 + b1, 0) @ W2 + b2
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        self.assertIs(type(probabilities), np.ndarray)
        np.testing.assert_allclose(probabilities, P, rtol=1e-12)
        self.assertIs(type(labels), np.ndarray)
        self.assertEqual(labels.dtype, np.int64)
        np.testing.assert_array_equal(labels, [int(np.argmax(row)) for row in P])
        np.testing.assert_allclose(self.model.predict_proba(X), P, rtol=1e-12)

    def test_class_probabilities_need_a_classifier(self):
        model = build(seed=0, loss="l2", output="linear")
        model.train(self.dataset, 1, verbose=False)
        for method in (model.classify, model.predict_proba):
            with self.subTest(method=method.__name__):
                with self.assertRaisesRegex(ValueError, "cross_entropy.*l2.*predict"):
                    method(self.dataset.test.data)

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

    def test_test_returns_loss_and_error(self):
        self.model.train(self.dataset, 2, verbose=False)
        results = self.model.test(self.dataset, verbose=False)
        self.assertEqual(set(results), {"test_loss", "test_error", "loss", "error"})
        Y = self.dataset.test.labels
        Y_hat, _ = self.model.predict(self.dataset.test.data)
        self.assertAlmostEqual(results["test_loss"], -np.sum(Y * np.log(Y_hat)) / 30, places=12)
        self.assertAlmostEqual(results["test_error"],
                               np.mean(Y_hat.argmax(axis=1) != Y.argmax(axis=1)), places=12)
        with_predictions = self.model.test(self.dataset, save_predictions=True, verbose=False)
        np.testing.assert_allclose(with_predictions["prediction"], Y_hat, rtol=1e-14)

    def test_test_prints_the_courses_line_and_gives_its_per_batch_lists(self):
        # Batches of 25 split the 30 test examples into 25 + 5. The course's
        # test returns {"loss": [...], "error": [...]} per batch and prints
        # "Test Loss: <loss> Test Accuracy: <accuracy>" rounded to 4 places; here
        # the printed figures are the whole split's (batch-size-weighted) ones.
        dataset = initialize_dataset("iris", batch_size=25)
        self.model.train(dataset, 3, verbose=False)
        X, Y = dataset.test.data, dataset.test.labels
        Y_hat, _ = self.model.predict(X)
        losses = [-np.sum(Y[b] * np.log(Y_hat[b])) / len(Y[b]) for b in (slice(0, 25),
                                                                          slice(25, 30))]
        errors = [np.mean(Y_hat[b].argmax(1) != Y[b].argmax(1)) for b in (slice(0, 25),
                                                                           slice(25, 30))]
        whole_loss = -np.sum(Y * np.log(Y_hat)) / 30
        whole_error = np.mean(Y_hat.argmax(1) != Y.argmax(1))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            results = self.model.test(dataset)
        np.testing.assert_allclose(results["loss"], losses, rtol=1e-12)
        np.testing.assert_allclose(results["error"], errors, rtol=1e-12)
        self.assertAlmostEqual((25 * losses[0] + 5 * losses[1]) / 30, whole_loss, places=12)
        self.assertEqual(out.getvalue(), f"Test Loss: {round(whole_loss, 4)} "
                                         f"Test Accuracy: {round(1 - whole_error, 4)}\n")
        self.assertRegex(out.getvalue(), r"^Test Loss: \d\.\d{1,4} Test Accuracy: \d(\.\d{1,4})?\n$")
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet):
            self.model.test(dataset, verbose=False)
        self.assertEqual(quiet.getvalue(), "")

    def test_test_pickles_its_results_into_the_logger_folder(self):
        with tempfile.TemporaryDirectory() as tmp:
            logger = Logger("run", {}, {}, save=True, save_dir=tmp)
            model = build(seed=0, logger=logger)
            model.train(self.dataset, 1, verbose=False)
            path = os.path.join(tmp, "run", "test_predictions.p")
            model.test(self.dataset, verbose=False)
            self.assertFalse(os.path.exists(path))  # only with save_predictions
            results = model.test(self.dataset, save_predictions=True, verbose=False)
            with open(path, "rb") as f:
                saved = pickle.load(f)
            self.assertEqual(set(saved), {"test_loss", "test_error", "loss", "error",
                                          "prediction"})
            self.assertEqual(saved["loss"], results["loss"])
            np.testing.assert_array_equal(saved["prediction"], results["prediction"])
        # Without a logger's folder there is nowhere to pickle to: the results
        # are still returned.
        no_folder = build(seed=0, logger=Logger("run", {}, {}, save_dir=tmp))
        no_folder.train(self.dataset, 1, verbose=False)
        self.assertEqual(no_folder.test(self.dataset, save_predictions=True,
                                        verbose=False)["prediction"].shape, (30, 3))
        self.assertFalse(os.path.exists(tmp))

    def test_test_kaggle_writes_one_row_per_example(self):
        self.model.train(self.dataset, 1, verbose=False)
        Y_hat, _ = self.model.predict(self.dataset.test.data)
        with tempfile.TemporaryDirectory() as tmp:
            path = self.model.test_kaggle(self.dataset, path=os.path.join(tmp, "kaggle_predictions.csv"))
            with open(path, newline="") as f:
                rows = list(csv.reader(f))
        self.assertEqual(rows[0], ["Id", "Category"])
        self.assertEqual(len(rows), 1 + 30)
        self.assertEqual([int(r[0]) for r in rows[1:]], list(range(30)))
        self.assertEqual([int(r[1]) for r in rows[1:]], list(Y_hat.argmax(axis=1)))

    def test_test_kaggle_on_an_unlabeled_test_split(self):
        d = self.dataset
        unlabeled = Dataset(d.train.data, d.train.labels, 35, test_set=d.test.data[:11])
        self.model.train(unlabeled, 1, verbose=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = self.model.test_kaggle(unlabeled, path=os.path.join(tmp, "k.csv"))
            with open(path) as f:
                lines = f.read().splitlines()
        self.assertEqual(lines[0], "Id,Category")
        self.assertEqual(len(lines), 12)

    def test_test_kaggle_defaults_to_the_logger_folder(self):
        with tempfile.TemporaryDirectory() as tmp:
            logger = Logger("run", {}, {}, save_dir=tmp)
            model = build(seed=0, logger=logger)
            model.train(self.dataset, 1, verbose=False)
            path = model.test_kaggle(self.dataset)
            self.assertEqual(os.path.abspath(path),
                             os.path.abspath(os.path.join(tmp, "run", "kaggle_predictions.csv")))
            with open(path) as f:
                self.assertEqual(len(f.read().splitlines()), 31)

    def test_save_parameters(self):
        with tempfile.TemporaryDirectory() as tmp:
            logger = Logger("run", {}, {}, save=True, save_dir=tmp)
            model = build(seed=0, logger=logger)
            model.train(self.dataset, 1, verbose=False)
            path = model.save_parameters(1)
            self.assertTrue(os.path.isfile(path))
            self.assertTrue(os.path.abspath(path).startswith(os.path.abspath(tmp)))
            self.assertTrue(path.endswith("parameters_epoch1.npz"))
            with np.load(path, allow_pickle=False) as saved:  # no pickles
                self.assertEqual(sorted(saved.files), ["0.W", "0.b", "1.W", "1.b"])
                for i, layer in enumerate(model.layers):
                    for name, value in layer.parameters.items():
                        np.testing.assert_array_equal(saved[f"{i}.{name}"], value)

    def test_save_parameters_needs_a_logger(self):
        self.model.train(self.dataset, 1, verbose=False)
        with self.assertRaisesRegex(ValueError, "logger"):
            self.model.save_parameters(1)


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


class TestError(unittest.TestCase):
    def model(self, loss):
        return NeuralNetwork(loss, two_layer_args(), AttrDict(name="SGD", lr=0.1))

    def test_cross_entropy_error_is_one_minus_accuracy(self):
        Y = np.eye(3)[[0, 1, 2, 1, 0]]
        out = np.array([
            [0.7, 0.2, 0.1],   # right
            [0.1, 0.3, 0.6],   # wrong
            [0.2, 0.2, 0.6],   # right
            [0.3, 0.4, 0.3],   # right
            [0.1, 0.8, 0.1],   # wrong
        ])
        self.assertAlmostEqual(self.model("cross_entropy").error(Y, out), 0.4, places=15)
        self.assertEqual(self.model("cross_entropy").error(Y, Y), 0.0)

    def test_l2_error_is_mean_squared_error(self):
        Y = np.array([[1.0, 0.0], [0.0, 1.0]])
        out = np.array([[0.5, 0.0], [0.0, -1.0]])
        # squared differences 0.25, 0, 0, 4 -> mean 1.0625
        self.assertAlmostEqual(self.model("l2").error(Y, out), 1.0625, places=15)

    def test_shapes_must_agree(self):
        with self.assertRaisesRegex(ValueError, r"\(2, 3\).*\(2, 2\)"):
            self.model("l2").error(np.zeros((2, 3)), np.zeros((2, 2)))


class TestBuild(unittest.TestCase):
    def test_input_shape_of_numpy_integers(self):
        for shape in ((np.int64(4),), np.array([4]), np.int32(4), [np.uint8(4)]):
            with self.subTest(input_shape=repr(shape)):
                model = build(seed=0).build(input_shape=shape, n_out=3)
                self.assertEqual(model.input_shape, (4,))
                self.assertEqual(model.layers[0].parameters["W"].shape, (4, 8))

    def test_a_bad_input_shape_is_refused_before_anything_changes(self):
        # True is no number of features, though numpy would read (True, 4) as (1, 4).
        for shape in ((True, 4), (np.float64(4),), (4.0,), ("4",), [[4]], (0,), ()):
            with self.subTest(input_shape=repr(shape)):
                model = build(seed=0)
                with self.assertRaisesRegex(ValueError, "input_shape must be the shape of one "
                                                        "example"):
                    model.build(input_shape=shape, n_out=3)
                self.assertFalse(model.built)


class TestSummary(unittest.TestCase):
    def test_the_default_iris_net_counts_83_parameters(self):
        model = runs.iris_model(runs.DEFAULTS.hidden, 0.01, 0.9, seed=0).build((4,), n_out=3)
        table = repr(model)
        lines = table.splitlines()
        rows = {line.split()[0]: line for line in lines[3:5]}
        # 4 * 10 + 10 and 10 * 3 + 3.
        self.assertRegex(rows["0"], r"^0\s+FullyConnected, relu\s+\(None, 10\)\s+50$")
        self.assertRegex(rows["1"], r"^1\s+FullyConnected, softmax\s+\(None, 3\)\s+33$")
        self.assertRegex(lines[2], r"^\s+input\s+\(None, 4\)$")
        self.assertIn("Total parameters: 83 (trainable: 83)", table)
        self.assertNotIn("Buffers", table)

    def test_print_shows_the_summary(self):
        model = build(seed=0)
        model.train(initialize_dataset("iris", batch_size=35), 1, verbose=False)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            print(model)
        self.assertEqual(out.getvalue(), repr(model) + "\n")
        self.assertEqual(str(model), repr(model))
        self.assertIn("Total parameters: 67", out.getvalue())  # 4 * 8 + 8 + 8 * 3 + 3

    def test_summary_prints_the_table_and_returns_nothing(self):
        # As Keras' model.summary(): in a script it shows the table, and in Jupyter
        # no string is echoed after it.
        model = build(seed=0).build((4,), n_out=3)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            returned = model.summary()
        self.assertIsNone(returned)
        self.assertIn("Total parameters: 67 (trainable: 67)", out.getvalue())
        self.assertEqual(out.getvalue(), repr(model) + "\n")

    def test_an_unbuilt_model_says_what_it_has(self):
        table = repr(build(seed=0))
        self.assertIn("FullyConnected, relu", table)
        self.assertIn("FullyConnected, softmax", table)
        self.assertIn("first batch", table)
        self.assertIn("build(input_shape, n_out)", table)
        self.assertNotIn("Total parameters", table)

    def test_a_cnn_lists_each_layer_and_leaves_it_as_it_was(self):
        model = build_cnn(seed=0).build((8, 8, 2), n_out=3)
        X = np.random.default_rng(0).normal(size=(5, 8, 8, 2))
        # Between a forward and its backward: summary must not disturb the caches.
        out = model.forward(X)
        table = repr(model)
        model.backward(np.eye(3)[[0, 1, 2, 0, 1]], out)
        gradients = [dict(layer.gradients) for layer in model.layers]
        reference = build_cnn(seed=0).build((8, 8, 2), n_out=3)
        reference.backward(np.eye(3)[[0, 1, 2, 0, 1]], reference.forward(X))
        for layer, expected in zip(reference.layers, gradients, strict=True):
            for name, value in layer.gradients.items():
                np.testing.assert_array_equal(expected[name], value)
        lines = table.splitlines()
        for i, (title, shape) in enumerate((
                ("Conv2D 3x3 s1 same", "(None, 8, 8, 4)"), ("BatchNorm, relu", "(None, 8, 8, 4)"),
                ("Pool2D max 2x2 s2", "(None, 4, 4, 4)"), ("Flatten", "(None, 64)"),
                ("Dropout p=0.3", "(None, 64)"), ("FullyConnected, softmax", "(None, 3)"))):
            self.assertRegex(lines[3 + i], rf"^{i}\s+{re.escape(title)}\s+{re.escape(shape)}\s")
        n_parameters = sum(v.size for layer in model.layers for v in layer.parameters.values())
        self.assertEqual(n_parameters, 3 * 3 * 2 * 4 + 4 + 2 * 4 + 64 * 3 + 3)
        self.assertIn(f"Total parameters: {n_parameters:,} (trainable: {n_parameters:,})", table)
        # The running mean and variance (4 each) are state, not parameters.
        self.assertIn("Buffers (BatchNorm running statistics, not trained): 8 values", table)


class TestEvaluate(unittest.TestCase):
    # Five examples of three classes, none of class 2; by hand: true 0, 0, 1, 1, 1 and
    # predicted 0, 1, 1, 1, 0, so accuracy 3/5, per class 1/2, 2/3 and NaN.
    Y = np.eye(3)[[0, 0, 1, 1, 1]]
    Y_HAT = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0.3, 0.4, 0.3],
                      [0.5, 0.3, 0.2]])

    def model(self, loss="cross_entropy"):
        return NeuralNetwork(loss, two_layer_args(output="softmax" if loss == "cross_entropy"
                                                  else "linear"), AttrDict(name="SGD", lr=0.1))

    def test_score_by_hand(self):
        scores = self.model().score(self.Y, self.Y_HAT)
        self.assertEqual(set(scores), {"loss", "accuracy", "per_class_accuracy",
                                       "confusion_matrix"})
        np.testing.assert_array_equal(scores["confusion_matrix"],
                                      [[1, 1, 0], [1, 2, 0], [0, 0, 0]])
        self.assertAlmostEqual(scores["accuracy"], 0.6, places=15)
        np.testing.assert_allclose(scores["per_class_accuracy"], [0.5, 2 / 3, np.nan])
        expected_loss = -np.log([0.6, 0.2, 0.8, 0.4, 0.3]).mean()
        self.assertAlmostEqual(scores["loss"], expected_loss, places=14)
        # Class indices are the same targets.
        by_index = self.model().score(np.array([0, 0, 1, 1, 1]), self.Y_HAT)
        np.testing.assert_array_equal(by_index["confusion_matrix"], scores["confusion_matrix"])
        self.assertEqual(by_index["loss"], scores["loss"])

    def test_evaluate_matches_scikit_learn_and_test(self):
        dataset = initialize_dataset("iris", batch_size=35)
        model = build(seed=0)
        model.train(dataset, 2, verbose=False)
        X, Y = dataset.test.data, dataset.test.labels
        scores = model.evaluate(X, Y, batch_size=7)
        Y_hat, loss = model.predict(X, Y)
        true, predicted = Y.argmax(axis=1), Y_hat.argmax(axis=1)
        self.assertEqual(scores["accuracy"], accuracy_score(true, predicted))
        np.testing.assert_array_equal(scores["confusion_matrix"],
                                      confusion_matrix(true, predicted, labels=[0, 1, 2]))
        self.assertEqual(scores["confusion_matrix"].sum(), len(Y))
        np.testing.assert_allclose(scores["per_class_accuracy"],
                                   [np.mean(predicted[true == c] == c) for c in range(3)])
        self.assertAlmostEqual(scores["loss"], loss, places=12)
        self.assertAlmostEqual(1 - scores["accuracy"], model.test(dataset, verbose=False)["test_error"],
                               places=15)

    def test_l2_gives_the_loss_and_the_mean_squared_error(self):
        model = self.model("l2")
        scores = model.score(self.Y, self.Y_HAT)
        self.assertEqual(set(scores), {"loss", "mse"})
        self.assertAlmostEqual(scores["mse"], np.mean((self.Y - self.Y_HAT) ** 2), places=15)
        self.assertAlmostEqual(scores["loss"], np.sum((self.Y - self.Y_HAT) ** 2) / 10,
                               places=15)
        with self.assertRaisesRegex(ValueError, r"expected targets of shape \(5, 3\) for"):
            model.score(np.array([0, 0, 1, 1, 1]), self.Y_HAT)

    def test_inputs_and_labels_given_to_score_point_to_evaluate(self):
        dataset = initialize_dataset("iris", batch_size=35)
        model = build(seed=0)
        model.train(dataset, 1, verbose=False)
        X, Y = dataset.test.data, dataset.test.labels
        for labels in (Y, Y.argmax(axis=1)):
            with self.subTest(labels=labels.shape), self.assertRaises(ValueError) as caught:
                model.score(X, labels)
            self.assertIn("score(Y, Y_hat) takes the targets first, then the network's "
                          "outputs", str(caught.exception))
            self.assertIn("evaluate(X, Y)", str(caught.exception))
        # Targets and outputs of different widths: the order is named, evaluate is not.
        with self.assertRaises(ValueError) as caught:
            model.score(np.eye(5), self.Y_HAT)
        self.assertIn("score(Y, Y_hat) takes the targets first", str(caught.exception))
        self.assertNotIn("evaluate", str(caught.exception))
        # evaluate's own errors are about its own arguments.
        with self.assertRaises(ValueError) as caught:
            model.evaluate(X, Y[:, :2])
        self.assertNotIn("score(Y, Y_hat)", str(caught.exception))

    def test_bad_input(self):
        model = self.model()
        nan = self.Y.copy()
        nan[1, 1] = np.nan
        for Y, fragment in (
            (self.Y[:4], r"expected targets of shape \(5, 3\) or integer class indices of "
                         r"shape \(5,\).*got float64 \(4, 3\)"),
            (np.eye(4)[[0, 0, 1, 1, 1]], r"got float64 \(5, 4\)"),
            (nan, "targets hold NaN"),
            (np.array([0, 0, 1, 3, 1]), r"class indices must be in \[0, 3\), got values "
                                        r"from 0 to 3"),
            (np.array([0.0, 0, 1, 1, 1]), "integer class indices"),
            (self.Y * 2, "one-hot"),
        ):
            with self.subTest(fragment=fragment):
                with self.assertRaisesRegex(ValueError, fragment):
                    model.score(Y, self.Y_HAT)
        with self.assertRaisesRegex(ValueError, "outputs hold NaN"):
            model.score(self.Y, self.Y_HAT * np.nan)
        trained = build(seed=0)
        dataset = initialize_dataset("iris", batch_size=35)
        trained.train(dataset, 1, verbose=False)
        with self.assertRaisesRegex(ValueError, "at least one example"):
            trained.evaluate(dataset.test.data[:0], dataset.test.labels[:0])
        with self.assertRaisesRegex(ValueError, "output layer is not built"):
            build(seed=0).evaluate(dataset.test.data, dataset.test.labels)


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
