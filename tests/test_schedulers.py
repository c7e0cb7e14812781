"""Learning-rate schedules against hand-computed values."""

import unittest

import numpy as np

from neural_networks.optimizers import initialize_optimizer
from neural_networks.schedulers import initialize_scheduler


class TestConstant(unittest.TestCase):
    def test_same_rate_every_epoch(self):
        schedule = initialize_scheduler("constant", lr=0.3)
        for epoch in [0, 1, 2, 7, 100]:
            self.assertEqual(schedule(epoch), 0.3)

    def test_default_schedule_is_constant(self):
        schedule = initialize_scheduler(None, lr=0.25)
        self.assertEqual([schedule(e) for e in range(4)], [0.25] * 4)


class TestExponential(unittest.TestCase):
    # lr = 0.1, decay = 0.5, stage_length = 2: lr(e) = 0.1 * 0.5 ** (e / 2)
    SMOOTH = {
        0: 0.1,
        1: 0.07071067811865475,   # 0.1 * sqrt(0.5)
        2: 0.05,
        3: 0.035355339059327376,  # 0.1 * 0.5 ** 1.5
        4: 0.025,
        5: 0.017677669529663688,  # 0.1 * 0.5 ** 2.5
    }
    # staircase: the exponent is floor(e / 2)
    STAIRS = {0: 0.1, 1: 0.1, 2: 0.05, 3: 0.05, 4: 0.025, 5: 0.025, 6: 0.0125, 9: 0.00625}

    def test_smooth(self):
        schedule = initialize_scheduler("exponential", lr=0.1, decay=0.5, stage_length=2)
        for epoch, expected in self.SMOOTH.items():
            self.assertAlmostEqual(schedule(epoch), expected, places=15, msg=f"epoch {epoch}")

    def test_smooth_when_staircase_false(self):
        schedule = initialize_scheduler("exponential", lr=0.1, decay=0.5, stage_length=2,
                                        staircase=False)
        for epoch, expected in self.SMOOTH.items():
            self.assertAlmostEqual(schedule(epoch), expected, places=15, msg=f"epoch {epoch}")

    def test_staircase(self):
        schedule = initialize_scheduler("exponential", lr=0.1, decay=0.5, stage_length=2,
                                        staircase=True)
        for epoch, expected in self.STAIRS.items():
            self.assertAlmostEqual(schedule(epoch), expected, places=15, msg=f"epoch {epoch}")

    def test_other_decay(self):
        # lr = 2, decay = 0.9, stage_length = 3, epoch 6 -> 2 * 0.81; epoch 7 smooth -> 2 * 0.9 ** (7/3)
        smooth = initialize_scheduler("exponential", lr=2.0, decay=0.9, stage_length=3)
        stairs = initialize_scheduler("exponential", lr=2.0, decay=0.9, stage_length=3,
                                      staircase=True)
        self.assertAlmostEqual(smooth(6), 1.62, places=14)
        self.assertAlmostEqual(smooth(7), 1.5640928030611203, places=14)
        self.assertAlmostEqual(stairs(7), 1.62, places=14)
        self.assertAlmostEqual(stairs(8), 1.62, places=14)
        self.assertAlmostEqual(stairs(9), 1.458, places=14)

    def test_optimizer_uses_the_schedule(self):
        # With a gradient of ones the SGD step equals the learning rate.
        sgd = initialize_optimizer("SGD", lr=0.1, lr_scheduler="exponential", lr_decay=0.5,
                                   stage_length=2, staircase=True)
        for epoch, expected in self.STAIRS.items():
            delta = sgd.update(f"p{epoch}", np.zeros(3), np.ones(3), epoch)
            np.testing.assert_allclose(delta, np.full(3, expected), rtol=1e-14)
        sgd = initialize_optimizer("SGD", lr=0.1, lr_scheduler="exponential", lr_decay=0.5,
                                   stage_length=2)
        for epoch, expected in self.SMOOTH.items():
            delta = sgd.update(f"p{epoch}", np.zeros(3), np.ones(3), epoch)
            np.testing.assert_allclose(delta, np.full(3, expected), rtol=1e-14)


if __name__ == "__main__":
    unittest.main()
