"""Bad input raises a ValueError from the library itself (not a numpy error
from deep inside), whose message says what was expected and what came."""

import linecache
import os
import re
import unittest

import numpy as np

import neural_networks
from neural_networks.activations import initialize_activation
from neural_networks.augmentation import initialize_augmentation
from neural_networks.datasets import Data, Dataset, initialize_dataset
from neural_networks.layers import Conv2D, Flatten, FullyConnected, Pool2D, initialize_layer
from neural_networks.losses import CrossEntropy, L2, initialize_loss
from neural_networks.models import initialize_model
from neural_networks.optimizers import initialize_optimizer
from neural_networks.schedulers import initialize_scheduler
from neural_networks.utils import AttrDict
from neural_networks.weights import initialize_weights

PACKAGE_DIR = os.path.dirname(os.path.abspath(neural_networks.__file__))


class BadInputCase(unittest.TestCase):
    def assertOurValueError(self, fn, *fragments):
        """fn() raises exactly ValueError, from a file of our package, and its
        message contains every fragment (plain text, not a regex)."""
        # Caught by hand: assertRaises drops the traceback we inspect below.
        try:
            fn()
        except Exception as error:  # noqa: BLE001 - any other type fails below
            exc = error
            tb = error.__traceback__
        else:
            self.fail("no exception raised")
        self.assertIs(type(exc), ValueError, f"{type(exc).__name__}: {exc}")
        while tb.tb_next is not None:
            tb = tb.tb_next
        origin = os.path.abspath(tb.tb_frame.f_code.co_filename)
        self.assertTrue(origin.startswith(PACKAGE_DIR + os.sep),
                        f"ValueError raised in {origin}, not in the package: {exc}")
        # A numpy error surfacing from a library line (e.g. a failed matmul)
        # would pass the check above; a deliberate check ends on a raise.
        line = linecache.getline(origin, tb.tb_lineno).strip()
        self.assertTrue(line.startswith("raise "),
                        f"{origin}:{tb.tb_lineno} is not a raise statement: {line!r} ({exc})")
        message = str(exc)
        for fragment in fragments:
            self.assertRegex(message, re.escape(fragment))
        return message


class TestUnknownNames(BadInputCase):
    def test_activation(self):
        self.assertOurValueError(lambda: initialize_activation("swish"), "swish",
                                 "linear", "sigmoid", "tanh", "arctan", "relu", "softmax")

    def test_loss(self):
        self.assertOurValueError(lambda: initialize_loss("hinge"), "hinge",
                                 "cross_entropy", "l2")

    def test_layer(self):
        self.assertOurValueError(lambda: initialize_layer("lstm", n_out=3), "lstm",
                                 "fully_connected", "conv2d", "pool2d", "flatten")

    def test_weights(self):
        self.assertOurValueError(
            lambda: initialize_weights("orthogonal"), "orthogonal",
            "zeros", "ones", "identity", "uniform", "normal", "constant", "sparse",
            "he_uniform", "he_normal", "xavier_uniform", "xavier_normal")

    def test_optimizer(self):
        self.assertOurValueError(lambda: initialize_optimizer("RMSprop", lr=0.1),
                                 "RMSprop", "SGD")

    def test_scheduler(self):
        self.assertOurValueError(lambda: initialize_scheduler("polynomial", lr=0.1),
                                 "polynomial", "constant", "exponential")

    def test_model(self):
        layer_args = [AttrDict(name="fully_connected", activation="softmax", n_out=None)]
        self.assertOurValueError(
            lambda: initialize_model("rnn", "cross_entropy", layer_args,
                                     AttrDict(name="SGD", lr=0.1)),
            "rnn", "feed_forward")

    def test_dataset(self):
        self.assertOurValueError(lambda: initialize_dataset("imagenet"), "imagenet", "iris")

    def test_pool_mode(self):
        self.assertOurValueError(lambda: Pool2D(2, mode="min"), "min", "max", "average")

    def test_pad_name(self):
        self.assertOurValueError(lambda: Conv2D(2, 3, "relu", pad="full"),
                                 "full", "same", "valid")


