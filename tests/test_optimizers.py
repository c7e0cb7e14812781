"""SGD with momentum and clipping against hand-computed steps, and the
model's use of the step (it subtracts delta)."""

import unittest

import numpy as np

from neural_networks.datasets import Dataset
from neural_networks.models import NeuralNetwork
from neural_networks.optimizers import initialize_optimizer
from neural_networks.utils import AttrDict


def steps(sgd, grads, name="w", epochs=None):
    epochs = epochs if epochs is not None else [0] * len(grads)
    param = np.zeros(np.shape(grads[0]))
    return [sgd.update(name, param, np.asarray(g, dtype=float), e) for g, e in zip(grads, epochs)]


class TestSGD(unittest.TestCase):
    GRADS = [[1.0, -2.0], [0.5, 0.5], [-1.0, 0.0]]

    def test_plain_step(self):
        sgd = initialize_optimizer("SGD", lr=0.1)
        deltas = steps(sgd, self.GRADS)
        # Without momentum every step is lr * grad, with no memory.
        for delta, expected in zip(deltas, [[0.1, -0.2], [0.05, 0.05], [-0.1, 0.0]]):
            np.testing.assert_allclose(delta, expected, rtol=0, atol=1e-15)

    def test_momentum(self):
        sgd = initialize_optimizer("SGD", lr=0.1, momentum=0.9)
        deltas = steps(sgd, self.GRADS)
        # d1 = 0.1 g1; d2 = 0.9 d1 + 0.1 g2; d3 = 0.9 d2 + 0.1 g3
        expected = [[0.1, -0.2], [0.14, -0.13], [0.026, -0.117]]
        for delta, exp in zip(deltas, expected):
            np.testing.assert_allclose(delta, exp, rtol=0, atol=1e-15)

    def test_momentum_with_scheduled_rate(self):
        # lr(epoch) = 0.1 * 0.5 ** epoch: 0.1, 0.05, 0.025
        sgd = initialize_optimizer("SGD", lr=0.1, momentum=0.9, lr_scheduler="exponential",
                                   lr_decay=0.5, stage_length=1)
        deltas = steps(sgd, self.GRADS, epochs=[0, 1, 2])
        expected = [[0.1, -0.2], [0.115, -0.155], [0.0785, -0.1395]]
        for delta, exp in zip(deltas, expected):
            np.testing.assert_allclose(delta, exp, rtol=0, atol=1e-15)

    def test_momentum_buffers_are_per_parameter(self):
        sgd = initialize_optimizer("SGD", lr=1.0, momentum=0.5)
        a1 = sgd.update("a", np.zeros(2), np.array([1.0, 0.0]), 0)
        b1 = sgd.update("b", np.zeros(2), np.array([0.0, 4.0]), 0)
        a2 = sgd.update("a", np.zeros(2), np.array([1.0, 0.0]), 0)
        b2 = sgd.update("b", np.zeros(2), np.array([0.0, 0.0]), 0)
        np.testing.assert_allclose(a1, [1.0, 0.0])
        np.testing.assert_allclose(b1, [0.0, 4.0])
        np.testing.assert_allclose(a2, [1.5, 0.0])
        np.testing.assert_allclose(b2, [0.0, 2.0])

    def test_clipping_rescales_a_large_gradient(self):
        sgd = initialize_optimizer("SGD", lr=0.1, clip_norm=1.0)
        # ||(3, 4)|| = 5 > 1, so the gradient becomes (0.6, 0.8).
        np.testing.assert_allclose(sgd.update("w", np.zeros(2), np.array([3.0, 4.0]), 0),
                                   [0.06, 0.08], rtol=1e-14)
        # The whole array's norm counts, not each row's.
        grad = np.array([[3.0, 0.0], [0.0, 4.0]])
        np.testing.assert_allclose(sgd.update("m", np.zeros((2, 2)), grad, 0),
                                   [[0.06, 0.0], [0.0, 0.08]], rtol=1e-14)

    def test_clipping_leaves_a_small_gradient(self):
        sgd = initialize_optimizer("SGD", lr=0.1, clip_norm=1.0)
        np.testing.assert_allclose(sgd.update("w", np.zeros(2), np.array([0.3, 0.4]), 0),
                                   [0.03, 0.04], rtol=1e-14)
        # A norm equal to clip_norm is not above it.
        np.testing.assert_allclose(sgd.update("v", np.zeros(2), np.array([0.6, 0.8]), 0),
                                   [0.06, 0.08], rtol=1e-14)

    def test_clipping_then_momentum(self):
        sgd = initialize_optimizer("SGD", lr=1.0, momentum=0.5, clip_norm=1.0)
        grads = [[3.0, 4.0], [0.0, 0.5], [0.0, 10.0]]
        # clipped grads: (0.6, 0.8), (0, 0.5), (0, 1)
        expected = [[0.6, 0.8], [0.3, 0.9], [0.15, 1.45]]
        for delta, exp in zip(steps(sgd, grads), expected):
            np.testing.assert_allclose(delta, exp, rtol=0, atol=1e-15)

    def test_update_does_not_modify_its_arguments(self):
        sgd = initialize_optimizer("SGD", lr=0.1, momentum=0.9, clip_norm=1.0)
        param, grad = np.ones(2), np.array([3.0, 4.0])
        sgd.update("w", param, grad, 0)
        np.testing.assert_array_equal(param, [1.0, 1.0])
        np.testing.assert_array_equal(grad, [3.0, 4.0])


class TestModelUpdate(unittest.TestCase):
    def build(self, momentum=None):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(8, 3))
        Y = np.eye(2)[rng.integers(0, 2, size=8)]
        dataset = Dataset(X, Y, batch_size=8)
        layer_args = [
            AttrDict(name="fully_connected", activation="tanh", n_out=4),
            AttrDict(name="fully_connected", activation="softmax", n_out=None),
        ]
        optimizer_args = AttrDict(name="SGD", lr=0.1, momentum=momentum)
        model = NeuralNetwork("cross_entropy", layer_args, optimizer_args, seed=0)
        model.train(dataset, 0, verbose=False)  # builds the output layer only
        return model, X, Y

    def gradient_step(self, model, X, Y):
        model.backward(Y, model.forward(X))
        params = [{k: v.copy() for k, v in layer.parameters.items()} for layer in model.layers]
        grads = [{k: v.copy() for k, v in layer.gradients.items()} for layer in model.layers]
        return params, grads

    def test_model_subtracts_the_step(self):
        model, X, Y = self.build()
        params, grads = self.gradient_step(model, X, Y)
        self.assertGreater(np.abs(grads[0]["W"]).sum(), 0)
        model.update(0)
        for layer, p, g in zip(model.layers, params, grads):
            for name in p:
                np.testing.assert_allclose(layer.parameters[name], p[name] - 0.1 * g[name],
                                           rtol=1e-14, atol=1e-16)
                # update clears the gradients
                np.testing.assert_array_equal(layer.gradients[name], 0)

    def test_model_applies_momentum(self):
        model, X, Y = self.build(momentum=0.9)
        p0, g1 = self.gradient_step(model, X, Y)
        model.update(0)
        _, g2 = self.gradient_step(model, X, Y)
        model.update(0)
        for layer, p, a, b in zip(model.layers, p0, g1, g2):
            for name in p:
                d1 = 0.1 * a[name]
                d2 = 0.9 * d1 + 0.1 * b[name]
                np.testing.assert_allclose(layer.parameters[name], p[name] - d1 - d2,
                                           rtol=1e-13, atol=1e-15)


if __name__ == "__main__":
    unittest.main()
