"""Threads for blocks of layer work (neural_networks.parallel).

- A session runs the layer math on several threads and gives the same bits as
  no session (blocks and sums do not depend on the thread count).
- Inside a session BLAS runs on one thread; afterwards it has its threads back.
- for_each: every index once, per-thread slots that never overlap, errors
  raised after every thread stopped, no threads from inside a worker.
"""

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import unittest

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from neural_networks import functional, optimizers, parallel
from neural_networks.functional import blocking, dense
from neural_networks.layers import BatchNorm, Conv2D, FullyConnected, Pool2D
from neural_networks.models import initialize_model


def blas_threads():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


class Threads:
    """Run a block with parallel.threads() == n, then restore the setting."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.saved = parallel.threads()
        parallel.set_threads(self.n)

    def __exit__(self, *exc):
        parallel.set_threads(self.saved)


def layer_outputs(dtype):
    """Forward and backward outputs of conv (both layouts), batch norm and pooling."""
    rng = np.random.default_rng(0)
    np.random.seed(0)  # the weight initializers draw from numpy's global generator
    out = {}
    cases = {
        "conv rows": (Conv2D(8, 3, "linear"), (20, 9, 9, 16)),
        "conv channel-major": (Conv2D(8, 3, "linear"), (20, 16, 16, 1)),
        "conv 5x5 strided": (Conv2D(4, 5, "relu", stride=2, pad=1), (11, 15, 15, 3)),
        "batchnorm relu": (BatchNorm(activation="relu"), (20, 9, 9, 16)),
        "batchnorm linear": (BatchNorm(), (20, 9, 9, 16)),
        "max pool": (Pool2D(2, "max", stride=2), (20, 10, 10, 6)),
        "max pool overlapping": (Pool2D(3, "max", stride=1, pad=1), (20, 10, 10, 6)),
        "average pool": (Pool2D(3, "average", stride=2, pad=1), (20, 10, 10, 6)),
        # large enough for its products to run in two halves
        "fully connected": (FullyConnected(300, "relu"), (64, 256)),
    }
    for name, (layer, shape) in cases.items():
        X = rng.standard_normal(shape).astype(dtype)
        layer.forward(X)  # builds the parameters
        layer.cache.clear()
        Y = layer.forward(X)
        dY = rng.standard_normal(Y.shape).astype(dtype)
        out[name] = [Y, layer.backward(dY)] + [g.copy() for g in layer.gradients.values()]
    return out


class TestSameBitsWithThreads(unittest.TestCase):
    def setUp(self):
        # Small blocks, so that batch norm's arrays here make many of them.
        saved = blocking.CHAIN_BLOCK_BYTES, blocking.REDUCE_BLOCK_BYTES
        blocking.CHAIN_BLOCK_BYTES = blocking.REDUCE_BLOCK_BYTES = 4096

        def restore():
            blocking.CHAIN_BLOCK_BYTES, blocking.REDUCE_BLOCK_BYTES = saved

        self.addCleanup(restore)

    def test_layers_give_the_same_bits_with_one_two_or_three_threads(self):
        for dtype in (np.float32, np.float64):
            with self.subTest(dtype=dtype.__name__):
                # BLAS on one thread, as in a session: OpenBLAS's own threads may
                # round a product differently, which is not what is tested here.
                with threadpool_limits(1, "blas"):
                    serial = layer_outputs(dtype)
                for n in (2, 3):
                    self.assertGreater(  # the FC case does run in two blocks
                        64 * 256 * 300, dense.PARALLEL_AFFINE_FLOPS)
                    with Threads(n), parallel.session():
                        self.assertEqual(parallel.slots(), n)
                        threaded = layer_outputs(dtype)
                    for name, arrays in serial.items():
                        for a, b in zip(arrays, threaded[name], strict=True):
                            np.testing.assert_array_equal(a, b, err_msg=f"{name}, {n} threads")

    def test_a_training_step_gives_the_same_bits(self):
        rng = np.random.default_rng(1)
        X = rng.standard_normal((24, 8, 8, 2))
        Y = np.eye(3)[rng.integers(0, 3, 24)]
        layers = [
            {"name": "conv2d", "n_out": 4, "kernel_shape": (3, 3), "activation": "linear"},
            {"name": "batchnorm", "activation": "relu"},
            {"name": "pool2d", "kernel_shape": (2, 2), "mode": "max", "stride": 2},
            {"name": "flatten"},
            {"name": "fully_connected", "n_out": None, "activation": "softmax"},
        ]

        def train_two_steps():
            model = initialize_model("feed_forward", "cross_entropy", layers,
                                     {"name": "SGD", "lr": 0.1, "momentum": 0.9}, seed=0)
            model.build(n_out=3)
            for _ in range(2):
                out = model.forward(X)
                model.backward(Y, out)
                model.update(0)
            return [p.copy() for layer in model.layers for p in layer.parameters.values()]

        with Threads(1), threadpool_limits(1, "blas"):
            serial = train_two_steps()
        with Threads(2):
            threaded = train_two_steps()
        for a, b in zip(serial, threaded, strict=True):
            np.testing.assert_array_equal(a, b)


class TestWhichNetworksUseThreads(unittest.TestCase):
    """Image layers run in a session; a fully connected network leaves BLAS its threads."""

    def active_during_a_step(self, layers, X):
        model = initialize_model("feed_forward", "cross_entropy", layers,
                                 {"name": "SGD", "lr": 0.1}, seed=0)
        model.build(n_out=3)
        seen = {}
        first = model.layers[0]
        forward, backward = first.forward, first.backward

        def watched_forward(*args, **kwargs):
            seen["forward"] = parallel.active()
            return forward(*args, **kwargs)

        def watched_backward(*args, **kwargs):
            seen["backward"] = parallel.active()
            return backward(*args, **kwargs)

        first.forward, first.backward = watched_forward, watched_backward
        Y = np.eye(3)[np.arange(len(X)) % 3]
        model.backward(Y, model.forward(X))
        model.predict(X)
        return seen

    def test_a_cnn_runs_in_a_session_and_an_mlp_does_not(self):
        cnn = [{"name": "conv2d", "n_out": 2, "kernel_shape": (3, 3), "activation": "relu"},
               {"name": "flatten"},
               {"name": "fully_connected", "n_out": None, "activation": "softmax"}]
        mlp = [{"name": "fully_connected", "n_out": 4, "activation": "relu"},
               {"name": "fully_connected", "n_out": None, "activation": "softmax"}]
        with Threads(2):
            self.assertEqual(self.active_during_a_step(cnn, np.ones((6, 5, 5, 1))),
                             {"forward": True, "backward": True})
            self.assertEqual(self.active_during_a_step(mlp, np.ones((6, 4))),
                             {"forward": False, "backward": False})


class TestSGDInPieces(unittest.TestCase):
    def test_steps_match_the_formula_and_the_serial_bits(self):
        rng = np.random.default_rng(5)
        size = 3 * optimizers.PIECE + 123  # several pieces and a short last one
        for dtype in (np.float32, np.float64):
            param0 = rng.standard_normal(size).astype(dtype)
            grads = [rng.standard_normal(param0.shape).astype(dtype) for _ in range(3)]

            def run(threads):
                sgd = optimizers.SGD(0.1, momentum=0.9, weight_decay=1e-3)
                param = param0.copy()
                deltas = []
                with Threads(threads), parallel.session():
                    for grad in grads:
                        delta = sgd.update("w", param, grad, 0)
                        deltas.append(delta)
                        param -= delta
                return param, deltas

            serial, threaded = run(1), run(3)
            np.testing.assert_array_equal(serial[0], threaded[0])
            # The formula, step by step; every returned delta is kept unchanged.
            expected = param0.copy()
            previous = None
            for grad, delta in zip(grads, serial[1], strict=True):
                step = 0.1 * (grad + 1e-3 * expected)
                if previous is not None:
                    step = step + 0.9 * previous
                np.testing.assert_array_equal(delta, step)
                self.assertEqual(delta.dtype, dtype)
                expected -= step
                previous = step
            np.testing.assert_array_equal(serial[0], expected)


class TestAdamInPieces(unittest.TestCase):
    def test_steps_match_the_formula_and_the_serial_bits(self):
        rng = np.random.default_rng(6)
        size = 2 * optimizers.PIECE + 77
        for cls in (optimizers.Adam, optimizers.AdamW):
            param0 = rng.standard_normal(size)
            grads = [rng.standard_normal(size) for _ in range(3)]

            def run(threads, cls=cls, param0=param0, grads=grads):
                adam = cls(0.01, weight_decay=0.1)
                param = param0.copy()
                with Threads(threads), parallel.session():
                    for grad in grads:
                        param -= adam.update("w", param, grad, 0)
                return param

            serial = run(1)
            np.testing.assert_array_equal(serial, run(3))
            # The formula, written out here.
            expected, m, v = param0.copy(), np.zeros(size), np.zeros(size)
            for t, grad in enumerate(grads, start=1):
                g = grad if cls.decoupled else grad + 0.1 * expected
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * g * g
                step = 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
                if cls.decoupled:
                    step = step + 0.01 * 0.1 * expected
                expected -= step
            np.testing.assert_allclose(serial, expected, rtol=1e-12, atol=1e-14,
                                       err_msg=cls.__name__)


class TestOptimizersOnAnyLayout(unittest.TestCase):
    def test_a_fortran_ordered_parameter_steps_as_a_c_ordered_one(self):
        rng = np.random.default_rng(7)
        param0 = rng.standard_normal((300, 70))
        grads = [rng.standard_normal((300, 70)) for _ in range(3)]
        for make in (lambda: optimizers.Adam(0.01, weight_decay=0.1),
                     lambda: optimizers.SGD(0.1, momentum=0.9, weight_decay=0.1)):
            results = []
            for layout in (np.ascontiguousarray, np.asfortranarray):
                optimizer, param = make(), layout(param0.copy())
                for grad in grads:
                    param -= optimizer.update("w", param, layout(grad), 0)
                results.append(param)
            np.testing.assert_array_equal(results[0], results[1])


class TestSession(unittest.TestCase):
    def test_blas_runs_on_one_thread_inside_and_gets_its_threads_back(self):
        before = blas_threads()
        with Threads(2):
            with parallel.session():
                self.assertTrue(parallel.active())
                self.assertEqual(set(blas_threads()), {1})
                with parallel.session():  # nested
                    self.assertEqual(set(blas_threads()), {1})
                self.assertEqual(set(blas_threads()), {1})
            self.assertFalse(parallel.active())
        self.assertEqual(blas_threads(), before)

    def test_a_blas_loaded_after_the_first_session_is_held_too(self):
        # SciPy brings a BLAS of its own; loaded after a session has been and gone,
        # the next session holds it to one thread as well. A fresh process, so
        # SciPy is surely not loaded before.
        script = textwrap.dedent("""
            from threadpoolctl import threadpool_info
            from neural_networks import parallel
            def counts():
                return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
            parallel.set_threads(2)
            with parallel.session():
                pass
            import scipy.linalg
            with parallel.session():
                print(len(counts()), sorted(set(counts())))
        """)
        env = dict(os.environ, PYTHONPATH=os.getcwd())
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             env=env, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "2 [1]")

    def test_an_exception_inside_still_gives_blas_its_threads_back(self):
        before = blas_threads()
        with Threads(2), self.assertRaises(RuntimeError), parallel.session():
            raise RuntimeError("boom")
        self.assertEqual(blas_threads(), before)
        self.assertFalse(parallel.active())

    def test_one_thread_changes_nothing(self):
        before = blas_threads()
        with Threads(1), parallel.session():
            self.assertFalse(parallel.active())
            self.assertEqual(parallel.slots(), 1)
            self.assertEqual(blas_threads(), before)

    def test_set_threads_before_anything_else(self):
        # As in a fresh process: no thread count looked up, no threadpoolctl view made.
        saved = parallel.threads()
        self.addCleanup(parallel.set_threads, saved)
        parallel._threads = parallel._controller = None
        before = blas_threads()
        parallel.set_threads(2)
        with parallel.session():
            self.assertEqual(set(blas_threads()), {1})
        self.assertEqual(blas_threads(), before)

    def test_set_threads_refuses_bad_values_and_open_sessions(self):
        for bad in (0, -1, 1.5, "2", True, None):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                parallel.set_threads(bad)
        with Threads(2), parallel.session(), self.assertRaises(ValueError):
            parallel.set_threads(3)
        with Threads(1):
            parallel.set_threads(np.int64(3))  # a numpy integer is a whole number too
            self.assertEqual(parallel.threads(), 3)
            self.assertIs(type(parallel.threads()), int)


class TestForEach(unittest.TestCase):
    def test_every_index_once_and_slots_never_shared(self):
        for threads, count in ((2, 1), (2, 2), (2, 7), (3, 10), (4, 3)):
            with self.subTest(threads=threads, count=count), Threads(threads), \
                    parallel.session():
                seen = []
                slot_threads = {}
                lock = threading.Lock()

                def record(index, slot):
                    with lock:
                        seen.append(index)
                        slot_threads.setdefault(slot, set()).add(threading.get_ident())

                parallel.for_each(record, count)
                self.assertEqual(sorted(seen), list(range(count)))
                self.assertEqual(len(slot_threads), min(threads, count))
                for slot, idents in slot_threads.items():
                    self.assertEqual(len(idents), 1, f"slot {slot} ran on several threads")
                    self.assertLess(slot, parallel.slots())

    def test_outside_a_session_everything_runs_here_in_slot_0(self):
        calls = []
        with Threads(2):
            parallel.for_each(lambda i, s: calls.append((i, s, threading.get_ident())), 5)
        self.assertEqual([(i, s) for i, s, _ in calls], [(i, 0) for i in range(5)])
        self.assertEqual({t for _, _, t in calls}, {threading.get_ident()})

    def test_an_error_is_raised_after_every_thread_finished(self):
        finished = []

        def work(index, slot):
            if index == 0:
                raise ValueError("block 0 failed")
            threading.Event().wait(0.05)
            finished.append(index)

        with Threads(2), parallel.session():
            with self.assertRaisesRegex(ValueError, "block 0 failed"):
                parallel.for_each(work, 4)
            # Blocks 2 and 3 ran on the other thread and were waited for.
            self.assertIn(2, finished)
            self.assertIn(3, finished)

    def test_a_worker_runs_nested_work_itself(self):
        inner = []
        with Threads(2), parallel.session():
            def outer(index, slot):
                self.assertEqual(parallel.slots(), 1)
                parallel.for_each(lambda i, s: inner.append((threading.get_ident(), s)), 3)

            parallel.for_each(outer, 2)
        self.assertEqual(len(inner), 6)
        self.assertEqual({s for _, s in inner}, {0})


def _sum_of_squares_in_a_session(queue):
    """Run in a forked child: for_each in a session, the result into ``queue``."""
    out = [0] * 6
    with Threads(2), parallel.session():
        parallel.for_each(lambda i, slot: out.__setitem__(i, i * i), 6)
    queue.put(sum(out))


class TestFork(unittest.TestCase):
    @unittest.skipUnless(hasattr(os, "fork"), "needs os.fork")
    def test_a_forked_child_makes_its_own_threads(self):
        with Threads(2), parallel.session():
            parallel.for_each(lambda i, slot: None, 4)  # the parent's pool exists
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_sum_of_squares_in_a_session, args=(queue,))
        child.start()
        child.join(timeout=60)
        if child.is_alive():  # the old pool's threads do not exist in the child
            child.kill()
            self.fail("for_each hung in a forked child")
        self.assertEqual(child.exitcode, 0)
        self.assertEqual(queue.get(timeout=5), sum(i * i for i in range(6)))


class TestFirstLayerInputGradient(unittest.TestCase):
    def test_skipping_dX_leaves_the_parameter_gradients_as_they_were(self):
        rng = np.random.default_rng(3)
        for cin, shape in ((3, (5, 12, 12, 3)), (16, (5, 6, 6, 16)), (1, (5, 20, 20, 1))):
            X = rng.standard_normal(shape)
            layer = Conv2D(4, 3, "relu")
            Y = layer.forward(X)
            dY = rng.standard_normal(Y.shape)
            dX = layer.backward(dY)
            full = {k: v.copy() for k, v in layer.gradients.items()}
            layer.forward(X)
            self.assertIsNone(layer.backward(dY, input_gradient=False))
            self.assertEqual(dX.shape, X.shape)
            for name, grad in full.items():
                np.testing.assert_array_equal(layer.gradients[name], grad, err_msg=f"{cin} {name}")

    def test_input_gradient_must_be_true_or_false(self):
        layer = Conv2D(2, 3, "linear")
        X = np.ones((2, 5, 5, 1))
        Y = layer.forward(X)
        for bad in ("no", 0, None):
            with self.subTest(bad=bad), self.assertRaisesRegex(ValueError, "True or False"):
                layer.backward(np.ones_like(Y), input_gradient=bad)

    def test_functional_returns_none_for_dX(self):
        rng = np.random.default_rng(4)
        X = rng.standard_normal((3, 8, 8, 2))
        W = rng.standard_normal((3, 3, 2, 5))
        b = rng.standard_normal((1, 5))
        Z, cols = functional.conv2d_forward(X, W, b, 1, (1, 1))
        dX, dW, db = functional.conv2d_backward(np.ones_like(Z), cols, X.shape, W, 1, (1, 1),
                                                input_gradient=False)
        self.assertIsNone(dX)
        np.testing.assert_allclose(db, np.full((1, 5), Z.shape[0] * 8 * 8))


if __name__ == "__main__":
    unittest.main()
