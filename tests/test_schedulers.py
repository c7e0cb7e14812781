"""Learning-rate schedules (neural_networks/schedulers.py) against
hand-computed values: constant, exponential (smooth and staircase), step and
cosine with warm-up.

Every expected value is worked out by hand in the test (written as the
arithmetic it comes from), at whole and fractional epochs; bad or missing
settings, settings a schedule does not take and unknown names raise
ValueError.
"""

import math
import unittest
from itertools import pairwise

import numpy as np

from neural_networks.datasets import Dataset
from neural_networks.models import NeuralNetwork
from neural_networks.optimizers import initialize_optimizer
from neural_networks.schedulers import initialize_scheduler
from neural_networks.utils import AttrDict


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



class TestStepSchedule(unittest.TestCase):
    def test_stage_length(self):
        schedule = initialize_scheduler("step", 0.5, decay=0.1, stage_length=3)
        expected = {0: 0.5, 1: 0.5, 2.99: 0.5, 3: 0.05, 4.5: 0.05, 5.999: 0.05, 6: 0.005,
                    9: 0.0005}
        for epoch, lr in expected.items():
            with self.subTest(epoch=epoch):
                self.assertAlmostEqual(schedule(epoch), lr, delta=1e-15)

    def test_milestones(self):
        schedule = initialize_scheduler("step", 1.0, decay=0.5, milestones=[2, 5, 7])
        expected = {0: 1.0, 1.9: 1.0, 2: 0.5, 4.99: 0.5, 5: 0.25, 6.5: 0.25, 7: 0.125,
                    100: 0.125}
        for epoch, lr in expected.items():
            with self.subTest(epoch=epoch):
                self.assertEqual(schedule(epoch), lr)

    def test_milestones_in_any_order(self):
        schedule = initialize_scheduler("step", 1.0, decay=0.5, milestones=[7, 2, 5])
        self.assertEqual(schedule(5.5), 0.25)

    def test_default_decay_is_one_tenth(self):
        schedule = initialize_scheduler("step", 2.0, stage_length=1)
        self.assertAlmostEqual(schedule(2), 2.0 * 0.1 * 0.1, delta=1e-15)

    def test_missing_or_bad_stage(self):
        with self.assertRaisesRegex(ValueError, "milestones or a stage_length"):
            initialize_scheduler("step", 0.1)
        with self.assertRaisesRegex(ValueError, "stage_length"):
            initialize_scheduler("step", 0.1, stage_length=0)
        with self.assertRaisesRegex(ValueError, "stage_length"):
            initialize_scheduler("step", 0.1, stage_length=-2)


