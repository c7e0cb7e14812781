"""End-to-end tests of train_fashion_mnist.py and train_cifar10.py (neural_networks/image_runs.py).

The scripts run as a user runs them: in a subprocess from the repository root,
with ``--data-dir`` pointing at a few small files written here in the official
formats (the writers of the loaders' tests are reused) and ``--save-dir`` in a
temporary folder. Everything checked is read back from what the scripts print
and write; the expected test accuracy is recomputed from ``predictions.csv``
and the labels written here.
"""

import contextlib
import csv
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from neural_networks.image_runs import EXIT_INTERRUPTED, METRIC_COLUMNS, parse_args
from neural_networks.image_runs import main as image_main
from tests.test_datasets_cifar10 import (
    corrupt_npz_files,
    make_batches,
    write_archive,
    write_folder,
)
from tests.test_datasets_fashion_mnist import write_fashion_mnist

REPO_ROOT = Path(__file__).resolve().parent.parent
FASHION = "train_fashion_mnist.py"
CIFAR = "train_cifar10.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LAST_LINE = re.compile(r"^Test accuracy: (\d\.\d{4})$")
UNKNOWN_LINE = "Test accuracy: unknown (the test set has no labels; see predictions.csv)"
# The epoch line names the metrics as metrics.csv does; the smoothing group is
# " (labels smoothed by 0.1)" for a recipe with label smoothing, else empty.
EPOCH_LINE = re.compile(
    r"^epoch (\d+)/(\d+)  train_loss (\d+\.\d{4})((?: \(labels smoothed by [\d.]+\))?)"
    r"  train_accuracy (\d\.\d{4})  val_loss (\d+\.\d{4})  val_accuracy (\d\.\d{4})"
    r"  \((\d+(?:\.\d)?) (ms|s)\)$", re.MULTILINE)
RUN_FILES = ("args.json", "metrics.csv", "loss.png", "accuracy.png", "last.npz", "best.npz",
             "predictions.csv")

# Small Fashion-MNIST: 120 training images (20 held out for validation), 40 test images.
N_TRAIN, N_TEST, N_VALIDATION, BATCH = 120, 40, 20, 20
FASHION_ARGS = ("--batch-size", str(BATCH), "--validation-size", str(N_VALIDATION))

# ``python -c`` program: ``<steps> <script> <args...>`` runs the script as ``__main__``
# and sends the process a real SIGINT (what Ctrl-C sends) right after update step
# number <steps>, so the test does not race a fast run.
INTERRUPT_AFTER_STEPS = """
import os, runpy, signal, sys
from neural_networks.models import NeuralNetwork
stop_after, sys.argv = int(sys.argv[1]), sys.argv[2:]
original_update, steps = NeuralNetwork.update, []
def update(self, epoch):
    original_update(self, epoch)
    steps.append(epoch)
    if len(steps) == stop_after:
        os.kill(os.getpid(), signal.SIGINT)
NeuralNetwork.update = update
runpy.run_path(sys.argv[0], run_name="__main__")
"""

