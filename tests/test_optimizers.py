"""The optimizers (neural_networks/optimizers.py): SGD with momentum and
clipping against hand-computed steps and the model's use of the step (it
subtracts delta); Adam, AdamW and SGD with weight decay against torch.optim
in float64; the factory's checks of names, keywords and numbers.

Several parameters of different shapes take 20 steps on a noisy quadratic
(the gradient is computed from each side's own current parameters, so any
difference would grow along the way); after every step the parameters must
agree with torch's to a relative error of 1e-10. Without torch (the
reference extra) that test skips, and fails under CI=true (tests/support.py);
the others need no torch.

Also: the first Adam steps (bias correction) by hand, gradient clipping,
float32 parameters staying float32 (and their state too, whatever the
gradient's dtype), float16 parameters refused,
state_dict / load_state_dict continuing the identical trajectory, and bad
settings refused.
"""

import io
import math
import unittest

import numpy as np

from neural_networks.datasets import Dataset
from neural_networks.models import NeuralNetwork
from neural_networks.optimizers import SGD, Adam, AdamW, initialize_optimizer
from neural_networks.utils import AttrDict
from tests.support import require_torch

try:
    import torch
except ImportError:  # the reference extra: the test that uses it calls require_torch
    torch = None

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


def torch_trajectory(name, torch_kwargs, steps=STEPS, clip_norm=None, seed=0):
    """Parameters after each of ``steps`` steps of ``torch.optim.<name>``, as float64 arrays."""
    grad = gradient_function()
    params = [torch.tensor(p, requires_grad=True) for p in initial_parameters(seed)]
    optimizer = getattr(torch.optim, name)(params, **torch_kwargs)
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


# (optimizer name, ours and torch.optim's alike, our settings, torch settings, clip_norm)
CASES = [
    ("SGD", dict(lr=0.05), dict(lr=0.05), None),
    ("SGD", dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9), None),
    ("SGD", dict(lr=0.03, momentum=0.8, weight_decay=0.1),
     dict(lr=0.03, momentum=0.8, weight_decay=0.1), None),
    ("SGD", dict(lr=0.02, weight_decay=0.5), dict(lr=0.02, weight_decay=0.5), None),
    ("SGD", dict(lr=0.05, momentum=0.9, clip_norm=1.0, weight_decay=0.01),
     dict(lr=0.05, momentum=0.9, weight_decay=0.01), 1.0),
    ("Adam", dict(lr=0.01), dict(lr=0.01), None),
    ("Adam", dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6),
     dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6), None),
    ("Adam", dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, weight_decay=0.1), None),
    ("Adam", dict(lr=0.01, clip_norm=0.5, weight_decay=0.05),
     dict(lr=0.01, weight_decay=0.05), 0.5),
    ("AdamW", dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, weight_decay=0.1), None),
    ("AdamW", dict(lr=0.03, beta1=0.5, beta2=0.9, eps=1e-4, weight_decay=0.3),
     dict(lr=0.03, betas=(0.5, 0.9), eps=1e-4, weight_decay=0.3), None),
    ("AdamW", dict(lr=0.01, weight_decay=0.02, clip_norm=0.3),
     dict(lr=0.01, weight_decay=0.02), 0.3),
]


def build(name, settings):
    settings = dict(settings)
    return initialize_optimizer(name, settings.pop("lr"), **settings)



def steps(sgd, grads, name="w", epochs=None):
    epochs = epochs if epochs is not None else [0] * len(grads)
    param = np.zeros(np.shape(grads[0]))
    return [sgd.update(name, param, np.asarray(g, dtype=float), e)
            for g, e in zip(grads, epochs, strict=True)]


