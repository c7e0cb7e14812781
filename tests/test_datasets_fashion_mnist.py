"""The Fashion-MNIST loader: IDX parsing, validation, search order, splits, scaling.

Small IDX files are written here byte by byte from the format's definition
(a big-endian header: magic number, then one 32-bit size per dimension, then
the unsigned bytes), so the expected arrays are known without the loader.
The last class reads the real files of the Debian package
``dataset-fashion-mnist`` (in /usr/share/datasets/fashion-mnist).
"""

import gzip
import os
import re
import struct
import tempfile
import tracemalloc
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from neural_networks.augmentation import RandomCropFlip
from neural_networks.datasets import fashion_mnist as loader_module
from neural_networks.datasets import (
    find_fashion_mnist,
    initialize_dataset,
    read_idx,
)
from tests.support import require_fashion_mnist

REPO_DATASETS = Path(__file__).resolve().parent.parent / "datasets"
ORIGINAL_REPO_DIR = loader_module.FASHION_MNIST_REPO_DIR


def idx_bytes(magic, array):
    """The IDX encoding of a uint8 array: header (magic, sizes) then the bytes."""
    array = np.asarray(array, dtype=np.uint8)
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.tobytes()


def write_gz(path, payload):
    with gzip.open(path, "wb") as f:
        f.write(payload)


