"""The course's loss tests, replayed against PyTorch reference data.

Each case's input stacks (Y, Y_hat); ``forward(Y, Y_hat)`` must give the
stored loss and ``backward(Y, Y_hat)`` the stored dL/dY_hat, to 4 decimals
and to a relative error of 1e-7.
"""

import unittest

from neural_networks.losses import L2, CrossEntropy, initialize_loss
from tests.reference_configs import assert_matches, load_reference


def check_loss_forward(test, class_name):
    data, cases = load_reference(class_name)
    for i, config, batch, k in cases:
        with test.subTest(case=i, config=config, batch=batch, k=k):
            loss = initialize_loss(config["name"])
            value = loss.forward(*data[f"{i}input"])
            test.assertIsInstance(value, float)
            assert_matches(value, data[f"{i}output"], f"case {i} loss")


def check_loss_backward(test, class_name):
    data, cases = load_reference(class_name)
    for i, config, batch, k in cases:
        with test.subTest(case=i, config=config, batch=batch, k=k):
            loss = initialize_loss(config["name"])
            inputs = data[f"{i}input"]
            loss.forward(*inputs)
            # upstream_grad is dJ/dJ = 1: the loss is the end of the chain.
            dY_hat = data[f"{i}upstream_grad"] * loss.backward(*inputs)
            assert_matches(dY_hat, data[f"{i}backward"], f"case {i} backward")


class TestCrossEntropy(unittest.TestCase):
    def test_forward(self):
        check_loss_forward(self, "TestCrossEntropy")

    def test_backward(self):
        check_loss_backward(self, "TestCrossEntropy")


class TestL2(unittest.TestCase):
    def test_forward(self):
        check_loss_forward(self, "TestL2")

    def test_backward(self):
        check_loss_backward(self, "TestL2")


class TestFactory(unittest.TestCase):
    def test_unknown_name_is_named_with_the_valid_ones(self):
        for bad in ("hinge", "L2", None, ["l2"]):
            with self.subTest(name=bad), self.assertRaises(ValueError) as raised:
                initialize_loss(bad)
            message = str(raised.exception)
            self.assertIn(repr(bad), message)
            for name in ("cross_entropy", "l2"):
                self.assertIn(repr(name), message)

    def test_each_name_builds_its_class_and_keeps_the_name(self):
        for name, cls in (("cross_entropy", CrossEntropy), ("l2", L2)):
            with self.subTest(name=name):
                loss = initialize_loss(name)
                self.assertIs(type(loss), cls)
                self.assertEqual(loss.name, name)


if __name__ == "__main__":
    unittest.main()
