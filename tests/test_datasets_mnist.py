"""The MNIST loader: the IDX files of Fashion-MNIST's format, digits as classes, its search order.

The IDX reading itself is tested in ``test_datasets_fashion_mnist``; here the
same small files (written from the format's definition) stand for MNIST's.
"""

import os
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from neural_networks.datasets import MNIST_CLASSES, MNIST_FILES, find_mnist, initialize_dataset
from neural_networks.datasets import mnist as loader_module
from tests.test_datasets_fashion_mnist import small_fashion_mnist, write_fashion_mnist


class MnistTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)
        patches = [mock.patch.object(loader_module, "MNIST_REPO_DIR", self.tmp / "repo"),
                   mock.patch.dict(os.environ)]
        for p in patches:
            p.start()
            self.addCleanup(p.stop)
        os.environ.pop("MNIST_DIR", None)
        os.environ["NEURAL_NETWORKS_DATA"] = str(self.tmp / "downloads")
        self.raw = small_fashion_mnist(seed=3)
        self.folder = write_fashion_mnist(self.tmp / "data", *self.raw)

    def load(self, **options):
        options.setdefault("validation_size", 15)
        return initialize_dataset("mnist", batch_size=8, **options)


class TestLoader(MnistTest):
    def test_splits_shapes_and_classes(self):
        dataset = self.load(data_dir=self.folder)
        self.assertEqual(dataset.train.data.shape, (45, 28, 28, 1))
        self.assertEqual(dataset.validate.data.shape, (15, 28, 28, 1))
        self.assertEqual(dataset.test.data.shape, (20, 28, 28, 1))
        self.assertEqual(dataset.classes, tuple("0123456789"))
        self.assertEqual(MNIST_CLASSES, dataset.classes)
        np.testing.assert_array_equal(dataset.test.labels.argmax(axis=1), self.raw[3])
        self.assertEqual(self.load(data_dir=self.folder, flatten=True).train.data.shape, (45, 784))

    def test_the_same_preparation_as_fashion_mnist(self):
        mnist = self.load(data_dir=self.folder, seed=4)
        fashion = initialize_dataset("fashion_mnist", batch_size=8, data_dir=self.folder,
                                     validation_size=15, seed=4)
        for split in ("train", "validate", "test"):
            np.testing.assert_array_equal(getattr(mnist, split).data, getattr(fashion, split).data)
            np.testing.assert_array_equal(getattr(mnist, split).labels,
                                          getattr(fashion, split).labels)
        self.assertNotEqual(mnist.classes, fashion.classes)

    def test_errors_name_mnist(self):
        train, labels, test, test_labels = self.raw
        write_fashion_mnist(self.tmp / "bad", train, labels[:-1], test, test_labels)
        with self.assertRaisesRegex(ValueError, r"MNIST train split has 60 images but 59 labels"):
            self.load(data_dir=self.tmp / "bad")

    def test_default_validation_size_is_ten_thousand(self):
        with self.assertRaisesRegex(ValueError, r"validation_size must be a whole number and >= 0 and < 60, "
                                                r"got 10000"):
            initialize_dataset("mnist", data_dir=self.folder)


class TestSearchOrder(MnistTest):
    def test_argument_then_variable_then_repository_then_download_folder(self):
        places = {"argument": self.tmp / "arg", "env": self.tmp / "env",
                  "repo": self.tmp / "repo", "download": self.tmp / "downloads" / "mnist"}
        for n_test, folder in enumerate(places.values(), start=11):
            train, labels, test, test_labels = small_fashion_mnist(n_test=n_test)
            write_fashion_mnist(folder, train, labels, test, test_labels)
        os.environ["MNIST_DIR"] = str(places["env"])

        def n_test(**options):
            return self.load(**options).test.data.shape[0]

        self.assertEqual(n_test(data_dir=places["argument"]), 11)
        self.assertEqual(n_test(), 12)
        del os.environ["MNIST_DIR"]
        self.assertEqual(n_test(), 13)
        loader_module.MNIST_REPO_DIR = self.tmp / "nowhere"
        self.assertEqual(n_test(), 14)
        self.assertEqual(find_mnist(), places["download"])

    def test_a_named_folder_missing_a_file_is_an_error(self):
        (self.folder / MNIST_FILES["test_labels"]).unlink()
        with self.assertRaises(ValueError) as caught:
            self.load(data_dir=self.folder)
        message = str(caught.exception)
        self.assertIn(f"MNIST not found in {self.folder}, named by the data_dir argument: it lacks "
                      f"t10k-labels-idx1-ubyte.gz", message)
        self.assertIn("--download (in Python: download=True)", message)
        self.assertNotIn("\n", message)

    def test_missing_everywhere_is_one_line_naming_every_place(self):
        with self.assertRaises(ValueError) as caught:
            self.load()
        message = str(caught.exception)
        for part in ("$MNIST_DIR (not set)", str(self.tmp / "repo"),
                     str(self.tmp / "downloads" / "mnist"),
                     "{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
                     "--download (in Python: download=True)"):
            self.assertIn(part, message)
        self.assertNotIn("\n", message)


if __name__ == "__main__":
    unittest.main()