class TestWrongRank(BadInputCase):
    def test_3d_to_conv2d(self):
        self.assertOurValueError(lambda: Conv2D(2, 3, "relu").forward(np.zeros((2, 5, 5))),
                                 "4-D", "(2, 5, 5)")

    def test_3d_to_pool2d(self):
        self.assertOurValueError(lambda: Pool2D(2).forward(np.zeros((2, 5, 5))),
                                 "4-D", "(2, 5, 5)")

    def test_4d_to_fully_connected(self):
        self.assertOurValueError(
            lambda: FullyConnected(3, "relu").forward(np.zeros((2, 3, 3, 1))),
            "2-D", "(2, 3, 3, 1)")


class TestChangedWidth(BadInputCase):
    def test_fully_connected_features(self):
        layer = FullyConnected(3, "relu")
        layer.forward(np.zeros((2, 4)))
        msg = self.assertOurValueError(lambda: layer.forward(np.zeros((2, 5))), "4", "5")
        self.assertIn("features", msg)

    def test_conv2d_channels(self):
        layer = Conv2D(2, 3, "relu")
        layer.forward(np.zeros((1, 5, 5, 3)))
        msg = self.assertOurValueError(lambda: layer.forward(np.zeros((1, 5, 5, 2))), "3", "2")
        self.assertIn("channels", msg)

    def test_pool2d_channels(self):
        layer = Pool2D(2)
        layer.forward(np.zeros((1, 4, 4, 3)))
        msg = self.assertOurValueError(lambda: layer.forward(np.zeros((1, 4, 4, 5))), "3", "5")
        self.assertIn("channels", msg)


class TestBadSettings(BadInputCase):
    def test_kernel_larger_than_padded_input_conv(self):
        layer = Conv2D(2, (5, 5), "relu", pad="valid")
        self.assertOurValueError(lambda: layer.forward(np.zeros((1, 4, 6, 1))),
                                 "(5, 5)", "(4, 6)")
        # with pad 1 the padded input is 6 x 6, still too small for 7 x 7
        layer = Conv2D(2, (7, 7), "relu", pad=1)
        self.assertOurValueError(lambda: layer.forward(np.zeros((1, 4, 4, 1))),
                                 "(7, 7)", "(6, 6)")

    def test_kernel_larger_than_padded_input_pool(self):
        for mode in ("max", "average"):
            layer = Pool2D(3, mode=mode)
            self.assertOurValueError(lambda: layer.forward(np.zeros((1, 2, 5, 1))),
                                     "(3, 3)", "(2, 5)")

    def test_stride_below_one(self):
        for stride in (0, -1):
            self.assertOurValueError(lambda: Conv2D(2, 3, "relu", stride=stride), str(stride), "1")
            self.assertOurValueError(lambda: Pool2D(2, stride=stride), str(stride), "1")
            self.assertOurValueError(
                lambda: initialize_layer("conv2d", n_out=2, kernel_shape=3, stride=stride),
                str(stride))

    def test_n_out_below_one(self):
        self.assertOurValueError(lambda: FullyConnected(0, "relu"), "n_out", "0")
        self.assertOurValueError(lambda: Conv2D(0, 3, "relu"), "n_out", "0")
        self.assertOurValueError(lambda: Conv2D(-2, 3, "relu"), "n_out", "-2")
        self.assertOurValueError(lambda: initialize_layer("fully_connected", n_out=0),
                                 "n_out", "0")

    def test_negative_pad(self):
        self.assertOurValueError(lambda: Conv2D(2, 3, "relu", pad=-1), "pad", "-1")
        self.assertOurValueError(lambda: Pool2D(2, pad=-2), "pad", "-2")

    def test_flatten_keep_dim(self):
        self.assertOurValueError(lambda: Flatten(keep_dim="middle"), "middle", "first", "last")


class TestLossShapes(BadInputCase):
    def test_every_loss_forward_and_backward(self):
        Y = np.eye(3)[[0, 1, 2, 0]]
        Y_hat = np.full((4, 2), 0.5)
        for loss in (CrossEntropy("cross_entropy"), L2("l2")):
            for method in (loss.forward, loss.backward):
                with self.subTest(loss=loss.name, method=method.__name__):
                    self.assertOurValueError(lambda: method(Y, Y_hat), "(4, 3)", "(4, 2)")
                    self.assertOurValueError(lambda: method(Y, Y_hat[:3, :1].repeat(3, 1)),
                                             "(4, 3)", "(3, 3)")


