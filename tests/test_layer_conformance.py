"""The conformance test: every layer of the registry (``layers.LAYERS``) keeps the
rules of ``base_layer.Layer``, in every example it declares (``Layer.examples``:
constructor arguments and an input shape; the inputs are standard normal), in
float64 and float32. A layer gets these tests by being registered.

- Gradients: dL/dX and every parameter's gradient agree with central finite
  differences in float64 (relative error < 1e-7), in training mode (BatchNorm
  with the batch's statistics, Dropout with one mask) and in eval mode; in
  float32 the layer computes what it computes in float64 (the same
  parameters, to float32's precision: relative error < 1e-5) and keeps float32
  throughout. ``gradients`` has the parameters' names, shapes and dtypes.
- Backward: ``input_gradient=False`` returns None and the same parameter
  gradients, and a layer with parameters skips dL/dX then
  (``skips_input_gradient``); ``input_gradient`` must be a bool; a backward
  before any forward, or with a dLdY of another shape than the output, is a
  ValueError; ``clear_gradients`` zeroes the gradients and empties the cache.
- Bad input: an empty batch, a 0-d array, float16 and a non-numeric array are
  ValueErrors naming what came; a layer with parameters refuses an input with
  another number of features or channels than its first.
- Modes: the flag starts True and a forward leaves it; a training forward never
  changes the parameters; an eval forward changes no parameter or buffer, draws
  nothing from numpy's generator, and gives each example the output it gets
  alone; a layer without buffers that draws nothing in training computes the
  same in both modes; a training batch of ``min_train_batch`` examples works,
  and any batch in eval mode.
- Description: ``config`` holds every constructor argument; ``describe()`` is
  JSON, names the type, the settings but ``initial_only`` and the parameters'
  shapes; a layer rebuilt from its description, from ``config``, from
  ``repr`` or by ``initialize_layer`` with its registry name equals it, and
  with the parameters and buffers copied in, computes what it computes.
- Declarations: ``image_filters()`` is None or a parameter of shape
  (rows, cols, n_in, n_out); ``n_out`` is the output's last axis; results are
  the same with one thread and with several in a ``parallel.session()``.
- In a network: ``summary`` names the layer and counts its parameters and
  buffers, and a checkpoint round trip (save, ``load_model``) gives the same
  state, the same predictions and the same next training step.
"""

import inspect
import json
import os
import tempfile
import unittest

import numpy as np

from neural_networks import load_model, parallel
from neural_networks.layers import LAYERS, initialize_layer
from neural_networks.models import NeuralNetwork
from neural_networks.summary import layer_title
from neural_networks.utils import AttrDict
from neural_networks.utils.grad_check import check_layer

DTYPES = (np.float64, np.float32)
TOLERANCE = 1e-7  # finite differences in float64
FLOAT32_TOLERANCE = 1e-5  # float32 against float64, relative error of the whole array


def every_example():
    """(label, registry name, class, settings, X) for each example of each registered layer."""
    for name, cls in LAYERS.items():
        for k, (settings, shape) in enumerate(cls.examples):
            X = np.random.default_rng(k).standard_normal(shape)
            yield f"{name} {settings} on {shape}", name, cls, settings, X


def made(cls, settings, X, dtype=np.float64, seed=0):
    """The layer of an example, initialised by a first forward of X in ``dtype``."""
    np.random.seed(seed)  # weight initialisers draw from numpy's global generator
    layer = cls(**settings)
    layer.forward(X.astype(dtype))
    return layer


def forward_backward(layer, X, dLdY, seed=1):
    """Output and dL/dX of one forward and backward, the generator seeded first."""
    np.random.seed(seed)
    Y = layer.forward(X)
    return Y, layer.backward(dLdY)


def relative_error(actual, expected):
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.linalg.norm(expected)
    difference = np.linalg.norm(np.asarray(actual, dtype=np.float64) - expected)
    return difference / scale if scale else difference


def generator_state():
    """numpy's global generator state as an array (its keys, then its position)."""
    _, keys, position, *_ = np.random.get_state()
    return np.append(keys, position)


