"""AttrDict, integers_to_one_hot, the feature-scaling helpers, the checks of
settings (neural_networks/utils/checks.py) and the layer-level gradient
checks of neural_networks/utils/grad_check.py, with the step h they take."""

import ast
import pickle
import subprocess
import sys
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from neural_networks.layers import FullyConnected
from neural_networks.utils import (AttrDict, center, check_gradients, checks, grad_check,
                                   integers_to_one_hot, normalize, standardize)

REPO_ROOT = Path(__file__).resolve().parent.parent


class TestAttrDict(unittest.TestCase):
    def test_attribute_and_key_access_agree(self):
        d = AttrDict({"name": "relu", "n_out": 4})
        self.assertEqual(d.name, "relu")
        self.assertEqual(d.n_out, 4)
        d.stride = 2
        self.assertEqual(d["stride"], 2)
        d["pad"] = "same"
        self.assertEqual(d.pad, "same")
        self.assertIsInstance(d, dict)
        self.assertEqual(dict(d), {"name": "relu", "n_out": 4, "stride": 2, "pad": "same"})

    def test_keyword_construction_and_unpacking(self):
        d = AttrDict(name="conv2d", n_out=8)
        self.assertEqual(d.n_out, 8)
        self.assertEqual((lambda name, n_out: (name, n_out))(**d), ("conv2d", 8))

    def test_missing_attribute(self):
        d = AttrDict(a=1)
        with self.assertRaises(AttributeError):
            _ = d.b
        self.assertFalse(hasattr(d, "b"))
        self.assertEqual(getattr(d, "b", None), None)

    def test_delete(self):
        d = AttrDict(a=1, b=2)
        del d.a
        self.assertNotIn("a", d)
        with self.assertRaises(AttributeError):
            del d.a

    def test_pickle_round_trip(self):
        d = AttrDict(a=1, nested=AttrDict(b=[1, 2]))
        back = pickle.loads(pickle.dumps(d))
        self.assertIsInstance(back, AttrDict)
        self.assertEqual(back.nested.b, [1, 2])
        self.assertEqual(back, d)


class TestIntegersToOneHot(unittest.TestCase):
    def test_values(self):
        Y = integers_to_one_hot(np.array([2, 0, 1, 2]))
        expected = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
        self.assertEqual(Y.shape, (4, 3))
        self.assertTrue(np.issubdtype(Y.dtype, np.floating))
        np.testing.assert_array_equal(Y, expected)

    def test_max_val_widens(self):
        Y = integers_to_one_hot([1, 3], max_val=5)
        expected = np.zeros((2, 6))
        expected[0, 1] = expected[1, 3] = 1
        np.testing.assert_array_equal(Y, expected)

    def test_large_vector(self):
        labels = np.random.default_rng(0).integers(0, 10, size=10000)
        Y = integers_to_one_hot(labels, max_val=9)
        self.assertEqual(Y.shape, (10000, 10))
        np.testing.assert_array_equal(Y.argmax(axis=1), labels)
        np.testing.assert_array_equal(Y.sum(axis=1), np.ones(10000))

    def test_rejects_out_of_range(self):
        with self.assertRaises(ValueError):
            integers_to_one_hot([0, 4], max_val=3)
        with self.assertRaises(ValueError):
            integers_to_one_hot([-1, 2])


class TestScaling(unittest.TestCase):
    def setUp(self):
        self.X = np.array([[1.0, -4.0], [3.0, 0.0], [5.0, 2.0]])

    def test_center(self):
        # column means 3 and -2/3
        expected = np.array([[-2.0, -10 / 3], [0.0, 2 / 3], [2.0, 8 / 3]])
        np.testing.assert_allclose(center(self.X), expected, rtol=1e-14)
        np.testing.assert_allclose(center(self.X, mean=np.array([[1.0, 1.0]])),
                                   self.X - 1.0, rtol=1e-14)

    def test_normalize(self):
        # divided by the column maxima of |X|: 5 and 4
        expected = np.array([[0.2, -1.0], [0.6, 0.0], [1.0, 0.5]])
        np.testing.assert_allclose(normalize(self.X), expected, rtol=1e-14)

    def test_standardize(self):
        # column 0: mean 3, population std sqrt(8/3);
        # column 1: mean -2/3, population std sqrt(56/9)
        s0, s1 = np.sqrt(8 / 3), np.sqrt(56 / 9)
        expected = np.array([
            [-2 / s0, (-4 + 2 / 3) / s1],
            [0.0, (2 / 3) / s1],
            [2 / s0, (2 + 2 / 3) / s1],
        ])
        np.testing.assert_allclose(standardize(self.X), expected, rtol=1e-13)

    def test_standardize_with_given_statistics(self):
        out = standardize(self.X, mean=np.array([[1.0, 2.0]]), std=np.array([[2.0, 4.0]]))
        np.testing.assert_allclose(out, np.array([[0.0, -1.5], [1.0, -0.5], [2.0, 0.0]]))

    def test_constant_column_does_not_divide_by_zero(self):
        X = np.array([[1.0, 7.0], [3.0, 7.0]])
        out = standardize(X)
        self.assertTrue(np.all(np.isfinite(out)))
        np.testing.assert_array_equal(out[:, 1], [0.0, 0.0])