class TestSGD(unittest.TestCase):
    GRADS = [[1.0, -2.0], [0.5, 0.5], [-1.0, 0.0]]

    def test_plain_step(self):
        sgd = initialize_optimizer("SGD", lr=0.1)
        deltas = steps(sgd, self.GRADS)
        # Without momentum every step is lr * grad, with no memory.
        for delta, expected in zip(deltas, [[0.1, -0.2], [0.05, 0.05], [-0.1, 0.0]], strict=True):
            np.testing.assert_allclose(delta, expected, rtol=0, atol=1e-15)

    def test_momentum(self):
        sgd = initialize_optimizer("SGD", lr=0.1, momentum=0.9)
        deltas = steps(sgd, self.GRADS)
        # d1 = 0.1 g1; d2 = 0.9 d1 + 0.1 g2; d3 = 0.9 d2 + 0.1 g3
        expected = [[0.1, -0.2], [0.14, -0.13], [0.026, -0.117]]
        for delta, exp in zip(deltas, expected, strict=True):
            np.testing.assert_allclose(delta, exp, rtol=0, atol=1e-15)

    def test_momentum_with_scheduled_rate(self):
        # lr(epoch) = 0.1 * 0.5 ** epoch: 0.1, 0.05, 0.025
        sgd = initialize_optimizer("SGD", lr=0.1, momentum=0.9, lr_scheduler="exponential",
                                   lr_decay=0.5, stage_length=1)
        deltas = steps(sgd, self.GRADS, epochs=[0, 1, 2])
        expected = [[0.1, -0.2], [0.115, -0.155], [0.0785, -0.1395]]
        for delta, exp in zip(deltas, expected, strict=True):
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
        for delta, exp in zip(steps(sgd, grads), expected, strict=True):
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
        for layer, p, g in zip(model.layers, params, grads, strict=True):
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
        for layer, p, a, b in zip(model.layers, p0, g1, g2, strict=True):
            for name in p:
                d1 = 0.1 * a[name]
                d2 = 0.9 * d1 + 0.1 * b[name]
                np.testing.assert_allclose(layer.parameters[name], p[name] - d1 - d2,
                                           rtol=1e-13, atol=1e-15)



class TestAgainstTorch(unittest.TestCase):
    def test_twenty_steps_match_torch(self):
        require_torch()
        for name, ours, theirs, clip_norm in CASES:
            with self.subTest(optimizer=name, settings=ours):
                expected = torch_trajectory(name, theirs, clip_norm=clip_norm)
                actual = our_trajectory(build(name, ours))
                for t, (mine, oracle) in enumerate(zip(actual, expected, strict=True)):
                    for k, (p, q) in enumerate(zip(mine, oracle, strict=True)):
                        np.testing.assert_allclose(
                            p, q, rtol=1e-10, atol=1e-13,
                            err_msg=f"{name} {ours}: step {t + 1}, parameter {k} {SHAPES[k]}",
                        )
                # The parameters really moved (the comparison is not of constants).
                start = initial_parameters()
                self.assertGreater(
                    max(np.abs(p - s).max() for p, s in zip(actual[-1], start, strict=True)), 0.05)

    def test_clipping_is_active_in_the_clipped_cases(self):
        # Without clipping the trajectory would differ: the clipped cases test clipping.
        for name, ours, _theirs, clip_norm in CASES:
            if clip_norm is None:
                continue
            with self.subTest(optimizer=name, settings=ours):
                unclipped = dict(ours)
                del unclipped["clip_norm"]
                a = our_trajectory(build(name, ours), steps=3)[-1]
                b = our_trajectory(build(name, unclipped), steps=3)[-1]
                self.assertGreater(
                    max(np.abs(x - y).max() for x, y in zip(a, b, strict=True)), 1e-4)

    def test_weight_decay_coupled_and_decoupled_differ(self):
        adam = our_trajectory(build("Adam", dict(lr=0.01, weight_decay=0.1)), steps=5)[-1]
        adamw = our_trajectory(build("AdamW", dict(lr=0.01, weight_decay=0.1)), steps=5)[-1]
        self.assertGreater(max(np.abs(x - y).max() for x, y in zip(adam, adamw, strict=True)), 1e-5)


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
        for name, ours, _, _ in CASES:
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
                for p, q in zip(trajectory[-1], exact, strict=True):
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
        for name, ours, _, _ in CASES:
            with self.subTest(optimizer=name, settings=ours):
                uninterrupted = our_trajectory(build(name, ours))
                params = initial_parameters()
                first = build(name, ours)
                our_steps(first, params, 0, 8)
                state = self.through_a_file(first.state_dict())
                second = build(name, ours)
                second.load_state_dict(state)
                resumed = our_steps(second, params, 8, STEPS)
                for p, q in zip(resumed[-1], uninterrupted[-1], strict=True):
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
        self.assertGreater(max(np.abs(x - y).max() for x, y in zip(a, b, strict=True)), 1e-6)


