"""The library on a GPU, tested on the fake device of tests/fake_gpu.py (CuPy's
rules on the CPU: no implicit copy between host and device, counted
synchronisations and uploads), against the numpy path in float64.

- Every registered layer (each registry name has cases here, so a new layer
  fails until it has some), in train and eval mode: forward, backward with
  and without the input gradient; outputs, gradients and buffers are device
  arrays and equal the CPU's to 1e-12 (max relative error). So do every
  activation (softmax's infinite rows too, without reading the device), every
  loss (its float, its unread 0-d value and its gradient, labels on the host
  copied over), every optimizer's updates and state (clipping included, without
  reading the device), and crops and flips of a batch on the device (the host's
  draws, no read).
- A network on the device trains as it does on the CPU from the same seed (the
  draws are the host's: weights, shuffles, flips, dropout masks), with one read
  from the device per training step and only the batch, its labels and the
  dropout masks copied over; ``model.to`` moves everything declared, both ways.
- A GPU checkpoint holds host arrays; interrupted mid-epoch, it resumes on the
  GPU to exactly the uninterrupted run and on the CPU to it within 1e-12, and a
  CPU checkpoint resumes on the GPU. ``predict``, ``evaluate``, ``classify``,
  ``predict_proba``, ``test``, ``score`` and ``image_filters`` give numpy arrays.
- A split made of device arrays keeps host copies. An input or dLdY on another
  device than the layer's parameters is a ValueError saying so.
"""

import copy
import os
import signal
import tempfile
import unittest

import numpy as np

from neural_networks import backend, checkpoints, load_model
from neural_networks.activations import ACTIVATIONS, initialize_activation
from neural_networks.augmentation import RandomCropFlip
from neural_networks.datasets import Dataset
from neural_networks.layers import LAYERS, initialize_layer
from neural_networks.losses import LOSSES, initialize_loss
from neural_networks.models import NeuralNetwork, TrainingInterrupted
from neural_networks.optimizers import OPTIMIZERS, initialize_optimizer
from neural_networks.utils import AttrDict
from tests.fake_gpu import counters, fakecupy

#: The most a device result may differ from the CPU's, relative to the largest
#: value of the CPU's (the CPU sums some gradients in blocks, the device in one).
TOLERANCE = 1e-12
TINY = np.finfo(np.float64).tiny

#: Cases per registered layer: (constructor settings, input shape).
LAYER_CASES = {
    "fully_connected": [(dict(n_out=5, activation=name), (6, 7))
                        for name in ACTIVATIONS if name != "identity"],
    "conv2d": [
        # channel-major im2col (few channels), and its two-round col2im (5x5)
        (dict(n_out=6, kernel_shape=3, activation="relu"), (3, 9, 9, 1)),
        (dict(n_out=4, kernel_shape=5, pad=2, activation="linear"), (2, 10, 10, 2)),
        # rows layout: input gradient by row shifts, by col2im (stride 2; many outputs)
        (dict(n_out=4, kernel_shape=3, activation="relu"), (3, 5, 5, 8)),
        (dict(n_out=12, kernel_shape=3, stride=2, pad=1, activation="linear"), (2, 7, 7, 5)),
        (dict(n_out=30, kernel_shape=3, activation="tanh"), (2, 6, 6, 4)),
        (dict(n_out=3, kernel_shape=(2, 3), pad="valid", activation="sigmoid"), (2, 6, 7, 6)),
    ],
    "pool2d": [
        (dict(kernel_shape=2, stride=2, mode="max"), (2, 8, 8, 3)),
        (dict(kernel_shape=2, stride=2, pad=1, mode="max"), (2, 7, 7, 3)),
        (dict(kernel_shape=3, stride=1, pad=1, mode="max"), (2, 6, 6, 2)),
        (dict(kernel_shape=3, stride=2, pad=1, mode="average"), (2, 7, 7, 3)),
        (dict(kernel_shape=2, stride=2, mode="average"), (2, 6, 6, 2)),
    ],
    "flatten": [(dict(), (3, 4, 4, 2)), (dict(keep_dim="last"), (3, 4, 5))],
    "batchnorm": [
        (dict(activation="relu"), (6, 4, 4, 3)),
        (dict(), (10, 5)),
        (dict(activation="tanh", momentum=0.3), (8, 6)),
    ],
    "groupnorm": [
        (dict(groups=2, activation="relu"), (3, 4, 4, 6)),
        (dict(groups=1), (4, 6)),
        (dict(groups=3, eps=1e-3, activation="tanh"), (2, 3, 2, 3)),
    ],
    "dropout": [(dict(p=0.4), (6, 10)), (dict(p=0.0), (4, 3))],
}


