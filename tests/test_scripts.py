"""What the training scripts share (neural_networks/scripts.py) and the run-folder
lock it takes (neural_networks/run_folder.py: lock, unlock).

- Two runs started at the same moment with the same --name: exactly one gets
  the folder, the other is refused (FileExistsError) and writes nothing there.
- A run cannot be resumed while a live process holds it; a lock left by a
  process that died is taken over.
- SIGTERM outside training (while the data loads) exits 143 and gives the
  run folder back.
- The resume command quotes what a shell would need quoted.
- A run that stopped early is finished: resuming it trains nothing, and a new
  total of epochs is refused saying why.
- The loss and accuracy curves mark the epoch best.npz keeps, and the loss
  curve says when the training labels are smoothed.
- ``--resume`` without a name takes the one unfinished default-named run (a
  later ``_2`` one too), or the only run; it refuses, naming them, when
  several are unfinished or several are finished; runs of another kind,
  other names and runs in use are no candidates.
- The "Resuming" line counts as the epoch lines do (1-based "epoch k/N",
  iterations from 1); a finished run says so and how to train it on.
- A resumed run's settings are kept: an option given that differs is refused,
  naming it and the run's value; options given are told from defaults.
"""

import argparse
import contextlib
import io
import multiprocessing
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import types
import unittest
import unittest.mock
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import numpy as np

from neural_networks import image_runs, plots, run_folder, runs, scripts
from neural_networks.models import load_model
from neural_networks.utils import processes
from tests.test_image_runs import KILL_AT, checkpoint_arrays
from tests.test_train_ffnn import last_line, read_csv, train_ffnn
from tests.test_training import small_classifier, wandering_validation

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_named(save_dir, barrier, results):
    """A child: claim and lock the run folder "same" right after the barrier."""
    barrier.wait()
    try:
        folder, _ = scripts.start(save_dir, "same", "run", False, lambda: (None, {"pid": os.getpid()}))
        results.put(("ok", os.getpid()))
        barrier.wait()  # hold the folder until every child has tried
        run_folder.unlock(folder)
    except FileExistsError as error:
        results.put(("refused", str(error)))
        barrier.wait()


def lock_at_once(folder, barrier, results):
    """A child: lock ``folder`` right after the barrier; hold it until all have tried."""
    barrier.wait()
    try:
        run_folder.lock(folder)
        results.put("ok")
        barrier.wait()
        run_folder.unlock(folder)
    except FileExistsError:
        results.put("refused")
        barrier.wait()


def race(target, path, n):
    """Start ``n`` processes running ``target(path, barrier, results)`` at the same
    moment (a barrier); return what each put in ``results``."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(n), context.Queue()
    children = [context.Process(target=target, args=(path, barrier, results)) for _ in range(n)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=60) for _ in range(n)]
    for child in children:
        child.join(timeout=60)
    return outcomes


def hold_lock(test, folder):
    """Lock ``folder`` for a live child process that lives until ``test`` ends."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)
    test.addCleanup(holder.wait)
    test.addCleanup(holder.stdin.close)
    with open(os.path.join(folder, run_folder.LOCK_NAME), "w") as f:
        f.write(str(holder.pid))


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


