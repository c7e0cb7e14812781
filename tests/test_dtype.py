"""float32 stays float32 (and float64 stays float64) through a
conv -> pool -> flatten -> fc -> softmax stack: outputs, parameters,
gradients, dX and the model's update. A network keeps its parameters' dtype
whatever the dtype of later inputs, and its checkpoints load back. float16 is
refused by every layer."""

import os
import tempfile
import unittest

import numpy as np

from neural_networks.datasets import Dataset
from neural_networks.layers import (BatchNorm, Conv2D, Dropout, Flatten, FullyConnected,
                                    Pool2D)
from neural_networks.losses import initialize_loss
from neural_networks.models import NeuralNetwork, load_model
from neural_networks.utils import AttrDict


def stack(pool_mode):
    return [
        Conv2D(4, (3, 3), "relu", stride=1, pad="same"),
        Pool2D((2, 2), mode=pool_mode, stride=2),
        Flatten(),
        FullyConnected(3, "softmax"),
    ]


def layer_args(pool_mode):
    return [
        AttrDict(name="conv2d", n_out=4, kernel_shape=(3, 3), activation="tanh", pad="same"),
        AttrDict(name="pool2d", kernel_shape=2, mode=pool_mode, stride=2),
        AttrDict(name="flatten"),
        AttrDict(name="fully_connected", n_out=None, activation="softmax"),
    ]