# ``python -c`` program: ``<moment> <script> <args...>`` runs the script as ``__main__``
# and sends the process a signal at the moment named (no hook in the library: the
# program wraps what the run calls). ``<moment>`` is
#   step:<n>:<signal>           right after update step number n (from 1)
#   before:<file>:<n>:<signal>  when the n-th write of the file named <file> (a base
#                               name) is whole but not yet renamed into place
#   after:<file>:<n>:<signal>   right after the n-th write of <file> is in place
# Every file the library writes is renamed into place with os.replace, so wrapping it
# reaches each write. SIGKILL ends the process there and then, with nothing cleaned
# up; SIGINT is what Ctrl-C sends.
KILL_AT = """
import os, runpy, signal, sys
from neural_networks.models import NeuralNetwork
when, *name, count, signame = sys.argv[1].split(":")
count, signum, sys.argv = int(count), getattr(signal, signame), sys.argv[2:]
seen = []

def moment():
    seen.append(1)
    if len(seen) == count:
        os.kill(os.getpid(), signum)

if when == "step":
    update = NeuralNetwork.update
    def counted(self, epoch):
        update(self, epoch)
        moment()
    NeuralNetwork.update = counted
else:
    replace = os.replace
    def counted(source, target, *args, **kwargs):
        ours = os.path.basename(target) == name[0]
        if ours and when == "before":
            moment()
        replace(source, target, *args, **kwargs)
        if ours and when == "after":
            moment()
    os.replace = counted
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def script_env():
    """The caller's environment without the data folders' variables; stdout unbuffered,
    so what a script printed before it was stopped is in its output."""
    env = {k: v for k, v in os.environ.items() if k not in ("FASHION_MNIST_DIR", "CIFAR10_DIR")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_script(script, *args, check=True):
    """Run a training script from the repository root; return the CompletedProcess."""
    proc = subprocess.run([sys.executable, script, *map(str, args)], cwd=REPO_ROOT,
                          env=script_env(), capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(map(str, args))} exited with "
                             f"{proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def fashion_arrays(seed=0):
    """Random images where half the examples of class c have rows 2c..2c+5 brightened,
    so a network learns something but not everything (test accuracy well inside (0, 1))."""
    rng = np.random.default_rng(seed)

    def split(n):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 120, size=(n, 28, 28))
        marked = rng.random(n) < 0.5
        for c in range(10):
            images[marked & (labels == c), 2 * c:2 * c + 6, :] += 120
        return images.astype(np.uint8), labels.astype(np.uint8)

    train_images, train_labels = split(N_TRAIN)
    test_images, test_labels = split(N_TEST)
    return train_images, train_labels, test_images, test_labels


def read_csv(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, list(reader)


def checkpoint_arrays(path):
    """Every array of a checkpoint but its JSON metadata, and the metadata."""
    with np.load(path, allow_pickle=False) as saved:
        arrays = {k: saved[k] for k in saved.files if k != "meta"}
        meta = json.loads(str(saved["meta"]))
    return arrays, meta


def last_line_accuracy(stdout):
    lines = stdout.strip().splitlines()
    match = LAST_LINE.match(lines[-1]) if lines else None
    if match is None:
        raise AssertionError(f"the last line is not 'Test accuracy: d.dddd':\n{stdout}")
    return match.group(1)


def assert_same_checkpoints(test, folder, reference_folder):
    """last.npz and best.npz in ``folder`` hold every array of the reference run's, equal,
    and the same history but for the seconds."""
    for checkpoint in ("last.npz", "best.npz"):
        arrays, meta = checkpoint_arrays(folder / checkpoint)
        reference, reference_meta = checkpoint_arrays(reference_folder / checkpoint)
        test.assertEqual(sorted(arrays), sorted(reference), checkpoint)
        for key in reference:
            np.testing.assert_array_equal(arrays[key], reference[key],
                                          err_msg=f"{checkpoint} {key}")
        for record in (*meta["history"]["epochs"], *reference_meta["history"]["epochs"]):
            del record["seconds"]
        test.assertEqual(meta["history"], reference_meta["history"], checkpoint)


class RunChecks(unittest.TestCase):
    """Checks of a finished run's output and folder."""

    def assert_finished_run(self, proc, folder, epochs, n_train, n_validation, test_labels,
                            first_epoch=1):
        """Everything a finished run with labeled test data must leave (``first_epoch``: the
        first epoch this process printed, later than 1 for a resumed run)."""
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for name in RUN_FILES:
            self.assertTrue((folder / name).is_file(), f"{folder} has no {name}")
        rows = self.assert_metrics(folder, epochs, n_train, n_validation)
        self.assert_epoch_lines(proc.stdout, rows[first_epoch - 1:], epochs)
        for name in ("loss.png", "accuracy.png"):
            self.assert_png(folder / name)
        categories = self.assert_predictions(folder, len(test_labels))
        expected = f"{np.mean(categories == np.asarray(test_labels)):.4f}"
        self.assertEqual(last_line_accuracy(proc.stdout), expected)
        self.assert_checkpoints(folder, rows, epochs)

    def assert_metrics(self, folder, epochs, n_train, n_validation):
        header, rows = read_csv(folder / "metrics.csv")
        self.assertEqual(header, ["epoch", "train_loss", "train_accuracy", "val_loss",
                                  "val_accuracy", "seconds"])
        self.assertEqual(tuple(header), METRIC_COLUMNS)
        self.assertEqual([r[0] for r in rows], [str(e) for e in range(1, epochs + 1)])
        values = np.array([[float(v) for v in r] for r in rows])
        self.assertTrue(np.all(np.isfinite(values)))
        train_loss, train_acc, val_loss, val_acc, seconds = values[:, 1:].T
        self.assertTrue(np.all(train_loss > 0) and np.all(val_loss > 0), values)
        self.assertTrue(np.all((0 <= train_acc) & (train_acc <= 1)), values)
        self.assertTrue(np.all((0 <= val_acc) & (val_acc <= 1)), values)
        # Accuracies are fractions of whole examples.
        np.testing.assert_allclose(train_acc * n_train, np.round(train_acc * n_train), atol=1e-6)
        np.testing.assert_allclose(val_acc * n_validation, np.round(val_acc * n_validation),
                                   atol=1e-6)
        self.assertTrue(np.all(seconds > 0), values)
        return values

    def assert_epoch_lines(self, stdout, rows, epochs):
        """One line per row of metrics.csv in ``rows``, out of ``epochs`` in all."""
        lines = EPOCH_LINE.findall(stdout)
        self.assertEqual(len(lines), len(rows), f"expected {len(rows)} epoch lines in:\n{stdout}")
        for line, row in zip(lines, rows, strict=True):
            epoch, last, train_loss, _, *metrics, duration, unit = line
            numbers = [float(v) for v in (epoch, last, train_loss, *metrics)]
            self.assertEqual(numbers[:2], [row[0], epochs])
            # The line rounds metrics.csv's values: 4 decimals, seconds to 0.1 (above
            # a second) or to the millisecond.
            np.testing.assert_allclose(numbers[2:6], row[1:5], atol=5.1e-5)
            if unit == "s":
                self.assertAlmostEqual(float(duration), row[5], delta=0.051)
            else:
                self.assertAlmostEqual(float(duration) / 1000, row[5], delta=0.00051)
        return lines

    def assert_png(self, path):
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), PNG_MAGIC, f"{path} is not a PNG")
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            self.assertEqual(image.format, "PNG")
            self.assertGreater(min(image.size), 100)

    def assert_predictions(self, folder, n_test):
        header, rows = read_csv(folder / "predictions.csv")
        self.assertEqual(header, ["Id", "Category"])
        self.assertEqual([r[0] for r in rows], [str(i) for i in range(n_test)])
        categories = np.array([int(r[1]) for r in rows])
        self.assertTrue(np.all((0 <= categories) & (categories <= 9)), categories)
        return categories

    def assert_checkpoints(self, folder, rows, epochs):
        _, last = checkpoint_arrays(folder / "last.npz")
        self.assertEqual((last["epoch"], last["iteration"]), (epochs, 0))
        # best.npz: the first epoch with the highest validation accuracy.
        _, best = checkpoint_arrays(folder / "best.npz")
        self.assertEqual(best["epoch"], int(rows[np.argmax(rows[:, 4]), 0]))

    # What follows needs ``script``, ``args`` (the reference's command, without --name),
    # ``data_dir``, ``save_dir``, ``folder`` and ``proc`` (the reference run's folder and
    # its CompletedProcess).

    def kill(self, name, moment, status=-9):
        """Run the reference's command in folder ``name`` until ``moment`` (``KILL_AT``);
        return the CompletedProcess, which exited with ``status``."""
        child = subprocess.run(
            [sys.executable, "-c", KILL_AT, moment, self.script, *map(str, self.args),
             "--name", name], cwd=REPO_ROOT, env=script_env(), capture_output=True,
            text=True, timeout=300)
        self.assertEqual(child.returncode, status, f"{child.stdout}\n{child.stderr}")
        return child

    def kill_between_the_two_writes(self):
        """Kill the reference's command in folder "between" once last.npz of the best
        epoch is in place and best.npz not yet; return the folder."""
        _, best = checkpoint_arrays(self.folder / "best.npz")
        self.kill("between", f"after:last.npz:{best['epoch']}:SIGKILL")
        folder = self.save_dir / "between"
        _, last = checkpoint_arrays(folder / "last.npz")
        self.assertEqual(last["epoch"], best["epoch"])
        if (folder / "best.npz").exists():
            self.assertLess(checkpoint_arrays(folder / "best.npz")[1]["epoch"], best["epoch"])
        return folder

    def resume(self, name):
        return run_script(self.script, "--resume", "--name", name, "--data-dir", self.data_dir,
                          "--save-dir", self.save_dir)

    def assert_same_scoring(self, resumed, folder):
        """The resumed run scored the reference's best model: same best.npz, predictions,
        pictures and printed test accuracy."""
        arrays, _ = checkpoint_arrays(folder / "best.npz")
        reference, _ = checkpoint_arrays(self.folder / "best.npz")
        for key in reference:
            np.testing.assert_array_equal(arrays[key], reference[key], err_msg=key)
        for name in ("predictions.csv", "confusion_matrix.png", "misclassified.png"):
            self.assertEqual((folder / name).read_bytes(), (self.folder / name).read_bytes(),
                             name)
        self.assertEqual(last_line_accuracy(resumed.stdout), last_line_accuracy(self.proc.stdout))
        self.assertEqual(sorted(p.name for p in folder.iterdir()),
                         sorted(p.name for p in self.folder.iterdir()))

    def assert_same_run(self, resumed, folder):
        """The resumed run ended exactly as the reference: scored the same (above), and
        the same last.npz and best.npz (every array, and the history but for the
        seconds) and metrics.csv (but for the seconds)."""
        self.assert_same_scoring(resumed, folder)
        assert_same_checkpoints(self, folder, self.folder)
        header, rows = read_csv(folder / "metrics.csv")
        _, reference_rows = read_csv(self.folder / "metrics.csv")
        self.assertEqual(header[-1], "seconds")
        self.assertEqual([r[:-1] for r in rows], [r[:-1] for r in reference_rows])