def assert_same_arrays(test, actual, expected, what):
    """Two dicts of arrays with the same names, dtypes and values."""
    test.assertEqual(list(actual), list(expected), what)
    for key, value in expected.items():
        test.assertEqual(actual[key].dtype, value.dtype, f"{what} {key}")
        np.testing.assert_array_equal(actual[key], value, err_msg=f"{what} {key}")


class TestRegistry(unittest.TestCase):
    def test_every_registered_layer_declares_examples_its_constructor_takes(self):
        for name, cls in LAYERS.items():
            with self.subTest(layer=name):
                self.assertGreater(len(cls.examples), 0, f"{cls.__name__} declares no examples")
                for settings, shape in cls.examples:
                    inspect.signature(cls).bind(**settings)
                    self.assertTrue(all(type(n) is int and n > 0 for n in shape), shape)
                    self.assertGreaterEqual(shape[0], max(2, cls.min_train_batch))


class TestGradients(unittest.TestCase):
    def test_float64_gradients_agree_with_finite_differences_in_both_modes(self):
        for label, _, cls, settings, X in every_example():
            for training in (True, False):
                with self.subTest(layer=label, training=training):
                    layer = made(cls, settings, X)
                    layer.training = training
                    dLdY = np.random.default_rng(2).standard_normal(layer.forward(X).shape)
                    errors = check_layer(layer, X, dLdY)
                    self.assertEqual(set(errors), {"dX", *(f"d{p}" for p in layer.parameters)})
                    for quantity, error in errors.items():
                        self.assertLess(error, TOLERANCE, f"{quantity}: relative error {error:.3e}")

    def test_float32_computes_what_float64_does_and_stays_float32(self):
        for label, _, cls, settings, X in every_example():
            for training in (True, False):
                with self.subTest(layer=label, training=training):
                    wide = made(cls, settings, X)
                    narrow = made(cls, settings, X, np.float32)
                    for name, value in wide.parameters.items():
                        narrow.parameters[name] = value.astype(np.float32)
                    for name, value in wide.buffers.items():
                        narrow.buffers[name] = value.astype(np.float32)
                    wide.training = narrow.training = training
                    dLdY = np.random.default_rng(3).standard_normal(wide.forward(X).shape)
                    Y, dX = forward_backward(wide, X, dLdY)
                    Y32, dX32 = forward_backward(narrow, X.astype(np.float32),
                                                 dLdY.astype(np.float32))
                    pairs = {"output": (Y32, Y), "dX": (dX32, dX),
                             **{f"d{name}": (narrow.gradients[name], grad)
                                for name, grad in wide.gradients.items()}}
                    for what, (value32, value64) in pairs.items():
                        self.assertEqual(value32.dtype, np.float32, what)
                        self.assertLess(relative_error(value32, value64), FLOAT32_TOLERANCE, what)
                    for kind in ("parameters", "buffers"):
                        for name, value in getattr(narrow, kind).items():
                            self.assertEqual(value.dtype, np.float32, f"{kind} {name}")

    def test_gradients_have_the_parameters_names_shapes_and_dtypes(self):
        for label, _, cls, settings, X in every_example():
            for dtype in DTYPES:
                with self.subTest(layer=label, dtype=dtype.__name__):
                    layer = made(cls, settings, X, dtype)
                    forward_backward(layer, X.astype(dtype), np.ones_like(layer.forward(
                        X.astype(dtype))))
                    self.assertEqual(list(layer.gradients), list(layer.parameters))
                    for name, value in layer.parameters.items():
                        self.assertEqual(value.dtype, dtype, name)
                        self.assertEqual(layer.gradients[name].shape, value.shape, name)
                        self.assertEqual(layer.gradients[name].dtype, dtype, name)


