"""``--device cpu|gpu`` of the training scripts (scripts.add_device_option,
lifecycle.Run), the GPU played by tests/fake_gpu.py's device.

- Without CuPy, ``--device gpu`` is one line on stderr naming the wheel to
  install, exit status 2, and no run folder (a run, a sweep, a resume, and the
  image scripts); ``--device bogus`` is argparse's error, status 2.
- A tiny run with ``--device gpu`` trains on the device (host arrays are
  uploaded), ends as the same run on the CPU does, and its checkpoints load
  on the CPU; args.json does not hold the device.
- A run started on the GPU resumes with ``--device cpu``, and one started on
  the CPU with ``--device gpu``, to the run trained in one go; the sweep too.
- The resume command a GPU run prints repeats ``--device gpu``.
"""

import contextlib
import functools
import io
import json
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from neural_networks import backend, checkpoints, image_runs, load_model, runs, train_ffnn
from neural_networks.image_runs import main as image_main
from tests.fake_gpu import counters, fakecupy
from tests.test_datasets_fashion_mnist import small_fashion_mnist, write_fashion_mnist

TOLERANCE = 1e-12  # as tests/test_gpu.py: the device sums some gradients in one block

MAINS = {
    "train_ffnn.py": train_ffnn.main,
    "train_fashion_mnist.py": functools.partial(image_main, "fashion_mnist",
                                                "train_fashion_mnist.py"),
    "train_cifar10.py": functools.partial(image_main, "cifar10", "train_cifar10.py"),
}


def call(main, *argv):
    """(exit status, stdout, stderr) of a script's ``main(argv)``; argparse's exit too."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(arg) for arg in argv])
        except SystemExit as stop:
            status = stop.code
    return status, out.getvalue(), err.getvalue()


def parameters(path):
    """The parameter arrays of a checkpoint, by name (host arrays)."""
    arrays = checkpoints.read(path).arrays
    return {key: value for key, value in arrays.items() if key.startswith("param")}


class DeviceTestCase(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.save_dir = Path(tmp.name, "experiments")

    def on_fake_gpu(self):
        """Put the fake device in CuPy's place for the rest of the test."""
        context = backend.use_gpu_module(fakecupy)
        context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)
        counters.reset()

    def assertSameParameters(self, path, expected_path):
        got, expected = parameters(path), parameters(expected_path)
        self.assertEqual(got.keys(), expected.keys())
        self.assertTrue(got)
        for key, value in expected.items():
            scale = float(np.max(np.abs(value)))
            error = float(np.max(np.abs(got[key] - value))) / scale
            self.assertLessEqual(error, TOLERANCE, key)


