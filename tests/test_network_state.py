"""A network's arrays in and out (neural_networks/network_state.py, reached through
the network's methods): state_dict holds every parameter and buffer the layers
declare, load_state_dict checks every entry before changing anything, and
save_parameters writes the course's per-epoch parameters file."""

import os
import tempfile
import unittest

import numpy as np

from neural_networks.datasets import initialize_dataset
from neural_networks.logs import Logger
from tests.test_checkpoints import build_model as build_cnn
from tests.test_models import build
from tests.test_training_state import small_dataset, small_network


class TestStateDict(unittest.TestCase):
    def setUp(self):
        self.model = small_network()
        self.dataset = small_dataset()

    def test_every_parameter_and_buffer_as_a_copy(self):
        model = build_cnn(seed=0).build((8, 8, 2), n_out=3)
        state = model.state_dict()
        # By hand: conv W, b; BatchNorm gamma, beta and its running mean and variance;
        # the output layer's W, b.
        self.assertEqual(sorted(state), ["0.W", "0.b", "1.beta", "1.gamma", "1.running_mean",
                                         "1.running_var", "5.W", "5.b"])
        self.assertEqual(model.buffer_names(), {"1.running_mean", "1.running_var"})
        state["1.running_var"] += 1
        np.testing.assert_array_equal(model.layers[1].buffers["running_var"], np.ones((1, 4)))

    def test_load_state_dict_checks_before_changing(self):
        self.model.train(self.dataset, 1, verbose=False)
        state = self.model.state_dict()
        before = self.model.state_dict()
        for change, fragment in (
            (lambda s: s.pop("0.W"), "missing"),
            (lambda s: s.update({"9.W": s["0.W"]}), "unknown"),
            (lambda s: s.update({"0.W": s["0.W"][:1]}), "0.W"),
            (lambda s: s.update({"0.b": s["0.b"] * np.nan}), "NaN"),
        ):
            with self.subTest(fragment=fragment):
                bad = dict(state)
                change(bad)
                with self.assertRaisesRegex(ValueError, fragment):
                    self.model.load_state_dict(bad)
                for key, value in self.model.state_dict().items():
                    np.testing.assert_array_equal(value, before[key])
        state["0.W"] = state["0.W"] * 2
        self.model.load_state_dict(state)
        np.testing.assert_array_equal(self.model.layers[0].parameters["W"], state["0.W"])


class TestSaveParameters(unittest.TestCase):
    def setUp(self):
        self.dataset = initialize_dataset("iris", batch_size=35)
        self.model = build(seed=0)

    def test_save_parameters(self):
        with tempfile.TemporaryDirectory() as tmp:
            logger = Logger("run", {}, {}, save=True, save_dir=tmp)
            model = build(seed=0, logger=logger)
            model.train(self.dataset, 1, verbose=False)
            path = model.save_parameters(1)
            self.assertTrue(os.path.isfile(path))
            self.assertTrue(os.path.abspath(path).startswith(os.path.abspath(tmp)))
            self.assertTrue(path.endswith("parameters_epoch1.npz"))
            with np.load(path, allow_pickle=False) as saved:  # no pickles
                self.assertEqual(sorted(saved.files), ["0.W", "0.b", "1.W", "1.b"])
                for i, layer in enumerate(model.layers):
                    for name, value in layer.parameters.items():
                        np.testing.assert_array_equal(saved[f"{i}.{name}"], value)

    def test_save_parameters_needs_a_logger(self):
        self.model.train(self.dataset, 1, verbose=False)
        with self.assertRaisesRegex(ValueError, "logger"):
            self.model.save_parameters(1)


if __name__ == "__main__":
    unittest.main()