class TestLock(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.folder = tmp.name

    def test_a_live_holder_refuses_others(self):
        holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                  stdin=subprocess.PIPE)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.stdin.close)
        with open(os.path.join(self.folder, run_folder.LOCK_NAME), "w") as f:
            f.write(f"{holder.pid}\n")
        with self.assertRaisesRegex(FileExistsError, f"in use by another run \\(process {holder.pid}\\)"):
            run_folder.lock(self.folder)
        run_folder.unlock(self.folder)  # not ours: left alone
        self.assertTrue(os.path.exists(os.path.join(self.folder, run_folder.LOCK_NAME)))

    def test_a_dead_holder_is_taken_over(self):
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        lock = os.path.join(self.folder, run_folder.LOCK_NAME)
        with open(lock, "w") as f:
            f.write(dead.stdout)
        run_folder.lock(self.folder)
        with open(lock) as f:
            self.assertEqual(int(f.readline()), os.getpid())  # then its machine and start
        run_folder.lock(self.folder)  # taking it again is harmless
        run_folder.unlock(self.folder)
        self.assertEqual(os.listdir(self.folder), [])

    def test_a_lock_that_names_no_process_is_not_taken_over(self):
        # An empty lock is what another process's lock looked like while it was being
        # written (the old code took it for a dead one, and two runs shared a folder).
        for content in ("", "garbage"):
            with self.subTest(content=content):
                lock = os.path.join(self.folder, run_folder.LOCK_NAME)
                with open(lock, "w") as f:
                    f.write(content)
                with self.assertRaisesRegex(FileExistsError, "names no process"):
                    run_folder.lock(self.folder)
                with open(lock) as f:
                    self.assertEqual(f.read(), content)
                os.remove(lock)

    def live_process(self):
        """The id of a live process that is no run (it ends with the test)."""
        holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                  stdin=subprocess.PIPE)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.stdin.close)
        return holder.pid

    def write_lock(self, text):
        path = os.path.join(self.folder, run_folder.LOCK_NAME)
        with open(path, "w") as f:
            f.write(text)
        return path

    @unittest.skipUnless(os.path.exists("/proc/self/stat"), "process start times come "
                         "from Linux's /proc")
    def test_a_lock_whose_process_id_now_names_another_process_is_taken_over(self):
        """A run killed long ago left its lock; its process id now belongs to an unrelated
        live process. The old code refused the folder until that process ended."""
        pid = self.live_process()
        started = processes.start_mark(pid)
        boot, ticks = started.rsplit(":", 1)
        path = self.write_lock(f"{pid}\nhost {processes.host_tag()}\nstarted {boot}:"
                               f"{int(ticks) - 1}\n")
        run_folder.lock(self.folder)
        with open(path) as f:
            self.assertEqual(f.readline(), f"{os.getpid()}\n")
        run_folder.unlock(self.folder)
        # The lock of that very process holds.
        self.write_lock(f"{pid}\nhost {processes.host_tag()}\nstarted {started}\n")
        with self.assertRaisesRegex(FileExistsError, f"in use by another run \\(process {pid}\\)"):
            run_folder.lock(self.folder)

    def test_the_refusal_says_how_to_clear_a_stale_lock(self):
        pid = self.live_process()
        for text, where in ((f"{pid}\n", ""),  # an older version's lock: the id alone
                            # Another machine's process cannot be asked: it holds.
                            (f"{pid}\nhost {int(processes.host_tag(), 16) ^ 1:08x}\n",
                             " on another machine")):
            with self.subTest(where=where):
                path = self.write_lock(text)
                with self.assertRaises(FileExistsError) as refused:
                    run_folder.lock(self.folder)
                self.assertEqual(str(refused.exception), (
                    f"{self.folder} is in use by another run (process {pid}{where}); wait for "
                    f"it to finish or choose another name. If no run uses the folder (a lock "
                    f"left by a run that was killed), delete {path}"))

    def test_many_processes_locking_at_once(self):
        for trial in range(10):
            with self.subTest(trial=trial):
                folder = os.path.join(self.folder, str(trial))
                os.mkdir(folder)
                outcomes = race(lock_at_once, folder, n=4)
                self.assertEqual(outcomes.count("ok"), 1, outcomes)
                self.assertEqual(os.listdir(folder), [])  # the winner unlocked; no leftovers

    def test_resume_refused_while_the_run_is_live(self):
        folder = os.path.join(self.folder, "live")
        os.mkdir(folder)
        open(os.path.join(folder, "last.npz"), "wb").close()
        hold_lock(self, folder)
        with self.assertRaisesRegex(FileExistsError, "in use by another run"):
            scripts.open_run(self.folder, "live", "iris")


# ``python -c`` program: run train_ffnn.py as __main__, sending the process a real
# SIGTERM while it loads the data (before any training step).
TERMINATE_WHILE_LOADING = """
import os, runpy, signal, sys
from neural_networks import runs
original = runs.initialize_dataset
def initialize_dataset(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    return original(*args, **kwargs)
runs.initialize_dataset = initialize_dataset
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


class TestSignalsOutsideTraining(unittest.TestCase):
    def test_sigterm_while_loading_data_leaves_no_folder(self):
        with tempfile.TemporaryDirectory() as save_dir:
            proc = subprocess.run(
                [sys.executable, "-c", TERMINATE_WHILE_LOADING, "train_ffnn.py",
                 "--save-dir", save_dir], cwd=REPO_ROOT, capture_output=True, text=True,
                timeout=120)
            self.assertEqual(proc.returncode, 143, proc.stderr)
            self.assertEqual(proc.stderr.strip().splitlines()[-1], "Terminated.")
            self.assertNotIn("Traceback", proc.stderr)
            self.assertEqual(os.listdir(save_dir), [])


# ``python -c`` program: run neural_networks.train_ffnn as ``python -m`` does, stopping
# itself with SIGINT after its 7th update step.
INTERRUPT_MODULE = """
import os, runpy, signal, sys
from neural_networks.models import NeuralNetwork
original_update, steps = NeuralNetwork.update, []
def update(self, epoch):
    original_update(self, epoch)
    steps.append(epoch)
    if len(steps) == 7:
        os.kill(os.getpid(), signal.SIGINT)
