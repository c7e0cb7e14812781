"""Train/eval mode (NeuralNetwork.set_mode, evaluating, and the calls that
must run in eval mode: predict, test, test_kaggle and validation).

The network has a BatchNorm and a Dropout(0.5) layer, so eval mode is
visible: predictions are deterministic, equal a manual forward in eval mode,
do not depend on the rest of the batch, draw nothing from the generator and
leave BatchNorm's running statistics alone. Each call leaves the model in the
mode it found it in (train or eval), also when it fails.
"""

import csv
import os
import tempfile
import unittest

import numpy as np

from neural_networks.datasets import Dataset
from neural_networks.models import NeuralNetwork
from neural_networks.utils import AttrDict

LAYER_ARGS = [
    AttrDict(name="fully_connected", n_out=16, activation="linear"),
    AttrDict(name="batchnorm", activation="relu"),
    AttrDict(name="dropout", p=0.5),
    AttrDict(name="fully_connected", n_out=None, activation="softmax"),
]

N_TRAIN, N_VALIDATE, N_TEST, BATCH_SIZE = 40, 7, 9, 10


def make_dataset():
    rng = np.random.default_rng(0)
    n = N_TRAIN + N_VALIDATE + N_TEST
    X = rng.normal(size=(n, 4))
    Y = np.eye(3)[rng.integers(0, 3, size=n)]
    a, b = N_TRAIN, N_TRAIN + N_VALIDATE
    return Dataset(X[:a], Y[:a], BATCH_SIZE, validation_set=X[a:b], validation_labels=Y[a:b],
                   test_set=X[b:], test_labels=Y[b:])


def build_model(seed=0):
    return NeuralNetwork("cross_entropy", [AttrDict(a) for a in LAYER_ARGS],
                         dict(name="Adam", lr=0.01), seed=seed)


def trained_model():
    model = build_model()
    model.train(make_dataset(), 2, verbose=False)
    return model


def manual_eval_forward(model, X):
    """Each layer's forward in eval mode, by hand, then the flags put back."""
    flags = [layer.training for layer in model.layers]
    for layer in model.layers:
        layer.training = False
    try:
        for layer in model.layers:
            X = layer.forward(X)
    finally:
        for layer, flag in zip(model.layers, flags, strict=True):
            layer.training = flag
    return X


class ModeTestCase(unittest.TestCase):
    def assertMode(self, model, mode):
        expected = mode == "train"
        self.assertIs(model.training, expected, f"model.training after a call in {mode} mode")
        for i, layer in enumerate(model.layers):
            self.assertIs(layer.training, expected, f"layer {i} ({type(layer).__name__})")