class TestBackward(unittest.TestCase):
    def test_without_the_input_gradient(self):
        for label, _, cls, settings, X in every_example():
            with self.subTest(layer=label):
                layer = made(cls, settings, X)
                if layer.parameters:
                    self.assertTrue(cls.skips_input_gradient,
                                    "a layer with parameters takes input_gradient and skips dX")
                dLdY = np.random.default_rng(4).standard_normal(layer.forward(X).shape)
                forward_backward(layer, X, dLdY)
                full = {name: grad.copy() for name, grad in layer.gradients.items()}
                np.random.seed(1)
                layer.forward(X)
                self.assertIsNone(layer.backward(dLdY, input_gradient=False))
                assert_same_arrays(self, layer.gradients, full, "gradient")
                layer.forward(X)
                for bad in ("no", 0, None):
                    with self.assertRaisesRegex(ValueError, "input_gradient must be True or False"):
                        layer.backward(dLdY, input_gradient=bad)

    def test_backward_needs_a_forward_and_a_dLdY_of_the_output_shape(self):
        for label, _, cls, settings, X in every_example():
            with self.subTest(layer=label):
                layer = cls(**settings)
                with self.assertRaisesRegex(ValueError, "forward pass first"):
                    layer.backward(np.ones(X.shape))
                Y = layer.forward(X)
                wrong = (*Y.shape[:-1], Y.shape[-1] + 1)
                with self.assertRaisesRegex(ValueError, "expected dLdY") as caught:
                    layer.backward(np.ones(wrong))
                self.assertIn(str(Y.shape), str(caught.exception))
                self.assertIn(str(wrong), str(caught.exception))
                self.assertEqual(layer.backward(np.ones(Y.shape)).shape, X.shape)
                layer.clear_gradients()
                self.assertEqual(dict(layer.cache), {})
                for name, value in layer.parameters.items():
                    np.testing.assert_array_equal(layer.gradients[name], np.zeros_like(value))
                with self.assertRaisesRegex(ValueError, "forward pass first"):
                    layer.backward(np.ones(Y.shape))


class TestBadInput(unittest.TestCase):
    def test_an_empty_batch_is_refused_in_both_modes(self):
        for label, _, cls, settings, X in every_example():
            for training in (True, False):
                with self.subTest(layer=label, training=training):
                    layer = cls(**settings)
                    layer.training = training
                    for _ in range(2):  # before its first batch, then after one
                        with self.assertRaisesRegex(ValueError, "at least one example") as caught:
                            layer.forward(X[:0])
                        self.assertIn(str(X[:0].shape), str(caught.exception))
                        layer.forward(X)

    def test_inputs_that_are_no_batch_of_numbers(self):
        for label, _, cls, settings, X in every_example():
            with self.subTest(layer=label):
                layer = cls(**settings)
                for bad, fragment in ((np.float64(1.0), "()"), (X.astype(np.float16), "float16"),
                                      (np.full(X.shape, "a"), "dtype <U1")):
                    with self.assertRaises(ValueError) as caught:
                        layer.forward(bad)
                    self.assertIn(fragment, str(caught.exception))

    def test_a_layer_with_parameters_refuses_other_features_than_its_first_input(self):
        for label, _, cls, settings, X in every_example():
            layer = made(cls, settings, X)
            if not layer.parameters:
                continue
            with self.subTest(layer=label):
                other = np.ones((*X.shape[:-1], X.shape[-1] + 1))
                with self.assertRaises(ValueError) as caught:
                    layer.forward(other)
                self.assertIn(str(other.shape), str(caught.exception))
                self.assertIn(str(X.shape[-1]), str(caught.exception))


