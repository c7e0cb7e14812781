"""benchmarks/gpu_check.py, the check and timing a GPU machine runs, kept from
rotting while none is at hand: its ``--device fake`` dry run (tests/fake_gpu.py's
device, small sizes, no PyTorch) runs here on the real Fashion-MNIST files.

- The dry run exits 0, writes every figure to its JSON file (a row for every
  registered layer in both modes, every activation, loss and optimizer, the
  training steps, the checkpoint, the epoch time, the recipe's time and
  accuracy) and prints its table.
- A correctness check beyond its tolerance makes it exit 1, saying FAILED.
- Without CuPy, ``--device gpu`` is one line on stderr naming the wheel, and
  exit status 2.
"""

import contextlib
import importlib
import io
import json
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from neural_networks.activations import ACTIVATIONS
from neural_networks.layers import LAYERS
from neural_networks.losses import LOSSES
from neural_networks.optimizers import OPTIMIZERS
from tests.support import require_fashion_mnist

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
gpu_check = importlib.import_module("gpu_check")
sys.path.remove(str(BENCHMARKS))


def run_main(*argv):
    """(exit status, stdout, stderr) of gpu_check.main(argv)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = gpu_check.main(list(argv))
    return status, out.getvalue(), err.getvalue()


class TestDryRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data_dir = str(require_fashion_mnist())
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder, "gpu_check.json")
            cls.status, cls.out, cls.err = run_main("--device", "fake", "--data-dir",
                                                    cls.data_dir, "--out", str(path),
                                                    "--repeats", "1")
            cls.result = json.loads(path.read_text()) if path.exists() else None

    def test_it_passes_and_writes_every_figure(self):
        self.assertEqual(self.status, 0, self.err)
        result = self.result
        self.assertTrue(result["checks_passed"])
        self.assertEqual(result["facts"]["device"], "fake")
        rows = result["checks"]["layers"]
        self.assertEqual({row["name"] for row in rows}, set(LAYERS))
        self.assertEqual({row["mode"] for row in rows}, {"train", "eval"})
        self.assertEqual({row["name"] for row in result["checks"]["others"]},
                         set(ACTIVATIONS) | set(LOSSES) | set(OPTIMIZERS))
        self.assertTrue(all(row["error"] <= gpu_check.TOLERANCE
                            for row in rows + result["checks"]["others"]))
        self.assertLessEqual(result["checks"]["training"]["parameters_error"],
                             gpu_check.TOLERANCE)
        self.assertTrue(result["checks"]["checkpoint"]["arrays_equal"])
        self.assertGreater(result["speed"]["ours_seconds"], 0)
        self.assertNotIn("torch_tf32_off_seconds", result["speed"])  # no PyTorch in a dry run
        self.assertEqual(result["recipe"]["epochs"], 1)
        self.assertTrue(0 <= result["recipe"]["test_accuracy"] <= 1)

    def test_it_prints_the_table(self):
        self.assertIn("fake device", self.out)
        self.assertIn("| recipe: test accuracy", self.out)
        self.assertIn("correctness checks passed", self.out)

    def test_a_check_beyond_its_tolerance_exits_1(self):
        # Tolerance 0: the blocks of the CPU path round differently from the device's one.
        with mock.patch.object(gpu_check, "TOLERANCE", 0.0):
            status, out, _ = run_main("--device", "fake", "--data-dir", self.data_dir,
                                      "--repeats", "1")
        self.assertEqual(status, 1)
        self.assertIn("FAILED", out)


class TestWithoutCupy(unittest.TestCase):
    def test_a_gpu_run_without_cupy_is_one_line_and_status_2(self):
        with mock.patch.dict(sys.modules, {"cupy": None}):
            status, out, err = run_main("--data-dir", "anywhere")
        self.assertEqual(status, 2)
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("pip install cupy-cuda12x", err)


if __name__ == "__main__":
    unittest.main()
