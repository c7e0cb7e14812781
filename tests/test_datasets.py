"""Batching (Data), splits (Dataset), the Iris files shipped in the package,
their loader, and the dataset factory."""

import contextlib
import hashlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris as sklearn_iris

import neural_networks
from neural_networks.datasets import IRIS_DIR, Data, Dataset, initialize_dataset
from tests.support import require_torch

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(neural_networks.__file__).resolve().parent
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

    def test_order_iteration_and_reset(self):
        # The checkpoint resume reads and sets these two.
        data = Data(self.X, batch_size=5, labels=self.Y)
        self.assertEqual(data.iteration, 0)
        first, _ = data.sample()
        self.assertEqual(data.iteration, 1)
        self.assertEqual(sorted(data.order), list(range(self.n)))
        np.testing.assert_array_equal(first[:, 0], data.order[:5])
        # Restoring an order and a position serves the rest of that epoch.
        order = data.order.copy()
        data.sample()
        resumed = Data(self.X, batch_size=5, labels=self.Y)
        resumed.order, resumed.iteration = order.copy(), 2
        X, _ = resumed.sample()
        np.testing.assert_array_equal(X[:, 0], order[10:15])
        data.reset()
        self.assertEqual(data.iteration, 0)
        data.sample()
        self.assertFalse(np.array_equal(data.order, order))

    def test_batch_size_of_a_numpy_integer(self):
        # Array arithmetic hands out numpy integers; they are whole numbers too.
        for batch_size in (np.int64(5), np.int32(5), np.uint16(5)):
            with self.subTest(batch_size=repr(batch_size)):
                data = Data(self.X, batch_size=batch_size, labels=self.Y)
                self.assertEqual((type(data.batch_size), data.batch_size), (int, 5))
                self.assertEqual([len(X) for X, _ in self.epoch(data)], [5, 5, 5, 5, 3])
                dataset = Dataset(self.X, np.eye(2)[np.arange(self.n) % 2], batch_size)
                self.assertEqual(dataset.train.samples_per_epoch, 5)
        for batch_size in (True, 5.0, np.float64(5), "5", None, 0, np.int64(-1)):
            with self.subTest(batch_size=repr(batch_size)):
                with self.assertRaisesRegex(ValueError, "batch_size must be a whole number and "
                                                        ">= 1, got "):
                    Data(self.X, batch_size=batch_size)

    def test_dataset_splits(self):
        dataset = Dataset(self.X, np.eye(4)[np.arange(self.n) % 4], 6,
                          validation_set=self.X[:5], validation_labels=np.eye(4)[[0, 1, 2, 3, 0]],
                          test_set=self.X[:7])
        self.assertEqual(dataset.out_dim, 4)
        self.assertEqual(dataset.train.samples_per_epoch, 4)
        self.assertEqual(dataset.validate.data.shape, (5, 3))
        self.assertIsNone(dataset.test.labels)
        self.assertEqual(dataset.test.n_samples, 7)


class TestMinLastBatch(unittest.TestCase):
    """A last batch smaller than min_last_batch joins the batch before it."""

    def epoch_indices(self, data):
        return [X[:, 0].astype(int) for X, _ in
                (data.sample() for _ in range(data.samples_per_epoch))]

    def make(self, n, batch_size, **options):
        X = np.arange(n, dtype=float).reshape(-1, 1)
        return Data(X, batch_size=batch_size, labels=10.0 * X, **options)

    def test_default_keeps_a_batch_of_one(self):
        data = self.make(21, 5)
        self.assertEqual(data.min_last_batch, 1)
        self.assertEqual(data.samples_per_epoch, 5)  # ceil(21 / 5)
        self.assertEqual([len(b) for b in self.epoch_indices(data)], [5, 5, 5, 5, 1])

    def test_lone_last_example_joins_the_previous_batch(self):
        np.random.seed(1)
        data = self.make(21, 5)
        data.min_last_batch = 2  # as the training loop sets it for batch norm
        self.assertEqual(data.samples_per_epoch, 4)
        for _ in range(3):
            batches = self.epoch_indices(data)
            self.assertEqual([len(b) for b in batches], [5, 5, 5, 6])
            np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(21))
        # The next call starts a new epoch with a new order.
        self.assertEqual(data.iteration, 0)

    def test_no_batch_of_one_for_any_size(self):
        np.random.seed(2)
        for n in range(2, 30):
            for batch_size in range(1, 9):
                with self.subTest(n=n, batch_size=batch_size):
                    data = self.make(n, batch_size, min_last_batch=2)
                    self.assertEqual(
                        data.samples_per_epoch,
                        -(-n // batch_size) - (n % batch_size == 1 and n > batch_size))
                    batches = self.epoch_indices(data)
                    if batch_size > 1:
                        self.assertGreater(min(len(b) for b in batches), 1)
                    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n))

    def test_larger_setting_merges_larger_remainders(self):
        data = self.make(23, 5, min_last_batch=4)
        self.assertEqual([len(b) for b in self.epoch_indices(data)], [5, 5, 5, 8])
        data = self.make(24, 5, min_last_batch=4)
        self.assertEqual([len(b) for b in self.epoch_indices(data)], [5, 5, 5, 5, 4])

    def test_a_single_batch_is_served_whole(self):
        data = self.make(1, 5, min_last_batch=2)
        self.assertEqual(data.samples_per_epoch, 1)
        self.assertEqual(len(data.sample()[0]), 1)

    def test_bad_values(self):
        for bad in (0, -1, 1.5, True, "2", None):
            with self.subTest(value=bad):
                with self.assertRaisesRegex(ValueError, r"min_last_batch must be a whole number and >= 1"):
                    self.make(10, 3, min_last_batch=bad)
                data = self.make(10, 3)
                with self.assertRaisesRegex(ValueError, r"min_last_batch must be a whole number and >= 1"):
                    data.min_last_batch = bad