def host_copy(x):
    """A numpy copy of a device array (a sync, counted)."""
    return fakecupy.asnumpy(x)


class FakeDeviceTestCase(unittest.TestCase):
    """Runs each test with the fake in CuPy's place."""

    def setUp(self):
        context = backend.use_gpu_module(fakecupy)
        context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)
        counters.reset()

    def assertSameNumbers(self, on_device, on_host, what="", least_scale=TINY):
        """``on_device`` is a device array with ``on_host``'s shape and dtype, and
        within TOLERANCE of it, relative to its largest value or ``least_scale``,
        whichever is larger."""
        self.assertIsInstance(on_device, fakecupy.ndarray, what)
        got = host_copy(on_device)
        self.assertEqual((got.shape, got.dtype), (on_host.shape, on_host.dtype), what)
        scale = max(float(np.max(np.abs(on_host), initial=0.0)), least_scale)
        error = float(np.max(np.abs(got - on_host), initial=0.0)) / scale
        self.assertLessEqual(error, TOLERANCE, f"{what}: max relative error {error:.2e}")


class TestEveryLayer(FakeDeviceTestCase):
    def test_every_registered_layer_has_cases(self):
        self.assertEqual(set(LAYER_CASES), set(LAYERS))

    def pair(self, name, settings):
        """The same layer twice (same seed: same weights), for the CPU and the device."""
        layers = []
        for _ in range(2):
            np.random.seed(1)
            layers.append(initialize_layer(name, **settings))
        return layers

    def test_forward_and_backward_equal_the_cpus(self):
        rng = np.random.default_rng(0)
        for name, cases in LAYER_CASES.items():
            for settings, shape in cases:
                with self.subTest(layer=name, settings=settings):
                    cpu, gpu = self.pair(name, settings)
                    for mode in ("train", "eval"):
                        cpu.training = gpu.training = mode == "train"
                        self.check_pass(cpu, gpu, rng.normal(size=shape), rng, mode)

    def check_pass(self, cpu, gpu, X, rng, mode):
        np.random.seed(2)  # dropout's mask: drawn on the host either way
        Y = cpu.forward(X)
        np.random.seed(2)
        Y_device = gpu.forward(fakecupy.asarray(X))
        self.assertSameNumbers(Y_device, Y, f"{mode} output")
        dY = rng.normal(size=Y.shape)
        dX = cpu.backward(dY)
        self.assertSameNumbers(gpu.backward(fakecupy.asarray(dY)), dX, f"{mode} dX")
        for kind in ("parameters", "gradients", "buffers"):
            for key, value in getattr(cpu, kind).items():
                self.assertSameNumbers(getattr(gpu, kind)[key], value, f"{mode} {kind} {key}")
        self.assertIsNone(gpu.backward(fakecupy.asarray(dY), input_gradient=False))
        for key, value in cpu.gradients.items():
            self.assertSameNumbers(gpu.gradients[key], value, f"{mode} gradient {key} (no dX)")

    def test_the_layers_read_nothing_from_the_device(self):
        rng = np.random.default_rng(1)
        for name, cases in LAYER_CASES.items():
            for settings, shape in cases:
                _, gpu = self.pair(name, settings)
                X = fakecupy.asarray(rng.normal(size=shape))
                counters.reset()
                Y = gpu.forward(X)
                gpu.backward(fakecupy.ones(Y.shape))
                self.assertEqual(counters.syncs, 0, f"{name} {settings}: {counters}")

    def test_an_input_on_another_device_is_a_value_error(self):
        layer = initialize_layer("fully_connected", n_out=3, activation="relu")
        layer.forward(fakecupy.zeros((2, 4)))
        with self.assertRaisesRegex(ValueError, "parameters are on the gpu, the input on the cpu"):
            layer.forward(np.zeros((2, 4)))
        with self.assertRaisesRegex(ValueError, "the dLdY on the cpu"):
            layer.backward(np.zeros((2, 3)))
        layer.to("cpu")
        with self.assertRaisesRegex(ValueError, "parameters are on the cpu, the input on the gpu"):
            layer.forward(fakecupy.zeros((2, 4)))

    def test_to_moves_the_declared_arrays_and_drops_the_cache(self):
        layer = initialize_layer("batchnorm", activation="relu")
        layer.forward(np.random.default_rng(0).normal(size=(5, 3)))
        layer.to("gpu")
        held = [*layer.parameters.values(), *layer.gradients.values(), *layer.buffers.values()]
        self.assertEqual(len(held), 6)
        self.assertTrue(all(isinstance(value, fakecupy.ndarray) for value in held))
        self.assertFalse(layer.cache)
        layer.to("cpu")
        held = [*layer.parameters.values(), *layer.gradients.values(), *layer.buffers.values()]
        self.assertTrue(all(type(value) is np.ndarray for value in held))