class TestFashionMnistMlp(RunChecks):
    """``--model mlp`` for 3 epochs: the reference run, then runs stopped by Ctrl-C,
    SIGTERM or SIGKILL and resumed."""

    EPOCHS = 3
    script = FASHION

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        tmp = Path(cls._tmp.name)
        cls.arrays = fashion_arrays()
        cls.data_dir = write_fashion_mnist(tmp / "fashion", *cls.arrays)
        cls.save_dir = tmp / "experiments"
        cls.args = ("--model", "mlp", "--epochs", cls.EPOCHS, *FASHION_ARGS,
                    "--data-dir", cls.data_dir, "--save-dir", cls.save_dir)
        cls.proc = run_script(FASHION, *cls.args)
        cls.folder = cls.save_dir / "fashion_mnist_mlp"

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_outputs(self):
        self.assert_finished_run(self.proc, self.folder, self.EPOCHS, N_TRAIN - N_VALIDATION,
                                 N_VALIDATION, self.arrays[3])

    def test_test_pictures_of_an_mlp(self):
        for name in ("confusion_matrix.png", "misclassified.png"):
            self.assert_png(self.folder / name)
        self.assertFalse((self.folder / "filters.png").exists())  # no convolution

    def test_args_json_records_the_settings(self):
        with open(self.folder / "args.json") as f:
            settings = json.load(f)["settings"]
        self.assertEqual({k: settings[k] for k in ("dataset", "model", "epochs", "batch_size",
                                                   "seed", "validation_size")},
                         {"dataset": "fashion_mnist", "model": "mlp", "epochs": self.EPOCHS,
                          "batch_size": BATCH, "seed": 0, "validation_size": N_VALIDATION})

    def test_ctrl_c_then_resume_ends_as_the_uninterrupted_run(self):
        """A second run without --name gets a fresh folder; Ctrl-C mid-way through epoch 2
        exits 130 with a checkpoint and a resume command; that command finishes the run
        with exactly the reference run's parameters and metrics."""
        reference_metrics = (self.folder / "metrics.csv").read_bytes()
        reference_last = (self.folder / "last.npz").read_bytes()

        # The child stops itself with a real SIGINT after the second step of epoch 2, so
        # the interruption lands mid-epoch however fast the machine is.
        steps_per_epoch = -(-(N_TRAIN - N_VALIDATION) // BATCH)
        child = subprocess.run(
            [sys.executable, "-c", INTERRUPT_AFTER_STEPS, str(steps_per_epoch + 2), FASHION,
             *map(str, self.args)],
            cwd=REPO_ROOT, env=script_env(), capture_output=True, text=True, timeout=300)
        out, err = child.stdout, child.stderr

        self.assertEqual(child.returncode, EXIT_INTERRUPTED, f"{out}\n{err}")
        folder = self.save_dir / "fashion_mnist_mlp_2"
        self.assertIn(f"Interrupted: checkpoint saved to {folder / 'last.npz'}.", out)
        self.assertNotIn("Test accuracy", out)
        self.assertFalse((folder / "predictions.csv").exists())
        # The first run's folder was not touched.
        self.assertEqual((self.folder / "metrics.csv").read_bytes(), reference_metrics)
        self.assertEqual((self.folder / "last.npz").read_bytes(), reference_last)
        # The checkpoint is the one taken mid-way through epoch 2, after its second step.
        _, meta = checkpoint_arrays(folder / "last.npz")
        self.assertEqual((meta["epoch"], meta["iteration"]), (1, 2))
        _, rows = read_csv(folder / "metrics.csv")
        self.assertEqual([r[0] for r in rows], [str(e) for e in range(1, meta["epoch"] + 1)])

        hints = [line for line in out.splitlines() if line.startswith("Resume with: ")]
        self.assertEqual(len(hints), 1, out)
        command = shlex.split(hints[0][len("Resume with: "):])
        self.assertEqual(command[:2], ["python", FASHION])
        for option, value in (("--save-dir", self.save_dir), ("--data-dir", self.data_dir)):
            self.assertEqual(command[command.index(option) + 1], str(value))
        resumed = run_script(*command[1:])

        # Counted as the epoch lines count: epoch 2 of 3 goes on at its third step.
        self.assertIn(f"Resuming {folder} at epoch {meta['epoch'] + 1}/{self.EPOCHS}, iteration "
                      f"{meta['iteration'] + 1}/{steps_per_epoch} (1 epoch and 2 iterations "
                      f"done)", resumed.stdout)
        self.assert_finished_run(resumed, folder, self.EPOCHS, N_TRAIN - N_VALIDATION,
                                 N_VALIDATION, self.arrays[3],
                                 first_epoch=meta["epoch"] + 1)
        # The resumed run ends exactly where the uninterrupted one did.
        arrays, _ = checkpoint_arrays(folder / "last.npz")
        reference, _ = checkpoint_arrays(self.folder / "last.npz")
        self.assertEqual(sorted(arrays), sorted(reference))
        for key in reference:
            np.testing.assert_array_equal(arrays[key], reference[key], err_msg=key)
        _, rows = read_csv(folder / "metrics.csv")
        _, reference_rows = read_csv(self.folder / "metrics.csv")
        self.assertEqual([r[:5] for r in rows], [r[:5] for r in reference_rows])
        self.assertEqual((folder / "predictions.csv").read_bytes(),
                         (self.folder / "predictions.csv").read_bytes())
        self.assertEqual(last_line_accuracy(resumed.stdout), last_line_accuracy(self.proc.stdout))


    def test_sigterm_mid_epoch_exits_143_and_resumes(self):
        steps_per_epoch = -(-(N_TRAIN - N_VALIDATION) // BATCH)
        child = subprocess.run(
            [sys.executable, "-c", INTERRUPT_AFTER_STEPS.replace("SIGINT", "SIGTERM"),
             str(steps_per_epoch + 1), FASHION, *map(str, self.args), "--name", "terminated"],
            cwd=REPO_ROOT, env=script_env(), capture_output=True, text=True, timeout=300)
        self.assertEqual(child.returncode, 143, f"{child.stdout}\n{child.stderr}")
        folder = self.save_dir / "terminated"
        self.assertIn(f"Interrupted: checkpoint saved to {folder / 'last.npz'}.", child.stdout)
        _, meta = checkpoint_arrays(folder / "last.npz")
        self.assertEqual((meta["epoch"], meta["iteration"]), (1, 1))
        hint = [line for line in child.stdout.splitlines() if line.startswith("Resume with: ")]
        resumed = run_script(*shlex.split(hint[0][len("Resume with: "):])[1:])
        self.assertEqual(last_line_accuracy(resumed.stdout), last_line_accuracy(self.proc.stdout))

    def test_killed_between_the_two_checkpoint_writes(self):
        """last.npz is in place at the end of the best epoch, best.npz not yet: the resumed
        run writes best.npz from last.npz and scores the same model as the reference."""
        folder = self.kill_between_the_two_writes()
        self.assert_same_scoring(self.resume("between"), folder)

    def test_killed_during_a_step(self):
        """SIGKILL mid-way through epoch 2 (its third step), after the epoch 1 checkpoint:
        the resumed run goes on from that checkpoint and ends as the reference."""
        steps_per_epoch = -(-(N_TRAIN - N_VALIDATION) // BATCH)
        self.kill("step", f"step:{steps_per_epoch + 3}:SIGKILL")
        folder = self.save_dir / "step"
        self.assertFalse((folder / "predictions.csv").exists())
        _, last = checkpoint_arrays(folder / "last.npz")
        self.assertEqual((last["epoch"], last["iteration"]), (1, 0))
        resumed = self.resume("step")
        self.assertIn(f"Resuming {folder} at epoch 2/{self.EPOCHS}, iteration "
                      f"1/{steps_per_epoch} (1 epoch done)", resumed.stdout)
        self.assert_same_run(resumed, folder)

    def test_killed_during_a_checkpoint_write(self):
        """SIGKILL when epoch 2's last.npz is whole in its temporary file but not yet
        renamed into place: epoch 1's last.npz is what the run has; the resumed run
        trains epoch 2 again, leaves no temporary file, and ends as the reference."""
        self.kill("writing", "before:last.npz:2:SIGKILL")
        folder = self.save_dir / "writing"
        left = [p.name for p in folder.iterdir() if p.name.startswith(".last.npz.")]
        self.assertEqual(len(left), 1, sorted(p.name for p in folder.iterdir()))
        _, last = checkpoint_arrays(folder / "last.npz")
        self.assertEqual((last["epoch"], last["iteration"]), (1, 0))
        self.assert_same_run(self.resume("writing"), folder)

    def test_killed_right_after_the_last_epochs_checkpoint(self):
        """last.npz of the last epoch is in place, metrics.csv's last row not yet: the
        resumed run trains nothing, and its metrics.csv has every epoch's row."""
        self.kill("trained", f"after:last.npz:{self.EPOCHS}:SIGKILL")
        folder = self.save_dir / "trained"
        self.assertEqual(len(read_csv(folder / "metrics.csv")[1]), self.EPOCHS - 1)
        resumed = self.resume("trained")
        self.assertIn(f"{folder} is finished: it trained all {self.EPOCHS} of its epochs",
                      resumed.stdout)
        self.assert_same_run(resumed, folder)

    def test_stopped_while_the_test_pictures_are_made(self):
        """Killed, or stopped by Ctrl-C or SIGTERM, after training: the resumed run trains
        nothing and makes the predictions and pictures. Ctrl-C and SIGTERM say so and print
        the command."""
        for signame, status in (("SIGKILL", -9), ("SIGINT", 130), ("SIGTERM", 143)):
            with self.subTest(signal=signame):
                name = f"pictures_{signame}"
                child = self.kill(name, f"before:misclassified.png:1:{signame}", status)
                folder = self.save_dir / name
                self.assertFalse((folder / "misclassified.png").exists())
                if signame != "SIGKILL":
                    self.assertIn(f"Interrupted after training: {folder / 'last.npz'} holds "
                                  f"the trained run, but its test predictions and pictures are "
                                  f"not all written.\nResume with: python {FASHION} --resume "
                                  f"--name {name}", child.stdout)
                    self.assertNotIn("Traceback", child.stderr)
                resumed = self.resume(name)
                self.assertIn(f"{folder} is finished: it trained all {self.EPOCHS} of its "
                              f"epochs; nothing to train, so it is scored again", resumed.stdout)
                self.assert_same_scoring(resumed, folder)

    def test_resume_a_finished_run_with_more_epochs_or_too_few(self):
        copy = self.save_dir / "longer"
        shutil.copytree(self.folder, copy)
        resume = ("--resume", "--name", "longer", "--data-dir", self.data_dir,
                  "--save-dir", self.save_dir)
        for epochs in (self.EPOCHS, 1):
            with self.subTest(epochs=epochs):
                proc = run_script(FASHION, *resume, "--epochs", epochs, check=False)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(f"already trained {self.EPOCHS}", proc.stderr)
                self.assertEqual(len(read_csv(copy / "metrics.csv")[1]), self.EPOCHS)
        proc = run_script(FASHION, *resume, "--epochs", self.EPOCHS + 1)
        steps_per_epoch = -(-(N_TRAIN - N_VALIDATION) // BATCH)
        self.assertIn(f"Resuming {copy} at epoch {self.EPOCHS + 1}/{self.EPOCHS + 1}, iteration "
                      f"1/{steps_per_epoch} ({self.EPOCHS} epochs done)", proc.stdout)
        self.assertEqual(len(read_csv(copy / "metrics.csv")[1]), self.EPOCHS + 1)
        with open(copy / "args.json") as f:
            self.assertEqual(json.load(f)["settings"]["epochs"], self.EPOCHS + 1)
        _, meta = checkpoint_arrays(copy / "last.npz")
        self.assertEqual(meta["epoch"], self.EPOCHS + 1)
        self.assertRegex(proc.stdout.strip().splitlines()[-1], LAST_LINE)

    def test_a_refused_resume_leaves_args_json_as_it_was(self):
        """A best.npz that last.npz cannot restore is refused before a new total of
        epochs is recorded: the old code wrote --epochs into args.json, then refused."""
        copy = self.save_dir / "refused"
        shutil.copytree(self.folder, copy)
        _, best = checkpoint_arrays(copy / "best.npz")
        self.assertLess(best["epoch"], self.EPOCHS)  # the reference run's best is older
        shutil.copyfile(copy / "last.npz", copy / "best.npz")
        saved = (copy / "args.json").read_bytes()
        proc = run_script(FASHION, "--resume", "--name", "refused", "--epochs", self.EPOCHS + 2,
                          "--data-dir", self.data_dir, "--save-dir", self.save_dir, check=False)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(f"best validation error was at epoch {best['epoch']}, but best.npz holds "
                      f"epoch {self.EPOCHS}", proc.stderr)
        self.assertEqual((copy / "args.json").read_bytes(), saved)

    def test_resume_without_a_name_takes_the_interrupted_run(self):
        """The issue's case: a finished run, then a second one stopped by Ctrl-C;
        ``--resume`` alone finishes the second, not the first."""
        save_dir = self.save_dir.parent / "two_runs"
        save_dir.mkdir()
        shutil.copytree(self.folder, save_dir / "fashion_mnist_mlp")
        finished = (save_dir / "fashion_mnist_mlp" / "metrics.csv").read_bytes()
        args = [*map(str, self.args[:-1]), str(save_dir)]  # --save-dir comes last
        steps_per_epoch = -(-(N_TRAIN - N_VALIDATION) // BATCH)
        child = subprocess.run(
            [sys.executable, "-c", INTERRUPT_AFTER_STEPS, str(steps_per_epoch + 2), FASHION,
             *args], cwd=REPO_ROOT, env=script_env(), capture_output=True, text=True,
            timeout=300)
        self.assertEqual(child.returncode, EXIT_INTERRUPTED, child.stderr)
        resume = ("--data-dir", self.data_dir, "--save-dir", save_dir)
        # No CNN run there: --model cnn finds none to resume, and says where it looked.
        proc = run_script(FASHION, "--resume", "--model", "cnn", *resume, check=False)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(f"{save_dir} holds no run named fashion_mnist_cnn, fashion_mnist_cnn_2, "
                      f"... to resume", proc.stderr)
        resumed = run_script(FASHION, "--resume", *resume)
        folder = save_dir / "fashion_mnist_mlp_2"
        self.assertIn(f"Resuming {folder} at epoch 2/{self.EPOCHS}, iteration 3/"
                      f"{steps_per_epoch}", resumed.stdout)
        self.assertEqual(last_line_accuracy(resumed.stdout), last_line_accuracy(self.proc.stdout))
        self.assertEqual((save_dir / "fashion_mnist_mlp" / "metrics.csv").read_bytes(), finished)
        arrays, _ = checkpoint_arrays(folder / "last.npz")
        reference, _ = checkpoint_arrays(self.folder / "last.npz")
        for key in reference:
            np.testing.assert_array_equal(arrays[key], reference[key], err_msg=key)
        # Both finished now: which one to train on is the user's to say.
        proc = run_script(FASHION, "--resume", "--model", "mlp", *resume, check=False)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(proc.stderr.strip(),
                         f"error: no unfinished run to resume in {save_dir}: fashion_mnist_mlp "
                         f"(finished, 3/3 epochs); fashion_mnist_mlp_2 (finished, 3/3 epochs); "
                         f"pick one with --name (and --epochs N to train it on)")

    def test_resume_refuses_settings_that_differ_from_the_runs(self):
        copy = self.save_dir / "kept"
        shutil.copytree(self.folder, copy)
        metrics = (copy / "metrics.csv").read_bytes()
        resume = ["--resume", "--name", "kept", "--data-dir", str(self.data_dir),
                  "--save-dir", str(self.save_dir)]
        for option, value, saved in (
                ("--model", "cnn", "mlp"), ("--lr", "0.5", "0.002"),
                ("--batch-size", "10", str(BATCH)), ("--seed", "3", "0"),
                ("--validation-size", "30", str(N_VALIDATION)), ("--patience", "2", "not set"),
                ("--plot-format", "svg", "png")):
            with self.subTest(option=option):
                stderr = io.StringIO()
                with contextlib.redirect_stderr(stderr):
                    status = image_main("fashion_mnist", FASHION, [*resume, option, value])
                self.assertEqual(status, 2)
                self.assertEqual(stderr.getvalue(),
                                 f"error: cannot resume {copy} with {option} {value} (the "
                                 f"run's is {saved}): a resumed run keeps its own settings; "
                                 f"drop the option or start a new run\n")
                self.assertEqual((copy / "metrics.csv").read_bytes(), metrics)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as stop:
            parse_args("fashion_mnist", FASHION, [*resume, "--overwrite"])
        self.assertEqual(stop.exception.code, 2)
        self.assertIn("--resume continues a run in its own folder; drop --overwrite",
                      stderr.getvalue())
        # The run's own values, given again, are no conflict; --epochs sets a new total.
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
            status = image_main("fashion_mnist", FASHION, [
                *resume, "--model", "mlp", "--seed", "0", "--batch-size", str(BATCH),
                "--epochs", str(self.EPOCHS + 1)])
        self.assertEqual(status, 0, stdout.getvalue())
        self.assertEqual(len(read_csv(copy / "metrics.csv")[1]), self.EPOCHS + 1)

    def test_a_hand_edited_args_json_is_refused_naming_the_key(self):
        """The old code ended in a KeyError or TypeError traceback for some of these, and
        resumed others (a seed of null) as if nothing were wrong."""
        copy = self.save_dir / "edited"
        shutil.copytree(self.folder, copy)
        path = copy / "args.json"
        saved = path.read_text()
        resume = ["--resume", "--name", "edited", "--data-dir", str(self.data_dir),
                  "--save-dir", str(self.save_dir)]
        for edit, message in (
                (lambda s: s.pop("batch_size"), "has no setting 'batch_size', which every run "
                                                "saves"),
                (lambda s: s.update(epochs="3"), "its setting 'epochs' must be a whole number "
                                                 "and >= 1, got '3'"),
                (lambda s: s.update(lr="0.002"), "its setting 'lr' must be a finite number and "
                                                 "> 0, got '0.002'"),
                (lambda s: s.update(seed=None), "its setting 'seed' must be a whole number and "
                                                ">= 0 and < 4294967296, got None"),
                (lambda s: s.update(model=5), "its setting 'model' must be one of 'mlp', "
                                              "'cnn', got 5"),
                (lambda s: s.update(validation_size=2.5), "its setting 'validation_size'"),
                (lambda s: s.update(patience=0), "its setting 'patience' must be a whole "
                                                 "number and >= 1, got 0"),
                (lambda s: s.update(plot_format="gif"), "its setting 'plot_format' must be "
                                                        "one of 'png', 'pdf', 'svg', got 'gif'")):
            with self.subTest(message=message):
                args = json.loads(saved)
                edit(args["settings"])
                path.write_text(json.dumps(args))
                stderr = io.StringIO()
                with contextlib.redirect_stderr(stderr), \
                        contextlib.redirect_stdout(io.StringIO()):
                    status = image_main("fashion_mnist", FASHION, resume)
                self.assertEqual(status, 2, stderr.getvalue())
                self.assertEqual(len(stderr.getvalue().splitlines()), 1, stderr.getvalue())
                self.assertIn(f"error: cannot resume: {path}", stderr.getvalue())
                self.assertIn(message, stderr.getvalue())
                self.assertFalse((copy / ".lock").exists())
        for text, message in (('{"settings": ', "is not valid JSON"),
                              ('{"settings": [1]}', "has no 'settings' of a run")):
            with self.subTest(text=text):
                path.write_text(text)
                stderr = io.StringIO()
                with contextlib.redirect_stderr(stderr):
                    self.assertEqual(image_main("fashion_mnist", FASHION, resume), 2)
                self.assertIn(message, stderr.getvalue())

    def test_user_errors_are_one_line_and_leave_nothing(self):
        a_file = self.save_dir.parent / "a_file"
        a_file.write_text("not a folder")
        common = ("--model", "mlp", "--epochs", 1, *FASHION_ARGS, "--data-dir", self.data_dir)
        for args, message in (
            (("--save-dir", a_file), "is a file"),
            (("--save-dir", self.save_dir, "--name", "x" * 300), "too long"),
            (("--save-dir", self.save_dir, "--name", "a/b"), "plain folder name"),
            (("--save-dir", self.save_dir, "--resume", "--name", "nothing"), "holds no last.npz"),
        ):
            with self.subTest(args=args[:2]):
                before = sorted(os.listdir(self.save_dir))
                proc = run_script(FASHION, *common, *args, check=False)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
                self.assertTrue(proc.stderr.startswith("error: "), proc.stderr)
                self.assertIn(message, proc.stderr)
                self.assertEqual(sorted(os.listdir(self.save_dir)), before)

    def test_a_run_folder_that_is_a_symbolic_link_is_refused_naming_it(self):
        """The old code took the link, and when the run then could not start (no data
        here) its only message was "cannot release the run folder ...: Not a directory"."""
        save_dir = self.save_dir.parent / "linked"
        target = self.save_dir.parent / "elsewhere"
        target.mkdir()
        save_dir.mkdir()
        (save_dir / "run").symlink_to(target)
        for data_dir in (self.save_dir.parent / "no_data", self.data_dir):
            with self.subTest(data_dir=data_dir.name):
                stderr = io.StringIO()
                with contextlib.redirect_stderr(stderr), \
                        contextlib.redirect_stdout(io.StringIO()):
                    status = image_main("fashion_mnist", FASHION, [
                        "--model", "mlp", "--epochs", "1", *FASHION_ARGS, "--data-dir",
                        str(data_dir), "--save-dir", str(save_dir), "--name", "run"])
                self.assertEqual(status, 2)
                self.assertEqual(stderr.getvalue(),
                                 f"error: {save_dir / 'run'} is a symbolic link (to {target}), "
                                 f"not a folder of its own; a run needs one there: choose "
                                 f"another name or remove the link\n")
                self.assertTrue((save_dir / "run").is_symlink())
                self.assertEqual(os.listdir(target), [])


class TestFashionMnistCnn(RunChecks):
    """``--model cnn`` for one epoch, into a taken folder with ``--overwrite``."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        tmp = Path(cls._tmp.name)
        cls.arrays = fashion_arrays(seed=1)
        cls.data_dir = write_fashion_mnist(tmp / "fashion", *cls.arrays)
        cls.save_dir = tmp / "experiments"
        cls.folder = cls.save_dir / "taken"
        cls.folder.mkdir(parents=True)
        # Files of an earlier, longer run that the new one must replace.
        (cls.folder / "metrics.csv").write_text(",".join(METRIC_COLUMNS) + "\n"
                                                + "".join(f"{e},1,0,1,0,1\n" for e in range(1, 6)))
        (cls.folder / "predictions.csv").write_text("Id,Category\n0,11\n")
        cls.proc = run_script(FASHION, "--model", "cnn", "--epochs", 1, *FASHION_ARGS,
                              "--data-dir", cls.data_dir, "--save-dir", cls.save_dir,
                              "--name", "taken", "--overwrite")

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_outputs_replace_the_earlier_run(self):
        self.assert_finished_run(self.proc, self.folder, 1, N_TRAIN - N_VALIDATION,
                                 N_VALIDATION, self.arrays[3])
        with open(self.folder / "args.json") as f:
            self.assertEqual(json.load(f)["settings"]["model"], "cnn")
        _, meta = checkpoint_arrays(self.folder / "last.npz")
        self.assertIn("Conv2D", [layer["type"] for layer in meta["layers"]])

    def test_the_epoch_line_says_the_train_loss_is_on_smoothed_labels(self):
        # The recipe trains on labels smoothed by 0.1, so its train loss sits above
        # the validation loss (on the true labels); the line says why.
        self.assertEqual([line[3] for line in EPOCH_LINE.findall(self.proc.stdout)],
                         [" (labels smoothed by 0.1)"])

    def test_test_pictures_of_a_cnn(self):
        for name in ("confusion_matrix.png", "misclassified.png", "filters.png"):
            self.assert_png(self.folder / name)

    def test_taken_name_is_refused_without_overwrite(self):
        folder = self.save_dir / "kept"
        folder.mkdir()
        (folder / "metrics.csv").write_text("an earlier run\n")
        proc = run_script(FASHION, "--model", "cnn", "--epochs", 1, *FASHION_ARGS,
                          "--data-dir", self.data_dir, "--save-dir", self.save_dir,
                          "--name", "kept", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(f"{folder} already holds a run", proc.stderr)
        self.assertIn("--overwrite", proc.stderr)
        self.assertEqual(os.listdir(folder), ["metrics.csv"])
        self.assertEqual((folder / "metrics.csv").read_text(), "an earlier run\n")
        self.assertNotIn("Test accuracy", proc.stdout)


class TestCifar10(RunChecks):
    """train_cifar10.py on small batches in the official format: folder, archive, Kaggle file."""

    PER_BATCH, N_TEST, N_VALIDATION = 8, 10, 10
    ARGS = ("--epochs", 1, "--batch-size", 10, "--validation-size", 10)

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.tmp = Path(cls._tmp.name)
        cls.batches = make_batches(per_batch=cls.PER_BATCH, n_test=cls.N_TEST)
        cls.root = cls.tmp / "cifar"
        write_folder(cls.root, cls.batches)
        cls.save_dir = cls.tmp / "experiments"
        cls.proc = run_script(CIFAR, *cls.ARGS, "--data-dir", cls.root,
                              "--save-dir", cls.save_dir)
        cls.folder = cls.save_dir / "cifar10_cnn"

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_folder_outputs(self):
        self.assert_finished_run(self.proc, self.folder, 1, 5 * self.PER_BATCH - self.N_VALIDATION,
                                 self.N_VALIDATION, self.batches["test_batch"][1])

    def test_archive_with_unlabeled_test_file(self):
        """The archive trains exactly as the folder does; an unlabeled .npy test set is
        predicted row by row and its accuracy reported as unknown."""
        archive = write_archive(self.tmp / "archive" / "cifar-10-python.tar.gz", self.batches)
        images = np.random.default_rng(5).integers(0, 256, size=(7, 32, 32, 3), dtype=np.uint8)
        test_file = self.tmp / "kaggle_test.npy"
        np.save(test_file, images)
        proc = run_script(CIFAR, *self.ARGS, "--data-dir", archive, "--test-file", test_file,
                          "--save-dir", self.save_dir, "--name", "kaggle")
        folder = self.save_dir / "kaggle"
        self.assertEqual(proc.stdout.strip().splitlines()[-1], UNKNOWN_LINE)
        self.assertEqual(self.assert_predictions(folder, len(images)).shape, (7,))
        rows = self.assert_metrics(folder, 1, 5 * self.PER_BATCH - self.N_VALIDATION,
                                   self.N_VALIDATION)
        self.assert_epoch_lines(proc.stdout, rows, 1)
        for name in ("loss.png", "accuracy.png"):
            self.assert_png(folder / name)
        arrays, _ = checkpoint_arrays(folder / "last.npz")
        reference, _ = checkpoint_arrays(self.folder / "last.npz")
        self.assertEqual(sorted(arrays), sorted(reference))
        for key in reference:
            np.testing.assert_array_equal(arrays[key], reference[key], err_msg=key)

    def test_missing_data_names_the_places_looked(self):
        if any((REPO_ROOT / "datasets" / "cifar10").glob("*")):
            self.skipTest("datasets/cifar10 holds files, so a missing --data-dir falls back to them")
        empty = self.tmp / "empty"
        empty.mkdir()
        proc = run_script(CIFAR, *self.ARGS, "--data-dir", empty, "--save-dir", self.save_dir,
                          "--name", "no_data", check=False)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(proc.stderr.splitlines(), [
            f"error: CIFAR-10 not found in {empty}, named by the data_dir argument: it holds no "
            f"cifar-10-batches-py folder, no batch files (data_batch_1, data_batch_2, "
            f"data_batch_3, data_batch_4, data_batch_5, test_batch) and no "
            f"cifar-10-python.tar.gz. Get it there with --download (in Python: download=True)"])
        # A run that could not start leaves no folder behind.
        self.assertFalse((self.save_dir / "no_data").exists())


    def test_a_corrupt_test_file_is_one_line_and_leaves_no_run_folder(self):
        images = np.random.default_rng(6).integers(0, 256, size=(7, 32, 32, 3), dtype=np.uint8)
        corrupt = corrupt_npz_files(self.tmp, images)
        for what in ("savez cut in half", "savez with a byte flipped"):
            with self.subTest(what):
                path = corrupt[what]
                proc = run_script(CIFAR, *self.ARGS, "--data-dir", self.root, "--test-file", path,
                                  "--save-dir", self.save_dir, "--name", "corrupt", check=False)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                lines = proc.stderr.splitlines()
                self.assertEqual(len(lines), 1, proc.stderr)
                self.assertTrue(lines[0].startswith(
                    f"error: test_file {path} is not a readable .npy/.npz file: "), lines[0])
                self.assertFalse((self.save_dir / "corrupt").exists())


class TestCifar10Resumed(RunChecks):
    """train_cifar10.py for 2 epochs of 3 steps (random crops and flips): the reference
    run, then a run killed and resumed, and a resume that asks for other settings."""

    EPOCHS, PER_BATCH, N_TEST, N_VALIDATION, BATCH = 2, 8, 10, 10, 10
    script = CIFAR

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        tmp = Path(cls._tmp.name)
        cls.batches = make_batches(per_batch=cls.PER_BATCH, n_test=cls.N_TEST)
        cls.data_dir = tmp / "cifar"
        write_folder(cls.data_dir, cls.batches)
        cls.save_dir = tmp / "experiments"
        cls.args = ("--epochs", cls.EPOCHS, "--batch-size", cls.BATCH, "--validation-size",
                    cls.N_VALIDATION, "--data-dir", cls.data_dir, "--save-dir", cls.save_dir)
        cls.proc = run_script(CIFAR, *cls.args, "--name", "reference")
        cls.folder = cls.save_dir / "reference"

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_killed_during_a_step(self):
        """SIGKILL at the second step of epoch 2: the resumed run goes on from epoch 1's
        checkpoint (its augmentation's generator too) and ends as the reference."""
        self.kill("step", "step:5:SIGKILL")
        folder = self.save_dir / "step"
        _, last = checkpoint_arrays(folder / "last.npz")
        self.assertEqual((last["epoch"], last["iteration"]), (1, 0))
        self.assertFalse((folder / "predictions.csv").exists())
        resumed = self.resume("step")
        self.assertIn(f"Resuming {folder} at epoch 2/2, iteration 1/3 (1 epoch done)",
                      resumed.stdout)
        self.assert_finished_run(resumed, folder, self.EPOCHS,
                                 5 * self.PER_BATCH - self.N_VALIDATION, self.N_VALIDATION,
                                 self.batches["test_batch"][1], first_epoch=2)
        self.assert_same_run(resumed, folder)

    def test_killed_between_the_two_checkpoint_writes(self):
        """last.npz is in place at the end of the best epoch, best.npz not yet: the resumed
        run writes best.npz from last.npz and ends as the reference."""
        folder = self.kill_between_the_two_writes()
        self.assert_same_run(self.resume("between"), folder)

    def test_resume_refuses_other_settings_in_one_line(self):
        copy = self.save_dir / "kept"
        shutil.copytree(self.folder, copy)
        saved = {name: (copy / name).read_bytes() for name in ("args.json", "metrics.csv",
                                                               "last.npz")}
        for more in ((), ("--epochs", self.EPOCHS + 1)):
            with self.subTest(more=more):
                proc = run_script(CIFAR, "--resume", "--name", "kept", "--lr", "0.5",
                                  "--batch-size", 7, "--seed", 3, *more, "--data-dir",
                                  self.data_dir, "--save-dir", self.save_dir, check=False)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(proc.stderr,
                                 f"error: cannot resume {copy} with --batch-size 7 (the run's "
                                 f"is {self.BATCH}), --lr 0.5 (the run's is 0.002), --seed 3 "
                                 f"(the run's is 0): a resumed run keeps its own settings; "
                                 f"drop the option or start a new run\n")
                self.assertNotIn("Test accuracy", proc.stdout)
                self.assertEqual({name: (copy / name).read_bytes() for name in saved}, saved)
                self.assertFalse((copy / ".lock").exists())


class TestPlotFormatAndPatience(RunChecks):
    """``--plot-format svg --patience 1`` on the MLP: every picture is an SVG, the run
    stops at the first epoch without a better validation error, and it is finished:
    resuming it trains nothing and scores the same best model."""

    EPOCHS = 12

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        tmp = Path(cls._tmp.name)
        cls.data_dir = write_fashion_mnist(tmp / "fashion", *fashion_arrays(seed=2))
        cls.save_dir = tmp / "experiments"
        cls.proc = run_script(FASHION, "--model", "mlp", "--epochs", cls.EPOCHS, *FASHION_ARGS,
                              "--patience", 1, "--plot-format", "svg", "--data-dir",
                              cls.data_dir, "--save-dir", cls.save_dir)
        cls.folder = cls.save_dir / "fashion_mnist_mlp"

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_settings_and_svg_pictures(self):
        with open(self.folder / "args.json") as f:
            settings = json.load(f)["settings"]
        self.assertEqual((settings["patience"], settings["plot_format"]), (1, "svg"))
        names = sorted(os.listdir(self.folder))
        self.assertEqual([n for n in names if n.endswith((".svg", ".png"))],
                         ["accuracy.svg", "confusion_matrix.svg", "loss.svg",
                          "misclassified.svg"])
        for name in ("accuracy.svg", "confusion_matrix.svg", "loss.svg", "misclassified.svg"):
            root = ET.parse(self.folder / name).getroot()
            self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg", name)

    def test_stops_at_the_first_epoch_without_improvement(self):
        rows = self.assert_metrics(self.folder, len(read_csv(self.folder / "metrics.csv")[1]),
                                   N_TRAIN - N_VALIDATION, N_VALIDATION)
        errors = 1 - rows[:, 4]
        best = int(np.argmin(errors)) + 1
        # Patience 1: the epoch after the best is the last, and every earlier epoch improved.
        self.assertEqual(len(rows), best + 1)
        self.assertTrue(np.all(np.diff(errors[:best]) < 0), errors)
        self.assertLess(len(rows), self.EPOCHS)
        _, last = checkpoint_arrays(self.folder / "last.npz")
        self.assertEqual(last["history"]["stopped_early"],
                         {"epoch": best + 1, "best_epoch": best, "patience": 1})
        _, best_meta = checkpoint_arrays(self.folder / "best.npz")
        self.assertEqual(best_meta["epoch"], best)
        self.assertIn(f"stopped early after epoch {best + 1}", self.proc.stdout)
        self.assertIn(f"best validation at epoch {best}", self.proc.stdout)

    def test_resuming_a_stopped_run_trains_nothing(self):
        copy = self.save_dir / "resumed"
        shutil.copytree(self.folder, copy)
        resume = ("--resume", "--name", "resumed", "--data-dir", self.data_dir,
                  "--save-dir", self.save_dir)
        metrics = (copy / "metrics.csv").read_bytes()
        proc = run_script(FASHION, *resume)
        self.assertIn(f"{copy} is finished: it stopped early after epoch", proc.stdout)
        self.assertEqual((copy / "metrics.csv").read_bytes(), metrics)
        self.assertEqual(EPOCH_LINE.findall(proc.stdout), [])
        self.assertEqual(last_line_accuracy(proc.stdout), last_line_accuracy(self.proc.stdout))
        self.assertFalse(list(copy.glob("*.png")))  # the run's own format, still SVG
        proc = run_script(FASHION, *resume, "--epochs", self.EPOCHS + 5, check=False)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("stopped early at epoch", proc.stderr)
        self.assertEqual((copy / "metrics.csv").read_bytes(), metrics)


class TestCommandLine(unittest.TestCase):
    def test_help_lists_every_option(self):
        for script in (FASHION, CIFAR):
            with self.subTest(script=script):
                proc = run_script(script, "--help")
                self.assertTrue(proc.stdout.startswith(f"usage: {script}"), proc.stdout)
                for option in ("--model", "--epochs", "--batch-size", "--lr", "--seed",
                               "--data-dir", "--resume", "--name", "--save-dir", "--overwrite",
                               "--validation-size"):
                    self.assertRegex(proc.stdout, rf"(?m)^  {option}\b")
                if script == FASHION:
                    self.assertRegex(proc.stdout, r"(?m)^  --model \{cnn,mlp\}")
                else:
                    self.assertRegex(proc.stdout, r"(?m)^  --test-file\b")

    def assert_refused(self, dataset, argv, message):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as stop:
            parse_args(dataset, "script.py", argv)
        self.assertEqual(stop.exception.code, 2)
        self.assertIn(message, stderr.getvalue())

    def test_bad_values_are_refused_by_argparse(self):
        for dataset in ("fashion_mnist", "cifar10"):
            with self.subTest(dataset=dataset):
                self.assert_refused(dataset, ["--epochs", "0"], "--epochs must be >= 1, got 0")
                self.assert_refused(dataset, ["--batch-size", "-2"],
                                    "--batch-size must be >= 1, got -2")
                for value in ("-1", "0", "nan", "inf"):
                    self.assert_refused(dataset, ["--lr", value],
                                        f"--lr must be a finite number > 0, got {float(value)}")
                self.assert_refused(dataset, ["--epochs", "two"], "invalid int value: 'two'")
        self.assert_refused("fashion_mnist", ["--model", "rnn"], "invalid choice: 'rnn'")

    def test_patience_and_plot_format(self):
        for script in (FASHION, CIFAR):
            with self.subTest(script=script):
                proc = run_script(script, "--help")
                self.assertRegex(proc.stdout, r"(?m)^  --patience\b")
                self.assertRegex(proc.stdout, r"(?m)^  --plot-format \{png,pdf,svg\}")
        for dataset in ("fashion_mnist", "cifar10"):
            with self.subTest(dataset=dataset):
                args = parse_args(dataset, "script.py", [])
                self.assertEqual((args.patience, args.plot_format), (None, "png"))
                args = parse_args(dataset, "script.py", ["--patience", "3", "--plot-format",
                                                         "pdf"])
                self.assertEqual((args.patience, args.plot_format), (3, "pdf"))
                self.assert_refused(dataset, ["--patience", "0"], "--patience must be >= 1, got 0")
                self.assert_refused(dataset, ["--plot-format", "jpg"], "invalid choice: 'jpg'")

    def test_bad_value_exits_with_status_2_from_the_script(self):
        proc = run_script(FASHION, "--epochs", "0", check=False)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--epochs must be >= 1, got 0", proc.stderr)
        self.assertEqual(proc.stdout, "")


if __name__ == "__main__":
    unittest.main()