class TestCosineSchedule(unittest.TestCase):
    def test_without_warmup(self):
        lr, T = 0.4, 10
        schedule = initialize_scheduler("cosine", lr, total_epochs=T)
        self.assertEqual(schedule(0), lr)
        self.assertAlmostEqual(schedule(5), lr / 2, delta=1e-15)  # cos(pi/2) = 0
        self.assertAlmostEqual(schedule(10), 0.0, delta=1e-15)
        # e = 2.5: (1 + cos(pi/4)) / 2 = (1 + sqrt(2)/2) / 2
        self.assertAlmostEqual(schedule(2.5), lr * (1 + math.sqrt(2) / 2) / 2, delta=1e-15)
        # e = 7.5: (1 + cos(3 pi/4)) / 2 = (1 - sqrt(2)/2) / 2
        self.assertAlmostEqual(schedule(7.5), lr * (1 - math.sqrt(2) / 2) / 2, delta=1e-15)
        # 10/3 of 10: cos(pi/3) = 1/2, so 3/4 of lr
        self.assertAlmostEqual(schedule(10 / 3), 0.75 * lr, delta=1e-15)

    def test_min_lr(self):
        schedule = initialize_scheduler("cosine", 1.0, total_epochs=4, min_lr=0.2)
        self.assertEqual(schedule(0), 1.0)
        self.assertAlmostEqual(schedule(2), 0.2 + 0.8 / 2, delta=1e-15)
        self.assertAlmostEqual(schedule(4), 0.2, delta=1e-15)
        # e = 4/3: cos(pi/3) = 1/2 -> 0.2 + 0.8 * 3/4
        self.assertAlmostEqual(schedule(4 / 3), 0.8, delta=1e-15)

    def test_stays_at_min_lr_after_the_end(self):
        schedule = initialize_scheduler("cosine", 1.0, total_epochs=4, min_lr=0.1)
        for epoch in (4, 4.5, 7, 100):
            with self.subTest(epoch=epoch):
                self.assertAlmostEqual(schedule(epoch), 0.1, delta=1e-15)

    def test_with_warmup(self):
        lr, T, w = 0.2, 12, 2
        schedule = initialize_scheduler("cosine", lr, total_epochs=T, warmup_epochs=w)
        # Linear warm-up from 0: lr * e / w.
        self.assertEqual(schedule(0), 0.0)
        self.assertAlmostEqual(schedule(0.5), lr * 0.25, delta=1e-15)
        self.assertAlmostEqual(schedule(1), lr * 0.5, delta=1e-15)
        self.assertAlmostEqual(schedule(1.9), lr * 0.95, delta=1e-15)
        # Then the half cosine over the remaining 10 epochs.
        self.assertAlmostEqual(schedule(2), lr, delta=1e-15)
        self.assertAlmostEqual(schedule(7), lr / 2, delta=1e-15)
        self.assertAlmostEqual(schedule(2 + 10 / 3), 0.75 * lr, delta=1e-15)
        self.assertAlmostEqual(schedule(12), 0.0, delta=1e-15)

    def test_warmup_start_and_min_lr(self):
        schedule = initialize_scheduler("cosine", 1.0, total_epochs=6, warmup_epochs=2,
                                        warmup_start=0.1, min_lr=0.05)
        # Warm-up from 0.1 * lr to lr: lr * (0.1 + 0.9 * e / 2).
        self.assertAlmostEqual(schedule(0), 0.1, delta=1e-15)
        self.assertAlmostEqual(schedule(1), 0.1 + 0.9 / 2, delta=1e-15)
        self.assertAlmostEqual(schedule(1.5), 0.1 + 0.9 * 0.75, delta=1e-15)
        self.assertAlmostEqual(schedule(2), 1.0, delta=1e-15)
        self.assertAlmostEqual(schedule(4), 0.05 + 0.95 / 2, delta=1e-15)
        self.assertAlmostEqual(schedule(6), 0.05, delta=1e-15)

    def test_fractional_epochs_move_every_step(self):
        schedule = initialize_scheduler("cosine", 1.0, total_epochs=3)
        values = [schedule(k / 7) for k in range(22)]  # 7 steps per epoch
        self.assertTrue(all(a > b for a, b in pairwise(values)))
        for k, value in enumerate(values):
            self.assertAlmostEqual(value, (1 + math.cos(math.pi * (k / 7) / 3)) / 2, delta=1e-15)

    def test_missing_or_bad_settings(self):
        with self.assertRaisesRegex(ValueError, "total_epochs"):
            initialize_scheduler("cosine", 0.1)
        for bad in (0, -3):
            with self.subTest(total_epochs=bad), self.assertRaisesRegex(ValueError, "total_epochs"):
                initialize_scheduler("cosine", 0.1, total_epochs=bad)
        for warmup in (5, 7, -1):
            with self.subTest(warmup_epochs=warmup), \
                    self.assertRaisesRegex(ValueError, "warmup_epochs"):
                initialize_scheduler("cosine", 0.1, total_epochs=5, warmup_epochs=warmup)