def write_fashion_mnist(folder, train_images, train_labels, test_images, test_labels):
    """Write the four official files into folder (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_gz(folder / "train-images-idx3-ubyte.gz", idx_bytes(2051, train_images))
    write_gz(folder / "train-labels-idx1-ubyte.gz", idx_bytes(2049, train_labels))
    write_gz(folder / "t10k-images-idx3-ubyte.gz", idx_bytes(2051, test_images))
    write_gz(folder / "t10k-labels-idx1-ubyte.gz", idx_bytes(2049, test_labels))
    return folder


def small_fashion_mnist(n_train=60, n_test=20, seed=0):
    """Random images whose pixel (0, 0) is the example's index (so it can be traced
    through shuffling and scaling); the last third of the training images are
    brighter, so statistics over a subset differ from those over all of them."""
    rng = np.random.default_rng(seed)
    train = rng.integers(0, 200, size=(n_train, 28, 28))
    train[2 * n_train // 3:] += 55
    train[:, 0, 0] = np.arange(n_train)
    test = rng.integers(0, 256, size=(n_test, 28, 28))
    return (train.astype(np.uint8), rng.integers(0, 10, n_train).astype(np.uint8),
            test.astype(np.uint8), rng.integers(0, 10, n_test).astype(np.uint8))


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = Path(self._tmp.name)
        # No test below may find the real files by accident.
        patches = [
            mock.patch.object(loader_module, "FASHION_MNIST_REPO_DIR",
                              self.tmp / "repo" / "fashion_mnist"),
            mock.patch.object(loader_module, "FASHION_MNIST_SYSTEM_DIR", self.tmp / "system"),
            mock.patch.dict(os.environ),
        ]
        for p in patches:
            p.start()
            self.addCleanup(p.stop)
        os.environ.pop("FASHION_MNIST_DIR", None)
        # Nor files downloaded into the user's cache.
        os.environ["NEURAL_NETWORKS_DATA"] = str(self.tmp / "downloads")

    def tearDown(self):
        self._tmp.cleanup()


class TestReadIdx(TempDirTest):
    def test_images_and_labels_round_trip(self):
        images = np.random.default_rng(1).integers(0, 256, size=(3, 28, 28)).astype(np.uint8)
        labels = np.array([9, 0, 4], dtype=np.uint8)
        write_gz(self.tmp / "i.gz", idx_bytes(2051, images))
        write_gz(self.tmp / "l.gz", idx_bytes(2049, labels))
        read_images = read_idx(self.tmp / "i.gz", 2051)
        read_labels = read_idx(self.tmp / "l.gz", 2049)
        self.assertEqual(read_images.dtype, np.uint8)
        np.testing.assert_array_equal(read_images, images)
        np.testing.assert_array_equal(read_labels, labels)

    def test_header_is_big_endian(self):
        # 0x00000803 then 2 images of 1 x 3 pixels, written out by hand.
        payload = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 10, 20, 30, 40, 50, 60])
        write_gz(self.tmp / "i.gz", payload)
        np.testing.assert_array_equal(read_idx(self.tmp / "i.gz", 2051),
                                      [[[10, 20, 30]], [[40, 50, 60]]])

    def test_wrong_magic_number(self):
        write_gz(self.tmp / "l.gz", idx_bytes(2049, [1, 2, 3]))
        with self.assertRaisesRegex(ValueError, r"magic number 2049, expected 2051"):
            read_idx(self.tmp / "l.gz", 2051)
        write_gz(self.tmp / "x.gz", idx_bytes(2050, np.zeros((1, 2, 2))))
        with self.assertRaisesRegex(ValueError, r"magic number 2050, expected 2051"):
            read_idx(self.tmp / "x.gz", 2051)

    def test_truncated_data(self):
        payload = idx_bytes(2051, np.zeros((4, 28, 28)))
        write_gz(self.tmp / "i.gz", payload[:-100])
        with self.assertRaisesRegex(ValueError, r"truncated"):
            read_idx(self.tmp / "i.gz", 2051)

    def test_extra_bytes(self):
        write_gz(self.tmp / "l.gz", idx_bytes(2049, [1, 2, 3]) + b"\x00")
        with self.assertRaisesRegex(ValueError, r"needs 11"):
            read_idx(self.tmp / "l.gz", 2049)

    def test_short_header(self):
        write_gz(self.tmp / "i.gz", idx_bytes(2051, np.zeros((1, 2, 2)))[:10])
        with self.assertRaisesRegex(ValueError, r"too short for an IDX header"):
            read_idx(self.tmp / "i.gz", 2051)

    def test_truncated_gzip_stream(self):
        write_gz(self.tmp / "i.gz", idx_bytes(2051, np.arange(2 * 28 * 28).reshape(2, 28, 28)))
        compressed = (self.tmp / "i.gz").read_bytes()
        (self.tmp / "cut.gz").write_bytes(compressed[: len(compressed) // 2])
        with self.assertRaisesRegex(ValueError, r"not a readable gzip file"):
            read_idx(self.tmp / "cut.gz", 2051)

    def test_a_gzip_bomb_is_refused_without_inflating_it(self):
        # The header declares 10 images (7,840 bytes); 16 MB of zeros follow,
        # which gzip packs into some 16 kB. Only the declared bytes and one
        # more may be inflated.
        header = struct.pack(">4I", 2051, 10, 28, 28)
        with gzip.open(self.tmp / "bomb.gz", "wb") as f:
            f.write(header)
            for _ in range(16):
                f.write(bytes(2**20))
        self.assertLess((self.tmp / "bomb.gz").stat().st_size, 100_000)
        tracemalloc.start()
        try:
            with self.assertRaisesRegex(
                    ValueError, r"header \(10, 28, 28\) needs 7856 bytes but the file holds more"):
                read_idx(self.tmp / "bomb.gz", 2051)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertLess(peak, 2**20)

    def test_header_declaring_too_much_is_refused_before_reading(self):
        # 100,000 images of 1000 x 1000: 10^11 bytes, far beyond any MNIST-like file.
        write_gz(self.tmp / "huge.gz", struct.pack(">4I", 2051, 100_000, 1000, 1000) + bytes(100))
        with self.assertRaisesRegex(ValueError, r"declaring shape \(100000, 1000, 1000\), "
                                                r"100000000000 bytes: more than the limit"):
            read_idx(self.tmp / "huge.gz", 2051)
        # The limit is a parameter: three 28 x 28 images are 2,352 bytes.
        write_gz(self.tmp / "i.gz", idx_bytes(2051, np.zeros((3, 28, 28))))
        with self.assertRaisesRegex(ValueError, r"2352 bytes: more than the limit of 2000 bytes"):
            read_idx(self.tmp / "i.gz", 2051, max_bytes=2000)
        self.assertEqual(read_idx(self.tmp / "i.gz", 2051, max_bytes=2352).shape, (3, 28, 28))

    def test_result_is_a_writable_array_of_its_own(self):
        write_gz(self.tmp / "l.gz", idx_bytes(2049, [4, 5, 6]))
        labels = read_idx(self.tmp / "l.gz", 2049)
        labels[0] = 7
        np.testing.assert_array_equal(labels, [7, 5, 6])

    def test_not_gzip(self):
        (self.tmp / "plain.gz").write_bytes(idx_bytes(2049, [1, 2]))
        with self.assertRaisesRegex(ValueError, r"not a readable gzip file"):
            read_idx(self.tmp / "plain.gz", 2049)


class TestLoader(TempDirTest):
    def setUp(self):
        super().setUp()
        self.raw = small_fashion_mnist()
        self.folder = write_fashion_mnist(self.tmp / "data", *self.raw)

    def load(self, **options):
        options.setdefault("validation_size", 15)
        return initialize_dataset("fashion_mnist", batch_size=8, data_dir=self.folder, **options)

    def traced_indices(self, *splits):
        """The original training index of each example of the given splits, in order:
        pixel (0, 0) held the index, and one increasing affine map scaled every
        split, so its rank among all the splits' (0, 0) pixels is the index."""
        firsts = np.concatenate([s.data.reshape(s.data.shape[0], -1)[:, 0] for s in splits])
        ranks = np.argsort(np.argsort(firsts))
        return np.split(ranks, np.cumsum([s.data.shape[0] for s in splits])[:-1])

    def test_shapes_dtype_and_split_sizes(self):
        d = self.load()
        self.assertEqual(d.train.data.shape, (45, 28, 28, 1))
        self.assertEqual(d.validate.data.shape, (15, 28, 28, 1))
        self.assertEqual(d.test.data.shape, (20, 28, 28, 1))
        self.assertEqual(d.train.labels.shape, (45, 10))
        self.assertEqual(d.out_dim, 10)
        self.assertEqual(d.train.batch_size, 8)
        for split in (d.train, d.validate, d.test):
            self.assertEqual(split.data.dtype, np.float32)
            self.assertEqual(split.labels.dtype, np.float32)
        d64 = self.load(dtype=np.float64)
        self.assertEqual(d64.train.data.dtype, np.float64)
        flat = self.load(flatten=True)
        self.assertEqual(flat.train.data.shape, (45, 784))
        self.assertEqual(flat.test.data.shape, (20, 784))

    def test_flatten_is_row_major_image(self):
        d = self.load(flatten=True)
        nhwc = self.load()
        np.testing.assert_array_equal(d.test.data, nhwc.test.data.reshape(20, 784))

    def test_validation_and_training_partition_the_official_training_set(self):
        d = self.load()
        train_idx, val_idx = self.traced_indices(d.train, d.validate)
        self.assertEqual(sorted(np.concatenate([train_idx, val_idx])), list(range(60)))
        # Labels stay with their images.
        _, train_labels, _, test_labels = self.raw
        np.testing.assert_array_equal(d.train.labels.argmax(1), train_labels[train_idx])
        np.testing.assert_array_equal(d.validate.labels.argmax(1), train_labels[val_idx])
        # The official test set is the test set, in its order.
        np.testing.assert_array_equal(d.test.labels.argmax(1), test_labels)

    def test_one_hot_labels(self):
        d = self.load()
        for split in (d.train, d.validate, d.test):
            self.assertTrue(np.all((split.labels == 0) | (split.labels == 1)))
            np.testing.assert_array_equal(split.labels.sum(axis=1), 1)

    def test_standardised_with_training_statistics_only(self):
        d = self.load(dtype=np.float64)
        train_images, _, test_images, _ = self.raw
        train_idx, val_idx = self.traced_indices(d.train, d.validate)
        pixels = train_images[train_idx] / 255.0
        mean, std = pixels.mean(), pixels.std()
        # The brighter images are not all in the training split, so these differ
        # from the statistics over all 60 images.
        self.assertGreater(abs(mean - (train_images / 255.0).mean()), 1e-4)
        for split, images in ((d.train, train_images[train_idx]),
                              (d.validate, train_images[val_idx]),
                              (d.test, test_images)):
            np.testing.assert_allclose(split.data[..., 0], (images / 255.0 - mean) / std,
                                       rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(d.mean, [mean], rtol=1e-12)
        np.testing.assert_allclose(d.std, [std], rtol=1e-12)
        d32 = self.load()
        np.testing.assert_allclose(d32.test.data, d.test.data, rtol=1e-5, atol=1e-5)

    def test_split_is_seeded_and_leaves_the_global_generator_alone(self):
        np.random.seed(123)
        state = np.random.get_state()[1].copy()
        first = self.traced_indices(*(lambda d: (d.train, d.validate))(self.load(seed=3)))[1]
        np.testing.assert_array_equal(np.random.get_state()[1], state)
        again = self.traced_indices(*(lambda d: (d.train, d.validate))(self.load(seed=3)))[1]
        other = self.traced_indices(*(lambda d: (d.train, d.validate))(self.load(seed=4)))[1]
        np.testing.assert_array_equal(first, again)
        self.assertNotEqual(sorted(first), sorted(other))

    def test_no_validation_split(self):
        d = self.load(validation_size=0)
        self.assertIsNone(d.validate)
        self.assertEqual(d.train.data.shape[0], 60)

    def test_bad_options(self):
        for size in (-1, 60, 2.5, True):
            with self.assertRaisesRegex(ValueError, r"validation_size must be a whole number and >= 0 and < 60"):
                self.load(validation_size=size)
        with self.assertRaisesRegex(ValueError, r"floating"):
            self.load(dtype=np.int32)
        with self.assertRaisesRegex(ValueError, r"does not take 'flaten'"):
            self.load(flaten=True)

    def test_augmentation_is_for_training_batches_only(self):
        d = self.load(augment="crop_flip")
        self.assertIsInstance(d.train.augment, RandomCropFlip)
        self.assertIsNone(d.validate.augment)
        self.assertIsNone(d.test.augment)
        self.assertIsNone(self.load().train.augment)
        calls = []
        d = self.load(augment=lambda X: calls.append(X.shape) or X[:, ::-1])
        X, _ = d.train.sample()
        self.assertEqual(calls, [(8, 28, 28, 1)])
        self.assertEqual(X.shape, (8, 28, 28, 1))
        with self.assertRaisesRegex(ValueError, r"needs flatten=False"):
            self.load(augment="crop_flip", flatten=True)
        with self.assertRaisesRegex(ValueError, r"augment must be a callable"):
            self.load(augment=3)
        with self.assertRaisesRegex(ValueError, r"unknown augmentation 'crop'"):
            self.load(augment="crop")

    def test_augmentation_from_a_name_and_its_settings(self):
        d = self.load(augment={"name": "crop_flip", "pad": 2, "flip": False})
        self.assertIsInstance(d.train.augment, RandomCropFlip)
        self.assertEqual((d.train.augment.pad, d.train.augment.flip), (2, False))
        with self.assertRaisesRegex(ValueError, r"needs a 'name'"):
            self.load(augment={"pad": 2})
        with self.assertRaisesRegex(ValueError, r"does not take 'padding'"):
            self.load(augment={"name": "crop_flip", "padding": 2})

    def test_wrong_image_size(self):
        train, labels, test, test_labels = self.raw
        folder = write_fashion_mnist(self.tmp / "small", train[:, :27, :27], labels, test, test_labels)
        with self.assertRaisesRegex(ValueError, r"train images must be 28x28, got \(27, 27\)"):
            initialize_dataset("fashion_mnist", data_dir=folder)

    def test_count_mismatch(self):
        train, labels, test, test_labels = self.raw
        folder = write_fashion_mnist(self.tmp / "short", train, labels, test, test_labels[:-1])
        with self.assertRaisesRegex(ValueError, r"test split has 20 images but 19 labels"):
            initialize_dataset("fashion_mnist", data_dir=folder)

    def test_label_out_of_range(self):
        train, labels, test, test_labels = self.raw
        labels = labels.copy()
        labels[5] = 10
        folder = write_fashion_mnist(self.tmp / "bad", train, labels, test, test_labels)
        with self.assertRaisesRegex(ValueError, r"labels must be 0..9, found 10"):
            initialize_dataset("fashion_mnist", data_dir=folder)

    def test_files_swapped(self):
        folder = self.tmp / "swapped"
        folder.mkdir()
        train, labels, test, test_labels = self.raw
        write_gz(folder / "train-images-idx3-ubyte.gz", idx_bytes(2049, labels))
        write_gz(folder / "train-labels-idx1-ubyte.gz", idx_bytes(2051, train))
        write_gz(folder / "t10k-images-idx3-ubyte.gz", idx_bytes(2051, test))
        write_gz(folder / "t10k-labels-idx1-ubyte.gz", idx_bytes(2049, test_labels))
        with self.assertRaisesRegex(ValueError, r"train-images-idx3-ubyte.gz has IDX magic number 2049"):
            initialize_dataset("fashion_mnist", data_dir=folder)


class TestSearchOrder(TempDirTest):
    """Each place holds a copy with a different number of test images, which tells them apart."""

    def setUp(self):
        super().setUp()
        self.places = {}
        for n_test, name in enumerate(("argument", "env", "repo", "system"), start=11):
            folder = self.tmp / name
            train, labels, test, test_labels = small_fashion_mnist(n_test=n_test)
            write_fashion_mnist(folder, train, labels, test, test_labels)
            self.places[name] = (folder, n_test)
        loader_module.FASHION_MNIST_REPO_DIR = self.places["repo"][0]
        loader_module.FASHION_MNIST_SYSTEM_DIR = self.places["system"][0]
        os.environ["FASHION_MNIST_DIR"] = str(self.places["env"][0])

    def n_test(self, **options):
        return initialize_dataset("fashion_mnist", validation_size=10, **options).test.data.shape[0]

    def test_argument_beats_env_beats_repo_beats_system(self):
        self.assertEqual(self.n_test(data_dir=self.places["argument"][0]), 11)
        self.assertEqual(self.n_test(data_dir=str(self.places["argument"][0])), 11)
        self.assertEqual(self.n_test(), 12)
        del os.environ["FASHION_MNIST_DIR"]
        self.assertEqual(self.n_test(), 13)
        loader_module.FASHION_MNIST_REPO_DIR = self.tmp / "nowhere"
        self.assertEqual(self.n_test(), 14)
        self.assertEqual(find_fashion_mnist(), self.places["system"][0])

    def test_a_named_folder_missing_a_file_is_an_error(self):
        # The environment's and the repository's copies are complete, but the
        # folder the user named is the one they meant.
        folder = self.places["argument"][0]
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()
        with self.assertRaisesRegex(
                ValueError, rf"Fashion-MNIST not found in {re.escape(str(folder))}, named by the "
                            r"data_dir argument: it lacks t10k-labels-idx1-ubyte.gz\."):
            self.n_test(data_dir=folder)
        with self.assertRaisesRegex(ValueError, r"data_dir argument: no such folder"):
            self.n_test(data_dir=self.tmp / "typo")

    def test_a_variable_naming_an_incomplete_folder_is_an_error(self):
        folder = self.places["env"][0]
        for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
            (folder / name).unlink()
        with self.assertRaisesRegex(
                ValueError, rf"not found in {re.escape(str(folder))}, named by the environment "
                            r"variable FASHION_MNIST_DIR: it lacks train-images-idx3-ubyte.gz, "
                            r"t10k-images-idx3-ubyte.gz\."):
            self.n_test()
        # data_dir comes first, so the variable is not looked at.
        self.assertEqual(self.n_test(data_dir=self.places["argument"][0]), 11)

    def test_an_incomplete_default_folder_is_passed_over(self):
        del os.environ["FASHION_MNIST_DIR"]
        (self.places["repo"][0] / "t10k-labels-idx1-ubyte.gz").unlink()
        self.assertEqual(self.n_test(), 14)

    def test_missing_everywhere_is_one_line_naming_every_place_and_the_install_command(self):
        loader_module.FASHION_MNIST_REPO_DIR = self.tmp / "repo-empty"
        loader_module.FASHION_MNIST_SYSTEM_DIR = self.tmp / "system-empty"
        del os.environ["FASHION_MNIST_DIR"]
        with self.assertRaises(ValueError) as caught:
            initialize_dataset("fashion_mnist")
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("Fashion-MNIST not found: none of "), message)
        for part in ("{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
                     "--download (in Python: download=True)",
                     "apt-get install dataset-fashion-mnist"):
            self.assertIn(part, message)
        # In search order, the download folder last.
        order = ("$FASHION_MNIST_DIR (not set)", "repo-empty", "system-empty",
                 str(self.tmp / "downloads" / "fashion_mnist"))
        positions = [message.index(p) for p in order]
        self.assertEqual(positions, sorted(positions))

    def test_a_named_folder_is_the_only_place_named(self):
        os.environ["FASHION_MNIST_DIR"] = str(self.tmp / "env-empty")
        with self.assertRaises(ValueError) as caught:
            initialize_dataset("fashion_mnist", data_dir=self.tmp / "arg-empty")
        self.assertEqual(str(caught.exception), (
            f"Fashion-MNIST not found in {self.tmp / 'arg-empty'}, named by the data_dir "
            f"argument: no such folder (it must hold train-images-idx3-ubyte.gz, "
            f"train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz). "
            f"Get it there with --download (in Python: download=True)"))

    def test_unset_env_is_named_too(self):
        del os.environ["FASHION_MNIST_DIR"]
        loader_module.FASHION_MNIST_REPO_DIR = self.tmp / "repo-empty"
        loader_module.FASHION_MNIST_SYSTEM_DIR = self.tmp / "system-empty"
        with self.assertRaisesRegex(ValueError, r"FASHION_MNIST_DIR \(not set\)"):
            initialize_dataset("fashion_mnist")