class TestModes(unittest.TestCase):
    def test_what_eval_mode_keeps(self):
        for label, _, cls, settings, X in every_example():
            for dtype in DTYPES:
                with self.subTest(layer=label, dtype=dtype.__name__):
                    layer = made(cls, settings, X, dtype)
                    self.assertIs(layer.training, True)
                    layer.forward(X.astype(dtype))  # move any running statistics again
                    layer.training = False
                    parameters = {k: v.copy() for k, v in layer.parameters.items()}
                    buffers = {k: v.copy() for k, v in layer.buffers.items()}
                    generator = generator_state()
                    whole = layer.forward(X.astype(dtype))
                    alone = layer.forward(X[:1].astype(dtype))
                    self.assertIs(layer.training, False)
                    np.testing.assert_array_equal(generator_state(), generator)
                    assert_same_arrays(self, layer.parameters, parameters, "parameter")
                    assert_same_arrays(self, layer.buffers, buffers, "buffer")
                    tolerance = 1e-12 if dtype == np.float64 else 1e-5
                    np.testing.assert_allclose(alone, whole[:len(alone)], rtol=tolerance,
                                               atol=tolerance)

    def test_training_forward_keeps_the_parameters_and_the_mode_matters_only_by_buffers_or_draws(
            self):
        for label, _, cls, settings, X in every_example():
            with self.subTest(layer=label):
                layer = made(cls, settings, X)
                parameters = {k: v.copy() for k, v in layer.parameters.items()}
                generator = generator_state()
                trained = layer.forward(X)
                self.assertIs(layer.training, True)
                draws = not np.array_equal(generator_state(), generator)
                assert_same_arrays(self, layer.parameters, parameters, "parameter")
                layer.training = False
                if not layer.buffers and not draws:
                    np.testing.assert_array_equal(layer.forward(X), trained)

    def test_the_smallest_training_batch(self):
        for label, _, cls, settings, X in every_example():
            with self.subTest(layer=label):
                layer = made(cls, settings, X)
                smallest = X[:cls.min_train_batch]
                Y = layer.forward(smallest)
                self.assertEqual(layer.backward(np.ones_like(Y)).shape, smallest.shape)
                layer.training = False
                layer.forward(X[:1])  # any batch in eval mode


class TestDescription(unittest.TestCase):
    def test_config_holds_every_constructor_argument(self):
        for label, _, cls, settings, _ in every_example():
            with self.subTest(layer=label):
                layer = cls(**settings)
                arguments = list(inspect.signature(cls).parameters)
                self.assertEqual(list(layer.config), arguments)
                for name, value in settings.items():
                    self.assertEqual(layer.config[name], value, name)

    def test_describe(self):
        for label, _, cls, settings, X in every_example():
            for dtype in DTYPES:
                with self.subTest(layer=label, dtype=dtype.__name__):
                    layer = made(cls, settings, X, dtype)
                    description = layer.describe()
                    self.assertEqual(json.loads(json.dumps(description)), description)
                    self.assertEqual(description["type"], cls.__name__)
                    self.assertEqual(
                        set(description) - {"type", "parameters"},
                        {name for name in layer.config if name not in cls.initial_only})
                    self.assertEqual(description["parameters"],
                                     {k: list(v.shape) for k, v in layer.parameters.items()})

    def test_a_layer_rebuilt_from_its_description_equals_it(self):
        for label, name, cls, settings, X in every_example():
            with self.subTest(layer=label):
                layer = made(cls, settings, X)
                description = layer.describe()
                kept = {k: v for k, v in layer.config.items() if k in cls.initial_only}
                rebuilt = {
                    "description": cls(**{k: v for k, v in description.items()
                                          if k not in ("type", "parameters")}, **kept),
                    "config": cls(**layer.config),
                    "repr": eval(repr(layer), {cls.__name__: cls}),
                    "initialize_layer": initialize_layer(name, **{"keep_dim": "first",
                                                                  **layer.config}),
                }
                for how, other in rebuilt.items():
                    self.assertIs(type(other), cls, how)
                    self.assertEqual(repr(other), repr(layer), how)
                    other.forward(X)
                    self.assertEqual(other.describe(), description, how)

    def test_a_layer_rebuilt_with_its_state_computes_the_same(self):
        for label, _, cls, settings, X in every_example():
            with self.subTest(layer=label):
                layer = made(cls, settings, X)
                dLdY = np.random.default_rng(6).standard_normal(layer.forward(X).shape)
                other = made(cls, layer.config, X, seed=5)
                for kind in ("parameters", "buffers"):
                    getattr(other, kind).update(
                        (k, v.copy()) for k, v in getattr(layer, kind).items())
                for training in (True, False):
                    layer.training = other.training = training
                    for expected, actual in zip(forward_backward(layer, X, dLdY),
                                                forward_backward(other, X, dLdY), strict=True):
                        np.testing.assert_array_equal(actual, expected)
                    assert_same_arrays(self, other.gradients, layer.gradients, "gradient")


