"""Tests of the gradient-check report, neural_networks/gradient_checks.py, and its
command ``python -m neural_networks.gradient_checks``."""

import contextlib
import io
import re
import subprocess
import sys
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from neural_networks.activations import ReLU
from neural_networks import gradient_checks
from neural_networks.layers import LAYERS

REPO_ROOT = Path(__file__).resolve().parent.parent

# 6 activations; the layers' examples: FullyConnected x3 and Conv2D x5, each dX
# dW db; Pool2D x6 and Flatten x2, each dX; BatchNorm x2, each dX dgamma dbeta;
# Dropout x2, dX; GroupNorm x3, each dX dgamma dbeta; CrossEntropy and L2, each dY_hat.
EXPECTED_CHECKS = 6 + 3 * 3 + 5 * 3 + 6 + 2 + 2 * 3 + 2 + 3 * 3 + 2


def run_main(*args):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = gradient_checks.main(list(args))
    return code, stdout.getvalue()


class TestCommand(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc = subprocess.run(
            [sys.executable, "-m", "neural_networks.gradient_checks"], cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=300,
        )
        cls.rows = [line.split() for line in cls.proc.stdout.splitlines()
                    if re.search(r"\d\.\d{3}e[+-]\d\d +(pass|FAIL)$", line)]

    def test_every_check_passes_and_exits_zero(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stdout + self.proc.stderr)
        self.assertEqual(len(self.rows), EXPECTED_CHECKS)
        for row in self.rows:
            self.assertEqual(row[-1], "pass", row)
            self.assertLess(float(row[-2]), 1e-7, row)
        self.assertIn(f"{EXPECTED_CHECKS} of {EXPECTED_CHECKS} checks passed",
                      self.proc.stdout)

    def test_table_has_a_header_and_names_every_piece(self):
        header = self.proc.stdout.splitlines()[0].split()
        self.assertEqual(header, ["piece", "quantity", "relative", "error", "result"])
        text = self.proc.stdout
        for piece in ("activation linear", "activation sigmoid", "activation tanh",
                      "activation arctan", "activation relu", "activation softmax",
                      "FullyConnected", "Conv2D", "Pool2D max", "Pool2D average",
                      "Flatten", "BatchNorm, relu", "Dropout p=0.5", "GroupNorm, relu",
                      "loss cross_entropy", "loss l2"):
            self.assertIn(piece, text)
        quantities = [row[-3] for row in self.rows]
        self.assertEqual(quantities.count("dW"), 3 + 5)
        self.assertEqual(quantities.count("db"), 3 + 5)
        self.assertEqual(quantities.count("dgamma"), 2 + 3)
        self.assertEqual(quantities.count("dbeta"), 2 + 3)
        self.assertEqual(quantities.count("dX"), 3 + 5 + 6 + 2 + 2 + 2 + 3)

    def test_every_registered_layer_is_checked_in_each_of_its_examples(self):
        """The old report checked the four course layers only, not BatchNorm nor Dropout."""
        for name, cls in LAYERS.items():
            with self.subTest(layer=name):
                checked = [row for row in self.rows
                           if row[0] == cls.__name__ or row[0].startswith(cls.__name__ + ",")]
                self.assertEqual([row[-3] for row in checked].count("dX"), len(cls.examples))

    def test_no_warning_about_the_module_being_imported_twice(self):
        self.assertNotIn("RuntimeWarning", self.proc.stderr)
        self.assertNotIn("found in sys.modules", self.proc.stderr)

    def test_the_old_command_fails_and_names_the_new_one(self):
        proc = subprocess.run([sys.executable, "-m", "neural_networks.utils.grad_check"],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("python -m neural_networks.gradient_checks", proc.stderr)
        self.assertEqual(proc.stdout, "")


class TestFailures(unittest.TestCase):
    def test_a_wrong_gradient_fails_and_exits_nonzero(self):
        # ReLU's derivative doubled: every check going through ReLU must fail.
        wrong = lambda self, Z, dY: 2 * np.where(Z > 0, dY, 0)
        with mock.patch.object(ReLU, "backward", wrong):
            code, out = run_main()
        self.assertEqual(code, 1)
        failed = [l for l in out.splitlines() if l.endswith("FAIL")]
        # The activation, dX dW db of FullyConnected relu and dX dgamma dbeta of GroupNorm
        # relu (BatchNorm's ReLU is fused into its own backward).
        self.assertEqual(len(failed), 1 + 3 + 3)
        self.assertTrue(all("relu" in l for l in failed))

    def test_tolerance_option(self):
        code, out = run_main("--tol", "1e-30")
        self.assertEqual(code, 1)
        self.assertIn(f"0 of {EXPECTED_CHECKS} checks passed", out)

    def test_bad_tolerance_or_seed_is_argparses_one_line(self):
        """The old code took --tol nan (and failed every check: nothing is < nan) and
        --tol inf (every check passed); --seed -1 ended in a traceback."""
        for args, message in ((["--tol", "nan"], "--tol must be a finite number and > 0, got nan"),
                              (["--tol", "inf"], "--tol must be a finite number and > 0, got inf"),
                              (["--tol", "0"], "--tol must be a finite number and > 0"),
                              (["--tol", "small"], "--tol must be a number, got 'small'"),
                              (["--seed", "-1"], "--seed must be a whole number and >= 0 and "
                                                 "< 4294967296, got -1"),
                              (["--seed", str(2**32)], "--seed must be a whole number"),
                              (["--seed", "1.5"], "--seed must be a whole number, got '1.5'")):
            with self.subTest(args=args):
                stderr = io.StringIO()
                with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit:
                    run_main(*args)
                self.assertEqual(exit.exception.code, 2)
                self.assertIn(message, stderr.getvalue())
        code, out = run_main("--seed", "3", "--tol", "1e-6")
        self.assertEqual(code, 0)


class TestHelpers(unittest.TestCase):
    def test_away_from_zero(self):
        Z = np.array([-0.05, 0.0, 0.05, -2.0])
        np.testing.assert_allclose(gradient_checks.away_from_zero(Z), [-0.15, 0.1, 0.15, -2.1])

    def test_format_errors_marks_each_quantity(self):
        text = gradient_checks.format_errors("Conv2D", {"dX": 3e-11, "dW": 0.25}, tol=1e-7)
        lines = text.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertRegex(lines[0], r"^Conv2D +dX +relative error 3\.000e-11  pass$")
        self.assertRegex(lines[1], r"^Conv2D +dW +relative error 2\.500e-01  FAIL$")


if __name__ == "__main__":
    unittest.main()
