"""The sweep behind ``train_ffnn.py --sweep`` (neural_networks/sweeps.py): the model
chosen by validation error, one run folder per pair, the same table with one job
or two (processes or threads), stopped by signals or a diverging pair, resumed to
the table of a sweep never stopped, and overwritten.

The script runs in a subprocess with ``--save-dir`` pointing into a temporary
folder, as in test_train_ffnn.py.
"""

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

from neural_networks import runs, sweeps
from tests.test_image_runs import INTERRUPT_AFTER_STEPS
from tests.test_train_ffnn import (REPO_ROOT, RUN_FILES, SCRIPT, assert_parse_refused,
                                   is_png, last_line, read_csv, script, train_ffnn)


class TestChooseBest(unittest.TestCase):
    """The sweep picks by validation error, ties to the lower validation loss."""

    def row(self, val_error, val_loss, test_error):
        return {"val_error": val_error, "val_loss": val_loss, "test_error": test_error}

    def test_lowest_validation_error_wins_whatever_the_test_error(self):
        rows = [self.row(0.2, 0.1, 0.0), self.row(0.1, 0.5, 0.3), self.row(0.3, 0.05, 0.0)]
        self.assertEqual(sweeps.choose_best(rows), 1)

    def test_ties_go_to_the_lower_validation_loss_then_the_earlier_row(self):
        rows = [self.row(0.1, 0.4, 0.0), self.row(0.1, 0.2, 0.5), self.row(0.1, 0.3, 0.0)]
        self.assertEqual(sweeps.choose_best(rows), 1)
        rows = [self.row(0.1, 0.2, 0.5), self.row(0.1, 0.2, 0.0)]
        self.assertEqual(sweeps.choose_best(rows), 0)

    def test_no_rows_is_an_error(self):
        with self.assertRaises(ValueError):
            sweeps.choose_best([])

    def test_default_grid_is_lr_0_001_0_01_0_1_by_hidden_5_10_25(self):
        self.assertEqual(list(sweeps.SWEEP_LRS), [0.001, 0.01, 0.1])
        self.assertEqual(list(sweeps.SWEEP_HIDDENS), [5, 10, 25])