class TestStateDeclarations(unittest.TestCase):
    """Each optimizer declares the fields of a parameter's state; after a few steps
    its state holds exactly those fields: arrays of the parameter's shape, counts."""

    def test_declared_fields_are_the_state(self):
        for name, settings, arrays, counts in (("SGD", dict(lr=0.05, momentum=0.9), {"delta"},
                                                set()),
                                               ("Adam", dict(lr=0.01), {"m", "v"}, {"t"}),
                                               ("AdamW", dict(lr=0.01), {"m", "v"}, {"t"})):
            with self.subTest(optimizer=name):
                optimizer = build(name, settings)
                self.assertEqual((set(optimizer.state_arrays), set(optimizer.state_counts)),
                                 (arrays, counts))
                our_trajectory(optimizer, steps=2)
                for k, shape in enumerate(SHAPES):
                    entry = optimizer.cache[f"{k}.W"]
                    self.assertEqual(set(entry), arrays | counts)
                    for field in arrays:
                        self.assertEqual(entry[field].shape, shape)
                    for field in counts:
                        self.assertEqual(entry[field], 2)


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



class RefusalCase(unittest.TestCase):
    def assertRefused(self, call, *fragments):
        """``call()`` raises ValueError whose message holds every fragment."""
        with self.assertRaises(ValueError) as raised:
            call()
        message = str(raised.exception)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message


class TestFactoryKeywords(RefusalCase):
    SGD_KEYWORDS = ("momentum", "clip_norm", "weight_decay", "lr_decay", "total_epochs",
                    "warmup_epochs", "min_lr", "milestones")
    ADAM_KEYWORDS = ("beta1", "beta2", "eps", "weight_decay", "clip_norm", "total_epochs")

    def test_unknown_name_is_named_with_the_valid_ones(self):
        self.assertRefused(lambda: initialize_optimizer("RMSprop", 0.1),
                           "'RMSprop'", "'Adam'", "'AdamW'", "'SGD'")
        self.assertRefused(lambda: initialize_optimizer(["SGD"], 0.1), "['SGD']", "'SGD'")

    def test_misspelt_keyword_is_named_with_the_accepted_ones(self):
        cases = [
            ("Adam", dict(betas=(0.9, 0.99)), "'betas'", self.ADAM_KEYWORDS),
            ("AdamW", dict(weight_decai=0.01), "'weight_decai'", self.ADAM_KEYWORDS),
            ("SGD", dict(weight_decai=0.01), "'weight_decai'", self.SGD_KEYWORDS),
            ("SGD", dict(lr_scheduler="cosine", total_epochs=5, warmup=1), "'warmup'",
             self.SGD_KEYWORDS),
            ("Adam", dict(lr_scheduler="cosine", total_epoch=5), "'total_epoch'",
             self.ADAM_KEYWORDS),
        ]
        for name, settings, bad, accepted in cases:
            with self.subTest(optimizer=name, settings=settings):
                self.assertRefused(lambda: initialize_optimizer(name, 0.1, **settings),
                                   bad, *accepted)

    def test_adam_settings_are_not_sgd_settings(self):
        self.assertRefused(lambda: initialize_optimizer("SGD", 0.1, beta1=0.9), "'beta1'",
                           "momentum")
        self.assertRefused(lambda: initialize_optimizer("Adam", 0.1, momentum=0.9),
                           "momentum", "SGD", "beta1")

    def test_schedule_setting_the_schedule_does_not_use(self):
        # The cosine schedule has no decay and no milestones: refused, not ignored.
        self.assertRefused(lambda: initialize_optimizer("SGD", 0.1, lr_scheduler="cosine",
                                                        total_epochs=5, lr_decay=0.5),
                           "'decay'", "total_epochs", "warmup_epochs")
        self.assertRefused(lambda: initialize_optimizer("Adam", 0.1, lr_scheduler="cosine",
                                                        total_epochs=5, staircase=True),
                           "'staircase'", "total_epochs")
        self.assertRefused(lambda: initialize_optimizer("SGD", 0.1, lr_scheduler="exponential",
                                                        total_epochs=5), "'total_epochs'",
                           "decay", "stage_length", "staircase")

    def test_unknown_schedule_is_named(self):
        self.assertRefused(lambda: initialize_optimizer("SGD", 0.1, lr_scheduler="cosin"),
                           "'cosin'", "'constant'", "'cosine'", "'exponential'", "'step'")

    def test_none_takes_the_class_default(self):
        sgd = initialize_optimizer("SGD", 0.1, momentum=None, clip_norm=None, weight_decay=None)
        self.assertEqual((sgd.momentum, sgd.clip_norm, sgd.weight_decay), (0.0, None, 0.0))
        adam = initialize_optimizer("Adam", 0.1, beta1=None, eps=None)
        self.assertEqual((adam.beta1, adam.beta2, adam.eps), (0.9, 0.999, 1e-8))

    def test_settings_reach_the_optimizer(self):
        adam = initialize_optimizer("AdamW", 0.1, beta1=0.5, beta2=0.9, eps=1e-4,
                                    weight_decay=0.2, clip_norm=3.0)
        self.assertEqual((adam.beta1, adam.beta2, adam.eps, adam.weight_decay, adam.clip_norm),
                         (0.5, 0.9, 1e-4, 0.2, 3.0))


