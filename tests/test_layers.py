"""Every layer of neural_networks/layers.py, and initialize_layer.

FullyConnected, Conv2D, Pool2D and Flatten: the course's tests, replayed
against PyTorch reference data. For every case of
``tests/data/<TestClass>.npz`` (written by ``tests/make_reference_data.py``)
a test builds the layer from its config, runs ``forward`` once to initialise
it, loads W and b from the file, runs ``forward`` again and compares with the
stored output, then compares ``backward(upstream_grad)`` (and, for
FullyConnected and Conv2D, ``gradients["W"]`` and ``gradients["b"]``) with
the stored gradients: to 4 decimals as the course does, and to a relative
error of 1e-7.

BatchNorm is replayed against PyTorch float64 reference data
(tests/data/TestBatchNorm.npz, written by tests/make_toolkit_reference_data.py):
training-mode forward and backward (dX, dgamma, dbeta), the running
statistics after one and after several batches, and eval-mode forward and
backward, for (N, F), (N, L, C) and NHWC inputs, linear and ReLU activations
and two momentum/eps settings, all to a relative error of 1e-7. Finite
differences check the gradients in both modes, and float32 stays float32.

GroupNorm is replayed the course's way against PyTorch float64 data
(tests/data/TestGroupNorm.npz, ``F.group_norm``): 1, 2, 3 and 6 groups, on
(batch, features) and NHWC inputs, output, dX, dgamma and dbeta to a relative
error of 1e-7; layer and instance normalisation are checked by hand, and bad
settings (groups that do not divide the channels) are refused. What every
layer must do (modes, dtypes, checkpoints, ...) is tests/test_layer_conformance.py's.

Dropout: identity in eval mode and with p=0, each training output is 0 or
x/(1-p), the kept fraction is near 1-p, backward reuses the forward's mask,
finite differences agree with a fixed mask, and bad p is refused.

initialize_layer: every keyword must be one the layer takes (the course's
keep_dim="first" and activation="linear" excepted); misuse of a layer
(backward without a forward, a dLdY of the wrong shape, an empty batch,
bad settings) is a ValueError that says what was expected.
"""

import gc
import json
import os
import unittest
import weakref

import numpy as np

from neural_networks.activations import initialize_activation
from neural_networks.layers import (LAYERS, BatchNorm, Conv2D, Dropout, FullyConnected,
                                    GroupNorm, initialize_layer)
from neural_networks.utils.grad_check import check_gradients, check_layer
from tests.reference_configs import PARAMETERS, assert_matches, load_reference

# torch.nn.init.calculate_gain of the activations in the FullyConnected configs.
XAVIER_GAINS = {"relu": np.sqrt(2), "tanh": 5 / 3, "linear": 1, "sigmoid": 1, "softmax": 1}

DATA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "TestBatchNorm.npz")

TOLERANCE = 1e-7


def build_layer(data, i, config, parameters):
    """The layer of case i, initialised, with the file's parameters (W and b,
    gamma and beta, as named in ``parameters``) loaded."""
    layer = initialize_layer(**config)
    X = data[f"{i}input"][0]
    layer.forward(X)
    for name in parameters:
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
            layer, X = build_layer(data, i, config, PARAMETERS.get(class_name, ()))
            assert_matches(layer.forward(X), data[f"{i}output"], f"case {i} output")


def check_layer_backward(test, class_name):
    data, cases = load_reference(class_name)
    parameters = PARAMETERS.get(class_name, ())
    for i, config, batch, size in cases:
        with test.subTest(case=i, config=config, batch=batch, size=size):
            layer, X = build_layer(data, i, config, parameters)
            layer.forward(X)
            dX = layer.backward(data[f"{i}upstream_grad"])
            assert_matches(dX, data[f"{i}backward"], f"case {i} backward")
            for name in parameters:
                assert_matches(layer.gradients[name], data[f"{i}d{name}"],
                               f"case {i} gradient {name}")


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


# ---------------------------------------------------------------- GroupNorm

