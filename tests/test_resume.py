"""What ``--resume`` reads back and checks (neural_networks/resume.py).

- A run cannot be resumed while a live process holds it.
- A best.npz that last.npz cannot restore is refused, saying what each holds.
- A run that stopped early is finished: resuming it trains nothing, and a new
  total of epochs is refused saying why.
- ``--resume`` without a name takes the one unfinished default-named run (a
  later ``_2`` one too), or the only run; it refuses, naming them, when
  several are unfinished or several are finished; runs of another kind,
  other names and runs in use are no candidates.
- The "Resuming" line counts as the epoch lines do (1-based "epoch k/N",
  iterations from 1); a finished run says so and how to train it on.
- A resumed run's settings are kept: an option given that differs is refused,
  naming it and the run's value.
"""

import contextlib
import io
import os
import tempfile
import types
import unittest

from neural_networks import resume, run_folder, runs
from tests.test_run_folder import hold_lock
from tests.test_training import small_classifier, wandering_validation


class TestOpenRun(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.folder = tmp.name

    def test_resume_refused_while_the_run_is_live(self):
        folder = os.path.join(self.folder, "live")
        os.mkdir(folder)
        open(os.path.join(folder, "last.npz"), "wb").close()
        hold_lock(self, folder)
        with self.assertRaisesRegex(FileExistsError, "in use by another run"):
            resume.open_run(self.folder, "live", "iris")


class TestCheckBest(unittest.TestCase):
    def test_a_best_npz_that_last_npz_cannot_restore_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            folder, _, _ = runs.train_and_save(tmp, "run", epochs=20, lr=0.1, verbose=False)
            model = runs.iris_model(10, 0.1, 0.9, 0).load(os.path.join(folder, "last.npz"))
            best = resume.best_epoch(model.history)
            self.assertLess(best, model.epoch)
            resume.check_best(folder, model)  # they agree
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
                resume.check_best(folder, model)
            with open(os.path.join(folder, "best.npz"), "rb") as f:
                self.assertEqual(f.read(), later)


class TestEarlyStoppedRun(unittest.TestCase):
    def test_is_finished(self):
        model = small_classifier()
        model.train(wandering_validation(), 40, verbose=False, patience=1)
        stop = model.history["stopped_early"]
        self.assertLess(model.epoch, 40)
        args = {"settings": {"epochs": 40}}
        self.assertEqual(resume.extend("runs/x", args, model, None), model.epoch)
        with self.assertRaisesRegex(ValueError, f"stopped early at epoch {stop['epoch']}.*"
                                                f"after epoch {stop['best_epoch']}.*best.npz"):
            resume.extend("runs/x", args, model, 50)
        self.assertEqual(args["settings"]["epochs"], 40)


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
        return resume.choose_run(self.save_dir, None, [runs.DEFAULT_RUN_NAME],
                                 lambda folder: resume.run_state(folder, "iris"))

    def test_the_unfinished_run_even_after_a_finished_one(self):
        self.make_run("iris_ffnn")
        self.make_run("iris_ffnn_2", unfinished=True)
        self.make_run("iris_ffnn_3")
        self.assertEqual(self.choose(), "iris_ffnn_2")
        self.assertEqual(resume.run_state(os.path.join(self.save_dir, "iris_ffnn_2"), "iris"),
                         (False, "stopped after epoch 2/5"))
        self.assertEqual(resume.run_state(os.path.join(self.save_dir, "iris_ffnn"), "iris"),
                         (True, "finished, 2/2 epochs"))
        # A name given is taken as it is.
        self.assertEqual(resume.choose_run(self.save_dir, "iris_ffnn_3", ["iris_ffnn"], None),
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
        self.assertEqual(resume.default_named(self.save_dir, ["iris_ffnn"]),
                         ["iris_ffnn_2", "iris_ffnn_3", "iris_ffnn_4"])


class TestResumeLine(unittest.TestCase):
    def model(self, epoch, iteration, stop=None):
        history = {} if stop is None else {"stopped_early": stop}
        return types.SimpleNamespace(epoch=epoch, iteration=iteration, history=history)

    def test_counts_as_the_epoch_lines_do(self):
        # Stopped after 2 steps of the second epoch: epoch 2/6 goes on at its third step.
        self.assertEqual(resume.resume_line("runs/a", self.model(1, 2), 6, 5),
                         "Resuming runs/a at epoch 2/6, iteration 3/5 (1 epoch and 2 "
                         "iterations done)")
        self.assertEqual(resume.resume_line("runs/a", self.model(3, 0), 10, 5),
                         "Resuming runs/a at epoch 4/10, iteration 1/5 (3 epochs done)")
        self.assertEqual(resume.resume_line("runs/a", self.model(0, 1), 1, 5),
                         "Resuming runs/a at epoch 1/1, iteration 2/5 (0 epochs and 1 "
                         "iteration done)")

    def test_a_finished_run_says_so_and_how_to_train_on(self):
        self.assertEqual(resume.resume_line("runs/a", self.model(6, 0), 6, 5),
                         "runs/a is finished: it trained all 6 of its epochs; nothing to "
                         "train, so it is scored again. To train it on, resume it with "
                         "--epochs N (N > 6)")
        stop = {"epoch": 5, "best_epoch": 2, "patience": 3}
        line = resume.resume_line("runs/a", self.model(5, 0, stop), 5, 5)
        self.assertIn("runs/a is finished: it stopped early after epoch 5", line)
        self.assertNotIn("--epochs", line)  # a new total is refused for it


class TestKeptSettings(unittest.TestCase):
    def test_options_that_differ_are_named(self):
        settings = {"model": "mlp", "lr": 0.002, "seed": 0, "batch_size": 128}
        resume.check_kept_settings("runs/a", settings, {"model": "mlp", "seed": 0})
        with self.assertRaises(ValueError) as error:
            resume.check_kept_settings("runs/a", settings,
                                       {"model": "cnn", "seed": 0, "lr": 0.5})
        self.assertEqual(str(error.exception),
                         "cannot resume runs/a with --model cnn (the run's is mlp), --lr 0.5 "
                         "(the run's is 0.002): a resumed run keeps its own settings; drop "
                         "the option or start a new run")


if __name__ == "__main__":
    unittest.main()