class TestActivationsAndLosses(FakeDeviceTestCase):
    def test_every_activation(self):
        rng = np.random.default_rng(0)
        Z, dY = rng.normal(size=(2, 6, 5)) * 4, rng.normal(size=(2, 6, 5))
        for name in ACTIVATIONS:
            with self.subTest(activation=name):
                activation = initialize_activation(name)
                counters.reset()
                Y = activation.forward(fakecupy.asarray(Z))
                dZ = activation.backward(fakecupy.asarray(Z), fakecupy.asarray(dY))
                self.assertEqual(counters.syncs, 0)
                self.assertSameNumbers(Y, activation.forward(Z), "forward")
                self.assertSameNumbers(dZ, activation.backward(Z, dY), "backward")

    def test_softmax_of_infinite_rows_reads_nothing(self):
        Z = np.array([[1.0, np.inf, np.inf], [-np.inf, -np.inf, -np.inf], [1.0, 2.0, 3.0]])
        softmax = initialize_activation("softmax")
        Y = softmax.forward(fakecupy.asarray(Z))
        self.assertEqual(counters.syncs, 0)
        self.assertSameNumbers(Y, softmax.forward(Z))
        np.testing.assert_array_equal(host_copy(Y)[:2], [[0, 0.5, 0.5], [1 / 3] * 3])

    def test_every_loss(self):
        rng = np.random.default_rng(0)
        Y = np.eye(4)[rng.integers(0, 4, 9)]
        logits = rng.normal(size=(9, 4))
        Y_hat = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        for name in LOSSES:
            with self.subTest(loss=name):
                loss = initialize_loss(name)
                device_hat = fakecupy.asarray(Y_hat)
                counters.reset()
                value = loss.value(Y, device_hat)  # host labels, copied over
                gradient = loss.backward(fakecupy.asarray(Y), device_hat)
                self.assertEqual((counters.syncs, counters.uploads), (0, 2))
                self.assertEqual(value.shape, ())
                self.assertSameNumbers(value, np.asarray(loss.value(Y, Y_hat)), "value")
                self.assertSameNumbers(gradient, loss.backward(Y, Y_hat), "backward")
                self.assertEqual(loss.forward(Y, device_hat), loss.forward(Y, Y_hat))
                with self.assertRaisesRegex(ValueError, "same shape"):
                    loss.forward(Y[:, :3], device_hat)


class TestAugmentation(FakeDeviceTestCase):
    def test_a_batch_on_the_device_gets_the_hosts_crops_and_flips(self):
        X = np.random.default_rng(0).normal(size=(8, 6, 5, 3))
        for augment in (RandomCropFlip(pad=2), RandomCropFlip(pad=0)):
            np.random.seed(3)
            expected = augment(X)
            np.random.seed(3)
            device_X = fakecupy.asarray(X)
            counters.reset()
            out = augment(device_X)
            self.assertEqual(counters.syncs, 0)
            self.assertSameNumbers(out, expected)