class TestLabelSmoothing(unittest.TestCase):
    """``Data.label_smoothing``: the served rows are PyTorch's smoothed targets."""

    def setUp(self):
        self.classes = np.array([0, 2, 1, 2, 0, 1, 1])
        self.labels = np.eye(3, dtype=np.float32)[self.classes]

    def test_rows_served_are_the_smoothed_labels(self):
        data = Data(np.arange(7.0)[:, None], batch_size=7, labels=self.labels,
                    label_smoothing=0.3)
        X, Y = data.sample()
        order = X[:, 0].astype(int)
        # By hand: the true class gets 1 - 0.3 + 0.3 / 3 = 0.8, the others 0.1.
        expected = np.full((7, 3), 0.1, dtype=np.float32)
        expected[np.arange(7), self.classes[order]] = 0.8
        np.testing.assert_allclose(Y, expected, rtol=1e-6)
        self.assertEqual(Y.dtype, np.float32)
        np.testing.assert_array_equal(data.labels, self.labels)  # stored labels unchanged
        plain = Data(np.arange(7.0)[:, None], batch_size=7, labels=self.labels)
        np.testing.assert_array_equal(plain.sample()[1].sum(axis=1), 1)
        self.assertEqual(plain.label_smoothing, 0.0)

    def test_bad_values(self):
        for bad in (-0.1, 1.0, 1.5, float("nan"), True, "0.1", None):
            with self.subTest(bad=bad), self.assertRaisesRegex(ValueError, "label_smoothing"):
                Data(np.zeros((7, 1)), labels=self.labels, label_smoothing=bad)
        with self.assertRaisesRegex(ValueError, "one-hot (label )?rows"):
            Data(np.zeros((7, 1)), labels=self.classes, label_smoothing=0.1)

    def test_cross_entropy_on_them_is_pytorchs_label_smoothing(self):
        torch = require_torch()
        from neural_networks.activations import SoftMax
        from neural_networks.losses import CrossEntropy

        rng = np.random.default_rng(0)
        logits = rng.standard_normal((7, 3))
        data = Data(logits, batch_size=7, labels=self.labels.astype(np.float64),
                    label_smoothing=0.2)
        Z, Y = data.sample()
        softmax, loss = SoftMax(), CrossEntropy("cross_entropy")
        Y_hat = softmax(Z)
        ours = loss.forward(Y, Y_hat)
        dZ = softmax.backward(Z, loss.backward(Y, Y_hat))
        z = torch.from_numpy(Z.copy()).requires_grad_()
        target = torch.from_numpy(Y.argmax(axis=1))
        theirs = torch.nn.functional.cross_entropy(z, target, label_smoothing=0.2)
        theirs.backward()
        np.testing.assert_allclose(ours, theirs.item(), rtol=1e-12)
        np.testing.assert_allclose(dZ, z.grad.numpy(), rtol=1e-10, atol=1e-15)


