"""Adam, AdamW and SGD with weight decay (neural_networks/optimizers.py)
against torch.optim in float64.

Several parameters of different shapes take 20 steps on a noisy quadratic
(the gradient is computed from each side's own current parameters, so any
difference would grow along the way); after every step the parameters must
agree with torch's to a relative error of 1e-10. torch is imported at module
level on purpose: it is in the dev extra that CI installs, and a missing torch
must be an error, not a skipped test.

Also: the first Adam steps (bias correction) by hand, gradient clipping,
float32 parameters staying float32, state_dict / load_state_dict continuing
the identical trajectory, and bad settings refused.
"""

import io
import unittest

import numpy as np
import torch

from neural_networks.optimizers import SGD, Adam, AdamW, initialize_optimizer

SHAPES = [(3, 4), (1, 4), (2, 3, 3, 2), (5,)]
STEPS = 20


def initial_parameters(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(dtype) for shape in SHAPES]


def gradient_function(seed=1):
    """grad(k, t, param): a noisy quadratic pulling parameter k towards a target."""
    rng = np.random.default_rng(seed)
    targets = [rng.normal(size=shape) for shape in SHAPES]
    curvature = [rng.uniform(0.5, 3.0, size=shape) for shape in SHAPES]
    noise = [[rng.normal(scale=0.3, size=shape) for shape in SHAPES] for _ in range(STEPS * 2)]

    def grad(k, t, param):
        return (curvature[k] * (param - targets[k]) + noise[t][k]).astype(param.dtype)

    return grad


def clip_by_norm(grad, clip_norm):
    """The contract's clipping, written with torch ops (per parameter)."""
    norm = torch.linalg.vector_norm(grad)
    return grad * (clip_norm / norm) if norm > clip_norm else grad


def torch_trajectory(torch_cls, torch_kwargs, steps=STEPS, clip_norm=None, seed=0):
    """Parameters after each of ``steps`` torch steps, as float64 arrays."""
    grad = gradient_function()
    params = [torch.tensor(p, requires_grad=True) for p in initial_parameters(seed)]
    optimizer = torch_cls(params, **torch_kwargs)
    trajectory = []
    for t in range(steps):
        for k, p in enumerate(params):
            g = torch.tensor(grad(k, t, p.detach().numpy()))
            p.grad = clip_by_norm(g, clip_norm) if clip_norm is not None else g
        optimizer.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
    return trajectory


def our_steps(optimizer, params, first, last, epoch=0):
    """Steps ``first`` to ``last - 1`` as the model does them: param -= update(...)."""
    grad = gradient_function()
    trajectory = []
    for t in range(first, last):
        for k, p in enumerate(params):
            delta = optimizer.update(f"{k}.W", p, grad(k, t, p), epoch)
            p -= delta
        trajectory.append([p.copy() for p in params])
    return trajectory


def our_trajectory(optimizer, steps=STEPS, dtype=np.float64):
    return our_steps(optimizer, initial_parameters(dtype=dtype), 0, steps)


# (our optimizer name, our settings, torch class, torch settings, clip_norm)
CASES = [
    ("SGD", dict(lr=0.05), torch.optim.SGD, dict(lr=0.05), None),
    ("SGD", dict(lr=0.05, momentum=0.9), torch.optim.SGD, dict(lr=0.05, momentum=0.9), None),
    ("SGD", dict(lr=0.03, momentum=0.8, weight_decay=0.1), torch.optim.SGD,
     dict(lr=0.03, momentum=0.8, weight_decay=0.1), None),
    ("SGD", dict(lr=0.02, weight_decay=0.5), torch.optim.SGD,
     dict(lr=0.02, weight_decay=0.5), None),
    ("SGD", dict(lr=0.05, momentum=0.9, clip_norm=1.0, weight_decay=0.01), torch.optim.SGD,
     dict(lr=0.05, momentum=0.9, weight_decay=0.01), 1.0),
    ("Adam", dict(lr=0.01), torch.optim.Adam, dict(lr=0.01), None),
    ("Adam", dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6), torch.optim.Adam,
     dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6), None),
    ("Adam", dict(lr=0.01, weight_decay=0.1), torch.optim.Adam,
     dict(lr=0.01, weight_decay=0.1), None),
    ("Adam", dict(lr=0.01, clip_norm=0.5, weight_decay=0.05), torch.optim.Adam,
     dict(lr=0.01, weight_decay=0.05), 0.5),
    ("AdamW", dict(lr=0.01, weight_decay=0.1), torch.optim.AdamW,
     dict(lr=0.01, weight_decay=0.1), None),
    ("AdamW", dict(lr=0.03, beta1=0.5, beta2=0.9, eps=1e-4, weight_decay=0.3),
     torch.optim.AdamW, dict(lr=0.03, betas=(0.5, 0.9), eps=1e-4, weight_decay=0.3), None),
    ("AdamW", dict(lr=0.01, weight_decay=0.02, clip_norm=0.3), torch.optim.AdamW,
     dict(lr=0.01, weight_decay=0.02), 0.3),
]