class TestCourseScheduleSettings(RefusalCase):
    """The course's configs give lr_decay, stage_length and staircase to every
    optimizer; with the constant schedule they are checked, then ignored."""

    COURSE = dict(lr_decay=0.99, stage_length=1000, staircase=True)

    def test_constant_schedule_ignores_them(self):
        for lr_scheduler in (None, "constant"):
            with self.subTest(lr_scheduler=lr_scheduler):
                sgd = initialize_optimizer("SGD", 0.01, lr_scheduler=lr_scheduler, momentum=0.9,
                                           clip_norm=1.0, **self.COURSE)
                self.assertEqual([sgd.lr(e) for e in (0, 999.5, 1000, 5000)], [0.01] * 4)
                adam = initialize_optimizer("Adam", 0.01, lr_scheduler=lr_scheduler,
                                            **self.COURSE)
                self.assertEqual(adam.lr(3000), 0.01)

    def test_the_model_takes_the_course_config(self):
        layers = [AttrDict(name="fully_connected", activation="softmax", n_out=2)]
        optimizer_args = AttrDict(name="SGD", lr=0.01, lr_scheduler="constant", momentum=0.9,
                                  clip_norm=1.0, **self.COURSE)
        model = NeuralNetwork("cross_entropy", layers, optimizer_args, seed=0)
        self.assertEqual(model.optimizer.lr(2000), 0.01)

    def test_they_are_still_checked(self):
        bad = [("lr_decay", 0.0), ("lr_decay", float("nan")), ("stage_length", 0),
               ("stage_length", float("inf")), ("staircase", "False")]
        for setting, value in bad:
            with self.subTest(**{setting: value}):
                self.assertRefused(lambda: initialize_optimizer("SGD", 0.1, **{setting: value}),
                                   setting, repr(value))

    def test_exponential_schedule_uses_them(self):
        sgd = initialize_optimizer("SGD", 1.0, lr_scheduler="exponential", lr_decay=0.5,
                                   stage_length=2, staircase=True)
        self.assertEqual([sgd.lr(e) for e in (0, 1, 2, 5)], [1.0, 1.0, 0.5, 0.25])