class TestEveryOptimizer(FakeDeviceTestCase):
    SETTINGS = {
        "SGD": dict(lr=0.1, momentum=0.9, weight_decay=1e-2, clip_norm=0.5),
        "Adam": dict(lr=0.01, weight_decay=1e-2, clip_norm=0.5, lr_scheduler="cosine",
                     total_epochs=3, warmup_epochs=1),
        "AdamW": dict(lr=0.01, weight_decay=1e-2),
    }

    def test_every_optimizer_has_settings(self):
        self.assertEqual(set(self.SETTINGS), set(OPTIMIZERS))

    def test_updates_and_state_equal_the_cpus(self):
        rng = np.random.default_rng(0)
        params = {"0.W": rng.normal(size=(5, 4)), "0.b": rng.normal(size=(1, 4))}
        for name, settings in self.SETTINGS.items():
            with self.subTest(optimizer=name):
                cpu = initialize_optimizer(name, **settings)
                gpu = initialize_optimizer(name, **settings)
                for step in range(3):
                    for key, param in params.items():
                        # gradients above and below clip_norm
                        grad = rng.normal(size=param.shape) * (0.1 if step == 1 else 1.0)
                        counters.reset()
                        delta = gpu.update(key, fakecupy.asarray(param), fakecupy.asarray(grad),
                                           step / 2)
                        self.assertEqual(counters.syncs, 0)
                        self.assertSameNumbers(delta, cpu.update(key, param, grad, step / 2),
                                               f"step {step} {key}")
                state = gpu.state_dict()
                for key, value in cpu.state_dict().items():
                    if key.rpartition("/")[2] in gpu.state_arrays:
                        self.assertSameNumbers(state[key], value, key)
                    else:
                        self.assertEqual(state[key], value)

    def test_to_moves_the_state_arrays_and_keeps_the_counts(self):
        optimizer = initialize_optimizer("Adam", lr=0.1)
        optimizer.update("0.W", np.ones(3), np.ones(3), 0)
        optimizer.to("gpu")
        self.assertIsInstance(optimizer.cache["0.W"]["m"], fakecupy.ndarray)
        self.assertIsInstance(optimizer.cache["0.W"]["v"], fakecupy.ndarray)
        self.assertEqual(optimizer.cache["0.W"]["t"], 1)
        optimizer.to("cpu")
        self.assertIs(type(optimizer.cache["0.W"]["m"]), np.ndarray)


# ------------------------------------------------------------------ networks

CLASSES, N_TRAIN, N_VALIDATE, BATCH = 4, 40, 12, 10
STEPS = N_TRAIN // BATCH
EPOCHS = 3

CNN = [
    AttrDict(name="conv2d", n_out=4, kernel_shape=3, activation="linear"),
    AttrDict(name="pool2d", kernel_shape=2, stride=2, mode="max"),
    AttrDict(name="batchnorm", activation="relu"),
    AttrDict(name="conv2d", n_out=6, kernel_shape=3, activation="linear"),
    AttrDict(name="pool2d", kernel_shape=2, stride=2, pad=1, mode="max"),
    AttrDict(name="batchnorm", activation="relu"),
    AttrDict(name="flatten"),
    AttrDict(name="fully_connected", n_out=8, activation="linear"),
    AttrDict(name="batchnorm", activation="relu"),
    AttrDict(name="dropout", p=0.3),
    AttrDict(name="fully_connected", n_out=None, activation="softmax"),
]
# Adam divides a gradient by its own size, so a bias right before batch norm (whose
# gradient is rounding noise) moves by steps of lr whatever the noise: two runs that
# round differently part there. Adam trains this network without batch norm.
PLAIN = [
    AttrDict(name="conv2d", n_out=4, kernel_shape=3, activation="relu"),
    AttrDict(name="pool2d", kernel_shape=2, stride=2, pad=1, mode="max"),
    AttrDict(name="flatten"),
    AttrDict(name="fully_connected", n_out=8, activation="tanh"),
    AttrDict(name="dropout", p=0.3),
    AttrDict(name="fully_connected", n_out=None, activation="softmax"),
]
SGD = AttrDict(name="SGD", lr=0.05, momentum=0.9, weight_decay=5e-4, lr_scheduler="cosine",
               total_epochs=EPOCHS)
ADAM = AttrDict(name="Adam", lr=0.01, lr_scheduler="cosine", total_epochs=EPOCHS,
                warmup_epochs=1, clip_norm=1.0)


