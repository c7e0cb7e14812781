"""Bad data is refused early with a clear ValueError
(neural_networks/datasets/batching.py at construction, NeuralNetwork.train before the
first step).

- NaN or infinity in inputs or labels of any split: ValueError when the
  Data / Dataset is built, naming the array and the entry.
- Inputs and labels of different lengths: ValueError at construction.
- Class indices instead of one-hot rows: ValueError at construction (or at the
  start of train for labels set later) giving the integers_to_one_hot call.
- Labels that are not one-hot (or probability) rows under cross-entropy,
  or have the wrong number of columns: ValueError at the start of train,
  before any forward pass or step, with the parameters unchanged.
"""

import unittest

import numpy as np

from neural_networks.datasets import Data, Dataset
from neural_networks.models import NeuralNetwork
from neural_networks.utils import AttrDict, integers_to_one_hot


def clean_arrays(n=20, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    Y = np.eye(classes)[rng.integers(0, classes, size=n)]
    return X, Y


def build_model(loss="cross_entropy"):
    return NeuralNetwork(
        loss,
        [AttrDict(name="fully_connected", n_out=5, activation="relu"),
         AttrDict(name="fully_connected", n_out=None,
                  activation="softmax" if loss == "cross_entropy" else "linear")],
        dict(name="SGD", lr=0.1, momentum=0.9), seed=0,
    )


class TestNonFiniteValues(unittest.TestCase):
    def test_data_with_nan_or_inf(self):
        for bad in (np.nan, np.inf, -np.inf):
            for dtype in (np.float64, np.float32):
                with self.subTest(value=bad, dtype=dtype):
                    X, Y = clean_arrays()
                    X = X.astype(dtype)
                    X[7, 2] = bad
                    with self.assertRaises(ValueError) as raised:
                        Data(X, batch_size=5, labels=Y)
                    message = str(raised.exception)
                    self.assertIn("data", message)
                    self.assertIn("(7, 2)", message)
                    self.assertIn(str(dtype(bad)), message)

    def test_labels_with_nan(self):
        X, Y = clean_arrays()
        Y[3, 1] = np.nan
        with self.assertRaisesRegex(ValueError, r"labels.*\(3, 1\).*nan"):
            Data(X, batch_size=5, labels=Y)

    def test_nan_in_images(self):
        X = np.zeros((4, 5, 5, 3))
        X[2, 1, 4, 0] = np.nan
        with self.assertRaisesRegex(ValueError, r"\(2, 1, 4, 0\)"):
            Data(X, batch_size=2)

    def test_every_split_of_a_dataset(self):
        X, Y = clean_arrays()
        splits = ("training_set", "training_labels", "validation_set", "validation_labels",
                  "test_set", "test_labels")
        for bad in splits:
            with self.subTest(split=bad):
                arrays = {name: (X if name.endswith("set") else Y).copy() for name in splits}
                arrays[bad][0, 0] = np.inf
                with self.assertRaisesRegex(ValueError, "must be finite"):
                    Dataset(batch_size=5, **arrays)

    def test_finite_integer_data_is_accepted(self):
        X = np.arange(24).reshape(6, 4)
        Y = np.eye(2)[[0, 1, 0, 1, 0, 1]]
        data = Data(X, batch_size=3, labels=Y)
        self.assertEqual(data.n_samples, 6)


class TestLengths(unittest.TestCase):
    def test_data_and_labels_of_different_lengths(self):
        X, Y = clean_arrays()
        with self.assertRaisesRegex(ValueError, "20 examples but 19 labels"):
            Data(X, batch_size=5, labels=Y[:19])

    def test_each_split_of_a_dataset(self):
        X, Y = clean_arrays()
        cases = {
            "training": dict(training_set=X, training_labels=Y[:-1]),
            "validation": dict(training_set=X, training_labels=Y, validation_set=X[:10],
                               validation_labels=Y[:9]),
            "test": dict(training_set=X, training_labels=Y, test_set=X[:10],
                         test_labels=Y[:11]),
        }
        for split, kwargs in cases.items():
            with self.subTest(split=split), self.assertRaisesRegex(ValueError, "differ in length"):
                Dataset(batch_size=5, **kwargs)

    def test_empty_data(self):
        with self.assertRaisesRegex(ValueError, "at least one example"):
            Data(np.zeros((0, 3)), batch_size=5)

    def test_training_labels_not_rows(self):
        X, _ = clean_arrays()
        with self.assertRaisesRegex(ValueError, r"one-hot rows.*\(20,\)"):
            Dataset(X, np.arange(20) % 3, batch_size=5)


class TestClassIndices(unittest.TestCase):
    """Integer class indices where one-hot rows belong: refused, naming the fix."""

    def test_class_indices_are_refused_with_the_one_line_fix(self):
        X, Y = clean_arrays()
        classes = Y.argmax(axis=1)  # 0, 1 or 2
        few = np.flatnonzero(classes != 2)[:6]  # a split without class 2
        cases = {
            "training": (lambda: Dataset(X, classes, batch_size=5), "training labels",
                         "max_val=2"),
            "training as floats": (lambda: Dataset(X, classes.astype(float), batch_size=5),
                                   "training labels", "max_val=2"),
            # The training split's width, not the largest index present, sets max_val.
            "validation": (lambda: Dataset(X, Y, 5, validation_set=X[few],
                                           validation_labels=classes[few]),
                           "validation labels", "max_val=2"),
            "test": (lambda: Dataset(X, Y, 5, test_set=X[few], test_labels=classes[few]),
                     "test labels", "max_val=2"),
            "Data": (lambda: Data(X, batch_size=5, labels=classes), "labels", "max_val=2"),
        }
        for case, (make, what, max_val) in cases.items():
            with self.subTest(case=case), self.assertRaises(ValueError) as caught:
                make()
            message = str(caught.exception)
            self.assertTrue(message.startswith(f"{what} must be one-hot rows of shape "
                                               f"(n, classes)"), message)
            self.assertIn("got class indices, shape (", message)
            self.assertIn(f"from neural_networks.utils import integers_to_one_hot, then "
                          f"integers_to_one_hot(labels, {max_val})", message)
        # The fix given is one that works.
        dataset = Dataset(X, integers_to_one_hot(classes, max_val=2), 5, validation_set=X[few],
                          validation_labels=integers_to_one_hot(classes[few], max_val=2))
        np.testing.assert_array_equal(dataset.validate.labels, Y[few])

    def test_labels_set_after_construction_are_checked_before_training(self):
        X, Y = clean_arrays()
        dataset = Dataset(X, Y, batch_size=5, validation_set=X[:6], validation_labels=Y[:6])
        dataset.validate.labels = Y[:6].argmax(axis=1)  # 0, 1 or 2
        with self.assertRaisesRegex(ValueError, r"validate labels must be one-hot rows.*"
                                                r"integers_to_one_hot\(labels, max_val=2\)"):
            build_model().train(dataset, 1, verbose=False)


class TestLabelsCheckedBeforeTraining(unittest.TestCase):
    def assert_refused_before_any_step(self, model, dataset, pattern):
        updates = []
        original_update = model.update
        model.update = lambda epoch: (updates.append(epoch), original_update(epoch))
        before = [{k: v.copy() for k, v in layer.parameters.items()} for layer in model.layers]
        epoch, losses = model.epoch, len(model.history["iteration_loss"])
        with self.assertRaisesRegex(ValueError, pattern):
            model.train(dataset, 3, verbose=False)
        self.assertEqual(updates, [])
        self.assertEqual(model.epoch, epoch)
        self.assertEqual(len(model.history["iteration_loss"]), losses)
        for i, params in enumerate(before):
            for name, value in params.items():
                np.testing.assert_array_equal(model.layers[i].parameters[name], value)
        return model

    def test_not_one_hot_training_labels(self):
        X, Y = clean_arrays()
        bad_labels = {
            "rows summing to 2": Y * 2,
            "a negative entry": np.where(np.arange(3) == 0, -0.5, 0.75) * np.ones((20, 1)),
            "all zeros": np.zeros_like(Y),
        }
        for what, labels in bad_labels.items():
            with self.subTest(labels=what):
                model = build_model()
                self.assert_refused_before_any_step(model, Dataset(X, labels, batch_size=5),
                                                    "one-hot")
                # No forward pass ran: the first layer never saw an input.
                self.assertIsNone(model.layers[0].n_in)

    def test_not_one_hot_labels_after_some_training(self):
        X, Y = clean_arrays()
        model = build_model()
        model.train(Dataset(X, Y, batch_size=5), 1, verbose=False)
        self.assert_refused_before_any_step(model, Dataset(X, Y * 3, batch_size=5), "one-hot")

    def test_not_one_hot_validation_labels(self):
        X, Y = clean_arrays()
        dataset = Dataset(X, Y, batch_size=5, validation_set=X[:6],
                          validation_labels=Y[:6] + 0.5)
        self.assert_refused_before_any_step(build_model(), dataset, "validate labels")

    def test_validation_labels_with_other_columns(self):
        X, Y = clean_arrays()
        dataset = Dataset(X, Y, batch_size=5, validation_set=X[:6],
                          validation_labels=np.eye(4)[[0, 1, 2, 3, 0, 1]])
        self.assert_refused_before_any_step(build_model(), dataset, r"\(n, 3\).*\(6, 4\)")

    def test_probability_rows_are_accepted(self):
        X, _ = clean_arrays()
        soft = np.random.default_rng(1).dirichlet(np.ones(3), size=20)
        model = build_model()
        model.train(Dataset(X, soft, batch_size=5), 1, verbose=False)
        self.assertEqual(model.epoch, 1)

    def test_l2_takes_any_real_targets(self):
        # The one-hot check belongs to cross-entropy only.
        X, _ = clean_arrays()
        targets = np.random.default_rng(2).normal(size=(20, 2)) * 5
        model = build_model(loss="l2")
        model.train(Dataset(X, targets, batch_size=5), 1, verbose=False)
        self.assertEqual(model.epoch, 1)


if __name__ == "__main__":
    unittest.main()
