"""Finite-difference checks of every analytic gradient (float64).

Each test compares an analytic gradient with ``check_gradients`` (a two-sided
finite difference) and requires a relative error below 1e-7. The checker
itself is tested first, on functions whose gradients are known by hand.
"""

import itertools
import unittest

import numpy as np

from neural_networks.activations import initialize_activation
from neural_networks.layers import Conv2D, Flatten, FullyConnected, Pool2D
from neural_networks.losses import initialize_loss
from neural_networks.utils.grad_check import check_gradients

TOL = 1e-7
ACTIVATIONS = ["linear", "sigmoid", "tanh", "arctan", "relu", "softmax"]


def layer_gradient_errors(layer, X, rng):
    """Relative errors of dX and of every parameter's gradient of ``layer`` at X.

    The bias is set to random values first so that it matters in the output.
    """
    layer.forward(X)
    if "b" in layer.parameters:
        b = layer.parameters["b"]
        layer.parameters["b"] = rng.normal(size=b.shape)
    out = layer.forward(X)
    dY = rng.normal(size=out.shape)
    dX = layer.backward(dY)
    grads = {name: g.copy() for name, g in layer.gradients.items()}
    errors = {"X": check_gradients(layer.forward, dX, X, dY)}
    for name in list(layer.parameters):
        fn = layer.forward_with_param(name, X)
        errors[name] = check_gradients(fn, grads[name], layer.parameters[name], dY)
    return errors


class TestCheckGradients(unittest.TestCase):
    """The checker itself: right gradients pass, wrong ones are caught."""

    def setUp(self):
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(3, 4))
        self.dLdf = rng.normal(size=(3, 4))

    def test_known_gradient_passes(self):
        # f(x) = x**3 elementwise, so dL/dx = 3 x^2 * dLdf.
        grad = 3 * self.x**2 * self.dLdf
        err = check_gradients(lambda x: x**3, grad, self.x, self.dLdf)
        self.assertLess(err, TOL)

    def test_scaled_gradient_is_detected(self):
        grad = 3 * self.x**2 * self.dLdf
        err = check_gradients(lambda x: x**3, 1.01 * grad, self.x, self.dLdf)
        # ||0.01 g|| / ||2.01 g|| = 0.01 / 2.01
        self.assertGreater(err, 1e-3)
        self.assertAlmostEqual(err, 0.01 / 2.01, places=6)

    def test_one_wrong_entry_is_detected(self):
        grad = 3 * self.x**2 * self.dLdf
        wrong = grad.copy()
        wrong[1, 2] += 0.5
        self.assertGreater(check_gradients(lambda x: x**3, wrong, self.x, self.dLdf), 1e-3)

    def test_does_not_change_x(self):
        x = self.x.copy()
        check_gradients(lambda x: x**3, 3 * x**2 * self.dLdf, x, self.dLdf)
        np.testing.assert_array_equal(x, self.x)

    def test_scalar_function(self):
        # L = sum(x^2) / 2 has gradient x; the upstream gradient of a scalar is 1.
        err = check_gradients(lambda x: 0.5 * np.sum(x**2), self.x, self.x, 1.0)
        self.assertLess(err, TOL)


class TestActivationGradients(unittest.TestCase):
    def test_every_activation(self):
        rng = np.random.default_rng(1)
        # Values away from 0 so ReLU's kink is never inside the finite difference.
        Z = rng.uniform(0.1, 2.0, size=(5, 7)) * rng.choice([-1.0, 1.0], size=(5, 7))
        dY = rng.normal(size=Z.shape)
        for name in ACTIVATIONS:
            with self.subTest(activation=name):
                act = initialize_activation(name)
                grad = act.backward(Z, dY)
                self.assertLess(check_gradients(act.forward, grad, Z, dY), TOL)


class TestLossGradients(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(2)
        self.Y = np.eye(4)[rng.integers(0, 4, size=6)]
        # Strictly positive predictions keep ln(Y_hat) smooth.
        P = rng.uniform(0.2, 1.0, size=(6, 4))
        self.Y_hat = P / P.sum(axis=1, keepdims=True)

    def check(self, name):
        loss = initialize_loss(name)
        grad = loss.backward(self.Y, self.Y_hat)
        err = check_gradients(lambda Yh: loss.forward(self.Y, Yh), grad, self.Y_hat, 1.0)
        self.assertLess(err, TOL)

    def test_cross_entropy(self):
        self.check("cross_entropy")

    def test_l2(self):
        self.check("l2")


class TestLayerGradients(unittest.TestCase):
    def assert_small(self, errors):
        for name, err in errors.items():
            self.assertLess(err, TOL, msg=f"gradient of {name}: relative error {err:.3g}")

    def test_fully_connected_every_activation(self):
        rng = np.random.default_rng(3)
        X = rng.normal(size=(5, 4))
        for name in ACTIVATIONS:
            with self.subTest(activation=name):
                np.random.seed(0)
                errors = layer_gradient_errors(FullyConnected(3, name), X, rng)
                self.assertEqual(set(errors), {"X", "W", "b"})
                self.assert_small(errors)

    def test_conv2d(self):
        rng = np.random.default_rng(4)
        X = rng.normal(size=(2, 7, 6, 2))
        kernels = [(3, 3), (3, 5), (5, 5), (2, 2)]
        for kernel, stride, pad in itertools.product(kernels, [1, 2, 3], ["same", "valid", 1]):
            with self.subTest(kernel=kernel, stride=stride, pad=pad):
                np.random.seed(0)
                layer = Conv2D(3, kernel, "tanh", stride=stride, pad=pad)
                errors = layer_gradient_errors(layer, X, rng)
                self.assertEqual(set(errors), {"X", "W", "b"})
                self.assert_small(errors)

    def test_conv2d_activations(self):
        rng = np.random.default_rng(5)
        X = rng.normal(size=(3, 5, 5, 2))
        for name in ["linear", "relu", "sigmoid", "arctan"]:
            with self.subTest(activation=name):
                np.random.seed(0)
                layer = Conv2D(2, (3, 3), name, stride=1, pad=2)
                self.assert_small(layer_gradient_errors(layer, X, rng))

    def test_pool2d(self):
        rng = np.random.default_rng(6)
        # A random input has no ties within a window, so the max is differentiable.
        X = rng.normal(size=(2, 7, 8, 3))
        configs = [
            ((2, 2), 2, 0), ((3, 3), 1, "same"), ((3, 3), 2, 1), ((2, 3), 1, "valid"),
            ((3, 2), 3, 1), (2, 1, 1), ((5, 5), 2, 2),
        ]
        for mode in ["max", "average"]:
            for kernel, stride, pad in configs:
                with self.subTest(mode=mode, kernel=kernel, stride=stride, pad=pad):
                    layer = Pool2D(kernel, mode=mode, stride=stride, pad=pad)
                    errors = layer_gradient_errors(layer, X, rng)
                    self.assertEqual(set(errors), {"X"})
                    self.assert_small(errors)

    def test_flatten(self):
        rng = np.random.default_rng(7)
        X = rng.normal(size=(3, 4, 2, 5))
        errors = layer_gradient_errors(Flatten(), X, rng)
        self.assertEqual(set(errors), {"X"})
        self.assert_small(errors)


if __name__ == "__main__":
    unittest.main()
