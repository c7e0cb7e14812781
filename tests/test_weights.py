"""Initializer statistics on large shapes against the formulas of PyTorch's
``torch.nn.init`` (gains of ``calculate_gain``; fans (n_in, n_out) for a
matrix and (kr*kc*cin, kr*kc*cout) for a kernel (kr, kc, cin, cout))."""

import math
import unittest

import numpy as np

from neural_networks.layers import Conv2D, FullyConnected
from neural_networks.weights import initialize_weights

GAINS = {"relu": math.sqrt(2.0), "tanh": 5.0 / 3.0, "linear": 1.0, "sigmoid": 1.0, "softmax": 1.0}
MATRIX = (400, 300)       # fan_in 400, fan_out 300
KERNEL = (3, 5, 40, 60)   # fan_in 3*5*40 = 600, fan_out 3*5*60 = 900
FANS = {MATRIX: (400, 300), KERNEL: (600, 900)}
NAMES = ["zeros", "ones", "identity", "uniform", "normal", "constant", "sparse",
         "he_uniform", "he_normal", "xavier_uniform", "xavier_normal"]


class InitTestCase(unittest.TestCase):
    def setUp(self):
        np.random.seed(1234)

    def draw(self, name, shape, **kwargs):
        W = initialize_weights(name, **kwargs)(shape)
        self.assertIsInstance(W, np.ndarray)
        self.assertEqual(W.shape, shape)
        self.assertEqual(W.dtype, np.float64)
        return W

    def assert_uniform(self, W, low, high):
        """Bounds respected and nearly reached; mean and std of U(low, high)."""
        width = high - low
        self.assertGreaterEqual(W.min(), low)
        self.assertLessEqual(W.max(), high)
        self.assertLess(W.min(), low + 0.001 * width)
        self.assertGreater(W.max(), high - 0.001 * width)
        std = width / math.sqrt(12)
        self.assertLess(abs(W.mean() - (low + high) / 2), 5 * std / math.sqrt(W.size))
        self.assertAlmostEqual(W.std() / std, 1.0, delta=0.02)

    def assert_normal(self, W, mean, std):
        self.assertLess(abs(W.mean() - mean), 5 * std / math.sqrt(W.size))
        self.assertAlmostEqual(W.std() / std, 1.0, delta=0.02)
        # about 4.55% of a normal sample lies beyond 2 std
        beyond = np.mean(np.abs(W - mean) > 2 * std)
        self.assertAlmostEqual(beyond, 0.0455, delta=0.005)


class TestXavierAndHe(InitTestCase):
    def test_xavier_uniform(self):
        for shape, (fan_in, fan_out) in FANS.items():
            for act, gain in GAINS.items():
                with self.subTest(shape=shape, activation=act):
                    W = self.draw("xavier_uniform", shape, activation=act)
                    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
                    self.assert_uniform(W, -bound, bound)

    def test_xavier_normal(self):
        for shape, (fan_in, fan_out) in FANS.items():
            for act, gain in GAINS.items():
                with self.subTest(shape=shape, activation=act):
                    W = self.draw("xavier_normal", shape, activation=act)
                    self.assert_normal(W, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))

    def test_he_uniform(self):
        for shape, fans in FANS.items():
            for mode, fan in zip(["fan_in", "fan_out"], fans, strict=True):
                for act, gain in GAINS.items():
                    with self.subTest(shape=shape, mode=mode, activation=act):
                        W = self.draw("he_uniform", shape, activation=act, mode=mode)
                        bound = gain * math.sqrt(3.0 / fan)
                        self.assert_uniform(W, -bound, bound)

    def test_he_normal(self):
        for shape, fans in FANS.items():
            for mode, fan in zip(["fan_in", "fan_out"], fans, strict=True):
                for act, gain in GAINS.items():
                    with self.subTest(shape=shape, mode=mode, activation=act):
                        W = self.draw("he_normal", shape, activation=act, mode=mode)
                        self.assert_normal(W, 0.0, gain / math.sqrt(fan))

    def test_default_mode_is_fan_in(self):
        W = self.draw("he_normal", KERNEL, activation="relu")
        self.assert_normal(W, 0.0, math.sqrt(2.0) / math.sqrt(600))

    def test_layers_pass_their_activation_and_fans(self):
        layer = FullyConnected(300, "relu", weight_init="he_normal")
        layer.forward(np.zeros((2, 400)))
        self.assert_normal(layer.parameters["W"], 0.0, math.sqrt(2.0) / math.sqrt(400))
        np.testing.assert_array_equal(layer.parameters["b"], np.zeros((1, 300)))
        conv = Conv2D(60, (3, 5), "tanh", weight_init="xavier_uniform")
        conv.forward(np.zeros((1, 6, 6, 40)))
        self.assertEqual(conv.parameters["W"].shape, KERNEL)
        bound = 5.0 / 3.0 * math.sqrt(6.0 / (600 + 900))
        self.assert_uniform(conv.parameters["W"], -bound, bound)


    def test_identity_has_the_gain_of_linear(self):
        # "identity" is Fall 2023's name for the linear activation: gain 1.
        W = self.draw("xavier_uniform", (400, 600), activation="identity")
        bound = math.sqrt(6.0 / (400 + 600))
        self.assert_uniform(W, -bound, bound)
        layer = FullyConnected(300, "identity", weight_init="he_normal")
        layer.forward(np.zeros((2, 400)))
        self.assert_normal(layer.parameters["W"], 0.0, 1.0 / math.sqrt(400))