NeuralNetwork.update = update
sys.argv = ["neural_networks.train_ffnn", *sys.argv[1:]]
runpy.run_module("neural_networks.train_ffnn", run_name="__main__", alter_sys=True)
"""


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
        for checkpoint in ("last.npz", "best.npz"):
            arrays, meta = checkpoint_arrays(folder / checkpoint)
            reference, reference_meta = checkpoint_arrays(self.folder / checkpoint)
            self.assertEqual(sorted(arrays), sorted(reference))
            for key in reference:
                np.testing.assert_array_equal(arrays[key], reference[key],
                                              err_msg=f"{checkpoint} {key}")
            for record in (*meta["history"]["epochs"], *reference_meta["history"]["epochs"]):
                del record["seconds"]
            self.assertEqual(meta["history"], reference_meta["history"], checkpoint)
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
            scripts.start(self.save_dir, "run", "run", True, prepare)
        self.assertEqual(self.contents(), earlier)
        self.assertEqual(os.listdir(self.save_dir), ["run"])

    def test_the_new_run_starts_empty_and_the_earlier_goes_once_it_has_a_checkpoint(self):
        earlier = self.contents()
        out = io.StringIO()
        folder, _ = scripts.start(self.save_dir, "run", "run", True,
                                  lambda: (None, {"settings": "new"}), out)
        aside = self.folder + ".overwritten"
        self.assertEqual(sorted(os.listdir(folder)), [".lock", "args.json"])
        self.assertEqual({k: v for k, v in self.contents(aside).items() if k != ".lock"},
                         earlier)
        self.assertIn(f"its earlier run waits in {aside}", out.getvalue())
        # Given back before its first checkpoint: the earlier run is back, whole.
        self.assertTrue(scripts.give_back(folder))
        self.assertEqual(self.contents(), earlier)
        self.assertFalse(os.path.exists(aside))
        # Under way (a checkpoint): the earlier run is deleted.
        folder, _ = scripts.start(self.save_dir, "run", "run", True,
                                  lambda: (None, {"settings": "new"}), io.StringIO())
        with open(os.path.join(folder, "last.npz"), "w") as f:
            f.write("the new run's")
        self.assertFalse(scripts.give_back(folder))
        run_folder.drop_set_aside(folder)
        self.assertEqual(sorted(os.listdir(self.save_dir)), ["run"])
        run_folder.unlock(folder)


class TestCheckBest(unittest.TestCase):
    def test_a_best_npz_that_last_npz_cannot_restore_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            folder, _, _ = runs.train_and_save(tmp, "run", epochs=20, lr=0.1, verbose=False)
            model = runs.iris_model(10, 0.1, 0.9, 0).load(os.path.join(folder, "last.npz"))
            best = scripts.best_epoch(model.history)
            self.assertLess(best, model.epoch)
            scripts.check_best(folder, model)  # they agree
            # best.npz of another epoch than the best, which last.npz (a later one) cannot
            # give back: refused, saying what each holds.
            with open(os.path.join(folder, "last.npz"), "rb") as f:
                later = f.read()
            with open(os.path.join(folder, "best.npz"), "wb") as f:
                f.write(later)
            with self.assertRaisesRegex(ValueError, f"cannot resume {folder}: its best "
                                                    f"validation error was at epoch {best}, but "
                                                    f"best.npz holds epoch 20, and last.npz "
                                                    f"\\(epoch 20\\) cannot restore it"):
                scripts.check_best(folder, model)
            with open(os.path.join(folder, "best.npz"), "rb") as f:
                self.assertEqual(f.read(), later)


class TestResumeCommand(unittest.TestCase):
    def test_a_module_run_is_resumed_as_a_module(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([sys.executable, "-c", INTERRUPT_MODULE, "--save-dir", tmp],
                                  cwd=tmp, capture_output=True, text=True, timeout=120)
            self.assertEqual(proc.returncode, 130, proc.stderr)
            hint = [line for line in proc.stdout.splitlines() if line.startswith("Resume with: ")]
            self.assertEqual(shlex.split(hint[0])[2:], [
                "python", "-m", "neural_networks.train_ffnn", "--resume", "--name", "iris_ffnn",
                "--save-dir", tmp])

    def test_quotes_what_the_shell_needs(self):
        command = scripts.resume_command("train_cifar10.py", "my runs/it's here",
                                         data_dir="/data/cifar 10", test_file=None)
        self.assertEqual(shlex.split(command),
                         ["python", "train_cifar10.py", "--resume", "--name", "it's here",
                          "--save-dir", "my runs", "--data-dir", "/data/cifar 10"])
        self.assertEqual(shlex.split(scripts.resume_command("train_ffnn.py",
                                                            "experiments/iris_ffnn")),
                         ["python", "train_ffnn.py", "--resume", "--name", "iris_ffnn"])


class TestEarlyStoppedRun(unittest.TestCase):
    def test_is_finished(self):
        model = small_classifier()
        model.train(wandering_validation(), 40, verbose=False, patience=1)
        stop = model.history["stopped_early"]
        self.assertLess(model.epoch, 40)
        args = {"settings": {"epochs": 40}}
        self.assertEqual(scripts.extend("runs/x", args, model, None), model.epoch)
        with self.assertRaisesRegex(ValueError, f"stopped early at epoch {stop['epoch']}.*"
                                                f"after epoch {stop['best_epoch']}.*best.npz"):
            scripts.extend("runs/x", args, model, 50)
        self.assertEqual(args["settings"]["epochs"], 40)


class TestRunFiles(unittest.TestCase):
    def test_curves_mark_the_epoch_best_npz_keeps_and_name_label_smoothing(self):
        dataset = wandering_validation()
        dataset.train.label_smoothing = 0.1
        model = small_classifier()
        with tempfile.TemporaryDirectory() as folder, \
                matplotlib.rc_context({"svg.fonttype": "none"}):
            status = scripts.fit(model, dataset, folder, 40, "Wandering", "resume", fmt="svg",
                                 verbose=False, patience=2)
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


class TestChooseRun(unittest.TestCase):
    """Which run ``--resume`` without ``--name`` continues (Iris runs of 2 epochs;
    one is made unfinished by raising its planned total, as a run stopped after
    its second epoch looks)."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.save_dir = tmp.name

    def make_run(self, name, unfinished=False):
        with contextlib.redirect_stdout(io.StringIO()):
            folder, _, status = runs.train_and_save(self.save_dir, name, epochs=2,
                                                    verbose=False)
        self.assertEqual(status, 0)
        if unfinished:
            args = run_folder.read_args(folder)
            args["settings"]["epochs"] = 5
            run_folder.write_args(folder, args)
        return folder

    def choose(self):
        return scripts.choose_run(self.save_dir, None, [runs.DEFAULT_RUN_NAME],
                                  lambda folder: scripts.run_state(folder, "iris"))

    def test_the_unfinished_run_even_after_a_finished_one(self):
        self.make_run("iris_ffnn")
        self.make_run("iris_ffnn_2", unfinished=True)
        self.make_run("iris_ffnn_3")
        self.assertEqual(self.choose(), "iris_ffnn_2")
        self.assertEqual(scripts.run_state(os.path.join(self.save_dir, "iris_ffnn_2"), "iris"),
                         (False, "stopped after epoch 2/5"))
        self.assertEqual(scripts.run_state(os.path.join(self.save_dir, "iris_ffnn"), "iris"),
                         (True, "finished, 2/2 epochs"))
        # A name given is taken as it is.
        self.assertEqual(scripts.choose_run(self.save_dir, "iris_ffnn_3", ["iris_ffnn"], None),
                         "iris_ffnn_3")

    def test_several_unfinished_are_refused_by_name(self):
        self.make_run("iris_ffnn", unfinished=True)
        self.make_run("iris_ffnn_12", unfinished=True)
        with self.assertRaises(ValueError) as error:
            self.choose()
        message = str(error.exception)
        self.assertIn("2 unfinished runs", message)
        self.assertIn("iris_ffnn (stopped after epoch 2/5); iris_ffnn_12 (stopped after epoch "
                      "2/5)", message)
        self.assertIn("--name", message)

    def test_with_none_unfinished_only_a_single_run_is_taken(self):
        self.make_run("iris_ffnn_2")
        self.assertEqual(self.choose(), "iris_ffnn_2")
        self.make_run("iris_ffnn")
        with self.assertRaisesRegex(ValueError, r"no unfinished run to resume in .*: iris_ffnn "
                                                r"\(finished, 2/2 epochs\); iris_ffnn_2 .*"
                                                r"--name \(and --epochs N to train it on\)"):
            self.choose()

    def test_no_run_at_all(self):
        with self.assertRaisesRegex(ValueError, "holds no run named iris_ffnn, iris_ffnn_2, "
                                                r"\.\.\. to resume; name the run with --name"):
            self.choose()

    def test_other_names_kinds_and_live_runs_are_no_candidates(self):
        for name in ("iris_ffnn_1", "iris_ffnn_x", "my_iris_ffnn", "iris_ffnn_02"):
            self.make_run(name, unfinished=True)
        other = self.make_run("iris_ffnn_2", unfinished=True)
        args = run_folder.read_args(other)
        args["settings"]["dataset"] = "fashion_mnist"
        run_folder.write_args(other, args)
        live = self.make_run("iris_ffnn_3", unfinished=True)
        hold_lock(self, live)
        self.assertTrue(run_folder.in_use(live))
        self.make_run("iris_ffnn_4", unfinished=True)
        self.assertEqual(self.choose(), "iris_ffnn_4")
        self.assertEqual(scripts.default_named(self.save_dir, ["iris_ffnn"]),
                         ["iris_ffnn_2", "iris_ffnn_3", "iris_ffnn_4"])


