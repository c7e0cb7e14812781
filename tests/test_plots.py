"""plots.py: the pictures of a run, each a valid PNG, PDF or SVG as asked: the loss and
accuracy curves (the kept epoch marked, label smoothing named), the confusion
matrix, the misclassified test images and a CNN's filters; the test pictures of
an image run (class names from the dataset, numbers without them; filters for a
CNN only; flattened rows shown as square images)."""

import os
import tempfile
import unittest
import xml.etree.ElementTree as ET

import matplotlib
import numpy as np
from PIL import Image

from neural_networks import plots
from neural_networks.datasets import Dataset
from neural_networks.plots import (plot_curves, write_confusion_matrix, write_curves,
                                   write_filters, write_misclassified)
from neural_networks.run_folder import claim
from tests.test_checkpoints import build_model as build_cnn
from tests.test_run_folder import FolderTest
from tests.test_training import small_classifier

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_picture(test, path, fmt):
    """``path`` ends with ``fmt`` and holds a whole picture of that format."""
    test.assertTrue(path.endswith(f".{fmt}"), path)
    with open(path, "rb") as f:
        data = f.read()
    if fmt == "png":
        test.assertEqual(data[:8], PNG_MAGIC)
        with Image.open(path) as image:
            image.verify()
    elif fmt == "pdf":
        test.assertTrue(data.startswith(b"%PDF-"), data[:10])
        test.assertIn(b"%%EOF", data[-32:])
    else:
        test.assertEqual(ET.fromstring(data).tag, "{http://www.w3.org/2000/svg}svg")


class TestCurves(FolderTest):
    def test_loss_and_accuracy_pngs(self):
        folder = claim(self.save_dir, "run")
        rows = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + e / 10,
                 "val_loss": 1.2 / e, "val_accuracy": 0.4 + e / 10, "seconds": 1.0}
                for e in (1, 2, 3)]
        paths = write_curves(folder, rows, "fashion_mnist cnn")
        self.assertEqual(paths, (os.path.join(folder, "loss.png"),
                                 os.path.join(folder, "accuracy.png")))
        for path in paths:
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), PNG_MAGIC)
        self.assertEqual(sorted(os.listdir(folder)), ["accuracy.png", "loss.png"])

    def test_a_one_epoch_curve_shows_its_point(self):
        path = os.path.join(self.tmp, "one.png")
        fig = plot_curves(path, {"train": [0.7], "validation": [0.9], "none": []},
                          title="one epoch", ylabel="loss")
        lines = fig.axes[0].lines
        self.assertEqual([line.get_label() for line in lines], ["train", "validation"])
        for line in lines:
            self.assertEqual(list(line.get_xdata()), [1])
            self.assertNotIn(line.get_marker(), (None, "", " ", "None"))
            self.assertGreater(line.get_markersize(), 0)
        self.assertEqual(fig.axes[0].get_title(), "one epoch")
        self.assertEqual(fig.dpi, 100)
        self.assertTrue(os.path.isfile(path))


    def test_a_mark_is_a_dashed_vertical_line_with_a_legend_entry(self):
        fig = plot_curves(os.path.join(self.tmp, "mark.png"), {"train": [1.0, 0.5, 0.7, 0.8]},
                          title="t", ylabel="loss", mark=(2, "kept: epoch 2 (best.npz)"))
        ax = fig.axes[0]
        (mark,) = [line for line in ax.lines if line.get_label().startswith("kept")]
        self.assertEqual(list(mark.get_xdata()), [2, 2])
        self.assertEqual(mark.get_linestyle(), "--")
        self.assertEqual([t.get_text() for t in ax.get_legend().get_texts()],
                         ["train", "kept: epoch 2 (best.npz)"])
        # Without a mark, nothing but the curves.
        fig = plot_curves(os.path.join(self.tmp, "plain.png"), {"train": [1.0, 0.5]},
                          title="t", ylabel="loss")
        self.assertEqual([line.get_label() for line in fig.axes[0].lines], ["train"])

    def test_curves_mark_the_kept_epoch_and_name_label_smoothing(self):
        folder = claim(self.save_dir, "smoothed")
        rows = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + e / 10,
                 "val_loss": 0.6 / e, "val_accuracy": 0.4 + e / 10, "seconds": 1.0}
                for e in (1, 2, 3)]
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            loss, accuracy = write_curves(folder, rows, "Fashion-MNIST", "svg", kept_epoch=2,
                                          label_smoothing=0.1)
        words = {path: [t for e in ET.parse(path).getroot().iter(
            "{http://www.w3.org/2000/svg}text") for t in e.itertext()]
            for path in (loss, accuracy)}
        self.assertIn("train (labels smoothed by 0.1)", words[loss])
        self.assertIn("train", words[accuracy])  # accuracy is not on smoothed labels
        self.assertNotIn("train (labels smoothed by 0.1)", words[accuracy])
        for path in (loss, accuracy):
            self.assertIn("kept: epoch 2 (best.npz)", words[path])

    def test_curves_in_every_format(self):
        rows = [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": 1.1,
                 "val_accuracy": 0.4, "seconds": 1.0}]
        for fmt in ("png", "pdf", "svg"):
            with self.subTest(fmt=fmt):
                folder = claim(self.save_dir, fmt)
                for path in write_curves(folder, rows, "Iris, two-layer network", fmt):
                    assert_picture(self, path, fmt)
                self.assertEqual(sorted(os.listdir(folder)), [f"accuracy.{fmt}", f"loss.{fmt}"])
        with self.assertRaisesRegex(ValueError, "among png, pdf, svg, got 'jpg'"):
            write_curves(self.tmp, rows, "run", "jpg")
        with self.assertRaisesRegex(ValueError, "among png, pdf, svg, got 'gif'"):
            plot_curves(os.path.join(self.tmp, "x.gif"), {"train": [1.0]}, "t", "loss")

    def test_epoch_ticks_are_whole_numbers(self):
        for n, expected in ((1, [1]), (3, [1, 2, 3])):
            fig = plot_curves(os.path.join(self.tmp, f"{n}.png"), {"train": [1.0] * n},
                              title="t", ylabel="loss")
            ax = fig.axes[0]
            low, high = ax.get_xlim()
            self.assertEqual([t for t in ax.get_xticks() if low <= t <= high], expected)
        fig = plot_curves(os.path.join(self.tmp, "100.png"), {"train": list(range(100))},
                          title="t", ylabel="loss")
        ticks = fig.axes[0].get_xticks()
        self.assertTrue(np.all(ticks == np.round(ticks)), ticks)
        self.assertLessEqual(len(ticks), 12)
        # A marker on every second point: 50, not 100 crowding the line.
        self.assertEqual(fig.axes[0].lines[0].get_markevery(), 2)


