"""run_folder.py: claiming and releasing run folders, and the files every run writes,
pictures included (each a valid PNG, PDF or SVG as asked)."""

import csv
import multiprocessing
import os
import tempfile
import unittest
import xml.etree.ElementTree as ET

import matplotlib
import numpy as np
from PIL import Image

from neural_networks import run_folder
from neural_networks.run_folder import (LOCK_NAME, METRIC_COLUMNS, check_name, claim,
                                        plot_curves, read_args, release, take_over, unlock,
                                        write_args, write_confusion_matrix, write_curves,
                                        write_filters, write_metrics, write_misclassified)

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


def _claim_after(barrier, save_dir, results):
    """Process worker: claim a default-named folder as soon as every worker is ready."""
    barrier.wait()
    results.put(claim(save_dir, None, "run"))


class FolderTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name
        self.save_dir = os.path.join(self.tmp, "experiments")

    def tearDown(self):
        self._tmp.cleanup()

    def touch(self, *parts, text="x"):
        path = os.path.join(*parts)
        with open(path, "w") as f:
            f.write(text)
        return path


class TestClaim(FolderTest):
    def test_default_names_count_up_and_each_folder_is_new(self):
        paths = [claim(self.save_dir, None, "run") for _ in range(3)]
        self.assertEqual([os.path.basename(p) for p in paths], ["run", "run_2", "run_3"])
        for path in paths:
            self.assertTrue(os.path.isdir(path))
        # An existing folder, even an empty one, is never handed out as a default:
        # another run may have just made it.
        release(paths[1])
        os.mkdir(os.path.join(self.save_dir, "run_4"))
        self.assertEqual(claim(self.save_dir, None, "run"), os.path.join(self.save_dir, "run_2"))
        self.assertEqual(claim(self.save_dir, None, "run"), os.path.join(self.save_dir, "run_5"))

    def test_a_file_with_the_default_name_is_skipped(self):
        os.makedirs(self.save_dir)
        self.touch(self.save_dir, "run")
        self.assertEqual(claim(self.save_dir, None, "run"), os.path.join(self.save_dir, "run_2"))

    def test_overwrite_without_a_name_reuses_the_default(self):
        first = claim(self.save_dir, None, "run")
        self.touch(first, "log.json")
        self.assertEqual(claim(self.save_dir, None, "run", overwrite=True), first)
        self.assertTrue(os.path.isfile(os.path.join(first, "log.json")))

    def test_a_given_name(self):
        path = claim(self.save_dir, "mine")
        self.assertEqual(path, os.path.join(self.save_dir, "mine"))
        self.assertTrue(os.path.isdir(path))
        self.assertEqual(claim(self.save_dir, "mine"), path)  # still empty: reused
        self.touch(path, "metrics.csv", text="an earlier run")
        with self.assertRaisesRegex(FileExistsError, f"{path} already holds a run.*--overwrite"):
            claim(self.save_dir, "mine")
        self.assertEqual(os.listdir(path), ["metrics.csv"])
        self.assertEqual(claim(self.save_dir, "mine", overwrite=True), path)
        with open(os.path.join(path, "metrics.csv")) as f:
            self.assertEqual(f.read(), "an earlier run")  # reused, not emptied

    def test_never_a_path_that_is_not_a_folder(self):
        os.makedirs(self.save_dir)
        path = self.touch(self.save_dir, "taken")
        for overwrite in (False, True):
            with self.assertRaisesRegex(ValueError, f"{path} exists and is not a folder"):
                claim(self.save_dir, "taken", overwrite=overwrite)
        self.assertTrue(os.path.isfile(path))
        # Nor a symbolic link, even to an empty folder: a run needs a folder of its own.
        target = os.path.join(self.save_dir, "elsewhere")
        os.mkdir(target)
        link = os.path.join(self.save_dir, "link")
        os.symlink(target, link)
        for overwrite in (False, True):
            with self.assertRaisesRegex(ValueError, f"{link} is a symbolic link \\(to "
                                                    f"{target}\\), not a folder of its own"):
                claim(self.save_dir, "link", overwrite=overwrite)
        self.assertEqual(os.readlink(link), target)

    def test_names_must_be_plain_folder_names(self):
        for bad in ("", ".", "..", "a/b", "../a", "/abs", "a\\b", None, 3):
            with self.subTest(name=bad):
                with self.assertRaisesRegex(ValueError, "plain folder name"):
                    check_name(bad)
                if bad is not None:
                    with self.assertRaisesRegex(ValueError, "plain folder name"):
                        claim(self.save_dir, bad)
                with self.assertRaisesRegex(ValueError, "plain folder name"):
                    claim(self.save_dir, None, default_name=bad)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "a")))

    def test_a_name_too_long_for_the_file_system(self):
        with self.assertRaisesRegex(ValueError, "is too long: 300 bytes.*at most"):
            claim(self.save_dir, "x" * 300)
        with self.assertRaisesRegex(ValueError, "is too long"):
            claim(self.save_dir, None, default_name="y" * 300)

    def test_save_dir_is_created_but_must_be_a_folder(self):
        nested = os.path.join(self.save_dir, "a", "b")
        self.assertEqual(claim(nested, None, "run"), os.path.join(nested, "run"))
        a_file = self.touch(self.tmp, "not_a_folder")
        with self.assertRaisesRegex(ValueError, f"save_dir {a_file} is a file"):
            claim(a_file, "run")

    def test_a_save_dir_that_cannot_be_written(self):
        folder = os.path.join(self.tmp, "read_only")
        os.mkdir(folder)
        os.chmod(folder, 0o500)
        if os.access(folder, os.W_OK):
            # Running as root, which the mode bits do not stop; sysfs refuses even root.
            folder = "/sys"
            if not os.path.isdir(folder):
                self.skipTest("running as root and no /sys: no folder here refuses new ones")
        with self.assertRaisesRegex(ValueError, f"cannot create the run folder .* in {folder}"):
            claim(folder, "run")

    def test_processes_racing_for_a_default_name_get_different_folders(self):
        ctx = multiprocessing.get_context("fork")
        for trial in range(15):
            save_dir = os.path.join(self.tmp, f"race{trial}")
            os.mkdir(save_dir)
            barrier, results = ctx.Barrier(3), ctx.Queue()
            workers = [ctx.Process(target=_claim_after, args=(barrier, save_dir, results))
                       for _ in range(3)]
            for w in workers:
                w.start()
            paths = [results.get(timeout=60) for _ in workers]
            for w in workers:
                w.join(60)
                self.assertEqual(w.exitcode, 0)
            self.assertEqual(sorted(os.path.basename(p) for p in paths),
                             ["run", "run_2", "run_3"], f"trial {trial}")


