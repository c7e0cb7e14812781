"""Execute check_gradients.ipynb in a fresh kernel and read its printed errors."""

import importlib.util
import re
import shutil
import subprocess
import unittest
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.support import missing

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO_ROOT / "check_gradients.ipynb"
ERROR = re.compile(r"relative error ([0-9.]+e[+-]\d+)")

# Checks each section must print: one per quantity (dZ, dX, dW, db, dY_hat).
EXPECTED = {
    "Linear": 1, "Sigmoid": 1, "TanH": 1, "ArcTan": 1, "ReLU": 1, "SoftMax": 1,
    "FullyConnected": 3 * 3,            # 3 layers x (dX, dW, db)
    "Conv2D": 5 * 3,                    # 5 kernel/stride/pad cases x (dX, dW, db)
    "Max pooling": 3,                   # 3 cases x dX
    "Average pooling": 3,
    "Flatten": 2,
    "CrossEntropy": 1,
    "L2": 1,
}


def text_outputs(cell):
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream")


class TestCheckGradientsNotebook(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.committed = nbformat.read(NOTEBOOK, as_version=4)
        cls.nb = nbformat.read(NOTEBOOK, as_version=4)
        client = NotebookClient(cls.nb, kernel_name="python3", timeout=300,
                                resources={"metadata": {"path": str(REPO_ROOT)}})
        client.execute()  # raises CellExecutionError if any cell fails

    def sections(self):
        """{heading of the last markdown cell: printed text of the code cell after it}."""
        found, heading = {}, None
        for cell in self.nb.cells:
            if cell.cell_type == "markdown":
                heading = cell.source.splitlines()[0].lstrip("#").strip()
            elif heading is not None:
                found[heading] = found.get(heading, "") + text_outputs(cell)
        return found

    def test_every_printed_relative_error_is_below_1e_7(self):
        errors = [float(e) for cell in self.nb.cells if cell.cell_type == "code"
                  for e in ERROR.findall(text_outputs(cell))]
        self.assertEqual(len(errors), sum(EXPECTED.values()))
        for err in errors:
            self.assertLess(err, 1e-7)

    def test_one_section_per_piece_with_its_checks(self):
        sections = self.sections()
        for heading, count in EXPECTED.items():
            with self.subTest(section=heading):
                self.assertIn(heading, sections)
                lines = ERROR.findall(sections[heading])
                self.assertEqual(len(lines), count, sections[heading])

    def test_layers_check_every_parameter(self):
        sections = self.sections()
        for heading in ("FullyConnected", "Conv2D"):
            text = sections[heading]
            for quantity in ("dX", "dW", "db"):
                self.assertEqual(len(re.findall(rf" {quantity} +relative error", text)),
                                 EXPECTED[heading] // 3, (heading, quantity))

    def test_names_a_command_that_exists(self):
        intro = self.committed.cells[0].source
        commands = re.findall(r"`python -m ([\w.]+)`", intro)
        self.assertEqual(commands, ["neural_networks.gradient_checks"])
        self.assertIsNotNone(importlib.util.find_spec(commands[0]))

    def test_committed_without_outputs(self):
        for cell in self.committed.cells:
            if cell.cell_type == "code":
                self.assertEqual(cell.outputs, [])
                self.assertIsNone(cell.execution_count)


class TestNbconvertOutputsIgnored(unittest.TestCase):
    """What ``jupyter nbconvert`` writes beside the notebook stays out of git."""

    def test_git_ignores_them(self):
        if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
            missing("not a git checkout: git decides what is ignored")
        outputs = ["check_gradients.nbconvert.ipynb",  # --execute --to notebook
                   "check_gradients.html", "check_gradients.md", "check_gradients.tex",
                   "check_gradients.pdf", "check_gradients.py", "check_gradients.txt",
                   "check_gradients_files/output_1_0.png"]
        proc = subprocess.run(["git", "check-ignore", "--no-index", "--verbose",
                               "--non-matching", *outputs],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        # --non-matching lists every path, "::<tab>path" for the ones not ignored.
        not_ignored = [line.split("\t")[-1] for line in proc.stdout.splitlines()
                       if line.startswith("::")]
        self.assertEqual(not_ignored, [], proc.stderr)
        self.assertEqual(len(proc.stdout.splitlines()), len(outputs), proc.stderr)
        # The notebook itself stays tracked.
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", NOTEBOOK.name],
                                 cwd=REPO_ROOT, capture_output=True, timeout=60)
        self.assertEqual(tracked.returncode, 0)


if __name__ == "__main__":
    unittest.main()