class TestDataLengths(BadInputCase):
    def test_data(self):
        self.assertOurValueError(lambda: Data(np.zeros((5, 2)), labels=np.zeros((4, 3))),
                                 "5", "4")

    def test_dataset_training_split(self):
        self.assertOurValueError(lambda: Dataset(np.zeros((5, 2)), np.zeros((6, 3)), 2),
                                 "5", "6")

    def test_dataset_validation_and_test_splits(self):
        X, Y = np.zeros((5, 2)), np.eye(3)[[0, 1, 2, 0, 1]]
        self.assertOurValueError(
            lambda: Dataset(X, Y, 2, validation_set=np.zeros((3, 2)),
                            validation_labels=np.zeros((2, 3))), "3", "2")
        self.assertOurValueError(
            lambda: Dataset(X, Y, 2, test_set=np.zeros((7, 2)), test_labels=np.zeros((4, 3))),
            "7", "4")


class TestFactoryArguments(BadInputCase):
    """Every initialize_* refuses a required argument left out, and a keyword it (or
    the entry it names) does not take, with a ValueError naming them, never
    Python's TypeError."""

    SOFTMAX_OUT = [AttrDict(name="fully_connected", activation="softmax", n_out=None)]

    def test_keras_learning_rate_instead_of_lr(self):
        for call in (lambda: initialize_optimizer(name="SGD", learning_rate=0.01),
                     lambda: initialize_model("feed_forward", "cross_entropy", self.SOFTMAX_OUT,
                                              AttrDict(name="SGD", learning_rate=0.01))):
            message = self.assertOurValueError(call, "unknown keyword 'learning_rate'",
                                               "missing 'lr'", "momentum", "weight_decay")
            self.assertIn("optimizer 'SGD'", message)

    def test_a_missing_argument_of_every_factory(self):
        calls = {
            "initialize_activation": (initialize_activation, {}, "name"),
            "initialize_loss": (initialize_loss, {}, "name"),
            "initialize_layer": (initialize_layer, {"n_out": 3}, "name"),
            "initialize_weights": (initialize_weights, {"mode": "fan_in"}, "name"),
            "initialize_optimizer": (initialize_optimizer, {"name": "Adam"}, "lr"),
            "initialize_scheduler": (initialize_scheduler, {"name": "constant"}, "lr"),
            "initialize_model": (initialize_model, {"name": "feed_forward",
                                                    "loss": "cross_entropy",
                                                    "layer_args": self.SOFTMAX_OUT},
                                 "optimizer_args"),
            "initialize_dataset": (initialize_dataset, {"batch_size": 5}, "name"),
            "initialize_augmentation": (initialize_augmentation, {"pad": 2}, "name"),
        }
        for factory, (function, kwargs, missing) in calls.items():
            with self.subTest(factory=factory):
                self.assertOurValueError(lambda: function(**kwargs), factory,
                                         f"missing '{missing}'", "it accepts")

    def test_an_unknown_keyword_of_every_factory(self):
        calls = {
            "activation": (initialize_activation, ("relu",), {"alpha": 0.1}),
            "loss": (initialize_loss, ("l2",), {"reduction": "sum"}),
            "layer": (initialize_layer, ("fully_connected",), {"units": 3}),
            "weights": (initialize_weights, ("he_normal",), {"nonlinearity": "relu"}),
            "optimizer": (initialize_optimizer, ("Adam",), {"lr": 0.1, "betas": (0.9, 0.99)}),
            "scheduler": (initialize_scheduler, ("cosine",), {"lr": 0.1, "T_max": 10}),
            "model": (initialize_model, ("feed_forward", "cross_entropy", self.SOFTMAX_OUT,
                                         AttrDict(name="SGD", lr=0.1)), {"sed": 1}),
            "dataset": (initialize_dataset, ("iris",), {"shuffle": True}),
            "augmentation": (initialize_augmentation, ("flip",), {"p": 0.5}),
        }
        for what, (function, args, kwargs) in calls.items():
            (keyword,) = (k for k in kwargs if k not in ("lr",))
            with self.subTest(factory=what):
                self.assertOurValueError(lambda: function(*args, **kwargs), repr(keyword),
                                         "accepts")

    def test_too_many_arguments_by_position(self):
        self.assertOurValueError(lambda: initialize_loss("l2", "mean"),
                                 "2 arguments by position, but at most 1 (name)")

    def test_an_unknown_name_with_a_missing_argument_names_both(self):
        self.assertOurValueError(lambda: initialize_optimizer(name="RMSprop"),
                                 "unknown optimizer 'RMSprop'", "'SGD'", "missing 'lr'")


if __name__ == "__main__":
    unittest.main()