class TestRepositoryFolder(TempDirTest):
    """``datasets/fashion_mnist/`` is the checkout's folder, named as the dataset is
    (``initialize_dataset("fashion_mnist")``, like ``datasets/cifar10/``); the older
    ``datasets/fashion-mnist/`` is still read where it is the only one."""

    def setUp(self):
        super().setUp()
        self.datasets = self.tmp / "checkout" / "datasets"
        loader_module.FASHION_MNIST_REPO_DIR = self.datasets / "fashion_mnist"

    def write(self, folder_name, n_test):
        train, labels, test, test_labels = small_fashion_mnist(n_test=n_test)
        return write_fashion_mnist(self.datasets / folder_name, train, labels, test, test_labels)

    def test_the_folder_is_named_as_the_dataset(self):
        self.assertEqual(REPO_DATASETS / "fashion_mnist", ORIGINAL_REPO_DIR)

    def test_the_older_hyphenated_folder_is_still_read(self):
        old = self.write("fashion-mnist", n_test=12)
        self.assertEqual(find_fashion_mnist(), old)
        self.assertEqual(initialize_dataset("fashion_mnist", validation_size=10).test.data.shape[0],
                         12)

    def test_the_datasets_name_wins_when_both_exist(self):
        self.write("fashion-mnist", n_test=12)
        new = self.write("fashion_mnist", n_test=13)
        self.assertEqual(find_fashion_mnist(), new)
        self.assertEqual(initialize_dataset("fashion_mnist", validation_size=10).test.data.shape[0],
                         13)

    def test_with_neither_the_error_names_the_datasets_name(self):
        with self.assertRaises(ValueError) as caught:
            find_fashion_mnist()
        message = str(caught.exception)
        self.assertIn(str(self.datasets / "fashion_mnist"), message)
        self.assertNotIn(str(self.datasets / "fashion-mnist"), message)


