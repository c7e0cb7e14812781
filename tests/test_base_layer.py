"""What every layer declares about itself (neural_networks/base_layer.py).

- Configuration: the constructor's arguments, defaults included, are bound into
  ``config`` when a layer is made, for the six layers and for a layer written
  here that keeps none of its arguments under their own names; a subclass
  records its own arguments; ``describe()`` (what a checkpoint compares) gives,
  for the six layers, what checkpoints of the earlier format hold, written out
  by hand; ``repr`` shows the settings.
- State: parameters, gradients, buffers and cache exist, empty, from the start.
- Shapes: forward's output shape is kept by the base class, and backward refuses
  a dLdY of another shape for a layer that never mentions "out_shape"; n_in is
  stored as an int, a tuple of ints or None.
- The input gradient: every layer takes ``backward(dLdY, input_gradient=False)``
  and returns None with the gradients of its parameters unchanged; the layers
  with parameters declare that they skip dL/dX; input_gradient must be a bool.
- The declarations the network reads: runs_on_threads, min_train_batch,
  image_filters().
- No module of the package but layers.py tests a layer's class with isinstance.
"""

import ast
import unittest
from pathlib import Path

import numpy as np

from neural_networks import layers as layers_module
from neural_networks.base_layer import Layer
from neural_networks.layers import (LAYERS, BatchNorm, Conv2D, Dropout, Flatten,
                                    FullyConnected, Pool2D)

PACKAGE = Path(__file__).resolve().parent.parent / "neural_networks"


class Scale(Layer):
    """A layer written without the old rules: its arguments live under other names,
    its forward never mentions "out_shape", it sets no n_in."""

    def __init__(self, factor, offset=0.5):
        super().__init__()
        self.k = factor
        self.shift = offset

    def forward(self, X):
        return self.k * np.asarray(X) + self.shift

    def backward(self, dLdY):
        return self.k * dLdY


class WideReLU(FullyConnected):
    """A subclass with its own constructor: its arguments are the ones recorded."""

    def __init__(self, n_out):
        super().__init__(2 * n_out, "relu")


