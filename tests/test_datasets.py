"""Batching (Data), splits (Dataset), the shipped Iris files and their loader."""

import contextlib
import importlib.util
import io
import tempfile
import unittest
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris as sklearn_iris

from neural_networks.datasets import Data, Dataset, initialize_dataset

REPO = Path(__file__).resolve().parent.parent
IRIS_DIR = REPO / "datasets" / "iris"
SPLITS = {"train": 105, "val": 15, "test": 30}


def load_raw(split):
    X = np.load(IRIS_DIR / f"iris_{split}_data.npy")
    Y = np.load(IRIS_DIR / f"iris_{split}_labels.npy")
    return X, Y


class TestData(unittest.TestCase):
    def setUp(self):
        np.random.seed(0)
        self.n = 23
        self.X = np.arange(self.n, dtype=float).reshape(-1, 1) * np.ones((1, 3))
        # label = 10 * index, so a mismatched (X, Y) pair would show
        self.Y = 10.0 * np.arange(self.n).reshape(-1, 1)

    def epoch(self, data):
        return [data.sample() for _ in range(data.samples_per_epoch)]

    def test_every_example_once_per_epoch(self):
        data = Data(self.X, batch_size=5, labels=self.Y)
        self.assertEqual(data.samples_per_epoch, 5)  # ceil(23 / 5)
        for _ in range(3):
            batches = self.epoch(data)
            self.assertEqual([len(X) for X, _ in batches], [5, 5, 5, 5, 3])
            seen = np.concatenate([X[:, 0] for X, _ in batches])
            np.testing.assert_array_equal(np.sort(seen), np.arange(self.n))
            for X, Y in batches:
                np.testing.assert_array_equal(Y[:, 0], 10 * X[:, 0])
                np.testing.assert_array_equal(X[:, 1], X[:, 0])

    def test_reshuffles_between_epochs(self):
        data = Data(self.X, batch_size=5, labels=self.Y)
        orders = [np.concatenate([X[:, 0] for X, _ in self.epoch(data)]) for _ in range(3)]
        # each order is a shuffle, not the stored order, and no two agree
        for order in orders:
            self.assertFalse(np.array_equal(order, np.arange(self.n)))
        self.assertFalse(np.array_equal(orders[0], orders[1]))
        self.assertFalse(np.array_equal(orders[1], orders[2]))

    def test_batch_divides_exactly(self):
        data = Data(self.X[:20], batch_size=4, labels=self.Y[:20])
        self.assertEqual(data.samples_per_epoch, 5)
        self.assertEqual([len(X) for X, _ in self.epoch(data)], [4] * 5)

    def test_batch_larger_than_data(self):
        data = Data(self.X, batch_size=50, labels=self.Y)
        self.assertEqual(data.samples_per_epoch, 1)
        X, Y = data.sample()
        np.testing.assert_array_equal(np.sort(X[:, 0]), np.arange(self.n))

    def test_unlabeled(self):
        data = Data(self.X, batch_size=10)
        X, Y = data.sample()
        self.assertIsNone(Y)
        self.assertEqual(X.shape, (10, 3))

    def test_dataset_splits(self):
        dataset = Dataset(self.X, np.eye(4)[np.arange(self.n) % 4], 6,
                          validation_set=self.X[:5], validation_labels=np.eye(4)[[0, 1, 2, 3, 0]],
                          test_set=self.X[:7])
        self.assertEqual(dataset.out_dim, 4)
        self.assertEqual(dataset.train.samples_per_epoch, 4)
        self.assertEqual(dataset.validate.data.shape, (5, 3))
        self.assertIsNone(dataset.test.labels)
        self.assertEqual(dataset.test.n_samples, 7)


class TestIrisFiles(unittest.TestCase):
    def test_split_sizes_and_labels(self):
        for split, n in SPLITS.items():
            with self.subTest(split=split):
                X, Y = load_raw(split)
                self.assertEqual(X.shape, (n, 4))
                self.assertEqual(Y.shape, (n, 3))
                self.assertEqual(Y.dtype, np.float64)
                self.assertTrue(np.all((Y == 0) | (Y == 1)))
                np.testing.assert_array_equal(Y.sum(axis=1), np.ones(n))

    def test_stratified(self):
        for split, n in SPLITS.items():
            _, Y = load_raw(split)
            np.testing.assert_array_equal(Y.sum(axis=0), [n // 3] * 3)

    def test_splits_partition_sklearn_iris(self):
        # Raw features (cm), each of the 150 examples in exactly one split,
        # with its own class.
        iris = sklearn_iris()
        expected = np.column_stack([iris.data, iris.target])
        got = np.concatenate([
            np.column_stack([X, Y.argmax(axis=1)]) for X, Y in map(load_raw, SPLITS)
        ])

        def lexsorted(a):
            return a[np.lexsort(a.T[::-1])]

        np.testing.assert_array_equal(lexsorted(got), lexsorted(expected))

    def test_make_iris_regenerates_the_committed_files(self):
        spec = importlib.util.spec_from_file_location("make_iris", REPO / "datasets" / "make_iris.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with tempfile.TemporaryDirectory() as tmp:
            module.OUT_DIR = Path(tmp)
            with contextlib.redirect_stdout(io.StringIO()):
                module.main()
            for split in SPLITS:
                for part in ("data", "labels"):
                    name = f"iris_{split}_{part}.npy"
                    fresh = np.load(Path(tmp) / name)
                    committed = np.load(IRIS_DIR / name)
                    self.assertEqual(fresh.dtype, committed.dtype, name)
                    np.testing.assert_array_equal(fresh, committed, err_msg=name)


class TestInitializeIris(unittest.TestCase):
    def setUp(self):
        self.dataset = initialize_dataset("iris", batch_size=16)
        raw = {split: load_raw(split) for split in SPLITS}
        self.raw = raw
        X_train = raw["train"][0]
        # population statistics of the training split only
        self.mean = X_train.sum(axis=0) / len(X_train)
        self.std = np.sqrt(((X_train - self.mean) ** 2).sum(axis=0) / len(X_train))

    def test_shapes(self):
        d = self.dataset
        self.assertEqual(d.out_dim, 3)
        self.assertEqual(d.train.data.shape, (105, 4))
        self.assertEqual(d.validate.data.shape, (15, 4))
        self.assertEqual(d.test.data.shape, (30, 4))
        self.assertEqual(d.train.batch_size, 16)
        self.assertEqual(d.train.samples_per_epoch, 7)

    def test_train_is_standardised(self):
        X = self.dataset.train.data
        np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(X.std(axis=0), 1, rtol=1e-12)

    def test_every_split_uses_the_training_statistics(self):
        parts = {"train": self.dataset.train, "val": self.dataset.validate,
                 "test": self.dataset.test}
        for split, data in parts.items():
            with self.subTest(split=split):
                X_raw, Y_raw = self.raw[split]
                np.testing.assert_allclose(data.data, (X_raw - self.mean) / self.std,
                                           rtol=1e-12, atol=1e-12)
                np.testing.assert_array_equal(data.labels, Y_raw)
        # Validation and test statistics are not their own: had they been
        # standardised with their own statistics, their means would be 0.
        self.assertGreater(np.abs(self.dataset.test.data.mean(axis=0)).max(), 1e-3)
        self.assertGreater(np.abs(self.dataset.validate.data.mean(axis=0)).max(), 1e-3)


if __name__ == "__main__":
    unittest.main()