class TestPictures(FolderTest):
    NAMES = ["T-shirt/top", "Trouser", "Coat", "Shirt"]

    def setUp(self):
        super().setUp()
        self.folder = claim(self.save_dir, "run")
        rng = np.random.default_rng(0)
        self.gray = rng.normal(size=(30, 6, 5, 1))
        self.rgb = rng.normal(size=(3, 6, 5, 3))

    def test_every_picture_in_every_format(self):
        matrix = np.array([[5, 1, 0, 0], [0, 4, 0, 1], [2, 0, 3, 0], [0, 0, 0, 0]])
        for fmt in ("png", "pdf", "svg"):
            with self.subTest(fmt=fmt):
                for path, name in (
                    (write_confusion_matrix(self.folder, matrix, self.NAMES, fmt),
                     "confusion_matrix"),
                    (write_misclassified(self.folder, self.gray[:4], [2, 3, 0, 1], [3, 2, 1, 0],
                                         self.NAMES, fmt), "misclassified"),
                    (write_filters(self.folder, np.moveaxis(self.rgb, 0, 3), fmt), "filters"),
                ):
                    self.assertEqual(path, os.path.join(self.folder, f"{name}.{fmt}"))
                    assert_picture(self, path, fmt)

    def svg_text(self, write):
        """The words of an SVG picture (written with text kept as text)."""
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            path = write("svg")
        root = ET.parse(path).getroot()
        return [t for element in root.iter("{http://www.w3.org/2000/svg}text")
                for t in element.itertext()]

    def test_misclassified_titles_name_the_classes(self):
        words = self.svg_text(lambda fmt: write_misclassified(
            self.folder, self.gray[:3], [2, 3, 0], [3, 2, 1], self.NAMES, fmt,
            title="Fashion-MNIST: misclassified"))
        for true, predicted in (("Coat", "Shirt"), ("Shirt", "Coat"), ("T-shirt/top", "Trouser")):
            self.assertIn(f"true: {true}", words)
            self.assertIn(f"predicted: {predicted}", words)
        self.assertIn("Fashion-MNIST: misclassified", words)

    def test_misclassified_grid_holds_at_most_25(self):
        words = self.svg_text(lambda fmt: write_misclassified(
            self.folder, self.gray, np.zeros(30, dtype=int), np.ones(30, dtype=int),
            self.NAMES, fmt))
        self.assertEqual(words.count("true: T-shirt/top"), plots.MAX_MISCLASSIFIED)
        words = self.svg_text(lambda fmt: write_misclassified(
            self.folder, self.gray[:0], np.zeros(0, dtype=int), np.zeros(0, dtype=int),
            self.NAMES, fmt))
        self.assertTrue(any("No misclassified images" in w for w in words), words)

    def test_confusion_matrix_shows_counts_and_names(self):
        matrix = np.array([[7, 1], [0, 12]])
        words = self.svg_text(lambda fmt: write_confusion_matrix(
            self.folder, matrix, ["Coat", "Shirt"], fmt, title="confusion"))
        for word in ("7", "1", "0", "12", "Coat", "Shirt", "true class", "predicted class"):
            self.assertIn(word, words)

    def test_filters_are_one_image_each(self):
        words = self.svg_text(lambda fmt: write_filters(
            self.folder, np.random.default_rng(1).normal(size=(3, 3, 1, 6)), fmt))
        self.assertEqual([w for w in words if w.isdigit()], ["1", "2", "3", "4", "5", "6"])

    def test_bad_input(self):
        for call, fragment in (
            (lambda: write_confusion_matrix(self.folder, np.ones((2, 3), dtype=int),
                                            ["a", "b"]), "square matrix of whole counts"),
            (lambda: write_confusion_matrix(self.folder, np.eye(2), ["a", "b"]), "whole counts"),
            (lambda: write_confusion_matrix(self.folder, np.eye(2, dtype=int), ["a"]),
             "expected 2 class names, one per class, got 1"),
            (lambda: write_confusion_matrix(self.folder, np.eye(2, dtype=int), ["a", "b"],
                                            "bmp"), "got 'bmp'"),
            (lambda: write_misclassified(self.folder, self.gray[:2, ..., [0, 0]], [0, 1], [1, 0],
                                         self.NAMES), r"1 or 3\), got float64 \(2, 6, 5, 2\)"),
            (lambda: write_misclassified(self.folder, self.gray[:2], [0, 4], [1, 0], self.NAMES),
             r"expected 2 true class indices in \[0, 4\)"),
            (lambda: write_misclassified(self.folder, self.gray[:2] * np.nan, [0, 1], [1, 0],
                                         self.NAMES), "NaN"),
            (lambda: write_filters(self.folder, np.ones((3, 3, 2, 4))), "1 \\(gray\\) or 3"),
        ):
            with self.subTest(fragment=fragment):
                with self.assertRaisesRegex(ValueError, fragment):
                    call()
        self.assertEqual(os.listdir(self.folder), [])