class TestDtypeThroughAStack(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.X = rng.normal(size=(5, 6, 6, 2))
        self.Y = np.eye(3)[[0, 1, 2, 0, 1]]

    def run_stack(self, dtype, pool_mode):
        np.random.seed(0)
        layers = stack(pool_mode)
        out = self.X.astype(dtype)
        outputs = []
        for layer in layers:
            out = layer.forward(out)
            outputs.append(out)
        loss = initialize_loss("cross_entropy")
        dY = loss.backward(self.Y, out)
        grads = [dY]
        for layer in reversed(layers):
            dY = layer.backward(dY)
            grads.append(dY)
        return layers, outputs, grads

    def check(self, dtype):
        for pool_mode in ("max", "average"):
            with self.subTest(dtype=dtype.__name__, pool=pool_mode):
                layers, outputs, grads = self.run_stack(dtype, pool_mode)
                for i, out in enumerate(outputs):
                    self.assertEqual(out.dtype, dtype, f"output of layer {i}")
                for i, g in enumerate(grads):
                    self.assertEqual(g.dtype, dtype, f"gradient {i} of the backward pass")
                self.assertEqual(grads[-1].shape, self.X.shape)
                for i, layer in enumerate(layers):
                    for name, value in layer.parameters.items():
                        self.assertEqual(value.dtype, dtype, f"layer {i} parameter {name}")
                        self.assertEqual(layer.gradients[name].dtype, dtype,
                                         f"layer {i} gradient {name}")
                self.assertEqual(set(layers[0].parameters), {"W", "b"})
                self.assertEqual(set(layers[3].parameters), {"W", "b"})

    def test_float32(self):
        self.check(np.float32)

    def test_float64(self):
        self.check(np.float64)

    def test_float32_agrees_with_float64(self):
        # Same seed, same weights (drawn in float64, then cast): the float32
        # pass is the float64 pass to single precision.
        _, out32, grads32 = self.run_stack(np.float32, "max")
        _, out64, grads64 = self.run_stack(np.float64, "max")
        np.testing.assert_allclose(out32[-1], out64[-1], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(grads32[-1], grads64[-1], rtol=1e-3, atol=1e-5)


class TestDtypeThroughTraining(unittest.TestCase):
    def train(self, dtype, pool_mode):
        rng = np.random.default_rng(1)
        X = rng.normal(size=(12, 6, 6, 2)).astype(dtype)
        Y = np.eye(3)[rng.integers(0, 3, size=12)]
        dataset = Dataset(X, Y, batch_size=5, validation_set=X[:4], validation_labels=Y[:4])
        optimizer_args = AttrDict(name="SGD", lr=0.05, momentum=0.9, clip_norm=5.0,
                                  lr_scheduler="exponential", lr_decay=0.9, stage_length=1)
        model = NeuralNetwork("cross_entropy", layer_args(pool_mode), optimizer_args, seed=0)
        model.train(dataset, 2, verbose=False)
        return model, X, Y

    def test_parameters_keep_the_dtype_after_updates(self):
        for dtype in (np.float32, np.float64):
            for pool_mode in ("max", "average"):
                with self.subTest(dtype=dtype.__name__, pool=pool_mode):
                    model, X, Y = self.train(dtype, pool_mode)
                    for i, layer in enumerate(model.layers):
                        for name, value in layer.parameters.items():
                            self.assertEqual(value.dtype, dtype, f"layer {i} parameter {name}")
                            self.assertEqual(layer.gradients[name].dtype, dtype,
                                             f"layer {i} gradient {name}")
                    Y_hat, loss = model.predict(X, Y)
                    self.assertEqual(Y_hat.dtype, dtype)
                    self.assertTrue(np.isfinite(loss))

    def test_one_update_keeps_the_dtype(self):
        model, X, Y = self.train(np.float32, "max")
        model.backward(Y, model.forward(X))
        before = [{k: v.copy() for k, v in layer.parameters.items()} for layer in model.layers]
        model.update(3)
        for layer, old in zip(model.layers, before, strict=True):
            for name, value in layer.parameters.items():
                self.assertEqual(value.dtype, np.float32)
                self.assertFalse(np.array_equal(value, old[name]), f"{name} did not move")


class TestOneDtypePerNetwork(unittest.TestCase):
    """A network keeps the dtype of its parameters (from its first batch or
    ``build``): inputs of another dtype are converted when they come in, so
    activations, gradients, optimizer state and running statistics never take
    theirs, and every checkpoint it writes loads back."""

    LAYERS = [
        AttrDict(name="conv2d", n_out=3, kernel_shape=3, activation="linear"),
        AttrDict(name="batchnorm", activation="relu"),
        AttrDict(name="flatten"),
        AttrDict(name="fully_connected", n_out=5, activation="relu"),
        AttrDict(name="batchnorm", activation="tanh"),
        AttrDict(name="fully_connected", n_out=None, activation="softmax"),
    ]
    OPTIMIZERS = (dict(name="SGD", lr=0.05, momentum=0.9, weight_decay=1e-3),
                  dict(name="Adam", lr=0.01))

    def model(self, dtype, optimizer_args):
        model = NeuralNetwork("cross_entropy", self.LAYERS, optimizer_args, seed=0)
        return model.build((5, 5, 2), 3, dtype=dtype)

    @staticmethod
    def data(dtype):
        rng = np.random.default_rng(2)
        X = rng.normal(size=(10, 5, 5, 2))
        X = rng.integers(0, 4, size=X.shape) if dtype == np.int64 else X.astype(dtype)
        Y = np.eye(3)[rng.integers(0, 3, size=10)]
        return Dataset(X, Y, batch_size=4, validation_set=X[:4], validation_labels=Y[:4])

    def assert_all_of_dtype(self, model, dtype):
        for i, layer in enumerate(model.layers):
            for name, value in layer.parameters.items():
                self.assertEqual(value.dtype, dtype, f"layer {i} parameter {name}")
                self.assertEqual(layer.gradients[name].dtype, dtype, f"layer {i} gradient {name}")
            for name, value in getattr(layer, "buffers", {}).items():
                self.assertEqual(value.dtype, dtype, f"layer {i} buffer {name}")
        state = model.optimizer.state_dict()
        self.assertTrue(state)
        for key, value in state.items():
            if not key.endswith("/t"):
                self.assertEqual(value.dtype, dtype, f"optimizer {key}")

    def test_inputs_of_another_dtype_train_in_the_networks_dtype(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "last.npz")
            for dtype, data_dtype in ((np.float32, np.float64), (np.float64, np.float32),
                                      (np.float32, np.int64), (np.float64, np.int64),
                                      (np.float32, np.float32)):
                for optimizer_args in self.OPTIMIZERS:
                    with self.subTest(network=dtype.__name__, data=data_dtype.__name__,
                                      optimizer=optimizer_args["name"]):
                        model = self.model(dtype, optimizer_args)
                        dataset = self.data(data_dtype)
                        model.train(dataset, 1, verbose=False, checkpoint=path)
                        self.assert_all_of_dtype(model, dtype)
                        Y_hat, _ = model.predict(dataset.validate.data)
                        self.assertEqual(Y_hat.dtype, dtype)
                        # The checkpoint loads, as it was saved, and trains on.
                        loaded = load_model(path)
                        self.assert_all_of_dtype(loaded, dtype)
                        for key, value in model.state_dict().items():
                            np.testing.assert_array_equal(loaded.state_dict()[key], value)
                        loaded.train(dataset, 1, verbose=False)
                        self.assert_all_of_dtype(loaded, dtype)

    def test_the_first_batch_sets_the_dtype(self):
        for data_dtype, dtype in ((np.float32, np.float32), (np.int64, np.float64)):
            with self.subTest(data=data_dtype.__name__):
                model = NeuralNetwork("cross_entropy", self.LAYERS, self.OPTIMIZERS[0], seed=0)
                model.train(self.data(data_dtype), 1, verbose=False)
                self.assert_all_of_dtype(model, dtype)
                model.train(self.data(np.float64 if dtype == np.float32 else np.float32), 1,
                            verbose=False)
                self.assert_all_of_dtype(model, dtype)

    def test_an_input_of_the_networks_dtype_is_not_copied(self):
        X = self.data(np.float32).train.data
        model = NeuralNetwork("l2", [AttrDict(name="fully_connected", n_out=2,
                                              activation="linear")],
                              self.OPTIMIZERS[0]).build((50,), dtype=np.float32)
        flat = X.reshape(10, 50)
        model.forward(flat)
        self.assertIs(model.layers[0].cache["X"], flat)
        model.forward(flat.astype(np.float64))
        self.assertEqual(model.layers[0].cache["X"].dtype, np.float32)

    def test_build_refuses_a_dtype_other_than_float32_or_float64(self):
        for dtype in (np.float16, np.int32, np.complex128, "nonsense", object):
            with self.subTest(dtype=dtype):
                model = NeuralNetwork("cross_entropy", self.LAYERS, self.OPTIMIZERS[0])
                with self.assertRaisesRegex(ValueError, "dtype must be float32 or float64"):
                    model.build((5, 5, 2), 3, dtype=dtype)
                self.assertFalse(model.built)  # refused before anything changed
        model = NeuralNetwork("cross_entropy", self.LAYERS, self.OPTIMIZERS[0])
        self.assertEqual(model.build((5, 5, 2), 3, dtype="float32").parameter_dtype(),
                         np.float32)


class TestFloat16IsRefused(unittest.TestCase):
    """Half precision is too coarse for training (Adam's eps of 1e-8 is 0 in
    float16), so every layer refuses it rather than train badly."""

    def test_every_layer(self):
        images = np.ones((2, 4, 4, 3), dtype=np.float16)
        rows = np.ones((2, 5), dtype=np.float16)
        layers = [(FullyConnected(3, "relu"), rows), (Conv2D(2, 3, "relu"), images),
                  (Pool2D(2), images), (Flatten(), images), (BatchNorm(), rows),
                  (Dropout(0.5), rows)]
        for layer, X in layers:
            for training in (True, False):
                with self.subTest(layer=type(layer).__name__, training=training):
                    layer.training = training
                    with self.assertRaisesRegex(
                            ValueError, "float16 is not supported; use float32 or float64"):
                        layer.forward(X)
                    # float32 is taken.
                    self.assertEqual(layer.forward(X.astype(np.float32)).dtype, np.float32)


if __name__ == "__main__":
    unittest.main()