class TestWithoutCupy(DeviceTestCase):
    def test_gpu_is_one_line_status_2_and_no_folder(self):
        commands = [(name, []) for name in MAINS] + [
            ("train_ffnn.py", ["--sweep", "--lrs", "0.1", "--hiddens", "5"]),
            ("train_ffnn.py", ["--resume"]),
            ("train_fashion_mnist.py", ["--resume"]),
        ]
        for name, extra in commands:
            with self.subTest(script=name, extra=extra), \
                    mock.patch.dict(sys.modules, {"cupy": None}):
                status, out, err = call(MAINS[name], "--device", "gpu", "--save-dir",
                                        self.save_dir, "--epochs", "1", *extra)
                self.assertEqual(status, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn("pip install cupy-cuda12x", err)
                self.assertFalse(self.save_dir.exists())

    def test_an_unknown_device_is_argparses_error(self):
        for name, main in MAINS.items():
            with self.subTest(script=name):
                status, _, err = call(main, "--device", "bogus", "--save-dir", self.save_dir)
                self.assertEqual(status, 2)
                self.assertIn("argument --device: invalid choice: 'bogus'", err)
                self.assertFalse(self.save_dir.exists())

    def test_cpu_is_the_default(self):
        self.assertEqual(train_ffnn.parse_args([]).device, "cpu")
        args = image_runs.parse_args("cifar10", "train_cifar10.py", [])
        self.assertEqual(image_runs.ImageRunOptions.from_args("cifar10", "x", args).device,
                         "cpu")


class TestIrisOnTheFakeGpu(DeviceTestCase):
    def setUp(self):
        super().setUp()
        self.on_fake_gpu()

    def train(self, *argv):
        status, out, err = call(train_ffnn.main, "--save-dir", self.save_dir, *argv)
        self.assertEqual(status, 0, out + err)
        return out

    def test_a_gpu_run_trains_on_the_device_and_loads_on_the_cpu(self):
        self.train("--device", "gpu", "--epochs", "3", "--name", "gpu")
        self.assertGreater(counters.uploads, 0)  # the batches went to the device
        self.train("--epochs", "3", "--name", "cpu")
        gpu, cpu = self.save_dir / "gpu", self.save_dir / "cpu"
        self.assertSameParameters(gpu / "last.npz", cpu / "last.npz")
        args = json.loads((gpu / "args.json").read_text())
        self.assertEqual(args, json.loads((cpu / "args.json").read_text()))
        self.assertNotIn("device", json.dumps(args))
        model = load_model(gpu / "last.npz")  # the model predictions.csv is of
        self.assertEqual(model.device, "cpu")
        predicted, _ = model.classify(runs.iris_data(25).test.data)
        self.assertIsInstance(predicted, np.ndarray)
        written = np.loadtxt(gpu / "predictions.csv", delimiter=",", skiprows=1)
        self.assertEqual(predicted.tolist(), written[:, -1].astype(int).tolist())

    def test_resumed_on_the_other_device_ends_as_the_run_in_one_go(self):
        self.train("--epochs", "4", "--name", "whole")
        for first, then in (("gpu", "cpu"), ("cpu", "gpu")):
            with self.subTest(first=first, then=then):
                name = f"{first}_then_{then}"
                self.train("--device", first, "--epochs", "2", "--name", name)
                out = self.train("--resume", "--name", name, "--epochs", "4",
                                 "--device", then)
                self.assertIn("Test accuracy", out)
                folder = self.save_dir / name
                self.assertEqual(checkpoints.read(folder / "last.npz").meta["epoch"], 4)
                self.assertSameParameters(folder / "last.npz",
                                          self.save_dir / "whole" / "last.npz")

    def test_a_sweep_on_the_gpu_resumes_on_the_cpu(self):
        sweep = ["--sweep", "--lrs", "0.1", "--hiddens", "5", "--epochs", "1"]
        self.train(*sweep, "--device", "gpu", "--name", "sweep")
        self.assertGreater(counters.uploads, 0)
        pair = self.save_dir / "sweep" / "lr0.1_hidden5"
        self.assertNotIn("device", (pair / "args.json").read_text())
        out = self.train("--sweep", "--resume", "--name", "sweep", "--device", "cpu")
        self.assertIn("Test accuracy", out)

    def test_the_resume_command_repeats_the_device(self):
        for device, expected in (("gpu", ["--device", "gpu"]), ("cpu", [])):
            run = runs.IrisRun(save_dir="experiments", name="x", device=device)
            options = image_runs.ImageRun(image_runs.ImageRunOptions(
                "cifar10", "train_cifar10.py", device=device)).resume_options()
            for what in (run.resume_options(), options):
                hint = train_ffnn.scripts.resume_command("train_ffnn.py", "experiments/x",
                                                         **what).split()
                self.assertEqual(hint[hint.index("x") + 1:], expected)


class TestImageRunOnTheFakeGpu(DeviceTestCase):
    def test_a_fashion_mnist_run_on_the_gpu_resumes_on_the_cpu(self):
        data_dir = write_fashion_mnist(self.save_dir.parent / "fashion", *small_fashion_mnist())
        self.on_fake_gpu()
        common = ["--data-dir", data_dir, "--save-dir", self.save_dir, "--name", "run"]
        status, out, err = call(MAINS["train_fashion_mnist.py"], *common, "--model", "mlp",
                                "--epochs", "1", "--validation-size", "10", "--device", "gpu")
        self.assertEqual(status, 0, out + err)
        self.assertGreater(counters.uploads, 0)
        folder = self.save_dir / "run"
        self.assertNotIn("device", (folder / "args.json").read_text())
        self.assertEqual(load_model(folder / "last.npz").device, "cpu")
        status, out, err = call(MAINS["train_fashion_mnist.py"], *common, "--resume",
                                "--epochs", "2", "--device", "cpu")
        self.assertEqual(status, 0, out + err)
        self.assertEqual(checkpoints.read(folder / "last.npz").meta["epoch"], 2)


if __name__ == "__main__":
    unittest.main()