class TestBadNumbers(RefusalCase):
    NAN, INF = float("nan"), float("inf")

    def assertAllRefused(self, name, setting, values, **base):
        for value in values:
            with self.subTest(optimizer=name, **{setting: value}):
                self.assertRefused(
                    lambda: initialize_optimizer(name, **{"lr": 0.1, **base, setting: value}),
                    setting, repr(value))

    def test_learning_rate(self):
        for name in ("SGD", "Adam", "AdamW"):
            self.assertAllRefused(name, "lr", [0, 0.0, -0.1, self.NAN, self.INF, -self.INF,
                                               True, "0.1", None])
            self.assertAllRefused(name, "lr", [0, self.NAN], lr_scheduler="cosine",
                                  total_epochs=5)

    def test_eps(self):
        for name in ("Adam", "AdamW"):
            self.assertAllRefused(name, "eps", [0.0, -1e-8, self.NAN, self.INF, "1e-8", True])

    def test_betas(self):
        for name in ("Adam", "AdamW"):
            for beta in ("beta1", "beta2"):
                self.assertAllRefused(name, beta, [1.0, 1.5, -0.1, self.NAN, self.INF, "0.9",
                                                   True])

    def test_momentum(self):
        self.assertAllRefused("SGD", "momentum", [1.0, 1.1, -0.1, self.NAN, self.INF, "0.9",
                                                  True])

    def test_weight_decay(self):
        for name in ("SGD", "Adam", "AdamW"):
            self.assertAllRefused(name, "weight_decay", [-0.1, self.NAN, self.INF, "0.01", True])

    def test_clip_norm(self):
        for name in ("SGD", "Adam", "AdamW"):
            self.assertAllRefused(name, "clip_norm", [0, 0.0, -1.0, self.NAN, self.INF, "1",
                                                      True])

    def test_decay_and_stage_length(self):
        for schedule in ("exponential", "step"):
            self.assertAllRefused("SGD", "lr_decay", [0.0, -0.5, self.NAN, self.INF, "0.5"],
                                  lr_scheduler=schedule, stage_length=2)
            self.assertAllRefused("SGD", "stage_length", [0, -1, self.NAN, self.INF, "2"],
                                  lr_scheduler=schedule)

    def test_cosine_settings(self):
        self.assertAllRefused("Adam", "total_epochs", [0, -3, self.NAN, self.INF, "10", True],
                              lr_scheduler="cosine")
        self.assertAllRefused("Adam", "warmup_epochs", [-1, 5, 6, self.NAN, "1", True],
                              lr_scheduler="cosine", total_epochs=5)
        self.assertAllRefused("Adam", "min_lr", [-0.01, 0.2, self.NAN, "0"],
                              lr_scheduler="cosine", total_epochs=5)

    def test_good_edges_are_accepted(self):
        # The bounds that are allowed: zero momentum, betas, weight decay; min_lr equal to lr.
        self.assertEqual(initialize_optimizer("SGD", 0.1, momentum=0.0).momentum, 0.0)
        adam = initialize_optimizer("Adam", 0.1, beta1=0.0, beta2=0.0, weight_decay=0.0)
        self.assertEqual((adam.beta1, adam.beta2, adam.weight_decay), (0.0, 0.0, 0.0))
        flat = initialize_optimizer("SGD", 0.1, lr_scheduler="cosine", total_epochs=4,
                                    min_lr=0.1)
        self.assertEqual(flat.lr(2), 0.1)
        # numpy scalars are numbers too.
        sgd = initialize_optimizer("SGD", np.float32(0.5), momentum=np.float64(0.5))
        self.assertEqual(sgd.lr(0), 0.5)
        self.assertTrue(math.isclose(sgd.momentum, 0.5))


class TestStateDtype(unittest.TestCase):
    def test_state_takes_the_parameters_dtype_whatever_the_gradients(self):
        # A float64 gradient of a float32 parameter (a layer fed float64 by hand) used
        # to make the momentum buffer float64, which no checkpoint of the model could
        # then hold beside its float32 weights.
        grad = np.array([0.5, -1.0, 2.0])
        for name in ("SGD", "Adam", "AdamW"):
            with self.subTest(optimizer=name):
                settings = {"momentum": 0.9} if name == "SGD" else {}
                optimizer = initialize_optimizer(name, 0.1, weight_decay=0.01, **settings)
                param = np.ones(3, dtype=np.float32)
                for _ in range(2):
                    delta = optimizer.update("0.W", param, grad, 0)
                    self.assertEqual(delta.dtype, np.float32)
                    param -= delta
                for key, value in optimizer.state_dict().items():
                    if not key.endswith("/t"):
                        self.assertEqual(value.dtype, np.float32, key)
        # SGD's second step by hand: g = grad + 0.01 * param, delta = 0.9 * delta_1 + 0.1 g.
        sgd = initialize_optimizer("SGD", 0.1, momentum=0.9, weight_decay=0.01)
        param = np.ones(3, dtype=np.float32)
        first = sgd.update("w", param, grad, 0)
        np.testing.assert_allclose(first, 0.1 * (grad + 0.01), rtol=1e-6)
        param -= first
        second = sgd.update("w", param, grad, 0)
        np.testing.assert_allclose(second, 0.9 * first + 0.1 * (grad + 0.01 * param),
                                   rtol=1e-6)


class TestFloat16(unittest.TestCase):
    def test_float16_parameters_are_refused(self):
        # In float16 Adam's eps (1e-8) is 0 and small steps round to nothing.
        param = np.zeros(3, dtype=np.float16)
        grad = np.ones(3, dtype=np.float16)
        for name in ("SGD", "Adam", "AdamW"):
            with self.subTest(optimizer=name):
                optimizer = initialize_optimizer(name, 0.1)
                with self.assertRaises(ValueError) as raised:
                    optimizer.update("0.W", param, grad, 0)
                message = str(raised.exception)
                self.assertIn("float16", message)
                self.assertIn("float32 or float64", message)
                self.assertIn("'0.W'", message)
                self.assertEqual(optimizer.cache, {})


if __name__ == "__main__":
    unittest.main()
