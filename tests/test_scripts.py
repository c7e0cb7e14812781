"""What the command lines of the training scripts share (neural_networks/scripts.py).

- SIGTERM outside training (while the data loads) exits 143 and gives the
  run folder back.
- The resume command quotes what a shell would need quoted, and resumes a
  module run as a module.
- Options given are told from defaults (a resumed run checks only those).
- The options every script has (COMMON_OPTIONS) are options of all three
  command lines, settings of every run, checked and kept on resume.
"""

import argparse
import contextlib
import functools
import io
import os
import shlex
import subprocess
import sys
import tempfile
import unittest
import unittest.mock

from neural_networks import image_runs, resume, run_folder, runs, scripts, train_ffnn

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


class TestGivenOptions(unittest.TestCase):
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


def _flavour(value):
    if value not in ("sweet", "sour"):
        raise ValueError(f"expected a flavour, sweet or sour, got {value!r}")
    return value


class TestCommonOptions(unittest.TestCase):
    """An entry of COMMON_OPTIONS is the whole of adding an option to every script: it is
    then an option of the three command lines, a setting of every run, sweep and pair,
    checked (and filled in for older runs) on resume, and kept by a resumed run."""

    FLAVOUR = {"flag": "--flavour", "choices": ("sweet", "sour"), "default": "sweet",
               "help": "the runs' flavour (default %(default)s)", "check": _flavour}

    def setUp(self):
        patch = unittest.mock.patch.dict(scripts.COMMON_OPTIONS, {"flavour": self.FLAVOUR})
        patch.start()
        self.addCleanup(patch.stop)
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.save_dir = tmp.name

    def parse(self, parse, *argv):
        """(parsed args or None, exit status or None, what was printed)."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                return parse(list(argv)), None, out.getvalue()
            except SystemExit as stop:
                return None, stop.code, out.getvalue()

    def test_every_command_line_has_it(self):
        image = functools.partial(image_runs.parse_args, "cifar10", "train_cifar10.py")
        for parse in (train_ffnn.parse_args, image):
            with self.subTest(parse=parse):
                args, _, _ = self.parse(parse, "--flavour", "sour")
                self.assertEqual((args.flavour, args.plot_format), ("sour", "png"))
                self.assertEqual(self.parse(parse)[0].flavour, "sweet")
                _, status, printed = self.parse(parse, "--help")
                self.assertEqual(status, 0)
                self.assertRegex(printed, r"(?m)^  --flavour \{sweet,sour\}")
                _, status, printed = self.parse(parse, "--flavour", "bitter")
                self.assertEqual(status, 2)
                self.assertIn("invalid choice: 'bitter'", printed)
        # A resumed run keeps its own: train_ffnn.py refuses the option, the image
        # scripts check it against the run's (None: not given).
        _, status, printed = self.parse(train_ffnn.parse_args, "--resume", "--flavour", "sour")
        self.assertEqual(status, 2)
        self.assertIn("drop --flavour", printed)
        self.assertIsNone(self.parse(image, "--resume")[0].flavour)
        self.assertEqual(self.parse(image, "--resume", "--flavour", "sour")[0].flavour, "sour")

    def test_runs_sweeps_and_their_pairs_save_it_and_resume_checks_it(self):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(train_ffnn.main(["--save-dir", self.save_dir, "--epochs", "1",
                                              "--flavour", "sour"]), 0)
            self.assertEqual(train_ffnn.main(["--sweep", "--lrs", "0.1", "--hiddens", "5",
                                              "--epochs", "1", "--save-dir", self.save_dir,
                                              "--flavour", "sour"]), 0)
        folders = [os.path.join(self.save_dir, "iris_ffnn"),
                   os.path.join(self.save_dir, "iris_sweep"),
                   os.path.join(self.save_dir, "iris_sweep", "lr0.1_hidden5")]
        for folder in folders:
            self.assertEqual(run_folder.read_args(folder)["settings"]["flavour"], "sour")
        options = image_runs.ImageRunOptions("cifar10", "train_cifar10.py",
                                             common={"flavour": "sour", "plot_format": "svg"})
        image_run = image_runs.ImageRun(options)
        self.assertEqual({k: image_run.new_settings()[k] for k in ("flavour", "plot_format")},
                         {"flavour": "sour", "plot_format": "svg"})
        self.assertEqual(image_run.kept(), {"flavour": "sour", "plot_format": "svg"})
        # On resume: checked, and a run saved before the option existed takes the default.
        folder = folders[0]
        args = run_folder.read_args(folder)
        args["settings"]["flavour"] = "bitter"
        run_folder.write_args(folder, args)
        with self.assertRaisesRegex(ValueError, "its setting 'flavour' must be one of 'sweet', "
                                                "'sour', got 'bitter'"):
            resume.resumable_args(folder, "iris", runs.RUN_RULES)
        del args["settings"]["flavour"]
        run_folder.write_args(folder, args)
        self.assertEqual(resume.resumable_args(folder, "iris")["settings"]["flavour"], "sweet")


if __name__ == "__main__":
    unittest.main()