class TestFactory(unittest.TestCase):
    def test_unknown_name_lists_the_valid_ones(self):
        with self.assertRaises(ValueError) as raised:
            initialize_scheduler("linear_warmup", 0.1)
        message = str(raised.exception)
        for name in ("constant", "cosine", "exponential", "step"):
            self.assertIn(name, message)

    def test_option_the_schedule_does_not_take(self):
        with self.assertRaisesRegex(ValueError, "milestones"):
            initialize_scheduler("cosine", 0.1, total_epochs=5, milestones=[2])
        with self.assertRaisesRegex(ValueError, "total_epochs"):
            initialize_scheduler("step", 0.1, stage_length=2, total_epochs=5)

    def test_negative_or_missing_lr(self):
        with self.assertRaisesRegex(ValueError, "lr"):
            initialize_scheduler("cosine", -0.1, total_epochs=5)
        with self.assertRaisesRegex(ValueError, "lr"):
            initialize_scheduler("step", None, stage_length=2)

    def test_optimizer_passes_schedule_settings_through(self):
        optimizer = initialize_optimizer("SGD", 0.4, lr_scheduler="cosine", total_epochs=10,
                                         warmup_epochs=2, min_lr=0.01)
        self.assertAlmostEqual(optimizer.lr(1), 0.2, delta=1e-15)
        self.assertAlmostEqual(optimizer.lr(6), 0.01 + 0.39 / 2, delta=1e-15)
        step = initialize_optimizer("SGD", 1.0, lr_scheduler="step", lr_decay=0.5,
                                    milestones=[1, 3])
        self.assertEqual([step.lr(e) for e in (0, 1, 2, 3)], [1.0, 0.5, 0.5, 0.25])
        with self.assertRaisesRegex(ValueError, "total_epochs"):
            initialize_optimizer("Adam", 0.1, lr_scheduler="cosine")

    @staticmethod
    def epochs_seen(optimizer_args, epochs=2):
        """The epoch the optimizer is given at every step of training a one-layer
        network for ``epochs`` epochs of 3 steps (once per step: W and b see the same)."""
        seen = []
        X = np.random.default_rng(0).normal(size=(12, 3))
        Y = np.eye(2)[np.arange(12) % 2]
        dataset = Dataset(X, Y, batch_size=4)
        model = NeuralNetwork(
            "cross_entropy",
            [AttrDict(name="fully_connected", n_out=None, activation="softmax")],
            optimizer_args, seed=0,
        )
        original = model.optimizer.update

        def recording_update(name, param, grad, epoch):
            seen.append(epoch)
            return original(name, param, grad, epoch)

        model.optimizer.update = recording_update
        model.train(dataset, epochs, verbose=False)
        assert seen[::2] == seen[1::2], seen  # W and b of one step
        return seen[::2], model.optimizer.lr

    def test_model_passes_fractional_epochs_to_the_cosine_schedule(self):
        # A warm-up or cosine decay must move every step: 3 steps per epoch.
        seen, _ = self.epochs_seen(dict(name="SGD", lr=0.3, lr_scheduler="cosine",
                                        total_epochs=2))
        self.assertEqual(seen, [0, 1 / 3, 2 / 3, 1, 1 + 1 / 3, 1 + 2 / 3])

    def test_the_courses_schedules_see_the_whole_epoch(self):
        # The course's train calls self.update(i) with the epoch i at every step,
        # so its exponential schedule changes the rate between epochs only.
        for scheduler in ("constant", "exponential", "step"):
            with self.subTest(scheduler=scheduler):
                args = dict(name="SGD", lr=0.5, lr_scheduler=scheduler, momentum=0.9)
                if scheduler != "constant":
                    args.update(lr_decay=0.5, stage_length=1)
                seen, schedule = self.epochs_seen(args, epochs=3)
                self.assertEqual(seen, [0, 0, 0, 1, 1, 1, 2, 2, 2])
                self.assertTrue(all(isinstance(e, int) for e in seen), seen)
                rates = [schedule(e) for e in seen]
                expected = [0.5] * 9 if scheduler == "constant" else \
                    [0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125]
                self.assertEqual(rates, expected)