def build(name, settings):
    settings = dict(settings)
    return initialize_optimizer(name, settings.pop("lr"), **settings)


class TestAgainstTorch(unittest.TestCase):
    def test_twenty_steps_match_torch(self):
        for name, ours, torch_cls, theirs, clip_norm in CASES:
            with self.subTest(optimizer=name, settings=ours):
                expected = torch_trajectory(torch_cls, theirs, clip_norm=clip_norm)
                actual = our_trajectory(build(name, ours))
                for t, (mine, oracle) in enumerate(zip(actual, expected)):
                    for k, (p, q) in enumerate(zip(mine, oracle)):
                        np.testing.assert_allclose(
                            p, q, rtol=1e-10, atol=1e-13,
                            err_msg=f"{name} {ours}: step {t + 1}, parameter {k} {SHAPES[k]}",
                        )
                # The parameters really moved (the comparison is not of constants).
                start = initial_parameters()
                self.assertGreater(max(np.abs(p - s).max() for p, s in zip(actual[-1], start)),
                                   0.05)

    def test_clipping_is_active_in_the_clipped_cases(self):
        # Without clipping the trajectory would differ: the clipped cases test clipping.
        for name, ours, torch_cls, theirs, clip_norm in CASES:
            if clip_norm is None:
                continue
            with self.subTest(optimizer=name, settings=ours):
                unclipped = dict(ours)
                del unclipped["clip_norm"]
                a = our_trajectory(build(name, ours), steps=3)[-1]
                b = our_trajectory(build(name, unclipped), steps=3)[-1]
                self.assertGreater(max(np.abs(x - y).max() for x, y in zip(a, b)), 1e-4)

    def test_weight_decay_coupled_and_decoupled_differ(self):
        adam = our_trajectory(build("Adam", dict(lr=0.01, weight_decay=0.1)), steps=5)[-1]
        adamw = our_trajectory(build("AdamW", dict(lr=0.01, weight_decay=0.1)), steps=5)[-1]
        self.assertGreater(max(np.abs(x - y).max() for x, y in zip(adam, adamw)), 1e-5)


class TestAdamByHand(unittest.TestCase):
    def test_first_step_is_lr_times_sign(self):
        # t = 1: m_hat = g, v_hat = g^2, so delta = lr * g / (|g| + eps).
        g = np.array([[0.5, -2.0, 1e-3, -1e-6]])
        param = np.zeros_like(g)
        delta = Adam(lr=0.1).update("W", param, g, 0)
        np.testing.assert_allclose(delta, 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)

    def test_second_step_bias_correction(self):
        lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
        g1 = np.array([1.0, -3.0, 0.2])
        g2 = np.array([0.5, 1.0, -0.4])
        optimizer = Adam(lr=lr)
        param = np.zeros(3)
        optimizer.update("W", param, g1, 0)
        delta = optimizer.update("W", param, g2, 0)
        m = (1 - b1) * (b1 * g1 + g2)
        v = (1 - b2) * (b2 * g1**2 + g2**2)
        expected = lr * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + eps)
        np.testing.assert_allclose(delta, expected, rtol=1e-12)
        self.assertEqual(optimizer.cache["W"]["t"], 2)

    def test_each_parameter_has_its_own_step_count(self):
        optimizer = Adam(lr=0.1)
        for _ in range(3):
            optimizer.update("a", np.zeros(2), np.ones(2), 0)
        optimizer.update("b", np.zeros(2), np.ones(2), 0)
        self.assertEqual(optimizer.cache["a"]["t"], 3)
        self.assertEqual(optimizer.cache["b"]["t"], 1)

    def test_sgd_weight_decay_by_hand(self):
        param = np.array([1.0, -2.0])
        grad = np.array([0.5, 0.5])
        delta = SGD(lr=0.1, weight_decay=0.01).update("W", param, grad, 0)
        np.testing.assert_allclose(delta, 0.1 * (grad + 0.01 * param), rtol=1e-15)

    def test_adam_follows_the_schedule(self):
        # Cosine over 4 epochs: at epoch 2 the rate is half, so the first step is lr/2 * sign(g).
        optimizer = initialize_optimizer("Adam", 0.2, lr_scheduler="cosine", total_epochs=4)
        delta = optimizer.update("W", np.zeros(2), np.array([3.0, -1.0]), 2)
        np.testing.assert_allclose(delta, [0.1, -0.1], rtol=1e-7)


