"""Scores of a network's outputs and its predictions file (neural_networks/scoring.py,
reached through the network's methods): error, score and evaluate (checked by hand
and against scikit-learn), classify and predict_proba, the course's test and
test_kaggle, and the Kaggle predictions file."""

import contextlib
import csv
import io
import os
import pickle
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix

from neural_networks.datasets import Dataset, initialize_dataset
from neural_networks.logs import Logger
from neural_networks.models import NeuralNetwork
from neural_networks.scoring import write_predictions
from neural_networks.utils import AttrDict
from tests.test_models import build, two_layer_args

REPO_ROOT = Path(__file__).resolve().parent.parent


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


class TestClassifyAndTest(unittest.TestCase):
    def setUp(self):
        self.dataset = initialize_dataset("iris", batch_size=35)
        self.model = build(seed=0)

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


class TestNoPicturesToScore(unittest.TestCase):
    def test_kaggle_predictions_are_written_without_matplotlib(self):
        code = """
import os, sys, tempfile
from neural_networks.datasets import initialize_dataset
from tests.test_models import build
model = build(seed=0)
dataset = initialize_dataset("iris", batch_size=35)
model.train(dataset, 1, verbose=False)
with tempfile.TemporaryDirectory() as tmp:
    path = model.test_kaggle(dataset, path=os.path.join(tmp, "k.csv"))
    rows = len(open(path).read().splitlines())
print(rows, "matplotlib" in sys.modules)
"""
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.split(), ["31", "False"])


class TestPredictions(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.tmp = self._tmp.name

    def read(self, path):
        with open(path) as f:
            return f.read()

    def test_into_a_folder_or_a_file(self):
        path = write_predictions(self.tmp, np.array([3, 0, 9]))
        self.assertEqual(path, os.path.join(self.tmp, "predictions.csv"))
        self.assertEqual(self.read(path), "Id,Category\n0,3\n1,0\n2,9\n")
        other = os.path.join(self.tmp, "kaggle.csv")
        self.assertEqual(write_predictions(other, [1.0, 2.0]), other)
        self.assertEqual(self.read(other), "Id,Category\n0,1\n1,2\n")

    def test_anything_but_whole_numbers_in_one_row_is_refused(self):
        path = os.path.join(self.tmp, "p.csv")
        for bad in (np.zeros((2, 2), dtype=int), [0.5, 1.0], ["a", "b"], [np.nan]):
            with self.subTest(categories=bad):
                with self.assertRaisesRegex(ValueError, r"expected \(N,\) integer categories"):
                    write_predictions(path, bad)
        self.assertFalse(os.path.exists(path))


if __name__ == "__main__":
    unittest.main()