class TestTakeOver(FolderTest):
    """The course's Logger's folder; the Logger's tests cover the races and refusals."""

    def test_the_named_folder_every_time_with_earlier_runs_moved_aside(self):
        moves = []
        path, moved = take_over(self.save_dir, "run", on_move=lambda *m: moves.append(m))
        self.assertEqual((path, moved, moves), (os.path.join(self.save_dir, "run"), None, []))
        self.assertEqual(os.listdir(path), [LOCK_NAME])  # locked for this process
        self.touch(path, "log.json", text="first")
        again, moved = take_over(self.save_dir, "run", on_move=lambda *m: moves.append(m))
        self.assertEqual(again, path)
        self.assertEqual(moved, os.path.join(self.save_dir, "run_2"))
        self.assertEqual(moves, [(path, moved)])
        self.assertEqual(os.listdir(moved), ["log.json"])  # the lock did not go with it
        with open(os.path.join(moved, "log.json")) as f:
            self.assertEqual(f.read(), "first")
        unlock(path)
        self.assertEqual(os.listdir(path), [])

    def test_names_must_be_plain_folder_names(self):
        for bad in ("a/b", "..", ""):
            with self.subTest(name=bad), self.assertRaisesRegex(ValueError, "plain folder name"):
                take_over(self.save_dir, bad)


