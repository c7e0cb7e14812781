"""The course's activation tests, replayed against PyTorch reference data.

Each test loads ``tests/data/<TestClass>.npz`` (written by
``tests/make_reference_data.py``) and, for every case, compares
``forward(Z)`` with the stored output and ``backward(Z, dY=upstream_grad)``
with the stored gradient, to 4 decimals and to a relative error of 1e-7.
"""

import unittest
import warnings

import numpy as np


from neural_networks.activations import (
    ArcTan,
    Identity,
    Linear,
    ReLU,
    Sigmoid,
    SoftMax,
    TanH,
    initialize_activation,
)
from tests.reference_configs import assert_matches, load_reference


def check_activation_forward(test, class_name):
    data, cases = load_reference(class_name)
    for i, config, batch, size in cases:
        with test.subTest(case=i, config=config, batch=batch, size=size):
            activation = initialize_activation(config["name"])
            inputs = data[f"{i}input"]
            assert_matches(activation.forward(*inputs), data[f"{i}output"], f"case {i} output")


def check_activation_backward(test, class_name):
    data, cases = load_reference(class_name)
    for i, config, batch, size in cases:
        with test.subTest(case=i, config=config, batch=batch, size=size):
            activation = initialize_activation(config["name"])
            inputs = data[f"{i}input"]
            activation.forward(*inputs)
            dZ = activation.backward(*inputs, dY=data[f"{i}upstream_grad"])
            assert_matches(dZ, data[f"{i}backward"], f"case {i} backward")


class TestLinear(unittest.TestCase):
    def test_forward(self):
        check_activation_forward(self, "TestLinear")

    def test_backward(self):
        check_activation_backward(self, "TestLinear")


class TestSigmoid(unittest.TestCase):
    def test_forward(self):
        check_activation_forward(self, "TestSigmoid")

    def test_backward(self):
        check_activation_backward(self, "TestSigmoid")


class TestTanH(unittest.TestCase):
    def test_forward(self):
        check_activation_forward(self, "TestTanH")

    def test_backward(self):
        check_activation_backward(self, "TestTanH")


class TestReLU(unittest.TestCase):
    def test_forward(self):
        check_activation_forward(self, "TestReLU")

    def test_backward(self):
        # The reference inputs contain exact zeros, where the derivative is 0.
        check_activation_backward(self, "TestReLU")


class TestSoftMax(unittest.TestCase):
    def test_forward(self):
        check_activation_forward(self, "TestSoftMax")

    def test_backward(self):
        check_activation_backward(self, "TestSoftMax")


class TestSoftMaxOfInfiniteLogits(unittest.TestCase):
    """Softmax's limits, by hand: a row's +inf logits share its probability
    (the others get 0), a row of -inf everywhere is uniform, NaN stays NaN;
    finite rows are computed as before, bit for bit."""

    inf = np.inf
    ROWS = [([inf, 1.0, inf], [0.5, 0.0, 0.5]),
            ([inf, -inf, 0.0], [1.0, 0.0, 0.0]),
            ([-inf, -inf, -inf], [1 / 3, 1 / 3, 1 / 3]),
            ([-inf, 0.0, -inf], [0.0, 1.0, 0.0]),
            ([inf, inf, inf], [1 / 3, 1 / 3, 1 / 3]),
            ([0.0, 0.0, np.log(2.0)], [0.25, 0.25, 0.5])]

    def test_rows_with_infinities(self):
        Z = np.array([row for row, _ in self.ROWS])
        expected = np.array([probabilities for _, probabilities in self.ROWS])
        for dtype in (np.float64, np.float32):
            with self.subTest(dtype=dtype.__name__):
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # no "invalid value" on the way
                    Y = SoftMax().forward(Z.astype(dtype))
                self.assertEqual(Y.dtype, dtype)
                np.testing.assert_allclose(Y, expected, rtol=1e-6)
                # The gradient through a row of limits is finite: dZ_i = y_i (dY_i - y . dY).
                dY = np.tile([1.0, 2.0, 3.0], (len(Z), 1)).astype(dtype)
                dZ = SoftMax().backward(Z.astype(dtype), dY)
                by_hand = expected * (dY - np.sum(expected * dY, axis=1, keepdims=True))
                np.testing.assert_allclose(dZ, by_hand, rtol=1e-6, atol=1e-7)

    def test_images_of_rows_and_nan(self):
        # Any leading axes: softmax runs over the last one.
        Z = np.array([[[self.inf, 0.0], [1.0, 1.0]], [[np.nan, 1.0], [-self.inf, -self.inf]]])
        Y = SoftMax().forward(Z)
        np.testing.assert_array_equal(Y[0], [[1.0, 0.0], [0.5, 0.5]])
        self.assertTrue(np.isnan(Y[1, 0]).all())
        np.testing.assert_array_equal(Y[1, 1], [0.5, 0.5])

    def test_finite_rows_are_bit_identical(self):
        rng = np.random.default_rng(0)
        for dtype in (np.float64, np.float32):
            Z = (rng.normal(size=(64, 10)) * 30).astype(dtype)
            E = np.exp(Z - np.max(Z, axis=-1, keepdims=True))
            np.testing.assert_array_equal(SoftMax().forward(Z),
                                          E / np.sum(E, axis=-1, keepdims=True))


class TestArcTan(unittest.TestCase):
    def test_forward(self):
        check_activation_forward(self, "TestArcTan")

    def test_backward(self):
        check_activation_backward(self, "TestArcTan")


class TestFactory(unittest.TestCase):
    VALID = ['linear', 'sigmoid', 'tanh', 'arctan', 'relu', 'softmax']

    def test_unknown_name_is_named_with_the_valid_ones(self):
        for bad in ("swish", "ReLU", ["relu"], 3):
            with self.subTest(name=bad), self.assertRaises(ValueError) as raised:
                initialize_activation(bad)
            message = str(raised.exception)
            self.assertIn(repr(bad), message)
            for name in self.VALID:
                self.assertIn(repr(name), message)

    def test_every_name_builds_its_class(self):
        classes = [Linear, Sigmoid, TanH, ArcTan, ReLU, SoftMax]
        for name, cls in zip(self.VALID, classes, strict=True):
            with self.subTest(name=name):
                self.assertIs(type(initialize_activation(name)), cls)

    def test_identity_is_fall_2023s_name_for_linear(self):
        # Fall 2023's starter code renamed Linear to Identity ("identity"); its
        # notebook imports the class by that name and builds layers with it.
        self.assertIs(Identity, Linear)
        activation = initialize_activation("identity")
        self.assertIs(type(activation), Linear)
        Z, dY = np.array([[-1.5, 0.0, 2.0]]), np.array([[0.25, -1.0, 3.0]])
        np.testing.assert_array_equal(activation.forward(Z), Z)
        np.testing.assert_array_equal(activation.backward(Z, dY), dY)

    def test_none_is_linear_and_an_instance_passes_through(self):
        self.assertIs(type(initialize_activation(None)), Linear)
        relu = ReLU()
        self.assertIs(initialize_activation(relu), relu)


if __name__ == "__main__":
    unittest.main()
