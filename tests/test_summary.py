"""The table of a network's layers (neural_networks/summary.py): what summary()
prints and repr(model) and print(model) give: one row per layer with its title
from the layer's description, output shape and parameter count, the totals and
the buffers, for the Iris network, a CNN, and a network not yet built."""

import contextlib
import io
import re
import unittest

import numpy as np

from neural_networks import runs
from neural_networks.datasets import initialize_dataset
from tests.test_checkpoints import build_model as build_cnn
from tests.test_models import build


class TestSummary(unittest.TestCase):
    def test_the_default_iris_net_counts_83_parameters(self):
        model = runs.iris_model(runs.DEFAULTS.hidden, 0.01, 0.9, seed=0).build((4,), n_out=3)
        table = repr(model)
        lines = table.splitlines()
        rows = {line.split()[0]: line for line in lines[3:5]}
        # 4 * 10 + 10 and 10 * 3 + 3.
        self.assertRegex(rows["0"], r"^0\s+FullyConnected, relu\s+\(None, 10\)\s+50$")
        self.assertRegex(rows["1"], r"^1\s+FullyConnected, softmax\s+\(None, 3\)\s+33$")
        self.assertRegex(lines[2], r"^\s+input\s+\(None, 4\)$")
        self.assertIn("Total parameters: 83 (trainable: 83)", table)
        self.assertNotIn("Buffers", table)

    def test_print_shows_the_summary(self):
        model = build(seed=0)
        model.train(initialize_dataset("iris", batch_size=35), 1, verbose=False)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            print(model)
        self.assertEqual(out.getvalue(), repr(model) + "\n")
        self.assertEqual(str(model), repr(model))
        self.assertIn("Total parameters: 67", out.getvalue())  # 4 * 8 + 8 + 8 * 3 + 3

    def test_summary_prints_the_table_and_returns_nothing(self):
        # As Keras' model.summary(): in a script it shows the table, and in Jupyter
        # no string is echoed after it.
        model = build(seed=0).build((4,), n_out=3)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            returned = model.summary()
        self.assertIsNone(returned)
        self.assertIn("Total parameters: 67 (trainable: 67)", out.getvalue())
        self.assertEqual(out.getvalue(), repr(model) + "\n")

    def test_an_unbuilt_model_says_what_it_has(self):
        table = repr(build(seed=0))
        self.assertIn("FullyConnected, relu", table)
        self.assertIn("FullyConnected, softmax", table)
        self.assertIn("first batch", table)
        self.assertIn("build(input_shape, n_out)", table)
        self.assertNotIn("Total parameters", table)

    def test_a_cnn_lists_each_layer_and_leaves_it_as_it_was(self):
        model = build_cnn(seed=0).build((8, 8, 2), n_out=3)
        X = np.random.default_rng(0).normal(size=(5, 8, 8, 2))
        # Between a forward and its backward: summary must not disturb the caches.
        out = model.forward(X)
        table = repr(model)
        model.backward(np.eye(3)[[0, 1, 2, 0, 1]], out)
        gradients = [dict(layer.gradients) for layer in model.layers]
        reference = build_cnn(seed=0).build((8, 8, 2), n_out=3)
        reference.backward(np.eye(3)[[0, 1, 2, 0, 1]], reference.forward(X))
        for layer, expected in zip(reference.layers, gradients, strict=True):
            for name, value in layer.gradients.items():
                np.testing.assert_array_equal(expected[name], value)
        lines = table.splitlines()
        for i, (title, shape) in enumerate((
                ("Conv2D 3x3 s1 same", "(None, 8, 8, 4)"), ("BatchNorm, relu", "(None, 8, 8, 4)"),
                ("Pool2D max 2x2 s2", "(None, 4, 4, 4)"), ("Flatten", "(None, 64)"),
                ("Dropout p=0.3", "(None, 64)"), ("FullyConnected, softmax", "(None, 3)"))):
            self.assertRegex(lines[3 + i], rf"^{i}\s+{re.escape(title)}\s+{re.escape(shape)}\s")
        n_parameters = sum(v.size for layer in model.layers for v in layer.parameters.values())
        self.assertEqual(n_parameters, 3 * 3 * 2 * 4 + 4 + 2 * 4 + 64 * 3 + 3)
        self.assertIn(f"Total parameters: {n_parameters:,} (trainable: {n_parameters:,})", table)
        # The running mean and variance (4 each) are state, not parameters.
        self.assertIn("Buffers (BatchNorm running statistics, not trained): 8 values", table)


if __name__ == "__main__":
    unittest.main()
