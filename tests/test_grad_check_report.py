"""Tests of the gradient-check report in neural_networks/utils/grad_check.py
and its command ``python -m neural_networks.utils.grad_check``."""

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
from neural_networks.layers import FullyConnected
from neural_networks.utils import grad_check

REPO_ROOT = Path(__file__).resolve().parent.parent

# 6 activations; FullyConnected x3 and Conv2D x5, each dX dW db; Pool2D x6 and
# Flatten x2, each dX; CrossEntropy and L2, each dY_hat.
EXPECTED_CHECKS = 6 + 3 * 3 + 5 * 3 + 6 + 2 + 2


def run_main(*args):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = grad_check.main(list(args))
    return code, stdout.getvalue()


class TestCommand(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc = subprocess.run(
            [sys.executable, "-m", "neural_networks.utils.grad_check"], cwd=REPO_ROOT,
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
                      "Flatten", "loss cross_entropy", "loss l2"):
            self.assertIn(piece, text)
        quantities = [row[-3] for row in self.rows]
        self.assertEqual(quantities.count("dW"), 3 + 5)
        self.assertEqual(quantities.count("db"), 3 + 5)
        self.assertEqual(quantities.count("dX"), 3 + 5 + 6 + 2)

    def test_no_warning_about_the_module_being_imported_twice(self):
        self.assertNotIn("RuntimeWarning", self.proc.stderr)
        self.assertNotIn("found in sys.modules", self.proc.stderr)


class TestFailures(unittest.TestCase):
    def test_a_wrong_gradient_fails_and_exits_nonzero(self):
        # ReLU's derivative doubled: every check going through ReLU must fail.
        wrong = lambda self, Z, dY: 2 * np.where(Z > 0, dY, 0)
        with mock.patch.object(ReLU, "backward", wrong):
            code, out = run_main()
        self.assertEqual(code, 1)
        failed = [l for l in out.splitlines() if l.endswith("FAIL")]
        self.assertEqual(len(failed), 1 + 3)  # the activation, and dX dW db of FC relu
        self.assertTrue(all("relu" in l for l in failed))

    def test_tolerance_option(self):
        code, out = run_main("--tol", "1e-30")
        self.assertEqual(code, 1)
        self.assertIn(f"0 of {EXPECTED_CHECKS} checks passed", out)


class TestHelpers(unittest.TestCase):
    def test_check_layer_covers_dX_and_every_parameter(self):
        rng = np.random.default_rng(1)
        layer = FullyConnected(n_out=2, activation="tanh")
        errors = grad_check.check_layer(layer, rng.standard_normal((3, 4)),
                                        rng.standard_normal((3, 2)))
        self.assertEqual(list(errors), ["dX", "dW", "db"])
        self.assertTrue(all(e < 1e-7 for e in errors.values()))

    def test_check_layer_catches_a_wrong_parameter_gradient(self):
        rng = np.random.default_rng(2)
        layer = FullyConnected(n_out=2, activation="linear")
        original = FullyConnected.backward

        def backward_with_wrong_db(self, dLdY):
            dX = original(self, dLdY)
            self.gradients["b"] = 0.5 * self.gradients["b"]
            return dX

        with mock.patch.object(FullyConnected, "backward", backward_with_wrong_db):
            errors = grad_check.check_layer(layer, rng.standard_normal((3, 4)),
                                            rng.standard_normal((3, 2)))
        self.assertLess(errors["dX"], 1e-7)
        self.assertLess(errors["dW"], 1e-7)
        # ||g/2 - g|| / ||g/2 + g|| = 1/3 exactly.
        self.assertAlmostEqual(errors["db"], 1 / 3, places=6)

    def test_check_layer_leaves_the_parameters_as_they_were(self):
        rng = np.random.default_rng(3)
        X = rng.standard_normal((3, 4))
        layer = FullyConnected(n_out=2, activation="sigmoid")
        layer.forward(X)
        before = {k: v.copy() for k, v in layer.parameters.items()}
        grad_check.check_layer(layer, X, rng.standard_normal((3, 2)))
        for name, value in before.items():
            np.testing.assert_array_equal(layer.parameters[name], value)

    def test_away_from_zero(self):
        Z = np.array([-0.05, 0.0, 0.05, -2.0])
        np.testing.assert_allclose(grad_check.away_from_zero(Z), [-0.15, 0.1, 0.15, -2.1])

    def test_check_gradients_is_reexported_by_utils(self):
        from neural_networks.utils import check_gradients
        self.assertIs(check_gradients, grad_check.check_gradients)
        # In a fresh interpreter, before anything imported grad_check itself.
        code = ("import neural_networks.utils as u; "
                "assert u.check_gradients is u.grad_check.check_gradients; print('ok')")
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.stdout.strip(), "ok", proc.stderr)


if __name__ == "__main__":
    unittest.main()