#: MD5 of the course's files (datasets/iris/ of its Spring 2021 and Fall 2023
#: starter code, byte for byte the same in both).
COURSE_IRIS_MD5 = {
    "iris_train_data.npy": "10617d19d68aab54bacd65b697010bb1",
    "iris_train_labels.npy": "66a923fcef3686be2e194fb72e274ca3",
    "iris_val_data.npy": "0f10c757225ec4a150e1d29d03a4914f",
    "iris_val_labels.npy": "9f1c74f50716ed9b8f6b3e54dbd0d95c",
    "iris_test_data.npy": "6177da3af10df52d8f197e916da3e621",
    "iris_test_labels.npy": "f1fcf071f60a332555c5e563d2ee7f69",
}


def check_iris_script():
    spec = importlib.util.spec_from_file_location("check_iris", REPO / "datasets" / "check_iris.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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

    def test_the_files_are_the_courses(self):
        for name, expected in COURSE_IRIS_MD5.items():
            with self.subTest(file=name):
                self.assertEqual(hashlib.md5((IRIS_DIR / name).read_bytes()).hexdigest(),
                                 expected)
        # The course split at random, not by class; its first rows, in cm.
        counts = {"train": [32, 36, 37], "val": [8, 3, 4], "test": [10, 11, 9]}
        first = {"train": ([5.1, 3.8, 1.6, 0.2], 0), "val": ([5.0, 2.3, 3.3, 1.0], 1),
                 "test": ([5.4, 3.4, 1.5, 0.4], 0)}
        for split in SPLITS:
            X, Y = load_raw(split)
            np.testing.assert_array_equal(Y.sum(axis=0), counts[split])
            np.testing.assert_array_equal(X[0], first[split][0])
            self.assertEqual(Y[0].argmax(), first[split][1])

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


class TestCheckIrisScript(unittest.TestCase):
    def setUp(self):
        self.script = check_iris_script()
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.tmp = Path(self._tmp.name)

    def run_main(self, *argv):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            status = self.script.main(list(argv))
        return status, out.getvalue()

    def test_the_shipped_files_pass(self):
        self.assertEqual(self.script.IRIS_DIR.resolve(), IRIS_DIR.resolve())
        status, out = self.run_main()
        self.assertEqual(status, 0, out)
        self.assertIn("are the course's", out)

    def test_copies_from_a_course_checkout_all_or_nothing(self):
        course = self.tmp / "hw" / "datasets" / "iris"
        shutil.copytree(IRIS_DIR, course)
        out_dir = self.tmp / "out"
        self.assertEqual(self.script.copy_from(self.tmp / "hw", out_dir), {})
        for name, expected in COURSE_IRIS_MD5.items():
            self.assertEqual(hashlib.md5((out_dir / name).read_bytes()).hexdigest(), expected)
        # One changed file: it is named with both checksums and nothing is copied.
        changed = course / "iris_val_data.npy"
        data = np.load(changed)
        data[0, 0] += 0.1
        np.save(changed, data)
        elsewhere = self.tmp / "elsewhere"
        bad = self.script.copy_from(course, elsewhere)
        self.assertEqual(list(bad), ["iris_val_data.npy"])
        self.assertEqual(bad["iris_val_data.npy"], hashlib.md5(changed.read_bytes()).hexdigest())
        self.assertFalse(elsewhere.exists())
        status, out = self.run_main("--from", str(self.tmp / "hw"))
        self.assertEqual(status, 1)
        self.assertIn(f"iris_val_data.npy in {self.tmp / 'hw'}: MD5 {bad['iris_val_data.npy']}; "
                      f"the course's has MD5 {COURSE_IRIS_MD5['iris_val_data.npy']}", out)
        status, out = self.run_main("--from", str(self.tmp / "nowhere"))
        self.assertEqual(status, 2)
        self.assertIn("is not a folder", out)


class TestInitializeIris(unittest.TestCase):
    def setUp(self):
        self.raw = {split: load_raw(split) for split in SPLITS}
        X_train = self.raw["train"][0]
        # population statistics of the training split only
        self.mean = X_train.sum(axis=0) / len(X_train)
        self.std = np.sqrt(((X_train - self.mean) ** 2).sum(axis=0) / len(X_train))

    def test_shapes(self):
        d = initialize_dataset("iris", batch_size=16)
        self.assertEqual(d.out_dim, 3)
        self.assertEqual(d.train.data.shape, (105, 4))
        self.assertEqual(d.validate.data.shape, (15, 4))
        self.assertEqual(d.test.data.shape, (30, 4))
        self.assertEqual(d.train.batch_size, 16)
        self.assertEqual(d.train.samples_per_epoch, 7)

    def test_raw_by_default_as_the_course_gives_them(self):
        # "All datasets you are given have not been normalized or standardized."
        d = initialize_dataset("iris", batch_size=16)
        for split, data in (("train", d.train), ("val", d.validate), ("test", d.test)):
            with self.subTest(split=split):
                np.testing.assert_array_equal(data.data, self.raw[split][0])
                np.testing.assert_array_equal(data.labels, self.raw[split][1])

    def test_standardize_uses_the_training_statistics_for_every_split(self):
        d = initialize_dataset("iris", batch_size=16, standardize=True)
        np.testing.assert_allclose(d.train.data.mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(d.train.data.std(axis=0), 1, rtol=1e-12)
        for split, data in (("train", d.train), ("val", d.validate), ("test", d.test)):
            with self.subTest(split=split):
                X_raw, Y_raw = self.raw[split]
                np.testing.assert_allclose(data.data, (X_raw - self.mean) / self.std,
                                           rtol=1e-12, atol=1e-12)
                np.testing.assert_array_equal(data.labels, Y_raw)
        # Had validation and test been standardised with their own statistics,
        # their means would be 0.
        self.assertGreater(np.abs(d.test.data.mean(axis=0)).max(), 1e-3)
        self.assertGreater(np.abs(d.validate.data.mean(axis=0)).max(), 1e-3)

    def test_standardize_must_be_true_or_false(self):
        for bad in ("yes", 1, "False"):
            with self.subTest(standardize=bad), self.assertRaisesRegex(
                    ValueError, f"standardize must be True or False, got {bad!r}"):
                initialize_dataset("iris", standardize=bad)


class TestIrisShipsWithThePackage(unittest.TestCase):
    def test_files_sit_in_the_package(self):
        self.assertEqual(IRIS_DIR.parent, PACKAGE / "datasets")
        for split in SPLITS:
            self.assertTrue((IRIS_DIR / f"iris_{split}_data.npy").is_file(), split)

    def test_a_copy_of_the_package_alone_loads_iris(self):
        # The package copied away from the repository, run from another folder,
        # as an installed copy would be: nothing outside it can be found.
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(PACKAGE, Path(tmp) / "site" / "neural_networks",
                            ignore=shutil.ignore_patterns("__pycache__"))
            (Path(tmp) / "elsewhere").mkdir()
            env = {**os.environ, "PYTHONPATH": str(Path(tmp) / "site")}
            code = ("import neural_networks; from neural_networks import initialize_dataset; "
                    "d = initialize_dataset('iris'); "
                    "print(neural_networks.__file__, d.train.data.shape, d.test.data.shape)")
            proc = subprocess.run([sys.executable, "-c", code], cwd=Path(tmp) / "elsewhere",
                                  env=env, capture_output=True, text=True, timeout=120)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertTrue(proc.stdout.startswith(str(Path(tmp) / "site")), proc.stdout)
            self.assertIn("(105, 4) (30, 4)", proc.stdout)


class TestInitializeDataset(unittest.TestCase):
    def test_unknown_name_lists_the_datasets(self):
        for name in ("imagenet", ["iris"], None):
            with self.subTest(name=name):
                with self.assertRaises(ValueError) as caught:
                    initialize_dataset(name)
                message = str(caught.exception)
                self.assertIn(f"unknown dataset {name!r}", message)
                for valid in ("'iris'", "'fashion_mnist'", "'mnist'", "'cifar10'"):
                    self.assertIn(valid, message)

    def test_unknown_option_lists_the_accepted_ones(self):
        with self.assertRaises(ValueError) as caught:
            initialize_dataset("iris", data_directory="/tmp")
        message = str(caught.exception)
        self.assertIn("dataset 'iris' does not take 'data_directory'", message)
        self.assertIn("batch_size, data_dir", message)
        with self.assertRaisesRegex(ValueError, r"does not take 'flatten'; it accepts batch_size, "
                                                r"data_dir, validation_size, seed"):
            initialize_dataset("cifar10", flatten=True)

    def test_an_option_given_as_none_takes_the_default(self):
        # As in every factory of the library: None means "the loader's default".
        dataset = initialize_dataset("iris", batch_size=None, data_dir=None)
        self.assertEqual(dataset.train.batch_size, 50)
        self.assertEqual(dataset.train.samples_per_epoch, 3)


if __name__ == "__main__":
    unittest.main()