def make_dataset(validation=True):
    """Small random images with the recipes' extras: crop and flip, label smoothing."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_TRAIN + N_VALIDATE, 9, 9, 1))
    Y = np.eye(CLASSES)[rng.integers(0, CLASSES, len(X))]
    held_out = (X[N_TRAIN:], Y[N_TRAIN:]) if validation else (None, None)
    dataset = Dataset(X[:N_TRAIN], Y[:N_TRAIN], BATCH, *held_out, X[N_TRAIN:], Y[N_TRAIN:])
    dataset.train.augment = RandomCropFlip(pad=1)
    dataset.train.label_smoothing = 0.1
    return dataset


def build(device, optimizer=SGD, layers=CNN, seed=0):
    return NeuralNetwork("cross_entropy", copy.deepcopy(layers), dict(optimizer), seed=seed,
                         device=device)


def trained(device, epochs=EPOCHS, optimizer=SGD, layers=CNN, **options):
    model = build(device, optimizer, layers)
    model.train(make_dataset(), epochs, verbose=False, **options)
    return model


#: Weights and statistics of these networks are of order 1, and a bias right before
#: batch norm stays at rounding noise (its gradient is zero but for rounding), so the
#: states of two runs are compared relative to 1 at least.
STATE_SCALE = 1.0


class TestTraining(FakeDeviceTestCase):
    def assertSameState(self, device_model, host_state, exact=False):
        state = device_model.state_dict()
        self.assertEqual(set(state), set(host_state))
        for key, value in host_state.items():
            if exact:
                self.assertIsInstance(state[key], fakecupy.ndarray, key)
                np.testing.assert_array_equal(host_copy(state[key]), value, strict=True)
            else:
                self.assertSameNumbers(state[key], value, key, STATE_SCALE)

    def test_a_seed_gives_the_cpus_run(self):
        for optimizer, layers in ((SGD, CNN), (ADAM, PLAIN)):
            with self.subTest(optimizer=optimizer.name):
                cpu, gpu = (trained(device, optimizer=optimizer, layers=layers)
                            for device in ("cpu", "gpu"))
                self.assertSameState(gpu, cpu.state_dict())
                for name, value in gpu.optimizer.state_dict().items():
                    expected = cpu.optimizer.state_dict()[name]
                    if value.ndim:
                        self.assertSameNumbers(value, expected, name, STATE_SCALE)
                for key in ("train_loss", "train_error", "validate_loss", "validate_error"):
                    np.testing.assert_allclose([r[key] for r in gpu.history["epochs"]],
                                               [r[key] for r in cpu.history["epochs"]],
                                               rtol=TOLERANCE, atol=0)
                np.testing.assert_allclose(gpu.history["iteration_loss"],
                                           cpu.history["iteration_loss"], rtol=TOLERANCE)

    def test_a_training_step_reads_the_device_once(self):
        model = build("gpu").build(input_shape=(9, 9, 1), n_out=CLASSES)
        counters.reset()
        model.train(make_dataset(validation=False), 1, verbose=False)
        # One read per step (the loss and the error together); once per epoch the
        # parameter norms and the finite check.
        self.assertEqual(counters.syncs, STEPS + 2, counters)
        self.assertEqual(set(counters.reasons), {"get()", "asarray(host)"}, counters)
        # Copied over per step: the batch, its labels, the dropout mask; nothing else.
        self.assertEqual(counters.uploads, 3 * STEPS, counters)

    def test_to_moves_the_network_both_ways(self):
        model = trained("cpu", epochs=1)
        arrays = model.state_dict()
        model.to("gpu")
        self.assertEqual(model.device, "gpu")
        self.assertSameState(model, arrays, exact=True)
        for layer in model.layers:
            for value in layer.gradients.values():
                self.assertIsInstance(value, fakecupy.ndarray)
        for entry in model.optimizer.cache.values():
            self.assertIsInstance(entry["delta"], fakecupy.ndarray)
        model.train(make_dataset(), 1, verbose=False)
        model.to("cpu")
        state = model.state_dict()
        self.assertTrue(all(type(value) is np.ndarray for value in state.values()))
        for entry in model.optimizer.cache.values():
            self.assertIs(type(entry["delta"]), np.ndarray)

    def test_splits_of_device_arrays_are_kept_on_the_host(self):
        dataset = make_dataset()
        on_device = Dataset(fakecupy.asarray(dataset.train.data),
                            fakecupy.asarray(dataset.train.labels), BATCH)
        self.assertIs(type(on_device.train.data), np.ndarray)
        self.assertIs(type(on_device.train.labels), np.ndarray)
        np.testing.assert_array_equal(on_device.train.data, dataset.train.data)

    def test_results_come_back_as_numpy_arrays(self):
        model = trained("gpu", epochs=1)
        dataset = make_dataset()
        X, Y = dataset.test.data, dataset.test.labels
        Y_hat, loss = model.predict(fakecupy.asarray(X), Y)
        self.assertIs(type(Y_hat), np.ndarray)
        self.assertIsInstance(loss, float)
        labels, probabilities = model.classify(X)
        scores = model.evaluate(X, Y)
        results = model.test(dataset, save_predictions=True, verbose=False)
        for value in (labels, probabilities, model.predict_proba(X), scores["confusion_matrix"],
                      scores["per_class_accuracy"], results["prediction"],
                      model.layers[0].image_filters()):
            self.assertIs(type(value), np.ndarray)
        self.assertEqual(model.score(Y, fakecupy.asarray(Y_hat))["accuracy"], scores["accuracy"])
        self.assertEqual(model.evaluate(fakecupy.asarray(X), fakecupy.asarray(Y))["loss"],
                         scores["loss"])
        np.testing.assert_array_equal(model.predict(X)[0], Y_hat)
        self.assertIsInstance(model.error(Y, Y_hat), float)


class TestCheckpoints(FakeDeviceTestCase):
    def setUp(self):
        super().setUp()
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.path = os.path.join(folder.name, "last.npz")

    def interrupted(self, device, call):
        """A run on ``device`` stopped by SIGINT during its ``call``-th step (mid-epoch)."""
        model, dataset = build(device), make_dataset()
        sample, calls = dataset.train.sample, []

        def interrupting_sample():
            calls.append(1)
            if len(calls) == call:
                os.kill(os.getpid(), signal.SIGINT)
            return sample()

        dataset.train.sample = interrupting_sample
        with self.assertRaises(TrainingInterrupted):
            model.train(dataset, EPOCHS, verbose=False, checkpoint=self.path)
        self.assertEqual(model.iteration, call - STEPS)
        return model

    def resumed(self, device):
        model = load_model(self.path, device=device)
        model.train(make_dataset(), EPOCHS - model.epoch, verbose=False)
        return model

    def test_a_gpu_checkpoint_holds_host_arrays(self):
        model = self.interrupted("gpu", STEPS + 2)
        checkpoint = checkpoints.read(self.path)  # read with numpy alone
        parameters, buffers = checkpoint.model_state()
        state = {**parameters, **buffers}
        self.assertTrue(all(type(value) is np.ndarray for value in state.values()))
        self.assertSameState = TestTraining.assertSameState
        self.assertSameState(self, model, state, exact=True)
        for key, value in checkpoint.optimizer_state().items():
            self.assertIs(type(value), np.ndarray)
            np.testing.assert_array_equal(value, host_copy(model.optimizer.state_dict()[key]))

    def test_a_gpu_run_resumes_exactly_on_the_gpu_and_closely_on_the_cpu(self):
        uninterrupted = trained("gpu").state_dict()
        self.interrupted("gpu", STEPS + 2)
        on_gpu = self.resumed("gpu").state_dict()
        on_cpu = self.resumed("cpu").state_dict()
        for key, value in uninterrupted.items():
            self.assertIsInstance(on_gpu[key], fakecupy.ndarray)
            np.testing.assert_array_equal(host_copy(on_gpu[key]), host_copy(value), strict=True)
            self.assertIs(type(on_cpu[key]), np.ndarray)
            self.assertSameNumbers(value, on_cpu[key], key, STATE_SCALE)

    def test_a_cpu_checkpoint_resumes_on_the_gpu(self):
        uninterrupted = trained("cpu").state_dict()
        self.interrupted("cpu", STEPS + 2)
        on_gpu = self.resumed("gpu")
        self.assertEqual(on_gpu.device, "gpu")
        for key, value in on_gpu.state_dict().items():
            self.assertSameNumbers(value, uninterrupted[key], key, STATE_SCALE)


if __name__ == "__main__":
    unittest.main()