class TestSweep(unittest.TestCase):
    """``--sweep`` on a reduced grid and few epochs; with ``--jobs 2`` (the pairs in
    two processes), stopped by signals, and resumed."""

    ARGS = ("--sweep", "--lrs", "0.01,0.1", "--hiddens", "5,10", "--epochs", "15")
    PAIRS = ("lr0.01_hidden5", "lr0.01_hidden10", "lr0.1_hidden5", "lr0.1_hidden10")
    RESULT_FILES = ("results.csv", "results.md", "best_loss.png")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dirs = [Path(cls.tmp.name) / "a", Path(cls.tmp.name) / "b"]
        cls.procs = [train_ffnn(*cls.ARGS, "--save-dir", str(d)) for d in cls.dirs]
        cls.folder = cls.dirs[0] / sweeps.DEFAULT_SWEEP_NAME
        cls.rows = read_csv(cls.folder / "results.csv")
        cls.parallel_dir = Path(cls.tmp.name) / "parallel"
        cls.parallel = train_ffnn(*cls.ARGS, "--jobs", "2", "--save-dir", str(cls.parallel_dir))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_one_row_per_combination_in_grid_order(self):
        self.assertEqual([(float(r["lr"]), int(r["hidden"])) for r in self.rows],
                         [(0.01, 5), (0.01, 10), (0.1, 5), (0.1, 10)])
        self.assertEqual(list(self.rows[0]), ["lr", "hidden", "train_loss", "val_loss",
                                              "val_error", "test_error", "chosen"])

    def test_same_seed_gives_the_same_numbers(self):
        second = self.dirs[1] / sweeps.DEFAULT_SWEEP_NAME
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
            last = read_csv(Path(tmp) / runs.DEFAULT_RUN_NAME / "metrics.csv")[-1]
        row = self.rows[3]
        self.assertAlmostEqual(last_line(proc.stdout)[1], float(row["test_error"]), places=4)
        self.assertEqual(float(last["train_loss"]), float(row["train_loss"]))
        self.assertEqual(float(last["val_loss"]), float(row["val_loss"]))
        self.assertEqual(1 - float(last["val_accuracy"]), float(row["val_error"]))

    def assert_same_results(self, folder):
        """``folder``'s results are the uninterrupted serial sweep's, byte for byte."""
        for name in self.RESULT_FILES:
            self.assertEqual((folder / name).read_bytes(), (self.folder / name).read_bytes(),
                             name)

    def test_each_pair_is_a_run_in_its_own_folder(self):
        names = sorted(p.name for p in self.folder.iterdir())
        self.assertEqual(names, sorted(["args.json", *self.PAIRS, *self.RESULT_FILES]))
        for row, pair in zip(self.rows, self.PAIRS, strict=True):
            with self.subTest(pair=pair):
                self.assertEqual(sorted(p.name for p in (self.folder / pair).iterdir()),
                                 sorted(RUN_FILES))
                with open(self.folder / pair / "args.json") as f:
                    settings = json.load(f)["settings"]
                self.assertEqual((settings["lr"], settings["hidden"], settings["epochs"]),
                                 (float(row["lr"]), int(row["hidden"]), 15))
                last = read_csv(self.folder / pair / "metrics.csv")[-1]
                self.assertEqual((last["train_loss"], last["val_loss"]),
                                 (row["train_loss"], row["val_loss"]))
        with open(self.folder / "args.json") as f:
            self.assertEqual(json.load(f)["settings"]["sweep"],
                             {"lrs": [0.01, 0.1], "hiddens": [5, 10]})

    def test_two_jobs_give_the_serial_results_bit_for_bit(self):
        folder = self.parallel_dir / sweeps.DEFAULT_SWEEP_NAME
        self.assert_same_results(folder)
        self.assertEqual(self.parallel.stdout.replace(str(self.parallel_dir), ""),
                         self.procs[0].stdout.replace(str(self.dirs[0]), ""))
        for pair in self.PAIRS:
            self.assertEqual((folder / pair / "predictions.csv").read_bytes(),
                             (self.folder / pair / "predictions.csv").read_bytes())
        self.assertNotIn("epoch ", self.parallel.stdout)

    def test_a_thread_backend_gives_the_same_results(self):
        # Threads of one process share numpy's global generator: without care two pairs
        # would take each other's draws (the numbers then change from run to run).
        from joblib import parallel_config
        with tempfile.TemporaryDirectory() as tmp, parallel_config(backend="threading"), \
                contextlib.redirect_stdout(io.StringIO()):
            folder, _, _, _, status = sweeps.sweep_and_save(
                tmp, lrs=[0.01, 0.1], hiddens=[5, 10], epochs=15, jobs=2, progress=False)
            self.assertEqual(status, 0)
            self.assert_same_results(Path(folder))

    def test_jobs_and_grids_that_cannot_run_are_refused(self):
        for args, message in ((["--jobs", "2"], "--jobs trains the pairs of a sweep"),
                              (["--sweep", "--jobs", "0"], "expected a whole number > 0"),
                              (["--sweep", "--resume", "--lrs", "0.1"], "drop --lrs"),
                              (["--sweep", "--resume", "--epochs", "5"], "drop --epochs")):
            with self.subTest(args=args):
                assert_parse_refused(self, args, message)
        self.assertEqual(script.parse_args(["--sweep", "--resume", "--jobs", "2"]).jobs, 2)
        with tempfile.TemporaryDirectory() as tmp:
            proc = train_ffnn("--sweep", "--lrs", "0.1,0.1", "--save-dir", tmp, check=False)
            self.assertEqual(proc.returncode, 2)
            self.assertIn("the sweep's lrs must differ from each other", proc.stderr)
            self.assertEqual(os.listdir(tmp), [])

    def test_ctrl_c_keeps_the_finished_pairs_and_resume_ends_as_uninterrupted(self):
        with tempfile.TemporaryDirectory() as tmp:
            # 75 steps a pair (15 epochs of 5): Ctrl-C after 112 is in epoch 8 of the second.
            child = subprocess.run(
                [sys.executable, "-c", INTERRUPT_AFTER_STEPS, "112", str(SCRIPT), *self.ARGS,
                 "--save-dir", tmp], cwd=REPO_ROOT, capture_output=True, text=True,
                timeout=300)
            self.assertEqual(child.returncode, 130, child.stderr)
            folder = Path(tmp) / sweeps.DEFAULT_SWEEP_NAME
            rows = read_csv(folder / "results.csv")
            self.assertEqual(rows[0], {**self.rows[0], "chosen": ""})
            self.assertEqual([r["lr"] + "," + r["hidden"] for r in rows],
                             ["0.01,5", "0.01,10", "0.1,5", "0.1,10"])
            for row in rows[1:]:
                self.assertEqual([row[k] for k in ("train_loss", "val_loss", "val_error",
                                                   "test_error", "chosen")], [""] * 5)
            table = (folder / "results.md").read_text()
            self.assertTrue(table.startswith(
                "Partial sweep: 1 of 4 pairs finished, so none is chosen yet. Not finished: "
                "lr 0.01, hidden 10 (stopped in epoch 8/15 after 2 iterations); lr 0.1, "
                "hidden 5 (not started); lr 0.1, hidden 10 (not started).\n"), table)
            self.assertFalse((folder / "best_loss.png").exists())
            self.assertFalse((folder / "lr0.1_hidden5").exists())
            self.assertIn(table, child.stdout)
            self.assertIn(f"Stopped: 1 of 4 pairs finished; partial results saved to "
                          f"{folder / 'results.csv'} and results.md.", child.stdout)
            hint = [line for line in child.stdout.splitlines() if line.startswith("Resume with")]
            self.assertEqual(hint, [f"Resume with: python train_ffnn.py --sweep --resume "
                                    f"--name iris_sweep --save-dir {tmp}"])
            resumed = train_ffnn(*hint[0].split()[4:])
            self.assert_same_results(folder)
            self.assertEqual(resumed.stdout.replace(tmp, ""),
                             self.procs[0].stdout.replace(str(self.dirs[0]), ""))
            self.assertEqual(sorted(p.name for p in folder.iterdir()),
                             sorted(["args.json", *self.PAIRS, *self.RESULT_FILES]))

    def test_signals_to_parallel_jobs_then_resume_without_a_name(self):
        """Ctrl-C at a terminal reaches every process of the sweep; SIGTERM from a
        supervisor only the first. Either stops it with the finished pairs kept, and
        ``--sweep --resume`` (finding the stopped sweep by itself) ends as the
        uninterrupted serial sweep."""
        for signum, status in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            with self.subTest(signal=signum.name), tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / sweeps.DEFAULT_SWEEP_NAME
                proc = subprocess.Popen(
                    [sys.executable, str(SCRIPT), *self.ARGS, "--jobs", "2", "--save-dir", tmp],
                    cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                    start_new_session=True)
                # Wait (no timing asserted) until the first pair has finished.
                for _ in range(6000):
                    if list(folder.glob("*/predictions.csv")) or proc.poll() is not None:
                        break
                    time.sleep(0.02)
                if signum == signal.SIGINT:
                    os.killpg(proc.pid, signum)
                else:
                    proc.send_signal(signum)
                stdout, stderr = proc.communicate(timeout=300)
                self.assertEqual(proc.returncode, status, stderr)
                self.assertNotIn("Traceback", stderr)
                self.assertNotIn("Exception ignored", stderr)
                rows = read_csv(folder / "results.csv")
                finished = [r for r in rows if r["test_error"]]
                self.assertTrue(1 <= len(finished) < 4, rows)
                self.assertEqual([r["chosen"] for r in rows], [""] * 4)
                self.assertIn("Resume with: python train_ffnn.py --sweep --resume --name "
                              "iris_sweep", stdout)
                leftovers = [p.name for p in folder.rglob(".*")]
                self.assertEqual(leftovers, [])  # no lock, stop file or temporary file
                resumed = train_ffnn("--sweep", "--resume", "--jobs", "2", "--save-dir", tmp)
                self.assert_same_results(folder)
                self.assertEqual(last_line(resumed.stdout), last_line(self.procs[0].stdout))
                # Finished now: a second resume trains nothing and writes the same results.
                again = train_ffnn("--sweep", "--resume", "--save-dir", tmp)
                self.assert_same_results(folder)
                self.assertEqual(again.stdout.replace(tmp, ""),
                                 self.procs[0].stdout.replace(str(self.dirs[0]), ""))

    def test_a_pair_that_diverges_stops_the_sweep_with_what_finished(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = train_ffnn("--sweep", "--lrs", "0.1,1e300", "--hiddens", "5", "--epochs",
                              "2", "--save-dir", tmp, check=False)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertNotIn("Traceback", proc.stderr)
            self.assertIn("lr 1e+300, hidden 5: the loss became nan", proc.stdout)
            self.assertNotIn("Resume with", proc.stdout)  # it would diverge again
            folder = Path(tmp) / sweeps.DEFAULT_SWEEP_NAME
            rows = read_csv(folder / "results.csv")
            self.assertNotEqual(rows[0]["test_error"], "")
            self.assertEqual((rows[1]["test_error"], rows[1]["chosen"]), ("", ""))
            self.assertIn("Not finished: lr 1e+300, hidden 5 (stopped before its first "
                          "checkpoint).", (folder / "results.md").read_text())
            # Its folder is a sweep's, not a run's: the error says how to resume it.
            proc = train_ffnn("--resume", "--name", sweeps.DEFAULT_SWEEP_NAME, "--save-dir", tmp,
                              check=False)
            self.assertEqual(proc.returncode, 2)
            self.assertIn(f"{folder} holds a sweep; resume it with --sweep --resume",
                          proc.stderr)

    def test_a_hand_edited_grid_is_refused_naming_the_key(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "edited"
            shutil.copytree(self.folder, folder)
            saved = (folder / "args.json").read_text()
            for grid, message in (({"lrs": ["0.1"], "hiddens": [5]},
                                   "its setting 'sweep'['lrs'][0] must be a finite number and "
                                   "> 0, got '0.1'"),
                                  ({"lrs": [0.1]}, "its setting 'sweep' must be {'lrs': [...], "
                                                   "'hiddens': [...]}"),
                                  ({"lrs": [0.1, 0.1], "hiddens": [5]},
                                   "its setting 'sweep'['lrs'] must list different values")):
                with self.subTest(grid=grid):
                    args = json.loads(saved)
                    args["settings"]["sweep"] = grid
                    (folder / "args.json").write_text(json.dumps(args))
                    stderr = io.StringIO()
                    with contextlib.redirect_stderr(stderr):
                        status = script.main(["--sweep", "--resume", "--name", "edited",
                                              "--save-dir", tmp])
                    self.assertEqual(status, 2)
                    self.assertTrue(stderr.getvalue().startswith(
                        f"error: cannot resume: {folder / 'args.json'}: {message}"),
                        stderr.getvalue())
                    self.assertEqual(len(stderr.getvalue().splitlines()), 1)

    def test_an_overwritten_sweep_starts_from_an_empty_folder(self):
        """The old code wrote the new sweep into the old one's folder: the pairs of the old
        grid that the new one lacks stayed there."""
        with tempfile.TemporaryDirectory() as tmp:
            small = ("--sweep", "--lrs", "0.1", "--epochs", "2", "--save-dir", tmp)
            train_ffnn(*small, "--hiddens", "5,10")
            proc = train_ffnn(*small, "--hiddens", "5", "--overwrite")
            folder = Path(tmp) / sweeps.DEFAULT_SWEEP_NAME
            self.assertIn(f"Overwriting {folder}: its earlier run waits in", proc.stdout)
            self.assertEqual(sorted(p.name for p in folder.iterdir()),
                             sorted(["args.json", "lr0.1_hidden5", *self.RESULT_FILES]))
            self.assertEqual(os.listdir(tmp), [sweeps.DEFAULT_SWEEP_NAME])

    def test_a_second_sweep_does_not_replace_the_first(self):
        before = (self.folder / "results.csv").read_bytes()
        proc = train_ffnn("--sweep", "--lrs", "0.1", "--hiddens", "5", "--epochs", "2",
                          "--save-dir", str(self.dirs[0]))
        self.assertIn("iris_sweep_2", proc.stdout)
        self.assertEqual((self.folder / "results.csv").read_bytes(), before)
        self.assertEqual(len(read_csv(self.dirs[0] / "iris_sweep_2" / "results.csv")), 1)


if __name__ == "__main__":
    unittest.main()