class TestBestLoss(FolderTest):
    def test_the_chosen_pair_and_its_loss_at_every_iteration(self):
        folder = claim(self.save_dir, "sweep")
        loss = [1.1, 0.9, 0.7, 0.65, 0.6]
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            path = plots.write_best_loss(folder, loss, 0.01, 10, "svg")
        self.assertEqual(path, os.path.join(folder, "best_loss.svg"))
        assert_picture(self, path, "svg")
        words = [t for e in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")
                 for t in e.itertext()]
        for word in ("chosen model (lr 0.01, hidden 10): training loss", "iteration",
                     "cross-entropy loss", "train (per iteration)"):
            self.assertIn(word, words)
        assert_picture(self, plots.write_best_loss(folder, loss, 0.1, 5), "png")


class TestTestPictures(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.folder = self._tmp.name

    def test_a_cnn_gets_all_three_with_class_names(self):
        rng = np.random.default_rng(0)
        X, Y = rng.normal(size=(12, 8, 8, 1)), np.eye(3)[rng.integers(0, 3, size=12)]
        dataset = Dataset(X, Y, 4, test_set=X, test_labels=Y)
        dataset.classes = ("cat", "dog", "owl")
        model = build_cnn(seed=0).build((8, 8, 1), n_out=3)
        Y_hat = model.predict(X)[0]
        wrong = np.flatnonzero(Y_hat.argmax(axis=1) != Y.argmax(axis=1))
        self.assertGreater(len(wrong), 0)
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            paths = plots.write_test_pictures(model, dataset, Y_hat, self.folder,
                                              "Owls, convolutional network", "svg")
        self.assertEqual([os.path.basename(p) for p in paths],
                         ["confusion_matrix.svg", "misclassified.svg", "filters.svg"])
        root = ET.parse(paths[1]).getroot()
        words = [t for e in root.iter("{http://www.w3.org/2000/svg}text") for t in e.itertext()]
        names = ["cat", "dog", "owl"]
        self.assertEqual(sorted(w for w in words if w.startswith("true: ")),
                         sorted(f"true: {names[c]}" for c in Y[wrong].argmax(axis=1)))
        self.assertIn("Owls, convolutional network: misclassified test images", words)
        self.assertEqual(plots.class_names(dataset, 3), names)
        self.assertEqual(plots.class_names(dataset, 4), ["0", "1", "2", "3"])

    def test_an_mlp_gets_no_filters_and_rows_become_images(self):
        rng = np.random.default_rng(0)
        X, Y = rng.normal(size=(12, 16)), np.eye(3)[rng.integers(0, 3, size=12)]
        dataset = Dataset(X, Y, 4, test_set=X, test_labels=Y)
        model = small_classifier().build((16,), n_out=3)
        Y_hat = model.predict(X)[0]
        paths = plots.write_test_pictures(model, dataset, Y_hat, self.folder, "t", "svg")
        self.assertEqual(sorted(os.path.basename(p) for p in paths),
                         ["confusion_matrix.svg", "misclassified.svg"])
        self.assertEqual(plots.image_shape(dataset, X).shape, (12, 4, 4, 1))
        with self.assertRaisesRegex(ValueError, "rows of 15 values as square images"):
            plots.image_shape(dataset, X[:, :15])
        # Without test labels there is nothing to compare: no picture.
        unlabeled = Dataset(X, Y, 4, test_set=X)
        self.assertEqual(plots.write_test_pictures(model, unlabeled, Y_hat, self.folder, "t"),
                         [])


if __name__ == "__main__":
    unittest.main()