class TestSimpleInitializers(InitTestCase):
    def test_zeros_and_ones(self):
        for shape in FANS:
            np.testing.assert_array_equal(self.draw("zeros", shape), np.zeros(shape))
            np.testing.assert_array_equal(self.draw("ones", shape), np.ones(shape))

    def test_constant(self):
        W = self.draw("constant", MATRIX)
        self.assertEqual(np.unique(W).size, 1)
        np.testing.assert_array_equal(self.draw("constant", (3, 4), value=0.3), np.full((3, 4), 0.3))

    def test_identity_matrix(self):
        np.testing.assert_array_equal(self.draw("identity", (5, 5)), np.eye(5))
        np.testing.assert_array_equal(self.draw("identity", (3, 5)), np.eye(3, 5))

    def test_identity_kernel_is_a_dirac(self):
        # Like torch.nn.init.dirac_: channel i of the input passes to output i
        # through the kernel's centre, so a 'same' convolution is the identity.
        W = self.draw("identity", (3, 3, 4, 4))
        expected = np.zeros((3, 3, 4, 4))
        expected[1, 1] = np.eye(4)
        np.testing.assert_array_equal(W, expected)
        conv = Conv2D(4, (3, 3), "linear", pad="same", weight_init="identity")
        X = np.random.normal(size=(2, 5, 6, 4))
        np.testing.assert_allclose(conv.forward(X), X, rtol=0, atol=1e-15)

    def test_uniform(self):
        # torch.nn.init.uniform_ defaults to U(0, 1)
        self.assert_uniform(self.draw("uniform", MATRIX), 0.0, 1.0)

    def test_normal(self):
        # torch.nn.init.normal_ defaults to N(0, 1)
        self.assert_normal(self.draw("normal", MATRIX), 0.0, 1.0)

    def test_options_reach_the_initializer(self):
        self.assert_uniform(self.draw("uniform", MATRIX, low=-3.0, high=-1.0), -3.0, -1.0)
        self.assert_normal(self.draw("normal", MATRIX, mean=2.0, std=0.5), 2.0, 0.5)
        W = self.draw("sparse", MATRIX, sparsity=0.25, std=0.1)
        np.testing.assert_array_equal(np.sum(W == 0, axis=0), np.full(300, 100))
        self.assert_normal(W[W != 0], 0.0, 0.1)
        # An explicit gain overrides the activation's.
        W = self.draw("he_normal", MATRIX, activation="relu", gain=3.0)
        self.assert_normal(W, 0.0, 3.0 / math.sqrt(400))
        W = self.draw("xavier_uniform", MATRIX, gain=2.0)
        bound = 2.0 * math.sqrt(6.0 / 700)
        self.assert_uniform(W, -bound, bound)

    def test_sparse(self):
        # torch.nn.init.sparse_(W, sparsity=0.1, std=0.01): in every column,
        # ceil(0.1 * rows) entries are zero, the rest N(0, 0.01).
        W = self.draw("sparse", MATRIX)
        zeros_per_column = np.sum(W == 0, axis=0)
        np.testing.assert_array_equal(zeros_per_column, np.full(300, 40))
        self.assert_normal(W[W != 0], 0.0, 0.01)


class TestNames(unittest.TestCase):
    def test_every_name_builds(self):
        for name in NAMES:
            with self.subTest(name=name):
                self.assertTrue(callable(initialize_weights(name)))

    def test_unknown_name_lists_the_valid_ones(self):
        with self.assertRaises(ValueError) as cm:
            initialize_weights("glorot_fancy")
        message = str(cm.exception)
        self.assertIn("glorot_fancy", message)
        for name in NAMES:
            self.assertIn(name, message)

    def test_unhashable_name(self):
        with self.assertRaises(ValueError) as cm:
            initialize_weights(["he_normal"])
        self.assertIn("['he_normal']", str(cm.exception))
        self.assertIn("he_normal", str(cm.exception))

    def test_misspelt_option_is_named_with_the_accepted_ones(self):
        cases = [("uniform", {"hgih": 2.0}, "'hgih'", ("low", "high")),
                 ("normal", {"sd": 0.1}, "'sd'", ("mean", "std")),
                 ("constant", {"val": 0.3}, "'val'", ("value",)),
                 ("sparse", {"sparsity": 0.2, "spars": 0.1}, "'spars'", ("sparsity", "std")),
                 ("he_normal", {"std": 0.1}, "'std'", ("gain", "mode")),
                 ("xavier_uniform", {"low": -1.0}, "'low'", ("gain",))]
        for name, options, bad, accepted in cases:
            with self.subTest(name=name, options=options):
                with self.assertRaises(ValueError) as cm:
                    initialize_weights(name, **options)
                message = str(cm.exception)
                self.assertIn(bad, message)
                for word in accepted:
                    self.assertIn(word, message)

    def test_initializer_without_settings_takes_no_option(self):
        for name in ("zeros", "ones", "identity"):
            with self.subTest(name=name), self.assertRaises(ValueError) as cm:
                initialize_weights(name, value=1.0)
            self.assertIn("'value'", str(cm.exception))
            self.assertIn("no arguments", str(cm.exception))

    def test_course_settings_come_with_any_initializer(self):
        # A layer passes its activation whatever its initializer; mode too is the course's.
        for name in NAMES:
            with self.subTest(name=name):
                init = initialize_weights(name, activation="relu", mode="fan_out")
                self.assertEqual(init((4, 4)).shape, (4, 4))

    def test_unknown_mode(self):
        with self.assertRaises(ValueError) as cm:
            initialize_weights("he_normal", mode="fan_avg")
        for word in ["fan_in", "fan_out", "fan_avg"]:
            self.assertIn(word, str(cm.exception))


if __name__ == "__main__":
    unittest.main()