class TestGroupNorm(unittest.TestCase):
    def test_forward(self):
        check_layer_forward(self, "TestGroupNorm")

    def test_backward(self):
        check_layer_backward(self, "TestGroupNorm")

    def test_one_group_is_layer_norm_and_one_channel_a_group_instance_norm(self):
        X = np.random.default_rng(0).normal(1.0, 2.0, size=(3, 4, 5, 6))
        for groups, axes in ((1, (1, 2, 3)), (6, (1, 2))):
            with self.subTest(groups=groups):
                mean = X.mean(axis=axes, keepdims=True)
                var = X.var(axis=axes, keepdims=True)
                np.testing.assert_allclose(initialize_layer("groupnorm", groups=groups).forward(X),
                                           (X - mean) / np.sqrt(var + 1e-5), rtol=1e-12,
                                           atol=1e-12)

    def test_the_same_in_both_modes_and_with_any_batch(self):
        X = np.random.default_rng(1).standard_normal((5, 3, 3, 4))
        layer = initialize_layer("groupnorm", groups=2, activation="relu")
        trained = layer.forward(X)
        self.assertEqual(layer.buffers, {})
        single = layer.forward(X[:1])  # a training batch of one example
        layer.training = False
        np.testing.assert_array_equal(layer.forward(X), trained)
        np.testing.assert_allclose(single, trained[:1], rtol=1e-13, atol=1e-15)

    def test_groups_must_divide_the_channels(self):
        layer = initialize_layer("groupnorm", groups=4)
        for X in (np.ones((2, 6)), np.ones((2, 3, 3, 6))):
            with self.subTest(shape=X.shape), self.assertRaisesRegex(
                    ValueError, r"groups=4 must divide the channels \(last axis\), got 6 "
                                r"channels"):
                layer.forward(X)
        self.assertIsNone(layer.n_in)
        self.assertEqual(layer.forward(np.ones((2, 8))).shape, (2, 8))  # 4 groups of 2

    def test_bad_settings(self):
        for groups in (0, -2, 2.0, True, "2", None):
            with self.subTest(groups=groups), self.assertRaisesRegex(
                    ValueError, "GroupNorm groups must be a whole number and >= 1"):
                GroupNorm(groups)
        for eps in (0, -1e-5, float("nan"), float("inf"), True):
            with self.subTest(eps=eps), self.assertRaisesRegex(ValueError, "GroupNorm eps"):
                GroupNorm(2, eps=eps)

    def test_factory(self):
        layer = initialize_layer("groupnorm", groups=2, eps=1e-3, activation="relu")
        self.assertIsInstance(layer, GroupNorm)
        self.assertEqual(dict(layer.config), {"groups": 2, "eps": 1e-3, "activation": "relu"})
        self.assertEqual(initialize_layer("groupnorm", groups=3).config["activation"], "linear")
        with self.assertRaisesRegex(ValueError, "'groupnorm' needs groups"):
            initialize_layer("groupnorm")
        with self.assertRaisesRegex(ValueError, "'momentum'.*groups, eps, activation"):
            initialize_layer("groupnorm", groups=2, momentum=0.1)


# ---------------------------------------------------------------- BatchNorm

