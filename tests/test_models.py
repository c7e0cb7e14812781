"""The network: learning, train/predict/test/test_kaggle/save_parameters,
error and seeding."""

import csv
import os
import tempfile
import unittest
from unittest import mock

import numpy as np

from neural_networks.datasets import Dataset, initialize_dataset
from neural_networks.logs import Logger
from neural_networks.models import NeuralNetwork, initialize_model
from neural_networks.utils import AttrDict


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
        dataset = initialize_dataset("iris", batch_size=15)
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
        test_accuracy = 1 - model.test(dataset)["test_error"]
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

    def test_test_returns_loss_and_error(self):
        self.model.train(self.dataset, 2, verbose=False)
        results = self.model.test(self.dataset)
        self.assertEqual(set(results), {"test_loss", "test_error"})
        Y = self.dataset.test.labels
        Y_hat, _ = self.model.predict(self.dataset.test.data)
        self.assertAlmostEqual(results["test_loss"], -np.sum(Y * np.log(Y_hat)) / 30, places=12)
        self.assertAlmostEqual(results["test_error"],
                               np.mean(Y_hat.argmax(axis=1) != Y.argmax(axis=1)), places=12)
        with_predictions = self.model.test(self.dataset, save_predictions=True)
        np.testing.assert_allclose(with_predictions["prediction"], Y_hat, rtol=1e-14)

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


if __name__ == "__main__":
    unittest.main()
