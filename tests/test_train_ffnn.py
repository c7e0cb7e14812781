"""Tests of train_ffnn.py and neural_networks/runs.py (the sweep: test_sweeps.py).

The script runs in a subprocess with ``--save-dir`` pointing into a temporary
folder, so the tests never write into the repository's experiments/.
"""

import contextlib
import csv
import importlib.util
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import unittest
import unittest.mock
from pathlib import Path

import numpy as np

from neural_networks import runs
from neural_networks.datasets import IRIS_DIR as IRIS
from neural_networks.models import NeuralNetwork
from tests.test_image_runs import INTERRUPT_AFTER_STEPS, KILL_AT, checkpoint_arrays

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "train_ffnn.py"
RUN_FILES = ("accuracy.png", "args.json", "best.npz", "last.npz", "loss.png", "metrics.csv",
             "predictions.csv")
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


def assert_parse_refused(test, args, message):
    """``parse_args(args)`` exits with status 2, ``message`` in what it printed."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), test.assertRaises(SystemExit) as exit:
        script.parse_args(args)
    test.assertEqual(exit.exception.code, 2)
    test.assertIn(message, stderr.getvalue())


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
        pattern = re.compile(r"^epoch (\d+)/100  train_loss \d+\.\d{4}  train_accuracy \d\.\d{4}"
                             r"  val_loss \d+\.\d{4}  val_accuracy \d\.\d{4}"
                             r"  \(\d+(\.\d)? m?s\)$")
        for k, line in enumerate(lines, start=1):
            match = pattern.match(line)
            self.assertIsNotNone(match, line)
            self.assertEqual(int(match.group(1)), k)

    def test_progress_bar_goes_to_stderr(self):
        self.assertIn("100/100", self.proc.stderr)

    def test_run_folder_holds_the_files_of_every_run(self):
        self.assertEqual(sorted(os.listdir(self.run_dir)), sorted(RUN_FILES))
        with open(self.run_dir / "args.json") as f:
            args = json.load(f)
        self.assertEqual(args["settings"], {
            "dataset": "iris", "model": "ffnn", "hidden": 10, "lr": 0.01, "momentum": 0.9,
            "epochs": 100, "batch_size": 25, "seed": 0, "patience": None, "plot_format": "png"})
        self.assertEqual([layer["activation"] for layer in args["layers"]], ["relu", "softmax"])
        self.assertEqual(args["optimizer"]["name"], "SGD")
        rows = read_csv(self.run_dir / "metrics.csv")
        self.assertEqual([int(r["epoch"]) for r in rows], list(range(1, 101)))
        for column in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            self.assertTrue(all(0 <= float(r[column]) < 5 for r in rows), column)
        self.assertTrue(is_png(self.run_dir / "loss.png"))
        self.assertTrue(is_png(self.run_dir / "accuracy.png"))
        with open(self.run_dir / "predictions.csv") as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "Id,Category")
        self.assertEqual(len(lines), 31)

    def test_saved_parameters_reproduce_the_printed_test_accuracy(self):
        # Re-evaluate the final checkpoint's parameters with plain numpy on the
        # raw test split, standardised with the training split's statistics.
        arrays, meta = checkpoint_arrays(self.run_dir / "last.npz")
        self.assertEqual(meta["epoch"], 100)
        W0, b0 = arrays["param/0/W"], arrays["param/0/b"]
        W1, b1 = arrays["param/1/W"], arrays["param/1/b"]
        self.assertEqual((W0.shape, b0.shape, W1.shape, b1.shape),
                         ((4, 10), (1, 10), (10, 3), (1, 3)))
        X_train = np.load(IRIS / "iris_train_data.npy").astype(float)
        X = (np.load(IRIS / "iris_test_data.npy") - X_train.mean(0)) / X_train.std(0)
        labels = np.load(IRIS / "iris_test_labels.npy").argmax(1)
        predicted = (np.maximum(X @ W0 + b0, 0) @ W1 + b1).argmax(1)
        self.assertAlmostEqual(np.mean(predicted == labels), last_line(self.proc.stdout)[0],
                               places=4)
        with open(self.run_dir / "predictions.csv") as f:
            written = [int(line.split(",")[1]) for line in f.read().splitlines()[1:]]
        self.assertEqual(written, predicted.tolist())
        # The logged validation accuracy is the final model's too.
        X_val = (np.load(IRIS / "iris_val_data.npy") - X_train.mean(0)) / X_train.std(0)
        val_labels = np.load(IRIS / "iris_val_labels.npy").argmax(1)
        val_accuracy = np.mean((np.maximum(X_val @ W0 + b0, 0) @ W1 + b1).argmax(1) == val_labels)
        self.assertEqual(float(read_csv(self.run_dir / "metrics.csv")[-1]["val_accuracy"]),
                         val_accuracy)


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
                assert_parse_refused(self, args, message)

    def test_defaults_are_the_courses(self):
        args = script.parse_args([])
        self.assertEqual((args.momentum, args.epochs, args.batch_size, args.seed),
                         (0.9, None, 25, 0))  # --epochs unset means the default, 100
        self.assertEqual(runs.DEFAULTS.epochs, 100)
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
            self.assertEqual(json.load(f)["settings"]["epochs"], 2)

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
        self.assertEqual(len(read_csv(self.save_dir / "mine" / "metrics.csv")), 2)

    def test_overwrite_starts_from_an_empty_folder(self):
        """The old code wrote the new run over the old one's files: its last.npz,
        best.npz and metrics.csv stayed until overwritten, its PNGs for good."""
        self.main("--epochs", "3", "--name", "mine")
        stdout = self.main("--epochs", "2", "--name", "mine", "--overwrite", "--plot-format",
                           "pdf")
        folder = self.save_dir / "mine"
        self.assertIn(f"Overwriting {folder}: its earlier run waits in {folder}.overwritten "
                      f"until this run's first checkpoint, then is deleted", stdout)
        self.assertEqual(sorted(os.listdir(folder)), sorted(
            name.replace(".png", ".pdf") for name in RUN_FILES))
        self.assertEqual(os.listdir(self.save_dir), ["mine"])
        self.assertEqual(len(read_csv(folder / "metrics.csv")), 2)

    def test_overwrite_killed_in_its_first_epoch_loses_nothing(self):
        """Killed before its first checkpoint, the overwriting run leaves its own args.json
        alone in the folder and the earlier run whole beside it; resuming it finishes
        the new run, as if never stopped, and only then is the earlier run deleted."""
        self.main("--epochs", "3", "--name", "mine")
        earlier = self.snapshot(self.save_dir / "mine")
        new = ("--save-dir", str(self.save_dir), "--epochs", "2", "--plot-format", "pdf")
        child = subprocess.run([sys.executable, "-c", KILL_AT, "step:2:SIGKILL", str(SCRIPT),
                                *new, "--name", "mine", "--overwrite"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        self.assertEqual(child.returncode, -signal.SIGKILL, child.stderr)
        folder, aside = self.save_dir / "mine", self.save_dir / "mine.overwritten"
        self.assertEqual(sorted(os.listdir(folder)), [".lock", "args.json"])
        with open(folder / "args.json") as f:
            self.assertEqual(json.load(f)["settings"]["epochs"], 2)
        self.assertEqual({k: v for k, v in self.snapshot(aside).items() if k != ".lock"},
                         earlier)
        # A second overwrite would lose track of it: refused, naming it.
        proc = train_ffnn(*new, "--name", "mine", "--overwrite", check=False)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
        self.assertIn(f"{aside} holds the run that an earlier --overwrite of it set aside",
                      proc.stderr)
        self.assertEqual([name for name in os.listdir(folder) if name != ".lock"],
                         ["args.json"])
        self.assertEqual({k: v for k, v in self.snapshot(aside).items() if k != ".lock"},
                         earlier)
        resumed = train_ffnn("--save-dir", str(self.save_dir), "--resume", "--name", "mine")
        self.assertIn(f"Resuming {folder} from its start: it stopped before its first "
                      f"checkpoint", resumed.stdout)
        self.assertFalse(aside.exists())
        self.assertEqual(sorted(os.listdir(folder)), sorted(
            name.replace(".png", ".pdf") for name in RUN_FILES))
        fresh = train_ffnn(*new, "--name", "fresh")
        self.assertEqual(last_line(resumed.stdout), last_line(fresh.stdout))
        self.assertEqual((folder / "predictions.csv").read_bytes(),
                         (self.save_dir / "fresh" / "predictions.csv").read_bytes())

    def test_an_overwrite_without_a_checkpoint_puts_the_earlier_run_back(self):
        self.main("--epochs", "3", "--name", "mine")
        earlier = self.snapshot(self.save_dir / "mine")
        # Diverges in its first epoch: it never writes a checkpoint.
        stdout = self.main("--epochs", "2", "--name", "mine", "--overwrite", "--lr", "1e300",
                           "--hidden", "5")
        self.assertIn("no checkpoint was written yet", stdout)
        self.assertIn("holds its earlier run again: this run, which was to overwrite it, "
                      "wrote no checkpoint", stdout)
        self.assertEqual(self.snapshot(self.save_dir / "mine"), earlier)
        self.assertEqual(os.listdir(self.save_dir), ["mine"])
        # One that runs out of memory before its first checkpoint: the same, and one line.
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()), \
                unittest.mock.patch.object(NeuralNetwork, "forward", side_effect=MemoryError(
                    "Unable to allocate 28.4 PiB for an array")):
            status = script.main(["--save-dir", str(self.save_dir), "--name", "mine",
                                  "--overwrite"])
        self.assertEqual(status, 2)
        self.assertEqual(stderr.getvalue().splitlines()[-1],
                         f"error: out of memory training the run in {self.save_dir / 'mine'} "
                         f"(Unable to allocate 28.4 PiB for an array); a smaller network or "
                         f"batch size needs less")
        self.assertEqual(self.snapshot(self.save_dir / "mine"), earlier)
        self.assertEqual(os.listdir(self.save_dir), ["mine"])
        # Without an earlier run, the folder goes.
        with contextlib.redirect_stderr(io.StringIO()), \
                contextlib.redirect_stdout(io.StringIO()), \
                unittest.mock.patch.object(NeuralNetwork, "forward", side_effect=MemoryError):
            status = script.main(["--save-dir", str(self.save_dir), "--name", "new"])
        self.assertEqual(status, 2)
        self.assertEqual(os.listdir(self.save_dir), ["mine"])

    def test_user_errors_are_one_line_and_leave_nothing(self):
        a_file = self.save_dir / "a_file"
        a_file.write_text("not a folder")
        cases = [
            (["--save-dir", str(a_file)], "is a file"),
            (["--save-dir", "/proc/no_such_place"], "cannot create save_dir"),
            (["--save-dir", str(self.save_dir), "--name", "x" * 300], "too long"),
            (["--save-dir", str(self.save_dir), "--resume", "--name", "nothing"],
             "holds no last.npz"),
            # 7 x 10**11 weights: more memory than any machine has (--hidden 1000000000 needs
            # 179 GiB). The old code ended in a MemoryError traceback and left a folder
            # holding args.json alone.
            (["--save-dir", str(self.save_dir), "--hidden", str(10**11)],
             "a hidden layer of 100,000,000,000 units needs 17,881.4 GiB for its weights, "
             "their gradients and the momentum, more than this machine's"),
        ]
        for args, message in cases:
            with self.subTest(args=args[:2]):
                before = sorted(os.listdir(self.save_dir))
                proc = train_ffnn(*args, check=False)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
                self.assertTrue(proc.stderr.startswith("error: "), proc.stderr)
                self.assertIn(message, proc.stderr)
                self.assertEqual(sorted(os.listdir(self.save_dir)), before)


class TestStopAndResume(unittest.TestCase):
    """Ctrl-C or SIGTERM mid-epoch: exit 130 or 143 with a checkpoint and a resume
    command, which finishes the run exactly as the uninterrupted one."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.save_dir = Path(cls.tmp.name)
        cls.args = ("--save-dir", str(cls.save_dir), "--epochs", "6")
        cls.reference = train_ffnn(*cls.args, "--name", "reference")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def stop_then_resume(self, signum, status):
        name = f"stopped_{signum}"
        steps_per_epoch = 5  # 105 training examples in batches of 25
        child = subprocess.run(
            [sys.executable, "-c", INTERRUPT_AFTER_STEPS.replace("SIGINT", signum.name),
             str(steps_per_epoch + 2), str(SCRIPT), *self.args, "--name", name],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        self.assertEqual(child.returncode, status, child.stdout + child.stderr)
        folder = self.save_dir / name
        self.assertIn(f"Interrupted: checkpoint saved to {folder / 'last.npz'}.", child.stdout)
        self.assertNotIn("Test accuracy", child.stdout)
        _, meta = checkpoint_arrays(folder / "last.npz")
        self.assertEqual((meta["epoch"], meta["iteration"]), (1, 2))
        self.assertEqual(len(read_csv(folder / "metrics.csv")), 1)
        hint = [line for line in child.stdout.splitlines() if line.startswith("Resume with: ")]
        self.assertEqual(len(hint), 1, child.stdout)
        command = hint[0][len("Resume with: "):].split()
        self.assertEqual(command[:2], ["python", "train_ffnn.py"])
        resumed = train_ffnn(*command[2:])
        # Counted as the epoch lines count: epoch 2 of 6 goes on at its third step of 5.
        self.assertIn(f"Resuming {folder} at epoch 2/6, iteration 3/5 (1 epoch and 2 "
                      f"iterations done)\nepoch 2/6 ", resumed.stdout)
        self.assertEqual(last_line(resumed.stdout), last_line(self.reference.stdout))
        arrays, _ = checkpoint_arrays(folder / "last.npz")
        reference, _ = checkpoint_arrays(self.save_dir / "reference" / "last.npz")
        for key in reference:
            np.testing.assert_array_equal(arrays[key], reference[key], err_msg=key)
        rows = read_csv(folder / "metrics.csv")
        reference_rows = read_csv(self.save_dir / "reference" / "metrics.csv")
        self.assertEqual([{k: v for k, v in r.items() if k != "seconds"} for r in rows],
                         [{k: v for k, v in r.items() if k != "seconds"} for r in reference_rows])
        return folder

    def test_ctrl_c(self):
        self.stop_then_resume(signal.SIGINT, 130)

    def test_sigterm(self):
        self.stop_then_resume(signal.SIGTERM, 143)

    def test_resume_with_more_epochs_or_too_few(self):
        folder = self.save_dir / "longer"
        train_ffnn(*self.args, "--name", "longer")
        for epochs in ("6", "3"):
            with self.subTest(epochs=epochs):
                proc = train_ffnn("--save-dir", str(self.save_dir), "--resume", "--name",
                                  "longer", "--epochs", epochs, check=False)
                self.assertEqual(proc.returncode, 2)
                self.assertIn("already trained 6", proc.stderr)
                self.assertIn("--epochs larger than 6", proc.stderr)
        proc = train_ffnn("--save-dir", str(self.save_dir), "--resume", "--name", "longer",
                          "--epochs", "8")
        self.assertIn("Resuming", proc.stdout)
        self.assertEqual(len(read_csv(folder / "metrics.csv")), 8)
        with open(folder / "args.json") as f:
            self.assertEqual(json.load(f)["settings"]["epochs"], 8)
        _, meta = checkpoint_arrays(folder / "last.npz")
        self.assertEqual(meta["epoch"], 8)

    def test_resume_refuses_settings_of_its_own(self):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit:
            script.parse_args(["--resume", "--lr", "0.5"])
        self.assertEqual(exit.exception.code, 2)
        self.assertIn("drop --lr", stderr.getvalue())

    def test_resume_refuses_settings_given_at_their_default_too(self):
        # --batch-size 25 is the default, but a run trained with --batch-size 10 would
        # go on with 10 whatever it says: refused like any other setting.
        for args, dropped in ((["--batch-size", "25"], "drop --batch-size"),
                              (["--seed", "0", "--momentum", "0.9"], "drop --momentum, --seed"),
                              (["--plot-format", "png"], "drop --plot-format")):
            with self.subTest(args=args):
                assert_parse_refused(self, ["--resume", *args],
                                     f"--resume continues a run with its own settings; {dropped}")
        self.assertEqual(script.parse_args(["--resume", "--epochs", "9"]).epochs, 9)

    def test_the_library_refuses_settings_that_differ_too(self):
        folder = self.save_dir / "library"
        train_ffnn(*self.args, "--name", "library")
        metrics = (folder / "metrics.csv").read_bytes()
        with self.assertRaisesRegex(ValueError, r"cannot resume .*library with --lr 0.5 \(the "
                                                r"run's is 0.01\)"):
            runs.train_and_save(self.save_dir, "library", resume=True, lr=0.5, epochs=8)
        self.assertEqual((folder / "metrics.csv").read_bytes(), metrics)
        with contextlib.redirect_stdout(io.StringIO()):
            _, summary, status = runs.train_and_save(self.save_dir, "library", resume=True,
                                                     lr=0.01, verbose=False)
        self.assertEqual(status, 0)
        self.assertEqual(round(summary["test_error"], 4), last_line(self.reference.stdout)[1])

    def test_a_hand_edited_args_json_is_refused_naming_the_key(self):
        folder = self.save_dir / "edited"
        train_ffnn(*self.args, "--name", "edited")
        path, saved = folder / "args.json", (folder / "args.json").read_text()
        for key, value, message in (
                ("hidden", "10", "its setting 'hidden' must be a whole number and >= 1, got '10'"),
                ("momentum", 1.5, "its setting 'momentum' must be a finite number and >= 0 and "
                                  "< 1, got 1.5"),
                ("epochs", None, "its setting 'epochs' must be a whole number and >= 1, got None"),
                ("seed", -1, "its setting 'seed' must be a whole number and >= 0"),
                ("batch_size", None, "has no setting 'batch_size'")):
            with self.subTest(key=key):
                args = json.loads(saved)
                if key == "batch_size":
                    del args["settings"][key]
                else:
                    args["settings"][key] = value
                path.write_text(json.dumps(args))
                stderr = io.StringIO()
                with contextlib.redirect_stderr(stderr):
                    status = script.main(["--save-dir", str(self.save_dir), "--resume",
                                          "--name", "edited"])
                self.assertEqual(status, 2)
                self.assertIn(f"error: cannot resume: {path}", stderr.getvalue())
                self.assertIn(message, stderr.getvalue())
                self.assertEqual(len(stderr.getvalue().splitlines()), 1)

    def test_a_finished_run_says_so_and_how_to_train_on(self):
        folder = self.save_dir / "finished"
        train_ffnn(*self.args, "--name", "finished")
        metrics = (folder / "metrics.csv").read_bytes()
        proc = train_ffnn("--save-dir", str(self.save_dir), "--resume", "--name", "finished")
        self.assertEqual(proc.stdout.splitlines()[0],
                         f"{folder} is finished: it trained all 6 of its epochs; nothing to "
                         f"train, so it is scored again. To train it on, resume it with "
                         f"--epochs N (N > 6)")
        self.assertNotIn("epoch 6/6", proc.stdout)
        self.assertEqual(last_line(proc.stdout), last_line(self.reference.stdout))
        self.assertEqual((folder / "metrics.csv").read_bytes(), metrics)

    def test_resume_without_a_name_takes_the_interrupted_run(self):
        """A finished run, then a second stopped by Ctrl-C: ``--resume`` alone finishes
        the second (the old code scored the first again)."""
        with tempfile.TemporaryDirectory() as tmp:
            save_dir = Path(tmp)
            train_ffnn("--save-dir", tmp, "--epochs", "3")
            first = (save_dir / "iris_ffnn" / "metrics.csv").read_bytes()
            child = subprocess.run(
                [sys.executable, "-c", INTERRUPT_AFTER_STEPS, "7", str(SCRIPT),
                 "--save-dir", tmp, "--epochs", "6"],
                cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
            self.assertEqual(child.returncode, 130, child.stderr)
            resumed = train_ffnn("--save-dir", tmp, "--resume")
            self.assertEqual(resumed.stdout.splitlines()[0],
                             f"Resuming {save_dir / 'iris_ffnn_2'} at epoch 2/6, iteration "
                             f"3/5 (1 epoch and 2 iterations done)")
            self.assertEqual(last_line(resumed.stdout), last_line(self.reference.stdout))
            self.assertEqual((save_dir / "iris_ffnn" / "metrics.csv").read_bytes(), first)
            # Now both are finished: the user must say which to train on.
            proc = train_ffnn("--save-dir", tmp, "--resume", "--epochs", "9", check=False)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("no unfinished run to resume", proc.stderr)
            self.assertIn("iris_ffnn (finished, 3/3 epochs); iris_ffnn_2 (finished, 6/6 "
                          "epochs)", proc.stderr)


if __name__ == "__main__":
    unittest.main()