class TestResumeLine(unittest.TestCase):
    def model(self, epoch, iteration, stop=None):
        history = {} if stop is None else {"stopped_early": stop}
        return types.SimpleNamespace(epoch=epoch, iteration=iteration, history=history)

    def test_counts_as_the_epoch_lines_do(self):
        # Stopped after 2 steps of the second epoch: epoch 2/6 goes on at its third step.
        self.assertEqual(scripts.resume_line("runs/a", self.model(1, 2), 6, 5),
                         "Resuming runs/a at epoch 2/6, iteration 3/5 (1 epoch and 2 "
                         "iterations done)")
        self.assertEqual(scripts.resume_line("runs/a", self.model(3, 0), 10, 5),
                         "Resuming runs/a at epoch 4/10, iteration 1/5 (3 epochs done)")
        self.assertEqual(scripts.resume_line("runs/a", self.model(0, 1), 1, 5),
                         "Resuming runs/a at epoch 1/1, iteration 2/5 (0 epochs and 1 "
                         "iteration done)")

    def test_a_finished_run_says_so_and_how_to_train_on(self):
        self.assertEqual(scripts.resume_line("runs/a", self.model(6, 0), 6, 5),
                         "runs/a is finished: it trained all 6 of its epochs; nothing to "
                         "train, so it is scored again. To train it on, resume it with "
                         "--epochs N (N > 6)")
        stop = {"epoch": 5, "best_epoch": 2, "patience": 3}
        line = scripts.resume_line("runs/a", self.model(5, 0, stop), 5, 5)
        self.assertIn("runs/a is finished: it stopped early after epoch 5", line)
        self.assertNotIn("--epochs", line)  # a new total is refused for it