class TestRelease(FolderTest):
    def test_removes_only_an_empty_folder(self):
        empty = claim(self.save_dir, "empty")
        self.assertTrue(release(empty))
        self.assertFalse(os.path.exists(empty))
        self.assertFalse(release(empty))  # already gone
        used = claim(self.save_dir, "used")
        self.touch(used, "args.json")
        self.assertFalse(release(used))
        self.assertTrue(os.path.isfile(os.path.join(used, "args.json")))
        self.assertTrue(os.path.isdir(self.save_dir))


class TestArgs(FolderTest):
    def setUp(self):
        super().setUp()
        self.folder = claim(self.save_dir, "run")

    def test_round_trip(self):
        args = {"settings": {"lr": np.float64(0.1), "epochs": np.int64(3)}, "layers": [1, 2]}
        self.assertEqual(write_args(self.folder, args), os.path.join(self.folder, "args.json"))
        self.assertEqual(read_args(self.folder),
                         {"settings": {"lr": 0.1, "epochs": 3}, "layers": [1, 2]})

    def test_missing_or_broken_args_are_value_errors(self):
        path = os.path.join(self.folder, "args.json")
        with self.assertRaisesRegex(ValueError, f"cannot read {path}: No such file"):
            read_args(self.folder)
        self.touch(path, text="{not json")
        with self.assertRaisesRegex(ValueError, f"{path} is not valid JSON"):
            read_args(self.folder)
        self.touch(path, text="[1, 2]")
        with self.assertRaisesRegex(ValueError, "a JSON object, got list"):
            read_args(self.folder)


class TestMetrics(FolderTest):
    def setUp(self):
        super().setUp()
        self.folder = claim(self.save_dir, "run")

    def read_metrics(self):
        with open(os.path.join(self.folder, "metrics.csv"), newline="") as f:
            rows = list(csv.reader(f))
        return rows[0], rows[1:]

    def test_floats_round_trip_exactly(self):
        values = [0.1 + 0.2, 1 / 3, 1e-17, np.float64(2 / 3), np.float32(0.1), 123456.789012345]
        rows = [{"epoch": i + 1, "train_loss": v, "train_accuracy": 1 - v, "val_loss": v / 7,
                 "val_accuracy": float(i) / 9, "seconds": v * 3} for i, v in enumerate(values)]
        write_metrics(self.folder, rows)
        header, lines = self.read_metrics()
        self.assertEqual(tuple(header), METRIC_COLUMNS)
        self.assertEqual([line[0] for line in lines], [str(i + 1) for i in range(len(values))])
        for row, line in zip(rows, lines, strict=True):
            for key, cell in zip(METRIC_COLUMNS[1:], line[1:], strict=True):
                self.assertEqual(float(cell), float(row[key]), key)

    def test_no_validation_gives_empty_cells(self):
        write_metrics(self.folder, [
            {"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.75, "seconds": 2.0},
            {"epoch": 2, "train_loss": 0.25, "train_accuracy": 0.875, "val_loss": None,
             "val_accuracy": "", "seconds": 2.5},
        ])
        _, lines = self.read_metrics()
        self.assertEqual(lines, [["1", "0.5", "0.75", "", "", "2.0"],
                                 ["2", "0.25", "0.875", "", "", "2.5"]])

    def test_unknown_columns_and_values_are_refused(self):
        with self.assertRaisesRegex(ValueError, r"got also \['val_acc'\]"):
            write_metrics(self.folder, [{"epoch": 1, "val_acc": 0.5}])
        with self.assertRaisesRegex(ValueError, "expected a number or nothing"):
            write_metrics(self.folder, [{"epoch": 1, "train_loss": "0.5"}])
        self.assertFalse(os.path.exists(os.path.join(self.folder, "metrics.csv")))


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
        self.assertEqual(words.count("true: T-shirt/top"), run_folder.MAX_MISCLASSIFIED)
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


class TestLayout(unittest.TestCase):
    def test_metric_columns(self):
        self.assertEqual(run_folder.METRIC_COLUMNS, ("epoch", "train_loss", "train_accuracy",
                                                     "val_loss", "val_accuracy", "seconds"))


if __name__ == "__main__":
    unittest.main()
