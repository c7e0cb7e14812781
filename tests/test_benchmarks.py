"""The benchmark scripts that have a section in the tracked BENCHMARKS.md
(benchmarks/bench_layers.py, bench_training.py, gemm_floor.py) write it only
when asked with ``--write``; a plain or ``--quick`` run prints its table and
leaves the file alone, and ``--write`` with a partial run is refused.

The timing itself is replaced by fixed rows (and ``torch`` by a stand-in that
only takes the thread count), so these tests run in a moment and without
PyTorch; what they check is which file a run touches.
"""

import contextlib
import importlib
import io
import sys
import tempfile
import types
import unittest
from pathlib import Path
from unittest import mock

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO_ROOT / "benchmarks"

# The scripts import each other as top-level modules (``import bench_layers``).
sys.path.insert(0, str(BENCHMARKS))
bench_layers = importlib.import_module("bench_layers")
bench_training = importlib.import_module("bench_training")
gemm_floor = importlib.import_module("gemm_floor")
sys.path.remove(str(BENCHMARKS))

OLD_TEXT = "# Benchmarks\n\nwhat an earlier run wrote\n"

LAYER_ROW = dict(name=bench_layers.WORKLOADS[0][0], kind="conv", ours=0.010, torch=0.012,
                 naive=None, rounds=6, flops=2e9, peak=None)
FLOOR_ROW = dict(name="conv 28x28x1->32 k3 s1 same", ours=0.010, torch=0.012, gemms=0.008,
                 blocked=0.009)
EPOCH = ({"ours": 20.0, "PyTorch": 17.0}, 391, 2, None)  # run()'s result, no breakdown


class BenchmarkRun(unittest.TestCase):
    """Runs a script's ``main`` on fixed timings against a temporary BENCHMARKS.md."""

    #: (module, what its run() returns, the section a full run writes, a line it prints)
    SCRIPTS = {
        "bench_layers": (bench_layers, [LAYER_ROW], "float64", "<!-- float64 end -->"),
        "gemm_floor": (gemm_floor, [FLOOR_ROW], "floor-float32",
                       "<!-- floor-float32 end -->"),
        "bench_training": (bench_training, EPOCH, "training",
                           "ours 20.0 s, PyTorch 17.0 s per epoch: ours/PyTorch 1.18"),
    }

    def setUp(self):
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.bench_file = Path(folder.name, "BENCHMARKS.md")
        self.bench_file.write_text(OLD_TEXT)

    def main(self, script, *argv):
        """(exit status, stdout, stderr) of ``script``'s main(argv)."""
        module, result, _, _ = self.SCRIPTS[script]
        torch = types.ModuleType("torch")
        torch.set_num_threads = lambda threads: None
        out, err = io.StringIO(), io.StringIO()
        with contextlib.ExitStack() as stack:
            stack.enter_context(mock.patch.dict(sys.modules, {"torch": torch}))
            stack.enter_context(mock.patch.object(bench_layers, "BENCH_FILE",
                                                  str(self.bench_file)))
            stack.enter_context(mock.patch.object(module, "run", return_value=result))
            stack.enter_context(mock.patch.object(module, "keep_freed_memory"))
            stack.enter_context(mock.patch.object(bench_layers, "gemm_peak",
                                                  return_value=100.0))
            for owner in {bench_layers, module}:  # gemm_floor calls bench_layers'
                if hasattr(owner, "machine_facts"):
                    stack.enter_context(mock.patch.object(
                        owner, "machine_facts", return_value=["- machine: the test's"]))
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            try:
                module.main(list(argv))
                status = 0
            except SystemExit as stop:
                status = stop.code
        return status, out.getvalue(), err.getvalue()


class TestWriteOnlyWhenAsked(BenchmarkRun):
    def test_a_plain_run_prints_and_leaves_the_file(self):
        for script, (_, _, _, printed) in self.SCRIPTS.items():
            with self.subTest(script=script):
                status, out, _ = self.main(script)
                self.assertEqual(status, 0)
                self.assertIn(printed, out)
                self.assertIn("BENCHMARKS.md left as it was", out)
                self.assertEqual(self.bench_file.read_text(), OLD_TEXT)

    def test_a_quick_run_leaves_the_file(self):
        for script in self.SCRIPTS:
            with self.subTest(script=script):
                status, _, _ = self.main(script, "--quick")
                self.assertEqual(status, 0)
                self.assertEqual(self.bench_file.read_text(), OLD_TEXT)

    def test_write_puts_the_section_in(self):
        for script, (_, _, name, _) in self.SCRIPTS.items():
            with self.subTest(script=script):
                self.bench_file.write_text(OLD_TEXT)
                status, out, _ = self.main(script, "--write")
                self.assertEqual(status, 0)
                text = self.bench_file.read_text()
                self.assertTrue(text.startswith("# Benchmarks\n"))
                self.assertIn(f"<!-- {name} start -->", text)
                self.assertIn(f"<!-- {name} end -->", text)
                self.assertIn(f"wrote the {name} section", out)

    def test_write_refuses_a_partial_run(self):
        cases = [(script, "--quick") for script in self.SCRIPTS]
        cases.append(("bench_layers", "--only", "pool"))
        for script, *partial in cases:
            with self.subTest(script=script, partial=partial):
                status, _, err = self.main(script, "--write", *partial)
                self.assertEqual(status, 2)
                self.assertRegex(err.strip().splitlines()[-1],
                                 rf"error: --write puts a full run into BENCHMARKS.md: "
                                 rf"leave out .*{partial[0]}")
                self.assertEqual(self.bench_file.read_text(), OLD_TEXT)


if __name__ == "__main__":
    unittest.main()