class TestDtype(unittest.TestCase):
    def test_float32_parameters_stay_float32(self):
        for name, ours, _, _, _ in CASES:
            with self.subTest(optimizer=name, settings=ours):
                optimizer = build(name, ours)
                trajectory = our_trajectory(optimizer, steps=5, dtype=np.float32)
                for p in trajectory[-1]:
                    self.assertEqual(p.dtype, np.float32)
                for entry in optimizer.cache.values():
                    for field, value in entry.items():
                        if isinstance(value, np.ndarray):
                            self.assertEqual(value.dtype, np.float32, field)
                exact = our_trajectory(build(name, ours), steps=5)[-1]
                for p, q in zip(trajectory[-1], exact):
                    np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5)


class TestStateDict(unittest.TestCase):
    @staticmethod
    def through_a_file(state):
        """Serialise as a checkpoint would (npz, no pickle) and read back."""
        buffer = io.BytesIO()
        np.savez(buffer, **{k.replace("/", "|"): v for k, v in state.items()})
        buffer.seek(0)
        with np.load(buffer, allow_pickle=False) as archive:
            return {k.replace("|", "/"): archive[k] for k in archive.files}

    def test_round_trip_continues_the_identical_trajectory(self):
        for name, ours, _, _, _ in CASES:
            with self.subTest(optimizer=name, settings=ours):
                uninterrupted = our_trajectory(build(name, ours))
                params = initial_parameters()
                first = build(name, ours)
                our_steps(first, params, 0, 8)
                state = self.through_a_file(first.state_dict())
                second = build(name, ours)
                second.load_state_dict(state)
                resumed = our_steps(second, params, 8, STEPS)
                for p, q in zip(resumed[-1], uninterrupted[-1]):
                    np.testing.assert_array_equal(p, q)

    def test_state_holds_the_moments_and_step_counts(self):
        optimizer = build("Adam", dict(lr=0.01))
        our_trajectory(optimizer, steps=3)
        state = optimizer.state_dict()
        self.assertEqual(set(state), {f"{k}.W/{f}" for k in range(len(SHAPES))
                                      for f in ("m", "v", "t")})
        for k, shape in enumerate(SHAPES):
            self.assertEqual(state[f"{k}.W/m"].shape, shape)
            self.assertEqual(int(state[f"{k}.W/t"]), 3)

    def test_sgd_momentum_buffers_in_the_state(self):
        optimizer = build("SGD", dict(lr=0.05, momentum=0.9))
        our_trajectory(optimizer, steps=2)
        state = optimizer.state_dict()
        self.assertEqual(set(state), {f"{k}.W/delta" for k in range(len(SHAPES))})
        fresh = build("SGD", dict(lr=0.05, momentum=0.9))
        fresh.load_state_dict(self.through_a_file(state))
        for key, value in state.items():
            name, field = key.split("/")
            np.testing.assert_array_equal(fresh.cache[name][field], value)

    def test_a_fresh_optimizer_without_state_takes_a_different_step(self):
        # Guards the round-trip test: dropping the state would be noticed.
        params = initial_parameters()
        first = build("Adam", dict(lr=0.01))
        our_steps(first, params, 0, 8)
        a = our_steps(build("Adam", dict(lr=0.01)), [p.copy() for p in params], 8, 9)[-1]
        b = our_steps(first, [p.copy() for p in params], 8, 9)[-1]
        self.assertGreater(max(np.abs(x - y).max() for x, y in zip(a, b)), 1e-6)


class TestBadSettings(unittest.TestCase):
    def test_bad_values(self):
        bad = [
            ("Adam", dict(beta1=1.0)), ("Adam", dict(beta1=-0.1)), ("Adam", dict(beta2=1.0)),
            ("Adam", dict(eps=0.0)), ("AdamW", dict(weight_decay=-0.1)),
            ("SGD", dict(weight_decay=-1.0)), ("SGD", dict(momentum=1.0)),
            ("Adam", dict(clip_norm=0.0)), ("Adam", dict(momentum=0.9)),
        ]
        for name, settings in bad:
            with self.subTest(optimizer=name, settings=settings), self.assertRaises(ValueError):
                initialize_optimizer(name, 0.1, **settings)

    def test_unknown_optimizer_lists_the_valid_names(self):
        with self.assertRaisesRegex(ValueError, "Adam.*AdamW.*SGD"):
            initialize_optimizer("RMSprop", 0.1)

    def test_factory_builds_each_class(self):
        self.assertIsInstance(initialize_optimizer("Adam", 0.1), Adam)
        self.assertIsInstance(initialize_optimizer("AdamW", 0.1), AdamW)
        self.assertNotIsInstance(initialize_optimizer("Adam", 0.1), AdamW)
        self.assertIsInstance(initialize_optimizer("SGD", 0.1, weight_decay=0.1), SGD)


if __name__ == "__main__":
    unittest.main()