class TestKeptSettings(unittest.TestCase):
    def test_options_that_differ_are_named(self):
        settings = {"model": "mlp", "lr": 0.002, "seed": 0, "batch_size": 128}
        scripts.check_kept_settings("runs/a", settings, {"model": "mlp", "seed": 0})
        with self.assertRaises(ValueError) as error:
            scripts.check_kept_settings("runs/a", settings,
                                        {"model": "cnn", "seed": 0, "lr": 0.5})
        self.assertEqual(str(error.exception),
                         "cannot resume runs/a with --model cnn (the run's is mlp), --lr 0.5 "
                         "(the run's is 0.002): a resumed run keeps its own settings; drop "
                         "the option or start a new run")

    def test_given_options_are_told_from_defaults(self):
        parser_args = image_runs.parse_args("fashion_mnist", "s.py", ["--seed", "0"])
        self.assertEqual(parser_args.seed, 0)
        with contextlib.redirect_stderr(io.StringIO()):
            resumed = image_runs.parse_args("fashion_mnist", "s.py",
                                            ["--resume", "--seed", "0", "--epochs", "4"])
            bare = image_runs.parse_args("fashion_mnist", "s.py", ["--resume"])
        # Given (even as the default): kept, to be checked against the run's own.
        self.assertEqual((resumed.seed, resumed.model, resumed.plot_format), (0, None, None))
        self.assertEqual((bare.seed, bare.model, bare.plot_format, bare.epochs),
                         (None, None, None, None))
        parser = argparse.ArgumentParser()
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--flag", action="store_true")
        parser.add_argument("--name", default="x")
        self.assertEqual(scripts.given_options(parser, ["--seed", "0", "--flag"]),
                         {"seed", "flag"})
        self.assertEqual(scripts.given_options(parser, []), set())


if __name__ == "__main__":
    unittest.main()
