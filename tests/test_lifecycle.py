"""One run of a training script from start to end (neural_networks/lifecycle.py).

- Two runs started at the same moment with the same --name: exactly one gets
  the folder, the other is refused (FileExistsError) and writes nothing there.
- A run killed at any moment (SIGKILL) and resumed ends exactly as the run
  never stopped; Ctrl-C or SIGTERM after training prints the resume command.
- --overwrite starts the new run in an empty folder; the earlier run comes back
  if the new one ends before its first checkpoint, and goes once it has one.
- The loss and accuracy curves mark the epoch best.npz keeps, and the loss
  curve says when the training labels are smoothed; a short run draws them once.
"""

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import unittest.mock
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib

from neural_networks import lifecycle, plots, run_folder, runs, scripts
from neural_networks.models import load_model
from tests.test_image_runs import KILL_AT, assert_same_checkpoints, checkpoint_arrays
from tests.test_run_folder import race
from tests.test_train_ffnn import last_line, read_csv, train_ffnn
from tests.test_training import small_classifier, wandering_validation

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_named(save_dir, barrier, results):
    """A child: claim and lock the run folder "same" right after the barrier."""
    barrier.wait()
    try:
        folder, _ = lifecycle.start(save_dir, "same", "run", False,
                                    lambda: (None, {"pid": os.getpid()}))
        results.put(("ok", os.getpid()))
        barrier.wait()  # hold the folder until every child has tried
        run_folder.unlock(folder)
    except FileExistsError as error:
        results.put(("refused", str(error)))
        barrier.wait()


class TestTwoRunsAtOnce(unittest.TestCase):
    def test_same_name_started_together(self):
        for trial in range(5):
            with self.subTest(trial=trial), tempfile.TemporaryDirectory() as save_dir:
                outcomes = race(start_named, save_dir, n=3)
                winners = [pid for kind, pid in outcomes if kind == "ok"]
                self.assertEqual(len(winners), 1, outcomes)
                for kind, message in outcomes:
                    if kind == "refused":
                        self.assertRegex(message, "in use by another run|already holds a run")
                folder = os.path.join(save_dir, "same")
                self.assertEqual(os.listdir(folder), ["args.json"])  # the lock is gone
                self.assertEqual(run_folder.read_args(folder), {"pid": winners[0]})