class TestStrictSettings(unittest.TestCase):
    NAN, INF = float("nan"), float("inf")

    def assertRefused(self, call, *fragments):
        """``call()`` raises ValueError whose message holds every fragment."""
        with self.assertRaises(ValueError) as raised:
            call()
        message = str(raised.exception)
        for fragment in fragments:
            self.assertIn(fragment, message)

    def assertAllRefused(self, name, setting, values, **base):
        for value in values:
            with self.subTest(schedule=name, **{setting: value}):
                self.assertRefused(
                    lambda: initialize_scheduler(name, **{"lr": 0.1, **base, setting: value}),
                    setting, repr(value))

    def test_misspelt_option_is_named_with_the_accepted_ones(self):
        self.assertRefused(lambda: initialize_scheduler("cosine", 0.1, total_epochs=5, warmup=1),
                           "'warmup'", "total_epochs", "warmup_epochs", "min_lr", "warmup_start")
        self.assertRefused(lambda: initialize_scheduler("step", 0.1, milestone=[2]),
                           "'milestone'", "decay", "stage_length", "milestones")

    def test_course_settings_a_schedule_does_not_use_are_refused(self):
        # Only initialize_optimizer lets the course's three ride along with "constant".
        self.assertRefused(lambda: initialize_scheduler("constant", 0.1, decay=0.5),
                           "'decay'", "lr")
        self.assertRefused(lambda: initialize_scheduler(None, 0.1, staircase=True),
                           "'staircase'", "lr")
        self.assertRefused(lambda: initialize_scheduler("step", 0.1, stage_length=2,
                                                        staircase=True),
                           "'staircase'", "decay", "stage_length", "milestones")
        self.assertRefused(lambda: initialize_scheduler("cosine", 0.1, total_epochs=5,
                                                        stage_length=2),
                           "'stage_length'", "total_epochs")

    def test_unhashable_name(self):
        self.assertRefused(lambda: initialize_scheduler(["step"], 0.1), "['step']", "'step'")

    def test_learning_rate(self):
        bad = [0, 0.0, -0.1, self.NAN, self.INF, True, "0.1", None]
        for name, base in (("constant", {}), ("exponential", {}), ("step", {"stage_length": 1}),
                           ("cosine", {"total_epochs": 5})):
            self.assertAllRefused(name, "lr", bad, **base)

    def test_decay(self):
        bad = [0, -0.5, self.NAN, self.INF, "0.5", True]
        self.assertAllRefused("exponential", "decay", bad)
        self.assertAllRefused("step", "decay", bad, stage_length=2)

    def test_stage_length(self):
        bad = [0, -1, self.NAN, self.INF, "2", True]
        self.assertAllRefused("exponential", "stage_length", bad)
        self.assertAllRefused("step", "stage_length", bad)

    def test_staircase_must_be_a_bool(self):
        # "False" is a true string: it would have floored the exponent.
        self.assertAllRefused("exponential", "staircase", ["False", 1, 0.0])

    def test_milestones(self):
        self.assertAllRefused("step", "milestones", [5, "5"])
        self.assertRefused(lambda: initialize_scheduler("step", 0.1, milestones=[2, self.NAN]),
                           "milestones[1]", "nan")
        self.assertRefused(lambda: initialize_scheduler("step", 0.1, milestones=[-1, 3]),
                           "milestones[0]", "-1")

    def test_milestones_and_stage_length_together(self):
        self.assertRefused(lambda: initialize_scheduler("step", 0.1, stage_length=2,
                                                        milestones=[3]),
                           "milestones", "stage_length")

    def test_cosine_settings(self):
        self.assertAllRefused("cosine", "total_epochs", [0, -3, self.NAN, self.INF, "10", True])
        self.assertAllRefused("cosine", "warmup_epochs", [-1, 5, 6, self.NAN, self.INF, "1",
                                                          True], total_epochs=5)
        self.assertAllRefused("cosine", "min_lr", [-0.01, 0.2, self.NAN, "0"], total_epochs=5)
        self.assertAllRefused("cosine", "warmup_start", [-0.1, 1.5, self.NAN, "0"],
                              total_epochs=5, warmup_epochs=1)

    def test_good_edges_are_accepted(self):
        self.assertEqual(initialize_scheduler("cosine", 0.1, total_epochs=4, min_lr=0.1)(2), 0.1)
        self.assertEqual(initialize_scheduler("cosine", 1.0, total_epochs=4, warmup_epochs=2,
                                              warmup_start=1.0)(1), 1.0)
        self.assertEqual(initialize_scheduler("step", 1.0, decay=0.5, milestones=[])(9), 1.0)
        self.assertEqual(initialize_scheduler("constant", np.float32(0.5))(3), 0.5)
        self.assertEqual(initialize_scheduler("step", 1.0, decay=0.5,
                                              milestones=np.array([1, 2]))(2), 0.25)


if __name__ == "__main__":
    unittest.main()