class TestDeclarations(unittest.TestCase):
    def test_image_filters_and_sizes(self):
        for label, _, cls, settings, X in every_example():
            with self.subTest(layer=label):
                layer = made(cls, settings, X)
                Y = layer.forward(X)
                self.assertEqual(layer.n_out, Y.shape[-1])
                self.assertIn(type(layer.n_in), (int, tuple))
                filters = layer.image_filters()
                if filters is not None:
                    self.assertTrue(any(filters is v for v in layer.parameters.values()))
                    self.assertEqual(filters.ndim, 4)
                    self.assertEqual(filters.shape[2:], (layer.n_in, layer.n_out))

    def test_results_do_not_depend_on_the_number_of_threads(self):
        original = parallel.threads()
        try:
            for label, _, cls, settings, X in every_example():
                with self.subTest(layer=label):
                    results = []
                    for n in (1, 3):
                        parallel.set_threads(n)
                        layer = made(cls, settings, X)
                        with parallel.session():
                            Y, dX = forward_backward(layer, X, np.cos(layer.forward(X)))
                        results.append([Y, dX, *layer.gradients.values()])
                    for one, several in zip(*results, strict=True):
                        np.testing.assert_array_equal(several, one)
        finally:
            parallel.set_threads(original)


def small_network(name, settings, X, dtype):
    """The example's layer, then (flattened if need be) a softmax layer of 3 units,
    built for X in ``dtype``, after two training steps (so that running statistics
    and the optimizer's state have moved)."""
    np.random.seed(0)
    layer = LAYERS[name](**settings)
    flat = layer.forward(X).ndim == 2
    layer_args = [AttrDict(name=name, **settings),
                  *([] if flat else [AttrDict(name="flatten")]),
                  AttrDict(name="fully_connected", n_out=3, activation="softmax")]
    model = NeuralNetwork("cross_entropy", layer_args, dict(name="Adam", lr=0.01), seed=0)
    model.build(X.shape[1:], n_out=3, dtype=dtype)
    for _ in range(2):
        train_step(model, X.astype(dtype))
    return model


def train_step(model, X):
    out = model.forward(X)
    labels = np.eye(3, dtype=out.dtype)[np.arange(len(out)) % 3]
    model.backward(labels, out)
    model.update(model.epoch)


class TestInANetwork(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)

    def test_summary_names_the_layer_and_counts_its_state(self):
        for label, name, _, settings, X in every_example():
            with self.subTest(layer=label):
                model = small_network(name, settings, X, np.float64)
                layer = model.layers[0]
                text = repr(model)
                row = next(line for line in text.splitlines() if line.startswith("0 "))
                self.assertIn(layer_title(layer.describe()), row)
                count = sum(v.size for v in layer.parameters.values())
                self.assertTrue(row.endswith(f" {count:,}"), row)
                self.assertEqual("Buffers (" in text, bool(layer.buffers))
                if layer.buffers:
                    self.assertIn(f"{sum(v.size for v in layer.buffers.values()):,} values", text)

    def test_checkpoint_round_trip(self):
        for label, name, _, settings, X in every_example():
            for dtype in DTYPES:
                with self.subTest(layer=label, dtype=dtype.__name__):
                    model = small_network(name, settings, X, dtype)
                    path = os.path.join(self.folder.name, "model.npz")
                    model.save(path)
                    loaded = load_model(path)  # sets numpy's generator to the saved state
                    self.assertEqual(loaded.architecture(), model.architecture())
                    self.assertEqual(repr(loaded.layers[0]), repr(model.layers[0]))
                    assert_same_arrays(self, loaded.state_dict(), model.state_dict(), "state")
                    np.testing.assert_array_equal(loaded.predict(X)[0], model.predict(X)[0])
                    generator = np.random.get_state()
                    train_step(model, X.astype(dtype))
                    np.random.set_state(generator)
                    train_step(loaded, X.astype(dtype))
                    assert_same_arrays(self, loaded.state_dict(), model.state_dict(),
                                       "state after one more step")


if __name__ == "__main__":
    unittest.main()