def assert_close(actual, expected, what):
    """Every element within a relative error of 1e-7 (absolute floor 1e-12)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    np.testing.assert_allclose(actual, expected, rtol=1e-7, atol=1e-12, err_msg=what)


def load_cases():
    with np.load(DATA_PATH, allow_pickle=False) as archive:
        data = {key: archive[key] for key in archive.files}
    return data, json.loads(str(data["configs"]))


def batchnorm_from_case(data, i, config):
    """A BatchNorm with the case's settings, initialised, with gamma, beta and
    (for "random" cases) the running statistics loaded from the file."""
    layer = initialize_layer("batchnorm", activation=config["activation"],
                             momentum=config["momentum"], eps=config["eps"])
    layer.forward(data[f"{i}X"][0])  # initialises (and moves the running stats)
    layer.parameters["gamma"] = data[f"{i}gamma"].copy()
    layer.parameters["beta"] = data[f"{i}beta"].copy()
    if config["init"] == "default":
        n_channels = config["shape"][-1]
        layer.buffers["running_mean"] = np.zeros((1, n_channels))
        layer.buffers["running_var"] = np.ones((1, n_channels))
    else:
        layer.buffers["running_mean"] = data[f"{i}running_mean0"].copy()
        layer.buffers["running_var"] = data[f"{i}running_var0"].copy()
    layer.clear_gradients()
    return layer


class TestBatchNormReference(unittest.TestCase):
    """Replay of the PyTorch float64 oracle data."""

    @classmethod
    def setUpClass(cls):
        cls.data, cls.configs = load_cases()

    def test_reference_file_covers_every_setting(self):
        shapes = {len(c["shape"]) for c in self.configs}
        self.assertEqual(shapes, {2, 3, 4})
        self.assertEqual({c["activation"] for c in self.configs}, {"linear", "relu"})
        self.assertEqual({c["momentum"] for c in self.configs}, {0.1, 0.3})

    def test_default_state_of_a_new_layer(self):
        for i, config in enumerate(self.configs):
            if config["init"] != "default":
                continue
            with self.subTest(case=i, config=config):
                layer = initialize_layer("batchnorm", activation=config["activation"],
                                         momentum=config["momentum"], eps=config["eps"])
                X = self.data[f"{i}X"][0]
                layer.training = False  # eval mode: the buffers stay as initialised
                layer.forward(X)
                n_channels = config["shape"][-1]
                np.testing.assert_array_equal(layer.parameters["gamma"], np.ones((1, n_channels)))
                np.testing.assert_array_equal(layer.parameters["beta"], np.zeros((1, n_channels)))
                np.testing.assert_array_equal(layer.buffers["running_mean"],
                                              np.zeros((1, n_channels)))
                np.testing.assert_array_equal(layer.buffers["running_var"],
                                              np.ones((1, n_channels)))
                self.assertEqual(list(layer.parameters), ["gamma", "beta"])
                self.assertNotIn("running_mean", layer.parameters)
                self.assertEqual(layer.n_in, n_channels)
                self.assertEqual(layer.n_out, n_channels)

    def test_training_forward_and_backward(self):
        for i, config in enumerate(self.configs):
            with self.subTest(case=i, config=config):
                layer = batchnorm_from_case(self.data, i, config)
                self.assertTrue(layer.training)
                Y = layer.forward(self.data[f"{i}X"][0])
                assert_close(Y, self.data[f"{i}train_output"], f"case {i} training output")
                dX = layer.backward(self.data[f"{i}train_upstream"])
                assert_close(dX, self.data[f"{i}train_dX"], f"case {i} training dX")
                assert_close(layer.gradients["gamma"], self.data[f"{i}train_dgamma"],
                             f"case {i} training dgamma")
                assert_close(layer.gradients["beta"], self.data[f"{i}train_dbeta"],
                             f"case {i} training dbeta")

    def test_running_statistics_after_one_and_several_batches(self):
        for i, config in enumerate(self.configs):
            with self.subTest(case=i, config=config):
                layer = batchnorm_from_case(self.data, i, config)
                X = self.data[f"{i}X"]
                layer.forward(X[0])
                assert_close(layer.buffers["running_mean"], self.data[f"{i}running_mean1"],
                             f"case {i} running mean after one batch")
                assert_close(layer.buffers["running_var"], self.data[f"{i}running_var1"],
                             f"case {i} running variance after one batch")
                for batch in X[1:]:
                    layer.forward(batch)
                assert_close(layer.buffers["running_mean"], self.data[f"{i}running_mean"],
                             f"case {i} running mean after {len(X)} batches")
                assert_close(layer.buffers["running_var"], self.data[f"{i}running_var"],
                             f"case {i} running variance after {len(X)} batches")

    def test_eval_forward_and_backward_use_running_statistics(self):
        for i, config in enumerate(self.configs):
            with self.subTest(case=i, config=config):
                layer = batchnorm_from_case(self.data, i, config)
                for batch in self.data[f"{i}X"]:
                    layer.forward(batch)
                layer.training = False
                mean = layer.buffers["running_mean"].copy()
                var = layer.buffers["running_var"].copy()
                Y = layer.forward(self.data[f"{i}eval_X"])
                assert_close(Y, self.data[f"{i}eval_output"], f"case {i} eval output")
                dX = layer.backward(self.data[f"{i}eval_upstream"])
                assert_close(dX, self.data[f"{i}eval_dX"], f"case {i} eval dX")
                assert_close(layer.gradients["gamma"], self.data[f"{i}eval_dgamma"],
                             f"case {i} eval dgamma")
                assert_close(layer.gradients["beta"], self.data[f"{i}eval_dbeta"],
                             f"case {i} eval dbeta")
                # Eval mode never moves the running statistics.
                np.testing.assert_array_equal(layer.buffers["running_mean"], mean)
                np.testing.assert_array_equal(layer.buffers["running_var"], var)

    def test_eval_output_does_not_depend_on_the_rest_of_the_batch(self):
        i, config = 5, self.configs[5]
        layer = batchnorm_from_case(self.data, i, config)
        for batch in self.data[f"{i}X"]:
            layer.forward(batch)
        layer.training = False
        X = self.data[f"{i}eval_X"]
        whole = layer.forward(X)
        single = layer.forward(X[:1])
        np.testing.assert_allclose(single, whole[:1], rtol=1e-12, atol=1e-14)


class TestBatchNormGradients(unittest.TestCase):
    """Central finite differences of dX, dgamma and dbeta in both modes."""

    def check(self, X, activation, training):
        rng = np.random.default_rng(7)
        layer = BatchNorm(momentum=0.2, activation=activation)
        layer.forward(X)
        n_channels = X.shape[-1]
        layer.parameters["gamma"] = rng.uniform(0.5, 2.0, size=(1, n_channels))
        layer.parameters["beta"] = rng.normal(size=(1, n_channels))
        layer.buffers["running_mean"] = rng.normal(size=(1, n_channels))
        layer.buffers["running_var"] = rng.uniform(0.5, 2.0, size=(1, n_channels))
        layer.training = training
        dLdY = rng.standard_normal(X.shape)
        errors = check_layer(layer, X, dLdY)
        self.assertEqual(set(errors), {"dX", "dgamma", "dbeta"})
        for quantity, error in errors.items():
            self.assertLess(error, TOLERANCE, f"{quantity}: relative error {error:.3e}")

    def test_gradients_fully_connected_input(self):
        X = np.random.default_rng(1).normal(1.0, 2.0, size=(6, 4))
        for training in (True, False):
            for activation in ("linear", "tanh"):
                with self.subTest(training=training, activation=activation):
                    self.check(X, activation, training)

    def test_gradients_nhwc_input(self):
        X = np.random.default_rng(2).normal(-1.0, 1.5, size=(3, 4, 3, 2))
        for training in (True, False):
            for activation in ("linear", "sigmoid", "relu"):
                with self.subTest(training=training, activation=activation):
                    self.check(X, activation, training)

    def test_fused_relu_matches_relu_after_a_linear_batchnorm(self):
        # BatchNorm does ReLU in its own output array; the result must be that
        # of the ReLU activation applied afterwards, both ways.
        rng = np.random.default_rng(5)
        X = rng.normal(0.5, 2.0, size=(4, 3, 3, 5))
        dLdY = rng.standard_normal(X.shape)
        relu = initialize_activation("relu")
        for training in (True, False):
            with self.subTest(training=training):
                fused, plain = BatchNorm(activation="relu"), BatchNorm(activation="linear")
                for layer in (fused, plain):
                    layer.forward(X)
                    layer.parameters["gamma"] = np.linspace(-1.5, 2.0, 5)[None, :]
                    layer.parameters["beta"] = np.linspace(-0.5, 0.5, 5)[None, :]
                    layer.training = training
                Z = plain.forward(X)
                Y = fused.forward(X)
                self.assertTrue(np.any(Y == 0) and np.any(Y > 0))
                np.testing.assert_allclose(Y, relu(Z), rtol=1e-12, atol=1e-12)
                dX = fused.backward(dLdY)
                expected = plain.backward(relu.backward(Z, dLdY))
                np.testing.assert_allclose(dX, expected, rtol=1e-12, atol=1e-12)
                for name in ("gamma", "beta"):
                    np.testing.assert_allclose(fused.gradients[name], plain.gradients[name],
                                               rtol=1e-12, atol=1e-12)

    def test_training_gradient_includes_the_batch_statistics(self):
        # In training mode the mean and variance depend on X; a backward that
        # forgot it (gamma * inv_std * dY) would differ from finite differences.
        rng = np.random.default_rng(3)
        X = rng.normal(size=(5, 3))
        dLdY = rng.standard_normal(X.shape)
        layer = BatchNorm()
        layer.forward(X)
        dX = layer.backward(dLdY)
        naive = dLdY / np.sqrt(X.var(axis=0, keepdims=True) + layer.eps)
        self.assertGreater(np.abs(dX - naive).max(), 1e-3)
        self.assertLess(check_gradients(layer.forward, dX, X, dLdY), TOLERANCE)
        # The training-mode gradient sums to zero over the batch per channel.
        np.testing.assert_allclose(dX.sum(axis=0), 0.0, atol=1e-12)


class TestBatchNormDtypeAndInput(unittest.TestCase):
    def test_float32_stays_float32(self):
        rng = np.random.default_rng(4)
        for shape in ((8, 3), (2, 4, 4, 3)):
            with self.subTest(shape=shape):
                X = rng.normal(size=shape).astype(np.float32)
                layer = BatchNorm(activation="relu")
                Y = layer.forward(X)
                dX = layer.backward(rng.normal(size=shape).astype(np.float32))
                arrays = {"output": Y, "dX": dX, **layer.parameters, **layer.buffers,
                          **{f"d{k}": v for k, v in layer.gradients.items()}}
                layer.training = False
                arrays["eval output"] = layer.forward(X)
                arrays["eval dX"] = layer.backward(np.ones(shape, dtype=np.float32))
                arrays.update({f"eval d{k}": v for k, v in layer.gradients.items()})
                arrays.update({f"after eval {k}": v for k, v in layer.buffers.items()})
                for name, array in arrays.items():
                    self.assertEqual(array.dtype, np.float32, name)

    def test_float32_matches_float64(self):
        rng = np.random.default_rng(5)
        X = rng.normal(size=(6, 4))
        dY = rng.normal(size=(6, 4))
        results = {}
        for dtype in (np.float32, np.float64):
            layer = BatchNorm()
            Y = layer.forward(X.astype(dtype))
            results[dtype] = (Y, layer.backward(dY.astype(dtype)))
        for ours, exact in zip(results[np.float32], results[np.float64], strict=True):
            np.testing.assert_allclose(ours, exact, rtol=1e-4, atol=1e-5)

    def test_wrong_channel_count_after_initialisation(self):
        layer = BatchNorm()
        layer.forward(np.ones((4, 3)) * np.arange(4)[:, None])
        with self.assertRaisesRegex(ValueError, "3 channels"):
            layer.forward(np.ones((4, 5)))

    def test_bad_settings(self):
        for kwargs in ({"momentum": -0.1}, {"momentum": 1.5}, {"eps": 0.0}, {"eps": -1e-5}):
            with self.subTest(**kwargs), self.assertRaises(ValueError):
                BatchNorm(**kwargs)
        # Not finite, a bool, or not a number at all: a ValueError naming the setting.
        for name in ("momentum", "eps"):
            for value in (float("nan"), float("inf"), -float("inf"), True, False, "0.1", None,
                          [0.1], np.array([0.1, 0.2])):
                with self.subTest(name=name, value=value):
                    with self.assertRaisesRegex(ValueError, f"BatchNorm {name}") as caught:
                        BatchNorm(**{name: value})
                    self.assertIn("finite number", str(caught.exception))
                    if value is not None:  # None in the factory means the default
                        with self.assertRaises(ValueError):
                            initialize_layer("batchnorm", **{name: value})
        # Integers and numpy scalars in range stay welcome.
        self.assertEqual(BatchNorm(momentum=1).momentum, 1)
        self.assertEqual(BatchNorm(eps=np.float32(1e-3)).eps, np.float32(1e-3))
        with self.assertRaisesRegex(ValueError, "activation|unknown"):
            BatchNorm(activation="no_such_activation")

    def test_one_value_per_channel_in_training_mode(self):
        layer = BatchNorm()
        with self.assertRaisesRegex(ValueError, "more than one value") as caught:
            layer.forward(np.ones((1, 3)))
        # The message says how to avoid the error: bigger batches, or eval mode.
        message = str(caught.exception)
        self.assertIn("(1, 3)", message)
        self.assertIn("at least 2 examples", message)
        self.assertIn("eval mode", message)
        layer.training = False
        np.testing.assert_allclose(layer.forward(np.ones((1, 3))), 1 / np.sqrt(1 + 1e-5),
                                   rtol=1e-15)
        with self.assertRaisesRegex(ValueError, r"\(batch, \.\.\., channels\)"):
            BatchNorm().forward(np.ones(3))


# ------------------------------------------------------------------ Dropout

class TestDropout(unittest.TestCase):
    def test_identity_in_eval_mode(self):
        X = np.random.default_rng(0).normal(size=(20, 30))
        layer = Dropout(p=0.5)
        layer.training = False
        state = np.random.get_state()[1].copy()
        Y = layer.forward(X)
        np.testing.assert_array_equal(Y, X)
        dY = np.random.default_rng(1).normal(size=X.shape)
        np.testing.assert_array_equal(layer.backward(dY), dY)
        # Eval mode draws nothing from the global generator.
        np.testing.assert_array_equal(np.random.get_state()[1], state)

    def test_identity_with_p_zero(self):
        X = np.random.default_rng(0).normal(size=(10, 7))
        layer = Dropout(p=0.0)
        self.assertTrue(layer.training)
        np.testing.assert_array_equal(layer.forward(X), X)
        dY = np.ones_like(X)
        np.testing.assert_array_equal(layer.backward(dY), dY)

    def test_training_outputs_are_zero_or_scaled(self):
        X = np.random.default_rng(0).uniform(1.0, 2.0, size=(50, 40))  # never 0 itself
        for p in (0.1, 0.5, 0.8):
            with self.subTest(p=p):
                np.random.seed(1)
                Y = Dropout(p=p).forward(X)
                dropped = Y == 0
                np.testing.assert_allclose(Y[~dropped], X[~dropped] / (1 - p), rtol=1e-15)
                self.assertTrue(dropped.any())
                self.assertTrue((~dropped).any())

    def test_kept_fraction_is_one_minus_p(self):
        # 10^6 Bernoulli draws: the standard deviation of the kept fraction is
        # at most 5e-4, so 0.005 is ten standard deviations (and the seed is fixed).
        X = np.ones((1000, 1000))
        for p in (0.2, 0.5, 0.9):
            with self.subTest(p=p):
                np.random.seed(2)
                kept = np.mean(Dropout(p=p).forward(X) != 0)
                self.assertAlmostEqual(kept, 1 - p, delta=0.005)

    def test_mask_differs_between_calls_and_follows_the_seed(self):
        X = np.ones((30, 30))
        layer = Dropout(p=0.5)
        np.random.seed(3)
        first = layer.forward(X)
        second = layer.forward(X)
        self.assertFalse(np.array_equal(first, second))
        np.random.seed(3)
        np.testing.assert_array_equal(layer.forward(X), first)

    def test_backward_uses_the_forward_mask(self):
        rng = np.random.default_rng(4)
        X = rng.uniform(1.0, 2.0, size=(16, 12))
        dY = rng.uniform(1.0, 2.0, size=X.shape)
        layer = Dropout(p=0.3)
        np.random.seed(5)
        Y = layer.forward(X)
        dX = layer.backward(dY)
        np.testing.assert_array_equal(dX == 0, Y == 0)
        np.testing.assert_allclose(dX, dY * (Y / X), rtol=1e-15)

    def test_gradient_check_with_a_fixed_mask(self):
        rng = np.random.default_rng(6)
        for shape in ((6, 5), (2, 3, 3, 2)):
            with self.subTest(shape=shape):
                X = rng.normal(size=shape)
                dY = rng.normal(size=shape)
                layer = Dropout(p=0.4)

                def forward(value):
                    np.random.seed(11)  # the same mask at every call
                    return layer.forward(value)

                forward(X)
                dX = layer.backward(dY)
                self.assertLess(check_gradients(forward, dX, X, dY), TOLERANCE)

    def test_float32_stays_float32(self):
        X = np.random.default_rng(7).normal(size=(10, 10)).astype(np.float32)
        layer = Dropout(p=0.5)
        Y = layer.forward(X)
        self.assertEqual(Y.dtype, np.float32)
        self.assertEqual(layer.backward(np.ones_like(X)).dtype, np.float32)

    def test_bad_p(self):
        for p in (-0.1, 1.0, 1.5):
            with self.subTest(p=p), self.assertRaisesRegex(ValueError, "p must be in"):
                Dropout(p=p)
        for p in (float("nan"), float("inf"), -float("inf"), True, False, "0.5", None, [0.5]):
            with self.subTest(p=p), self.assertRaisesRegex(ValueError, "Dropout p must be a finite"):
                Dropout(p=p)
        self.assertEqual(Dropout(p=0).p, 0)  # an int in range is fine
        with self.assertRaises(ValueError):
            initialize_layer("dropout", p=1.0)

    def test_factory_builds_dropout_with_p(self):
        layer = initialize_layer("dropout", p=0.25)
        self.assertIsInstance(layer, Dropout)
        self.assertEqual(layer.p, 0.25)
        self.assertEqual(initialize_layer("dropout").p, 0.5)


class TestTrainingFlag(unittest.TestCase):
    def test_every_layer_has_a_training_flag_that_starts_true(self):
        layers = [
            initialize_layer("fully_connected", n_out=3, activation="relu"),
            initialize_layer("conv2d", n_out=2, kernel_shape=(3, 3), activation="relu"),
            initialize_layer("pool2d", kernel_shape=2),
            initialize_layer("flatten"),
            initialize_layer("batchnorm"),
            initialize_layer("dropout"),
        ]
        for layer in layers:
            with self.subTest(layer=type(layer).__name__):
                self.assertIs(layer.training, True)


class TestWhatForwardKeeps(unittest.TestCase):
    """A linear layer's backward does not read its output, so the layer must not
    keep it: once the caller drops it, it is freed (and its memory reused)."""

    def test_linear_output_is_freed_and_backward_still_right(self):
        rng = np.random.default_rng(0)
        cases = [(FullyConnected(4, "linear"), rng.standard_normal((5, 3))),
                 (Conv2D(4, 3, "linear"), rng.standard_normal((2, 5, 5, 3)))]
        for layer, X in cases:
            with self.subTest(layer=type(layer).__name__):
                Z = layer.forward(X)
                dY = rng.standard_normal(Z.shape)
                kept = weakref.ref(Z)
                del Z
                gc.collect()
                self.assertIsNone(kept(), "the layer still holds its linear output")
                dX = layer.backward(dY)
                W = layer.parameters["W"]
                if X.ndim == 2:
                    np.testing.assert_allclose(dX, dY @ W.T, rtol=1e-12)
                    np.testing.assert_allclose(layer.gradients["W"], X.T @ dY, rtol=1e-12)
                else:  # input (2, 2) is padded (3, 3): output (3 - i, 3 - j) reads it
                    expected = sum(dY[:, 3 - i, 3 - j] @ W[i, j].T
                                   for i in range(3) for j in range(3))
                    np.testing.assert_allclose(dX[:, 2, 2], expected, rtol=1e-12)

    def test_an_activation_swapped_in_after_forward_is_refused(self):
        X = np.random.default_rng(2).standard_normal((2, 5, 5, 3))
        for layer in (FullyConnected(4, "linear"), Conv2D(4, 3, "linear")):
            with self.subTest(layer=type(layer).__name__):
                Z = layer.forward(X.reshape(2, -1) if isinstance(layer, FullyConnected) else X)
                layer.activation = initialize_activation("relu")
                with self.assertRaisesRegex(ValueError, "ReLU, which needs Z.*forward again"):
                    layer.backward(np.ones_like(Z))

    def test_other_activations_keep_what_their_backward_reads(self):
        X = np.random.default_rng(1).standard_normal((5, 3))
        for name in ("relu", "sigmoid", "tanh", "arctan", "softmax"):
            with self.subTest(activation=name):
                layer = FullyConnected(4, name)
                layer.forward(X)
                np.testing.assert_array_equal(
                    layer.cache["Z"], X @ layer.parameters["W"] + layer.parameters["b"])


# ---------------------------------------------------------- initialize_layer

class TestInitializeLayer(unittest.TestCase):
    def assert_refused(self, kwargs, *fragments):
        """initialize_layer(**kwargs) raises ValueError whose message holds every fragment."""
        with self.assertRaises(ValueError) as caught:
            initialize_layer(**kwargs)
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))

    def test_keywords_a_layer_does_not_take_are_errors(self):
        # (arguments, the keyword refused, what the layer accepts)
        cases = [
            (dict(name="dropout", rate=0.2), "'rate'", ["p"]),
            (dict(name="conv2d", n_out=4, kernel_shape=3, padding="valid"), "'padding'",
             ["n_out", "kernel_shape", "activation", "stride", "pad", "weight_init"]),
            (dict(name="conv2d", n_out=4, kernel_shape=3, strides=2), "'strides'",
             ["n_out", "kernel_shape", "activation", "stride", "pad", "weight_init"]),
            (dict(name="fully_connected", n_out=3, activaton="relu"), "'activaton'",
             ["n_out", "activation", "weight_init"]),
            (dict(name="pool2d", kernel_shape=2, n_out=3), "'n_out'",
             ["kernel_shape", "mode", "stride", "pad"]),
            (dict(name="flatten", n_out=3), "'n_out'", ["keep_dim"]),
            (dict(name="pool2d", kernel_shape=2, weight_init="he_uniform"), "'weight_init'",
             ["kernel_shape", "mode", "stride", "pad"]),
            (dict(name="batchnorm", kernel_shape=3), "'kernel_shape'",
             ["momentum", "eps", "activation"]),
            (dict(name="dropout", stride=2), "'stride'", ["p"]),
            (dict(name="fully_connected", n_out=3, mode="max"), "'mode'",
             ["n_out", "activation", "weight_init"]),
            (dict(name="conv2d", n_out=4, kernel_shape=3, keep_dim="last"), "'keep_dim'",
             ["n_out", "kernel_shape"]),
            (dict(name="batchnorm", p=0.5), "'p'", ["momentum", "eps", "activation"]),
        ]
        for kwargs, refused, accepted in cases:
            with self.subTest(**kwargs):
                self.assert_refused(kwargs, refused, *accepted)

    def test_keep_dim_first_goes_with_every_layer(self):
        for kwargs in (dict(name="fully_connected", n_out=3), dict(name="conv2d", n_out=2,
                       kernel_shape=3), dict(name="pool2d", kernel_shape=2),
                       dict(name="flatten"), dict(name="batchnorm"), dict(name="dropout")):
            with self.subTest(**kwargs):
                layer = initialize_layer(keep_dim="first", **kwargs)
                self.assertIs(type(layer), LAYERS[kwargs["name"]])
        self.assertEqual(initialize_layer("flatten", keep_dim="last").keep_dim, "last")

    def test_linear_activation_goes_with_layers_that_have_none(self):
        for kwargs in (dict(name="pool2d", kernel_shape=2), dict(name="flatten"),
                       dict(name="dropout")):
            for activation in (None, "linear", "identity"):
                with self.subTest(activation=activation, **kwargs):
                    layer = initialize_layer(activation=activation, **kwargs)
                    self.assertIs(type(layer), LAYERS[kwargs["name"]])
            with self.subTest(activation="relu", **kwargs):
                self.assert_refused(dict(activation="relu", **kwargs),
                                    kwargs["name"], "'relu'", "'linear'")

    def test_identity_is_the_linear_activation_in_every_layer(self):
        # Fall 2023's notebook checks FullyConnected(n_out=4, activation="identity").
        rng = np.random.default_rng(0)
        X, dLdY = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
        for kwargs in (dict(name="fully_connected", n_out=4), dict(name="conv2d", n_out=4,
                       kernel_shape=1), dict(name="batchnorm")):
            with self.subTest(**kwargs):
                layer = initialize_layer(activation="identity", **kwargs)
                self.assertEqual(layer.activation_name, "linear")
                self.assertIs(type(layer.activation), type(initialize_activation("linear")))
        fc = FullyConnected(n_out=4, activation="identity")
        np.testing.assert_allclose(fc.forward(X), X @ fc.parameters["W"] + fc.parameters["b"],
                                   rtol=1e-15)
        for quantity, error in check_layer(fc, X, dLdY).items():
            self.assertLess(error, 1e-8, quantity)

    def test_arguments_left_none_take_the_class_default(self):
        conv = initialize_layer("conv2d", activation=None, weight_init=None, n_out=2,
                                kernel_shape=3, stride=None, pad=None, mode=None)
        self.assertEqual((conv.stride, conv.pad, conv.activation_name), (1, "same", "linear"))
        pool = initialize_layer("pool2d", kernel_shape=2, stride=None, pad=None, mode=None)
        self.assertEqual((pool.mode, pool.stride, pool.pad), ("max", 1, 0))
        fc = initialize_layer("fully_connected", n_out=3, activation=None, weight_init=None)
        self.assertEqual(fc.activation_name, "linear")
        bn = initialize_layer("batchnorm", activation=None, momentum=None, eps=None)
        self.assertEqual((bn.momentum, bn.eps, bn.activation_name), (0.1, 1e-5, "linear"))
        self.assertEqual(initialize_layer("dropout", p=None).p, 0.5)

    def test_given_arguments_reach_the_layer(self):
        conv = initialize_layer("conv2d", n_out=5, kernel_shape=(3, 5), activation="relu",
                                stride=2, pad="valid")
        self.assertEqual((conv.n_out, conv.kernel_shape, conv.stride, conv.pads,
                          conv.activation_name), (5, (3, 5), 2, (0, 0), "relu"))
        pool = initialize_layer("pool2d", kernel_shape=3, mode="average", stride=2, pad=1)
        self.assertEqual((pool.kernel_shape, pool.mode, pool.stride, pool.pads),
                         ((3, 3), "average", 2, (1, 1)))
        bn = initialize_layer("batchnorm", activation="relu", momentum=0.3, eps=1e-3)
        self.assertEqual((bn.momentum, bn.eps, bn.activation_name), (0.3, 1e-3, "relu"))

    def test_a_missing_argument_is_named(self):
        self.assert_refused(dict(name="conv2d", n_out=2), "'conv2d'", "kernel_shape")
        self.assert_refused(dict(name="fully_connected", activation="relu"), "n_out")
        self.assert_refused(dict(name="pool2d"), "kernel_shape")

    def test_an_unknown_name_lists_every_layer(self):
        self.assert_refused(dict(name="lstm", n_out=3), "'lstm'", *map(repr, LAYERS))


# ------------------------------------------------------------ misuse of layers

def every_layer():
    """(label, function making a fresh layer, a valid input) for every example of
    every registered layer (``Layer.examples``)."""
    rng = np.random.default_rng(0)
    return [(f"{cls.__name__} {settings}", lambda cls=cls, settings=settings: cls(**settings),
             rng.standard_normal(shape))
            for cls in LAYERS.values() for settings, shape in cls.examples]


def wrong_shapes(shape):
    """Shapes near ``shape`` that are not it: one example less, one more
    feature, the axes reversed or flattened (the same size), an extra axis."""
    shapes = [(shape[0] - 1, *shape[1:]), (*shape[:-1], shape[-1] + 1),
              (int(np.prod(shape)),), (*shape, 1)]
    if shape[::-1] != shape:
        shapes.append(shape[::-1])
    return shapes


class TestLayerMisuse(unittest.TestCase):
    def test_every_layer_class_is_covered(self):
        self.assertEqual({type(make()) for _, make, _ in every_layer()}, set(LAYERS.values()))

    def test_backward_before_any_forward(self):
        for label, make, X in every_layer():
            for mode in (True, False):
                with self.subTest(layer=label, training=mode):
                    layer = make()
                    layer.training = mode
                    with self.assertRaisesRegex(ValueError, "forward pass first"):
                        layer.backward(np.ones_like(X))

    def test_backward_after_the_cache_was_cleared(self):
        for label, make, X in every_layer():
            for clear in ("clear_gradients", "cache.clear"):
                with self.subTest(layer=label, clear=clear):
                    layer = make()
                    dLdY = np.ones_like(layer.forward(X))
                    layer.backward(dLdY)
                    layer.forward(X)
                    if clear == "clear_gradients":
                        layer.clear_gradients()
                    else:
                        layer.cache.clear()
                    with self.assertRaisesRegex(ValueError, "forward pass first"):
                        layer.backward(dLdY)

    def test_dLdY_of_another_shape_than_the_output(self):
        for label, make, X in every_layer():
            layer = make()
            Y = layer.forward(X)
            for shape in wrong_shapes(Y.shape):
                with self.subTest(layer=label, dLdY=shape):
                    with self.assertRaises(ValueError) as caught:
                        layer.backward(np.ones(shape))
                    message = str(caught.exception)
                    self.assertIn(str(Y.shape), message)
                    self.assertIn(str(shape), message)
            with self.subTest(layer=label, dLdY="right shape after the refusals"):
                self.assertEqual(layer.backward(np.ones(Y.shape)).shape, X.shape)

    def test_empty_batch(self):
        for label, make, X in every_layer():
            for mode in (True, False):
                with self.subTest(layer=label, training=mode):
                    layer = make()
                    layer.training = mode
                    with self.assertRaisesRegex(ValueError, "at least one example") as caught:
                        layer.forward(X[:0])
                    self.assertIn(str(X[:0].shape), str(caught.exception))
                    # A layer that already saw a batch refuses too.
                    layer.forward(X)
                    with self.assertRaisesRegex(ValueError, "at least one example"):
                        layer.forward(X[:0])

    def test_a_refused_call_leaves_the_layer_usable(self):
        for label, make, X in every_layer():
            with self.subTest(layer=label):
                layer = make()
                np.random.seed(0)
                Y = layer.forward(X)
                dX = layer.backward(np.ones_like(Y))
                for bad in (lambda: layer.forward(X[:0]),
                            lambda: layer.backward(np.ones((1, 1, 1, 1, 1)))):
                    with self.assertRaises(ValueError):
                        bad()
                np.random.seed(0)
                np.testing.assert_array_equal(layer.forward(X), Y)
                np.testing.assert_array_equal(layer.backward(np.ones_like(Y)), dX)

if __name__ == "__main__":
    unittest.main()