class TestRealFashionMnist(unittest.TestCase):
    """The official files (the Debian package's, in the system folder, on CI)."""

    @classmethod
    def setUpClass(cls):
        cls.dataset = initialize_dataset("fashion_mnist", batch_size=128,
                                         data_dir=require_fashion_mnist())

    def test_sizes(self):
        d = self.dataset
        self.assertEqual(d.train.data.shape, (50000, 28, 28, 1))
        self.assertEqual(d.validate.data.shape, (10000, 28, 28, 1))
        self.assertEqual(d.test.data.shape, (10000, 28, 28, 1))
        self.assertEqual(d.train.data.dtype, np.float32)
        self.assertEqual(d.train.samples_per_epoch, 391)

    def test_classes_are_balanced(self):
        d = self.dataset
        np.testing.assert_array_equal(d.test.labels.sum(axis=0), np.full(10, 1000))
        # The official training set has 6000 of each class.
        np.testing.assert_array_equal(d.train.labels.sum(axis=0) + d.validate.labels.sum(axis=0),
                                      np.full(10, 6000))

    def test_known_first_test_labels(self):
        # The first four test images are an ankle boot, a pullover and two trousers.
        np.testing.assert_array_equal(self.dataset.test.labels[:4].argmax(axis=1), [9, 2, 1, 1])

    def test_statistics(self):
        d = self.dataset
        # The published pixel statistics of the 60,000 training images are
        # 0.2860 and 0.3530; a random 50,000 of them are within a few thousandths.
        self.assertAlmostEqual(float(d.mean[0]), 0.2860, delta=0.002)
        self.assertAlmostEqual(float(d.std[0]), 0.3530, delta=0.002)
        self.assertAlmostEqual(float(d.train.data.mean(dtype=np.float64)), 0.0, delta=1e-4)
        self.assertAlmostEqual(float(d.train.data.std(dtype=np.float64)), 1.0, delta=1e-4)
        self.assertAlmostEqual(float(d.test.data.mean(dtype=np.float64)), 0.0, delta=0.02)


if __name__ == "__main__":
    unittest.main()
