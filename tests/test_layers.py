"""The course's layer tests, replayed against PyTorch reference data.

For every case of ``tests/data/<TestClass>.npz`` (written by
``tests/make_reference_data.py``) a test builds the layer from its config,
runs ``forward`` once to initialise it, loads W and b from the file, runs
``forward`` again and compares with the stored output, then compares
``backward(upstream_grad)`` (and, for FullyConnected and Conv2D,
``gradients["W"]`` and ``gradients["b"]``) with the stored gradients: to 4
decimals as the course does, and to a relative error of 1e-7.
"""

import unittest

import numpy as np

from neural_networks.layers import initialize_layer
from tests.reference_configs import PARAMETRIC, assert_matches, load_reference

# torch.nn.init.calculate_gain of the activations in the FullyConnected configs.
XAVIER_GAINS = {"relu": np.sqrt(2), "tanh": 5 / 3, "linear": 1, "sigmoid": 1, "softmax": 1}


def build_layer(data, i, config, has_params):
    """The layer of case i, initialised, with the file's W and b loaded."""
    layer = initialize_layer(**config)
    X = data[f"{i}input"][0]
    layer.forward(X)
    if has_params:
        for name in ("W", "b"):
            if layer.parameters[name].shape != data[f"{i}{name}"].shape:
                raise AssertionError(
                    f"case {i}: parameter {name} has shape {layer.parameters[name].shape}, "
                    f"the reference has {data[f'{i}{name}'].shape}"
                )
            layer.parameters[name] = data[f"{i}{name}"]
    return layer, X


def check_layer_forward(test, class_name):
    data, cases = load_reference(class_name)
    for i, config, batch, size in cases:
        with test.subTest(case=i, config=config, batch=batch, size=size):
            layer, X = build_layer(data, i, config, class_name in PARAMETRIC)
            assert_matches(layer.forward(X), data[f"{i}output"], f"case {i} output")


def check_layer_backward(test, class_name):
    data, cases = load_reference(class_name)
    has_params = class_name in PARAMETRIC
    for i, config, batch, size in cases:
        with test.subTest(case=i, config=config, batch=batch, size=size):
            layer, X = build_layer(data, i, config, has_params)
            layer.forward(X)
            dX = layer.backward(data[f"{i}upstream_grad"])
            assert_matches(dX, data[f"{i}backward"], f"case {i} backward")
            if has_params:
                assert_matches(layer.gradients["W"], data[f"{i}dW"], f"case {i} gradient W")
                assert_matches(layer.gradients["b"], data[f"{i}db"], f"case {i} gradient b")


class TestFullyConnected(unittest.TestCase):
    def test_init_params(self):
        data, cases = load_reference("TestFullyConnected")
        for i, config, batch, size in cases:
            with self.subTest(case=i, config=config, batch=batch, size=size):
                layer = initialize_layer(**config)
                X = data[f"{i}input"][0]
                layer._init_parameters(X.shape)
                n_in, n_out = X.shape[1], config["n_out"]
                self.assertEqual(layer.n_in, n_in)
                self.assertEqual(list(layer.parameters), ["W", "b"])
                self.assertEqual(layer.parameters["W"].shape, data[f"{i}W"].shape)
                self.assertEqual(layer.parameters["W"].shape, (n_in, n_out))
                # Xavier-uniform weights (the default): inside PyTorch's bound
                # gain * sqrt(6 / (fan_in + fan_out)) and not all zero.
                bound = XAVIER_GAINS[config["activation"]] * np.sqrt(6 / (n_in + n_out))
                self.assertTrue(np.all(np.abs(layer.parameters["W"]) <= bound))
                self.assertTrue(np.any(layer.parameters["W"] != 0))
                np.testing.assert_array_equal(layer.parameters["b"], np.zeros((1, n_out)))
                self.assertEqual(list(layer.gradients), ["W", "b"])
                for name, param in layer.parameters.items():
                    np.testing.assert_array_equal(layer.gradients[name], np.zeros(param.shape))

    def test_forward(self):
        check_layer_forward(self, "TestFullyConnected")

    def test_backward(self):
        check_layer_backward(self, "TestFullyConnected")


class TestConv2D(unittest.TestCase):
    def test_forward(self):
        check_layer_forward(self, "TestConv2D")

    def test_backward(self):
        check_layer_backward(self, "TestConv2D")


class TestPool2D(unittest.TestCase):
    def test_forward(self):
        check_layer_forward(self, "TestPool2D")

    def test_backward(self):
        check_layer_backward(self, "TestPool2D")


class TestFlatten(unittest.TestCase):
    def test_forward(self):
        check_layer_forward(self, "TestFlatten")

    def test_backward(self):
        check_layer_backward(self, "TestFlatten")


if __name__ == "__main__":
    unittest.main()
