"""run_folder.py: claiming and releasing run folders, and the text files every run
writes (the pictures are test_plots.py's)."""

import csv
import multiprocessing
import os
import tempfile
import unittest

import numpy as np

from neural_networks import run_folder
from neural_networks.run_folder import (LOCK_NAME, METRIC_COLUMNS, check_name, claim,
                                        read_args, release, take_over, unlock, write_args,
                                        write_metrics)


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


class TestLayout(unittest.TestCase):
    def test_metric_columns(self):
        self.assertEqual(run_folder.METRIC_COLUMNS, ("epoch", "train_loss", "train_accuracy",
                                                     "val_loss", "val_accuracy", "seconds"))


if __name__ == "__main__":
    unittest.main()