class TestSetMode(ModeTestCase):
    def test_switches_every_layer(self):
        model = trained_model()
        self.assertEqual(len(model.layers), 4)
        model.set_mode("eval")
        self.assertMode(model, "eval")
        model.set_mode("train")
        self.assertMode(model, "train")

    def test_output_layer_built_later_takes_the_model_mode(self):
        model = build_model()
        model.set_mode("eval")
        model.train(make_dataset(), 0, verbose=False)  # builds the output layer, no step
        self.assertEqual(len(model.layers), 4)
        self.assertMode(model, "eval")

    def test_bad_mode(self):
        model = build_model()
        for mode in ("training", "test", True, None):
            with self.subTest(mode=mode), self.assertRaisesRegex(ValueError, "'train' or 'eval'"):
                model.set_mode(mode)
        self.assertMode(model, "train")

    def test_evaluating_restores_the_mode(self):
        model = trained_model()
        for mode in ("train", "eval"):
            with self.subTest(mode=mode):
                model.set_mode(mode)
                with model.evaluating():
                    self.assertMode(model, "eval")
                self.assertMode(model, mode)
                with self.assertRaises(RuntimeError):
                    with model.evaluating():
                        raise RuntimeError("inside")
                self.assertMode(model, mode)

    def test_training_steps_run_in_train_mode(self):
        model = build_model()
        model.set_mode("eval")
        seen = []
        dataset = make_dataset()
        model.train(dataset, 0, verbose=False)
        for layer in model.layers:
            original = layer.forward

            def forward(X, layer=layer, original=original):
                seen.append((X.shape[0], layer.training))
                return original(X)

            layer.forward = forward
        model.train(dataset, 1, verbose=False)
        train_calls = [training for n, training in seen if n == BATCH_SIZE]
        validation_calls = [training for n, training in seen if n == N_VALIDATE]
        self.assertEqual(len(train_calls), 4 * N_TRAIN // BATCH_SIZE)
        self.assertTrue(all(train_calls))
        # Validation after the epoch ran in eval mode.
        self.assertEqual(len(validation_calls), 4)
        self.assertFalse(any(validation_calls))
        self.assertMode(model, "train")


class TestPredictInEvalMode(ModeTestCase):
    def setUp(self):
        self.model = trained_model()
        self.X = make_dataset().test.data

    def test_predict_equals_a_manual_eval_forward(self):
        first, _ = self.model.predict(self.X)
        second, _ = self.model.predict(self.X)
        np.testing.assert_array_equal(first, second)
        np.testing.assert_array_equal(first, manual_eval_forward(self.model, self.X))

    def test_a_train_mode_forward_differs(self):
        # Control: in train mode Dropout and batch statistics change the output,
        # so the equality above really shows eval mode.
        predicted, _ = self.model.predict(self.X)
        np.random.seed(0)
        trained_mode = self.model.forward(self.X)
        self.assertGreater(np.abs(trained_mode - predicted).max(), 1e-3)

    def test_predict_uses_running_statistics(self):
        batchnorm = self.model.layers[1]
        buffers = {k: v.copy() for k, v in batchnorm.buffers.items()}
        generator = np.random.get_state()[1].copy()
        whole, _ = self.model.predict(self.X)
        one, _ = self.model.predict(self.X[:1])  # a batch of one: only running stats allow it
        np.testing.assert_allclose(one, whole[:1], rtol=1e-12, atol=1e-15)
        chunked, _ = self.model.predict(self.X, batch_size=2)
        np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-15)
        for name, value in buffers.items():
            np.testing.assert_array_equal(batchnorm.buffers[name], value)
        np.testing.assert_array_equal(np.random.get_state()[1], generator)  # no dropout draw

    def test_predict_with_labels_returns_the_eval_loss(self):
        Y = make_dataset().test.labels
        Y_hat, loss = self.model.predict(self.X, Y)
        expected = manual_eval_forward(self.model, self.X)
        self.assertAlmostEqual(loss, -np.mean(np.sum(Y * np.log(expected), axis=1)), places=12)
        np.testing.assert_array_equal(Y_hat, expected)


class TestCallsLeaveTheMode(ModeTestCase):
    def setUp(self):
        self.model = trained_model()
        self.dataset = make_dataset()
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)

    def test_predict(self):
        for mode in ("train", "eval"):
            with self.subTest(mode=mode):
                self.model.set_mode(mode)
                self.model.predict(self.dataset.test.data)
                self.assertMode(self.model, mode)

    def test_test(self):
        expected = manual_eval_forward(self.model, self.dataset.test.data)
        for mode in ("train", "eval"):
            with self.subTest(mode=mode):
                self.model.set_mode(mode)
                results = self.model.test(self.dataset, save_predictions=True, verbose=False)
                self.assertMode(self.model, mode)
                np.testing.assert_array_equal(results["prediction"], expected)
                error = np.mean(expected.argmax(1) != self.dataset.test.labels.argmax(1))
                self.assertAlmostEqual(results["test_error"], error, places=12)

    def test_test_kaggle(self):
        expected = manual_eval_forward(self.model, self.dataset.test.data).argmax(axis=1)
        for mode in ("train", "eval"):
            with self.subTest(mode=mode):
                path = os.path.join(self._tmp.name, f"{mode}.csv")
                self.model.set_mode(mode)
                self.model.test_kaggle(self.dataset, path=path)
                self.assertMode(self.model, mode)
                with open(path, newline="") as f:
                    rows = list(csv.DictReader(f))
                self.assertEqual([int(r["Category"]) for r in rows], list(expected))

    def test_predict_that_fails_still_restores_the_mode(self):
        layer = self.model.layers[2]

        def broken_forward(X):
            raise RuntimeError("layer failed")

        layer.forward = broken_forward
        for mode in ("train", "eval"):
            with self.subTest(mode=mode):
                self.model.set_mode(mode)
                with self.assertRaisesRegex(RuntimeError, "layer failed"):
                    self.model.predict(self.dataset.test.data)
                self.assertMode(self.model, mode)


if __name__ == "__main__":
    unittest.main()
