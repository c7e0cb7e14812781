"""Tests of train_ffnn.py and neural_networks/runs.py.

The script runs in a subprocess with ``--save-dir`` pointing into a temporary
folder, so the tests never write into the repository's experiments/.
"""

import contextlib
import csv
import importlib.util
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

from neural_networks import runs

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "train_ffnn.py"
IRIS = REPO_ROOT / "datasets" / "iris"
LAST_LINE = re.compile(r"^Test accuracy: (\d\.\d{4}) \(test error (\d\.\d{4})\)$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# The script as a module, to test its argument parsing without a subprocess.
_spec = importlib.util.spec_from_file_location("train_ffnn_script", SCRIPT)
script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(script)


def train_ffnn(*args, check=True):
    """Run the script from the repository root; return the CompletedProcess."""
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"train_ffnn.py {' '.join(args)} failed with "
                             f"{proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def last_line(stdout):
    lines = stdout.strip().splitlines()
    match = LAST_LINE.match(lines[-1])
    if match is None:
        raise AssertionError(f"unexpected last line {lines[-1]!r}")
    return float(match.group(1)), float(match.group(2))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


class TestDefaultRun(unittest.TestCase):
    """``python train_ffnn.py`` with every default."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.proc = train_ffnn("--save-dir", cls.tmp.name)
        cls.run_dir = Path(cls.tmp.name) / runs.DEFAULT_RUN_NAME

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_last_line_reports_test_accuracy_of_at_least_0_90(self):
        accuracy, error = last_line(self.proc.stdout)
        self.assertGreaterEqual(accuracy, 0.90)
        self.assertAlmostEqual(accuracy + error, 1.0, places=4)

    def test_one_summary_line_per_epoch(self):
        lines = [l for l in self.proc.stdout.splitlines() if l.startswith("epoch ")]
        self.assertEqual(len(lines), 100)
        pattern = re.compile(r"^epoch (\d+)/100  train loss \d+\.\d{4}  acc \d\.\d{4}"
                             r"  val loss \d+\.\d{4}  acc \d\.\d{4}")
        for k, line in enumerate(lines, start=1):
            match = pattern.match(line)
            self.assertIsNotNone(match, line)
            self.assertEqual(int(match.group(1)), k)

    def test_progress_bar_goes_to_stderr(self):
        self.assertIn("100/100", self.proc.stderr)

    def test_run_folder_holds_arguments_log_curves_and_parameters(self):
        with open(self.run_dir / "args.json") as f:
            args = json.load(f)
        model_args, data_args = args["model_args"], args["data_args"]
        self.assertEqual(model_args["hidden"], 10)
        self.assertEqual(model_args["hidden_activation"], "relu")
        self.assertEqual(model_args["output_activation"], "softmax")
        self.assertEqual(model_args["loss"], "cross_entropy")
        self.assertEqual(model_args["optimizer"], "SGD")
        self.assertEqual(model_args["momentum"], 0.9)
        self.assertEqual(model_args["seed"], 0)
        self.assertEqual(model_args["epochs"], 100)
        self.assertEqual(data_args, {"name": "iris", "batch_size": 25})
        with open(self.run_dir / "log.json") as f:
            log = json.load(f)
        for metric in ("loss", "error"):
            for split in ("train", "validate"):
                self.assertEqual(len(log[metric][split]), 100)
        self.assertTrue(is_png(self.run_dir / "loss.png"))
        self.assertTrue(is_png(self.run_dir / "error.png"))
        self.assertTrue((self.run_dir / "parameters_epoch100").is_file())

    def test_saved_parameters_reproduce_the_printed_test_accuracy(self):
        # Re-evaluate the pickled final parameters with plain numpy on the
        # raw test split, standardised with the training split's statistics.
        with open(self.run_dir / "parameters_epoch100", "rb") as f:
            params = pickle.load(f)
        self.assertEqual(params[0]["W"].shape, (4, 10))
        self.assertEqual(params[0]["b"].shape, (1, 10))
        self.assertEqual(params[1]["W"].shape, (10, 3))
        self.assertEqual(params[1]["b"].shape, (1, 3))
        X_train = np.load(IRIS / "iris_train_data.npy").astype(float)
        X = (np.load(IRIS / "iris_test_data.npy") - X_train.mean(0)) / X_train.std(0)
        labels = np.load(IRIS / "iris_test_labels.npy").argmax(1)
        H = np.maximum(X @ params[0]["W"] + params[0]["b"], 0)
        scores = H @ params[1]["W"] + params[1]["b"]
        accuracy = np.mean(scores.argmax(1) == labels)
        self.assertAlmostEqual(accuracy, last_line(self.proc.stdout)[0], places=4)
        # The logged validation error is the final model's too.
        with open(self.run_dir / "log.json") as f:
            log = json.load(f)
        X_val = (np.load(IRIS / "iris_val_data.npy") - X_train.mean(0)) / X_train.std(0)
        val_labels = np.load(IRIS / "iris_val_labels.npy").argmax(1)
        H = np.maximum(X_val @ params[0]["W"] + params[0]["b"], 0)
        val_error = 1 - np.mean((H @ params[1]["W"] + params[1]["b"]).argmax(1) == val_labels)
        self.assertAlmostEqual(log["error"]["validate"][-1], val_error, places=12)


class TestCommandLine(unittest.TestCase):
    def test_help_lists_every_option(self):
        proc = train_ffnn("--help")
        for option in ("--hidden", "--lr", "--momentum", "--epochs", "--batch-size", "--seed",
                       "--name", "--overwrite", "--save-dir", "--sweep", "--lrs", "--hiddens"):
            self.assertIn(option, proc.stdout)

    def test_bad_arguments_are_refused_with_a_message(self):
        cases = [
            (["--name", "../elsewhere"], "plain folder name"),
            (["--lr", "-1"], "expected a number > 0"),
            (["--epochs", "ten"], "expected a whole number > 0"),
            (["--momentum", "1.5"], "momentum in [0, 1)"),
            (["--sweep", "--lrs", "0.1,x"], "comma-separated list of floats"),
            (["--sweep", "--lr", "0.1"], "with --sweep use --lrs"),
            (["--hiddens", "5,10"], "need --sweep"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                stderr = io.StringIO()
                with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit:
                    script.parse_args(args)
                self.assertEqual(exit.exception.code, 2)
                self.assertIn(message, stderr.getvalue())

    def test_defaults_are_the_courses(self):
        args = script.parse_args([])
        self.assertEqual((args.momentum, args.epochs, args.batch_size, args.seed),
                         (0.9, 100, 25, 0))
        self.assertEqual((runs.DEFAULTS.hidden, runs.DEFAULTS.lr), (10, 0.01))
        args = script.parse_args(["--sweep", "--lrs", "0.5,0.05", "--hiddens", "3,7"])
        self.assertEqual((args.lrs, args.hiddens), ([0.5, 0.05], [3, 7]))


class TestRunFolders(unittest.TestCase):
    """A run never silently replaces an earlier one."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.save_dir = Path(self.tmp.name)

    def snapshot(self, folder):
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}

    def main(self, *args):
        """Run the script's main() in this process; return its stdout."""
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
            script.main(["--save-dir", str(self.save_dir), *args])
        return stdout.getvalue()

    def test_default_name_gets_a_fresh_suffix(self):
        self.main("--epochs", "3")
        first = self.snapshot(self.save_dir / "iris_ffnn")
        stdout = self.main("--epochs", "2")
        self.assertIn("iris_ffnn_2", stdout)
        self.assertEqual(self.snapshot(self.save_dir / "iris_ffnn"), first)
        with open(self.save_dir / "iris_ffnn_2" / "args.json") as f:
            self.assertEqual(json.load(f)["model_args"]["epochs"], 2)

    def test_taken_name_is_refused_unless_overwrite(self):
        self.main("--epochs", "3", "--name", "mine")
        first = self.snapshot(self.save_dir / "mine")
        proc = train_ffnn("--save-dir", str(self.save_dir), "--epochs", "2", "--name", "mine",
                          check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("already holds a run", proc.stderr)
        self.assertIn("--overwrite", proc.stderr)
        self.assertNotIn("Test accuracy", proc.stdout)
        self.assertEqual(self.snapshot(self.save_dir / "mine"), first)

        self.main("--epochs", "2", "--name", "mine", "--overwrite")
        with open(self.save_dir / "mine" / "log.json") as f:
            self.assertEqual(len(json.load(f)["loss"]["train"]), 2)

    def test_choose_run_name(self):
        save_dir = str(self.save_dir)
        self.assertEqual(runs.choose_run_name(save_dir, None, "run"), "run")
        os.makedirs(self.save_dir / "run")  # an empty folder holds no run
        self.assertEqual(runs.choose_run_name(save_dir, None, "run"), "run")
        (self.save_dir / "run" / "log.json").write_text("{}")
        self.assertEqual(runs.choose_run_name(save_dir, None, "run"), "run_2")
        os.makedirs(self.save_dir / "run_2")
        (self.save_dir / "run_2" / "x").write_text("")
        self.assertEqual(runs.choose_run_name(save_dir, None, "run"), "run_3")
        self.assertEqual(runs.choose_run_name(save_dir, None, "run", overwrite=True), "run")
        with self.assertRaises(FileExistsError):
            runs.choose_run_name(save_dir, "run", "other")
        self.assertEqual(runs.choose_run_name(save_dir, "run", "other", overwrite=True), "run")
        for bad in ("", ".", "..", "a/b", "../a"):
            with self.assertRaises(ValueError):
                runs.choose_run_name(save_dir, bad)


class TestChooseBest(unittest.TestCase):
    """The sweep picks by validation error, ties to the lower validation loss."""

    def row(self, val_error, val_loss, test_error):
        return {"val_error": val_error, "val_loss": val_loss, "test_error": test_error}

    def test_lowest_validation_error_wins_whatever_the_test_error(self):
        rows = [self.row(0.2, 0.1, 0.0), self.row(0.1, 0.5, 0.3), self.row(0.3, 0.05, 0.0)]
        self.assertEqual(runs.choose_best(rows), 1)

    def test_ties_go_to_the_lower_validation_loss_then_the_earlier_row(self):
        rows = [self.row(0.1, 0.4, 0.0), self.row(0.1, 0.2, 0.5), self.row(0.1, 0.3, 0.0)]
        self.assertEqual(runs.choose_best(rows), 1)
        rows = [self.row(0.1, 0.2, 0.5), self.row(0.1, 0.2, 0.0)]
        self.assertEqual(runs.choose_best(rows), 0)

    def test_no_rows_is_an_error(self):
        with self.assertRaises(ValueError):
            runs.choose_best([])

    def test_default_grid_is_the_issues(self):
        self.assertEqual(list(runs.SWEEP_LRS), [0.001, 0.01, 0.1])
        self.assertEqual(list(runs.SWEEP_HIDDENS), [5, 10, 25])


class TestSweep(unittest.TestCase):
    """``--sweep`` on a reduced grid and few epochs."""

    ARGS = ("--sweep", "--lrs", "0.01,0.1", "--hiddens", "5,10", "--epochs", "15")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dirs = [Path(cls.tmp.name) / "a", Path(cls.tmp.name) / "b"]
        cls.procs = [train_ffnn(*cls.ARGS, "--save-dir", str(d)) for d in cls.dirs]
        cls.folder = cls.dirs[0] / runs.DEFAULT_SWEEP_NAME
        cls.rows = read_csv(cls.folder / "results.csv")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_one_row_per_combination_in_grid_order(self):
        self.assertEqual([(float(r["lr"]), int(r["hidden"])) for r in self.rows],
                         [(0.01, 5), (0.01, 10), (0.1, 5), (0.1, 10)])
        self.assertEqual(list(self.rows[0]), ["lr", "hidden", "train_loss", "val_loss",
                                              "val_error", "test_error", "chosen"])

    def test_same_seed_gives_the_same_numbers(self):
        second = self.dirs[1] / runs.DEFAULT_SWEEP_NAME
        self.assertEqual((self.folder / "results.csv").read_bytes(),
                         (second / "results.csv").read_bytes())
        self.assertEqual(self.procs[0].stdout.replace(str(self.dirs[0]), ""),
                         self.procs[1].stdout.replace(str(self.dirs[1]), ""))

    def test_chosen_row_has_the_lowest_validation_error_then_loss(self):
        key = [(float(r["val_error"]), float(r["val_loss"])) for r in self.rows]
        chosen = [i for i, r in enumerate(self.rows) if r["chosen"] == "1"]
        self.assertEqual(chosen, [key.index(min(key))])
        accuracy, error = last_line(self.procs[0].stdout)
        self.assertAlmostEqual(error, float(self.rows[chosen[0]]["test_error"]), places=4)

    def test_table_is_printed_and_written(self):
        table = (self.folder / "results.md").read_text()
        self.assertIn(table, self.procs[0].stdout)
        table_rows = [l for l in table.splitlines() if re.match(r"^\| \d", l)]
        self.assertEqual(len(table_rows), 4)
        self.assertEqual(sum(l.rstrip().endswith("| * |") for l in table_rows), 1)
        self.assertTrue(is_png(self.folder / "best_loss.png"))

    def test_output_stays_readable(self):
        # No per-epoch lines from the 4 trainings, one progress bar in all.
        self.assertNotIn("epoch ", self.procs[0].stdout)
        self.assertNotIn("epochs:", self.procs[0].stderr)

    def test_a_single_run_reproduces_its_sweep_row(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = train_ffnn("--lr", "0.1", "--hidden", "10", "--epochs", "15",
                              "--save-dir", tmp)
            with open(Path(tmp) / runs.DEFAULT_RUN_NAME / "log.json") as f:
                log = json.load(f)
        row = self.rows[3]
        self.assertAlmostEqual(last_line(proc.stdout)[1], float(row["test_error"]), places=4)
        self.assertEqual(log["loss"]["train"][-1], float(row["train_loss"]))
        self.assertEqual(log["loss"]["validate"][-1], float(row["val_loss"]))
        self.assertEqual(log["error"]["validate"][-1], float(row["val_error"]))

    def test_a_second_sweep_does_not_replace_the_first(self):
        before = (self.folder / "results.csv").read_bytes()
        proc = train_ffnn("--sweep", "--lrs", "0.1", "--hiddens", "5", "--epochs", "2",
                          "--save-dir", str(self.dirs[0]))
        self.assertIn("iris_sweep_2", proc.stdout)
        self.assertEqual((self.folder / "results.csv").read_bytes(), before)
        self.assertEqual(len(read_csv(self.dirs[0] / "iris_sweep_2" / "results.csv")), 1)


if __name__ == "__main__":
    unittest.main()