class TestKilledAtAnyMoment(unittest.TestCase):
    """An Iris run of 6 epochs (5 steps each) killed with SIGKILL at each moment of a
    run, and resumed with ``--resume --name``, ends exactly as the uninterrupted run:
    the same checkpoints (parameters, optimizer state, generator, history), metrics,
    predictions and printed test accuracy, and no file of the killed process left."""

    ARGS = ("--epochs", "6")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.save_dir = Path(cls.tmp.name)
        cls.reference = train_ffnn("--save-dir", cls.tmp.name, *cls.ARGS, "--name", "reference")
        cls.folder = cls.save_dir / "reference"
        _, best = checkpoint_arrays(cls.folder / "best.npz")
        cls.best_epoch = best["epoch"]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def kill_then_resume(self, name, moment):
        """Run until ``moment`` (see ``KILL_AT``) kills the process; resume; check that the
        run ends as the reference. Returns the folder as the killed process left it."""
        child = subprocess.run(
            [sys.executable, "-c", KILL_AT, moment, "train_ffnn.py", "--save-dir",
             self.tmp.name, *self.ARGS, "--name", name],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        self.assertEqual(child.returncode, -signal.SIGKILL, child.stdout + child.stderr)
        folder = self.save_dir / name
        left = sorted(p.name for p in folder.iterdir())
        resumed = train_ffnn("--save-dir", self.tmp.name, "--resume", "--name", name)
        self.assertEqual(last_line(resumed.stdout), last_line(self.reference.stdout))
        self.assertEqual(sorted(p.name for p in folder.iterdir()),
                         sorted(p.name for p in self.folder.iterdir()))
        assert_same_checkpoints(self, folder, self.folder)
        self.assertEqual((folder / "predictions.csv").read_bytes(),
                         (self.folder / "predictions.csv").read_bytes())
        self.assertEqual([{k: v for k, v in row.items() if k != "seconds"}
                          for row in read_csv(folder / "metrics.csv")],
                         [{k: v for k, v in row.items() if k != "seconds"}
                          for row in read_csv(self.folder / "metrics.csv")])
        return left

    def test_during_a_step_of_the_first_epoch(self):
        # Before any checkpoint: the resumed run starts again from its settings.
        left = self.kill_then_resume("first_epoch", "step:2:SIGKILL")
        self.assertEqual(left, [".lock", "args.json"])

    def test_during_a_step(self):
        left = self.kill_then_resume("step", "step:13:SIGKILL")  # epoch 3, step 3
        self.assertIn("last.npz", left)

    def test_during_a_checkpoint_write(self):
        left = self.kill_then_resume("writing", "before:last.npz:3:SIGKILL")
        self.assertEqual(len([name for name in left if name.startswith(".last.npz.")]), 1,
                         left)  # the whole temporary file the process was about to rename

    def test_between_the_two_checkpoint_writes(self):
        # At the end of the best epoch last.npz is in place, best.npz not yet.
        left = self.kill_then_resume("between", f"after:last.npz:{self.best_epoch}:SIGKILL")
        self.assertIn("last.npz", left)

    def test_during_the_test_predictions(self):
        left = self.kill_then_resume("predicting", "before:predictions.csv:1:SIGKILL")
        self.assertNotIn("predictions.csv", left)

    def test_ctrl_c_or_sigterm_during_the_test_predictions(self):
        """The old code printed only "Interrupted." (or "Terminated."): no resume command,
        and the README promises one."""
        for signame, status in (("SIGINT", 130), ("SIGTERM", 143)):
            with self.subTest(signal=signame):
                name = f"predicting_{signame}"
                child = subprocess.run(
                    [sys.executable, "-c", KILL_AT, f"before:predictions.csv:1:{signame}",
                     "train_ffnn.py", "--save-dir", self.tmp.name, *self.ARGS, "--name", name],
                    cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
                self.assertEqual(child.returncode, status, child.stderr)
                self.assertNotIn("Traceback", child.stderr)
                folder = self.save_dir / name
                self.assertEqual(child.stdout.splitlines()[-2:], [
                    f"Interrupted after training: {folder / 'last.npz'} holds the trained run, "
                    f"but its test predictions and pictures are not all written.",
                    f"Resume with: python train_ffnn.py --resume --name {name} --save-dir "
                    f"{self.tmp.name}"])
                resumed = train_ffnn(*child.stdout.splitlines()[-1].split()[4:])
                self.assertEqual(last_line(resumed.stdout), last_line(self.reference.stdout))
                self.assertEqual((folder / "predictions.csv").read_bytes(),
                                 (self.folder / "predictions.csv").read_bytes())


class TestOverwrite(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.save_dir = tmp.name
        self.folder = os.path.join(tmp.name, "run")
        os.mkdir(self.folder)
        for name in ("args.json", "last.npz"):
            with open(os.path.join(self.folder, name), "w") as f:
                f.write(f"the earlier run's {name}")

    def contents(self, folder=None):
        folder = Path(folder or self.folder)
        return {path.name: path.read_text() for path in folder.iterdir()}

    def test_a_run_that_cannot_start_leaves_the_earlier_run_in_place(self):
        earlier = self.contents()

        def prepare():
            raise ValueError("no data")

        with self.assertRaisesRegex(ValueError, "no data"):
            lifecycle.start(self.save_dir, "run", "run", True, prepare)
        self.assertEqual(self.contents(), earlier)
        self.assertEqual(os.listdir(self.save_dir), ["run"])

    def test_the_new_run_starts_empty_and_the_earlier_goes_once_it_has_a_checkpoint(self):
        earlier = self.contents()
        out = io.StringIO()
        folder, _ = lifecycle.start(self.save_dir, "run", "run", True,
                                    lambda: (None, {"settings": "new"}), out)
        aside = self.folder + ".overwritten"
        self.assertEqual(sorted(os.listdir(folder)), [".lock", "args.json"])
        self.assertEqual({k: v for k, v in self.contents(aside).items() if k != ".lock"},
                         earlier)
        self.assertIn(f"its earlier run waits in {aside}", out.getvalue())
        # Given back before its first checkpoint: the earlier run is back, whole.
        self.assertTrue(lifecycle.give_back(folder))
        self.assertEqual(self.contents(), earlier)
        self.assertFalse(os.path.exists(aside))
        # Under way (a checkpoint): the earlier run is deleted.
        folder, _ = lifecycle.start(self.save_dir, "run", "run", True,
                                    lambda: (None, {"settings": "new"}), io.StringIO())
        with open(os.path.join(folder, "last.npz"), "w") as f:
            f.write("the new run's")
        self.assertFalse(lifecycle.give_back(folder))
        run_folder.drop_set_aside(folder)
        self.assertEqual(sorted(os.listdir(self.save_dir)), ["run"])
        run_folder.unlock(folder)


class TestRunFiles(unittest.TestCase):
    def test_curves_mark_the_epoch_best_npz_keeps_and_name_label_smoothing(self):
        dataset = wandering_validation()
        dataset.train.label_smoothing = 0.1
        model = small_classifier()
        with tempfile.TemporaryDirectory() as folder, \
                matplotlib.rc_context({"svg.fonttype": "none"}):
            status = lifecycle.fit(model, dataset, folder, 40, "Wandering", "resume",
                                   fmt="svg", verbose=False, patience=2)
            self.assertIsNone(status)
            kept = model.history["stopped_early"]["best_epoch"]
            self.assertLess(kept, model.epoch)
            self.assertEqual(load_model(os.path.join(folder, "best.npz")).epoch, kept)
            words = {}
            for name in ("loss", "accuracy"):
                root = ET.parse(os.path.join(folder, f"{name}.svg")).getroot()
                words[name] = [t for e in root.iter("{http://www.w3.org/2000/svg}text")
                               for t in e.itertext()]
        for name in ("loss", "accuracy"):
            self.assertIn(f"kept: epoch {kept} (best.npz)", words[name])
        self.assertIn("train (labels smoothed by 0.1)", words["loss"])
        self.assertNotIn("train (labels smoothed by 0.1)", words["accuracy"])

    def test_a_short_run_draws_its_curves_once(self):
        # Drawing the two PNGs took longer than the whole run: drawn at its end only.
        drawn = []
        original = plots.write_curves

        def count(*args, **kwargs):
            drawn.append(args[0])
            return original(*args, **kwargs)

        with tempfile.TemporaryDirectory() as save_dir, \
                unittest.mock.patch.object(plots, "write_curves", count), \
                contextlib.redirect_stdout(io.StringIO()):
            folder, _, _ = runs.train_and_save(save_dir, "short", epochs=3, verbose=False)
            self.assertEqual(drawn, [folder])
            self.assertTrue(os.path.isfile(os.path.join(folder, "loss.png")))


class Wandering(lifecycle.TrainingRun):
    """All a new kind of run supplies: its settings, data, network, title and score."""

    kind, script = "wandering", "train_wandering.py"
    train_options = {"verbose": False}

    def default_name(self):
        return "wandering"

    def new_settings(self):
        if self.asked.get("fail"):
            raise ValueError("no data for a wandering run")
        return {"dataset": "wandering", "epochs": self.asked["epochs"], "patience": None,
                **scripts.common_settings()}

    def rules(self):
        return {}

    def kept(self):
        return {}

    def load_data(self, settings):
        return wandering_validation()

    def build(self, settings, epochs):
        return small_classifier()

    def record(self, model):
        return {"layers": model.layer_args}

    def title(self):
        return "Wandering"

    def score(self):
        return f"scored at epoch {self.model.epoch}"


class TestTrainingRun(unittest.TestCase):
    """The lifecycle every script runs, through a run that says only what differs."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.save_dir = tmp.name

    def execute(self, **options):
        out = io.StringIO()
        run = Wandering(save_dir=self.save_dir, out=out, **options)
        return run, run.execute(), out.getvalue()

    def test_a_run_has_the_files_of_every_run_and_resumes_to_a_new_total(self):
        run, result, printed = self.execute(asked={"epochs": 3})
        folder = os.path.join(self.save_dir, "wandering")
        self.assertEqual((run.folder, result, printed), (folder, ("scored at epoch 3", 0), ""))
        self.assertEqual(sorted(os.listdir(folder)), ["accuracy.png", "args.json", "best.npz",
                                                      "last.npz", "loss.png", "metrics.csv"])
        self.assertEqual(run_folder.read_args(folder)["settings"]["epochs"], 3)
        _, result, printed = self.execute(resume=True, asked={"epochs": 5})
        self.assertEqual(result, ("scored at epoch 5", 0))
        self.assertEqual(printed, f"Resuming {folder} at epoch 4/5, iteration 1/4 (3 epochs "
                                  f"done)\n")
        self.assertEqual(run_folder.read_args(folder)["settings"]["epochs"], 5)
        self.assertEqual(len(read_csv(Path(folder) / "metrics.csv")), 5)
        self.assertNotIn(run_folder.LOCK_NAME, os.listdir(folder))

    def test_a_run_that_cannot_start_leaves_nothing(self):
        with self.assertRaisesRegex(ValueError, "no data for a wandering run"):
            self.execute(asked={"epochs": 3, "fail": True})
        self.assertEqual(os.listdir(self.save_dir), [])

    def test_a_refused_resume_leaves_args_json_as_it_was(self):
        """best.npz that last.npz cannot restore is refused before a new total is
        recorded (the image runs recorded it first, then refused)."""
        run, _, _ = self.execute(asked={"epochs": 12})
        best = run.model.history["epochs"]
        kept = min(range(len(best)), key=lambda i: best[i]["validate_error"]) + 1
        self.assertLess(kept, 12)  # the validation error wanders: best.npz is older
        shutil.copyfile(os.path.join(run.folder, "last.npz"),
                        os.path.join(run.folder, "best.npz"))
        with open(os.path.join(run.folder, "args.json"), "rb") as f:
            saved = f.read()
        with self.assertRaisesRegex(ValueError, f"best validation error was at epoch {kept}, "
                                                f"but best.npz holds epoch 12"):
            self.execute(resume=True, asked={"epochs": 20})
        with open(os.path.join(run.folder, "args.json"), "rb") as f:
            self.assertEqual(f.read(), saved)
        self.assertNotIn(run_folder.LOCK_NAME, os.listdir(run.folder))


if __name__ == "__main__":
    unittest.main()