def example_layers():
    """One layer of each kind, with an input that suits it (NHWC images, or rows)."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((3, 6, 6, 2))
    return [(FullyConnected(4, "tanh"), rng.standard_normal((3, 5))),
            (Conv2D(3, 3, "relu"), images), (Pool2D(2, stride=2), images),
            (Flatten(), images), (BatchNorm(activation="relu"), images),
            (BatchNorm(), rng.standard_normal((5, 4))), (Dropout(0.3), images)]


class TestConfiguration(unittest.TestCase):
    def test_the_constructor_arguments_with_their_defaults(self):
        self.assertEqual(dict(FullyConnected(4, "tanh").config),
                         {"n_out": 4, "activation": "tanh", "weight_init": "xavier_uniform"})
        self.assertEqual(dict(Conv2D(8, (3, 5), "relu", pad=1).config),
                         {"n_out": 8, "kernel_shape": (3, 5), "activation": "relu", "stride": 1,
                          "pad": 1, "weight_init": "xavier_uniform"})
        self.assertEqual(dict(Pool2D(2, mode="average").config),
                         {"kernel_shape": (2, 2), "mode": "average", "stride": 1, "pad": 0})
        self.assertEqual(dict(Flatten().config), {"keep_dim": "first"})
        self.assertEqual(dict(BatchNorm(eps=1e-3).config),
                         {"momentum": 0.1, "eps": 1e-3, "activation": "linear"})
        self.assertEqual(dict(Dropout().config), {"p": 0.5})

    def test_canonical_forms_are_settled(self):
        # A square kernel given as an int, and Fall 2023's name of the identity.
        self.assertEqual(Conv2D(2, 3, "identity").config["kernel_shape"], (3, 3))
        self.assertEqual(Conv2D(2, 3, "identity").config["activation"], "linear")

    def test_a_layer_that_keeps_its_arguments_under_other_names(self):
        layer = Scale(3.0)
        self.assertEqual(dict(layer.config), {"factor": 3.0, "offset": 0.5})
        self.assertEqual(layer.describe(), {"type": "Scale", "factor": 3.0, "offset": 0.5,
                                            "parameters": {}})
        self.assertEqual(repr(layer), "Scale(factor=3.0, offset=0.5)")

    def test_a_subclass_records_its_own_arguments(self):
        layer = WideReLU(3)
        self.assertEqual(dict(layer.config), {"n_out": 3})
        self.assertEqual(layer.n_out, 6)

    def test_a_call_python_refuses_is_still_pythons_type_error(self):
        with self.assertRaisesRegex(TypeError, "missing 2 required positional arguments"):
            FullyConnected()
        with self.assertRaises(TypeError):
            Scale(1.0, 2.0, 3.0)

    def test_descriptions_are_those_checkpoints_of_the_earlier_format_hold(self):
        # Written out by hand from a checkpoint main (532846c) saved: weight_init is
        # left out, tuples are lists, the activation is its canonical name.
        expected = [
            {"type": "FullyConnected", "n_out": 4, "activation": "tanh",
             "parameters": {"W": [5, 4], "b": [1, 4]}},
            {"type": "Conv2D", "n_out": 3, "kernel_shape": [3, 3], "activation": "relu",
             "stride": 1, "pad": "same", "parameters": {"W": [3, 3, 2, 3], "b": [1, 3]}},
            {"type": "Pool2D", "kernel_shape": [2, 2], "mode": "max", "stride": 2, "pad": 0,
             "parameters": {}},
            {"type": "Flatten", "keep_dim": "first", "parameters": {}},
            {"type": "BatchNorm", "momentum": 0.1, "eps": 1e-5, "activation": "relu",
             "parameters": {"gamma": [1, 2], "beta": [1, 2]}},
            {"type": "BatchNorm", "momentum": 0.1, "eps": 1e-5, "activation": "linear",
             "parameters": {"gamma": [1, 4], "beta": [1, 4]}},
            {"type": "Dropout", "p": 0.3, "parameters": {}},
        ]
        for (layer, X), description in zip(example_layers(), expected, strict=True):
            with self.subTest(layer=type(layer).__name__):
                layer.forward(X)
                self.assertEqual(layer.describe(), description)

    def test_repr_shows_the_settings(self):
        self.assertEqual(repr(Conv2D(4, 3, "relu", stride=2)),
                         "Conv2D(n_out=4, kernel_shape=(3, 3), activation='relu', stride=2, "
                         "pad='same', weight_init='xavier_uniform')")
        self.assertEqual(repr(Dropout(0.25)), "Dropout(p=0.25)")


class TestState(unittest.TestCase):
    def test_every_dict_exists_and_is_empty_at_first(self):
        for layer in [Scale(2.0), *(layer for layer, _ in example_layers())]:
            with self.subTest(layer=type(layer).__name__):
                for name in ("parameters", "gradients", "buffers", "cache"):
                    self.assertEqual(getattr(layer, name), {}, name)

    def test_buffers_are_declared_apart_from_parameters(self):
        layer = BatchNorm()
        layer.forward(np.ones((4, 3)))
        self.assertEqual(list(layer.parameters), ["gamma", "beta"])
        self.assertEqual(list(layer.buffers), ["running_mean", "running_var"])


class TestShapes(unittest.TestCase):
    def test_the_base_class_keeps_the_output_shape_for_backward(self):
        layer = Scale(2.0)
        with self.assertRaisesRegex(ValueError, "Scale.backward: expected a forward pass first"):
            layer.backward(np.ones((2, 3)))
        layer.forward(np.ones((2, 3)))
        self.assertEqual(layer.cache["out_shape"], (2, 3))
        np.testing.assert_array_equal(layer.backward(np.ones((2, 3))), np.full((2, 3), 2.0))
        with self.assertRaisesRegex(ValueError, r"expected dLdY of the last output's shape "
                                                r"\(2, 3\), got \(3, 2\)"):
            layer.backward(np.ones((3, 2)))

    def test_n_in_is_an_int_a_tuple_of_ints_or_none(self):
        layer = Scale(1.0)
        for value, stored in ((np.int64(5), 5), ([28, 28, 1], (28, 28, 1)),
                              ((np.int32(3),), (3,)), (None, None)):
            with self.subTest(value=value):
                layer.n_in = value
                self.assertEqual(layer.n_in, stored)
                self.assertIs(type(layer.n_in), type(stored))
        for bad in (True, 2.5, "4", [1, 2.0]):
            with self.subTest(bad=bad), self.assertRaisesRegex(ValueError, "n_in must be"):
                layer.n_in = bad


class TestInputGradient(unittest.TestCase):
    def test_every_layer_returns_none_and_the_same_parameter_gradients(self):
        rng = np.random.default_rng(1)
        for layer, X in example_layers():
            with self.subTest(layer=type(layer).__name__):
                Y = layer.forward(X)
                dY = rng.standard_normal(Y.shape)
                dX = layer.backward(dY)
                self.assertEqual(dX.shape, X.shape)
                full = {k: v.copy() for k, v in layer.gradients.items()}
                layer.forward(X)
                self.assertIsNone(layer.backward(dY, input_gradient=False))
                for name, value in full.items():
                    np.testing.assert_array_equal(layer.gradients[name], value, err_msg=name)

    def test_the_layers_with_parameters_skip_it(self):
        skipping = {name for name, cls in LAYERS.items() if cls.skips_input_gradient}
        self.assertEqual(skipping, {"fully_connected", "conv2d", "batchnorm", "groupnorm"})
        self.assertFalse(Scale.skips_input_gradient)

    def test_input_gradient_must_be_true_or_false(self):
        for layer, X in example_layers():
            Y = layer.forward(X)
            for bad in ("no", 0, None):
                with self.subTest(layer=type(layer).__name__, bad=bad), \
                        self.assertRaisesRegex(ValueError, "input_gradient must be True or False"):
                    layer.backward(np.ones_like(Y), input_gradient=bad)


class TestDeclarations(unittest.TestCase):
    def test_what_the_network_reads(self):
        threaded = {name for name, cls in LAYERS.items() if cls.runs_on_threads}
        self.assertEqual(threaded, {"conv2d", "pool2d"})
        minimum = {name: cls.min_train_batch for name, cls in LAYERS.items()}
        self.assertEqual(minimum, {"fully_connected": 1, "conv2d": 1, "pool2d": 1, "flatten": 1,
                                   "batchnorm": 2, "dropout": 1, "groupnorm": 1})

    def test_a_convolution_has_image_filters_the_others_none(self):
        for layer, X in example_layers():
            layer.forward(X)
            with self.subTest(layer=type(layer).__name__):
                if isinstance(layer, Conv2D):
                    self.assertIs(layer.image_filters(), layer.parameters["W"])
                else:
                    self.assertIsNone(layer.image_filters())
        self.assertIsNone(Conv2D(2, 3, "relu").image_filters())  # before its first input


class TestLayerKnowledgeStaysInLayers(unittest.TestCase):
    """What a layer is is asked of the layer: no isinstance of a concrete layer
    class anywhere in the package but layers.py."""

    def test_no_isinstance_of_a_layer_class_outside_layers_py(self):
        names = {cls.__name__ for cls in LAYERS.values()}
        self.assertTrue(all(hasattr(layers_module, name) for name in names))
        found = []
        for path in sorted(PACKAGE.rglob("*.py")):
            if path == PACKAGE / "layers.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" \
                        and len(node.args) == 2:
                    used = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                    used |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
                    if used & names:
                        found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
        self.assertEqual(found, [])


if __name__ == "__main__":
    unittest.main()