class TestCheckLayer(unittest.TestCase):
    def test_covers_dX_and_every_parameter(self):
        rng = np.random.default_rng(1)
        layer = FullyConnected(n_out=2, activation="tanh")
        errors = grad_check.check_layer(layer, rng.standard_normal((3, 4)),
                                        rng.standard_normal((3, 2)))
        self.assertEqual(list(errors), ["dX", "dW", "db"])
        self.assertTrue(all(e < 1e-7 for e in errors.values()))

    def test_catches_a_wrong_parameter_gradient(self):
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

    def test_leaves_the_parameters_as_they_were(self):
        rng = np.random.default_rng(3)
        X = rng.standard_normal((3, 4))
        layer = FullyConnected(n_out=2, activation="sigmoid")
        layer.forward(X)
        before = {k: v.copy() for k, v in layer.parameters.items()}
        grad_check.check_layer(layer, X, rng.standard_normal((3, 2)))
        for name, value in before.items():
            np.testing.assert_array_equal(layer.parameters[name], value)


class TestGradCheckModule(unittest.TestCase):
    def test_check_gradients_is_reexported_by_utils(self):
        # In a fresh interpreter, so that nothing else imported grad_check first.
        code = ("import neural_networks.utils as u; "
                "assert u.check_gradients is u.grad_check.check_gradients; print('ok')")
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.stdout.strip(), "ok", proc.stderr)

    @staticmethod
    def imports_of(module):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {"." * node.level + (node.module or "") for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom)}
        return imported

    def test_imports_only_numpy(self):
        # utils sits below the layers: grad_check must not import them (nor
        # anything else of the package but its sibling checks, which imports
        # only the standard library), or importing utils becomes circular.
        self.assertEqual(self.imports_of(grad_check), {"numpy", ".checks"})
        self.assertEqual(self.imports_of(checks), {"math", "numbers", "operator"})


class TestFiniteDifferenceStep(unittest.TestCase):
    def test_h_must_be_a_finite_number_above_zero(self):
        x, dLdf = np.array([0.3, -1.2]), np.array([1.0, 2.0])
        for h in (0, 0.0, -1e-6, np.nan, np.inf, -np.inf, True, "1e-6", None, np.float64(0)):
            with self.subTest(h=h):
                with self.assertRaisesRegex(ValueError, r"h must be a finite number and > 0, "
                                                        r"got "):
                    check_gradients(np.sin, np.cos(x), x, dLdf, h=h)
                with self.assertRaisesRegex(ValueError, "h must be"):
                    grad_check.numerical_gradient(np.sin, x.copy(), dLdf, h=h)
        for h in (1e-4, np.float32(1e-3), 1):
            with self.subTest(h=h):
                self.assertLess(check_gradients(np.sin, np.cos(x) * dLdf, x, dLdf, h=h), 0.2)


class TestCheckNumber(unittest.TestCase):
    def test_whole_numbers(self):
        for value in (3, np.int64(3), np.int32(3), np.uint8(3)):
            with self.subTest(value=repr(value)):
                result = checks.check_number("n", value, at_least=1, whole=True)
                self.assertEqual((type(result), result), (int, 3))
        for value in (True, False, 3.0, np.float64(3), "3", None, 0, np.int64(-2)):
            with self.subTest(value=repr(value)):
                with self.assertRaisesRegex(ValueError, r"n must be a whole number and >= 1, "
                                                        r"got "):
                    checks.check_number("n", value, at_least=1, whole=True)

    def test_real_numbers_are_returned_unchanged(self):
        value = np.float32(0.5)
        self.assertIs(checks.check_number("lr", value, above=0), value)
        self.assertEqual(checks.check_number("n", 10**400, above=0), 10**400)
        for value in (np.nan, np.inf, True, "0.5", 0):
            with self.subTest(value=repr(value)):
                with self.assertRaisesRegex(ValueError, "lr must be a finite number and > 0"):
                    checks.check_number("lr", value, above=0)


if __name__ == "__main__":
    unittest.main()
