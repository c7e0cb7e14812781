"""neural_networks/backend.py: numpy or CuPy, as the data says.

- The array module follows the data: numpy for host arrays and anything else,
  the GPU's module for its arrays; ``to_device``, ``to_host``, ``as_array``,
  ``copy_of``, ``as_strided``, ``may_share_memory`` and ``read_scalars`` work on
  either device (on the fake device of tests/fake_gpu.py), the GPU ones
  without reading the device but where they must (``read_scalars`` reads
  several scalars in one transfer).
- CuPy is imported only when a GPU is asked for: importing the library and
  training on the CPU never import it (a CuPy that fails to import is never
  noticed).
- Asking for a GPU without CuPy, or with CuPy but no GPU, is a
  ``DeviceUnavailableError`` (a ValueError) in one line saying what to
  install, from ``initialize_model(..., device="gpu")``, ``model.to("gpu")`` and
  ``load_model(path, device="gpu")``; a device name that is neither "cpu" nor
  "gpu" is a ValueError naming both.
- ``use_gpu_module`` puts a stand-in in CuPy's place for the block, and puts
  back what was there before (blocks nest).
"""

import os
import subprocess
import sys
import tempfile
import types
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from neural_networks import backend, initialize_model, load_model
from neural_networks.utils import AttrDict
from tests.fake_gpu import counters, fakecupy
from tests.test_gpu import FakeDeviceTestCase

REPO_ROOT = Path(__file__).resolve().parent.parent

LAYERS = [AttrDict(name="fully_connected", n_out=4, activation="relu"),
          AttrDict(name="fully_connected", n_out=None, activation="softmax")]
OPTIMIZER = AttrDict(name="SGD", lr=0.1)


def tiny_model(device="cpu"):
    return initialize_model("feed_forward", "cross_entropy", LAYERS, OPTIMIZER, seed=0,
                            device=device)


def cupy_without_a_gpu():
    """A module that imports as CuPy does on a machine without a GPU or driver."""
    module = types.ModuleType("cupy")
    module.cuda = types.SimpleNamespace(is_available=lambda: False)
    module.ndarray = type("ndarray", (), {})
    return module


class TestArrayModuleFollowsTheData(FakeDeviceTestCase):
    def test_get_array_module(self):
        host = np.zeros(3)
        device = fakecupy.asarray(host)
        self.assertIs(backend.get_array_module(host), np)
        self.assertIs(backend.get_array_module(device), fakecupy)
        self.assertIs(backend.get_array_module(host, 2.0, device), fakecupy)
        self.assertIs(backend.get_array_module([1, 2], None), np)
        self.assertIs(backend.get_array_module(), np)
        self.assertEqual((backend.device_of(host), backend.device_of(device)), ("cpu", "gpu"))

    def test_moves_between_devices(self):
        host = np.arange(6.0).reshape(2, 3)
        device = backend.to_device(host, "gpu")
        self.assertIsInstance(device, fakecupy.ndarray)
        self.assertIs(backend.to_device(device, "gpu"), device)
        self.assertIsNot(backend.to_device(device, "gpu", copy=True), device)
        back = backend.to_host(device)
        self.assertIs(type(back), np.ndarray)
        np.testing.assert_array_equal(back, host, strict=True)
        self.assertIs(backend.to_host(host), host)
        self.assertIs(backend.to_device(host, "cpu"), host)
        copied = backend.to_device(host, "cpu", copy=True)
        self.assertIsNot(copied, host)
        np.testing.assert_array_equal(copied, host)
        self.assertIsInstance(backend.to_device_of(host, device), fakecupy.ndarray)
        self.assertIs(type(backend.to_device_of(device, host)), np.ndarray)
        self.assertEqual(counters.uploads, 2)  # to_device(host, "gpu") and to_device_of

    def test_as_array_and_copy_of_keep_the_device(self):
        device = fakecupy.arange(4.0)
        self.assertIs(backend.as_array(device), device)
        self.assertIs(type(backend.as_array([1.0, 2.0])), np.ndarray)
        copy = backend.copy_of(device)
        self.assertIsInstance(copy, fakecupy.ndarray)
        self.assertIsNot(copy, device)
        self.assertEqual(backend.copy_of(3).shape, ())
        self.assertEqual(counters.syncs + counters.uploads, 0)

    def test_as_strided_is_a_read_only_view_on_the_host_and_a_view_on_the_device(self):
        host = np.arange(10.0)
        view = backend.as_strided(host, (3, 4), (16, 8))
        np.testing.assert_array_equal(view[1], [2, 3, 4, 5])
        self.assertFalse(view.flags.writeable)
        device_view = backend.as_strided(fakecupy.asarray(host), (3, 4), (16, 8))
        self.assertIsInstance(device_view, fakecupy.ndarray)
        np.testing.assert_array_equal(fakecupy.asnumpy(device_view), view)

    def test_may_share_memory_reads_nothing_from_the_device(self):
        x = fakecupy.zeros((4, 5))
        self.assertTrue(backend.may_share_memory(x, x.reshape(20)))
        self.assertTrue(backend.may_share_memory(x[:, :2], x[:, 3:]))  # bounds overlap
        self.assertFalse(backend.may_share_memory(x, fakecupy.zeros((4, 5))))
        self.assertEqual(counters.syncs, 0)
        host = np.zeros((4, 5))
        self.assertFalse(backend.may_share_memory(host[:, :2], host[:, 3:]))  # exact on the host

    def test_read_scalars_reads_the_device_once(self):
        values = [fakecupy.asarray(np.float32(0.25)), fakecupy.asarray(np.float64(1.5)),
                  fakecupy.asarray(np.True_)]
        self.assertEqual(backend.read_scalars(values), [0.25, 1.5, 1.0])
        self.assertEqual(counters.syncs, 1)
        host = backend.read_scalars([np.float32(0.1), np.float64(2.0), 3])
        self.assertEqual(host, [float(np.float32(0.1)), 2.0, 3])
        self.assertEqual([type(v) for v in host], [float, float, int])
        self.assertEqual(backend.read_scalars([]), [])


class TestCupyIsImportedOnlyForAGpu(unittest.TestCase):
    def test_the_cpu_path_never_imports_cupy(self):
        # A "cupy" that fails loudly if imported: the library must never try.
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "cupy").mkdir()
            Path(folder, "cupy", "__init__.py").write_text(
                "raise RuntimeError('cupy was imported')\n")
            code = ("import sys, numpy as np\n"
                    "from tests.test_backend import tiny_model\n"
                    "from neural_networks import backend\n"
                    "model = tiny_model()\n"
                    "X = np.random.default_rng(0).normal(size=(6, 3))\n"
                    "model.build(n_out=2)\n"
                    "model.backward(np.eye(2)[[0, 1, 0, 1, 0, 1]], model.forward(X))\n"
                    "model.update(0)\n"
                    "assert backend.get_array_module(X) is np\n"
                    "print('cupy' in sys.modules)\n")
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([folder, str(REPO_ROOT)]))
            result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                                    capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "False")


class TestAGpuThatIsNotThere(unittest.TestCase):
    def assertOneLineError(self, context, *phrases):
        message = str(context.exception)
        self.assertIsInstance(context.exception, ValueError)
        self.assertNotIn("\n", message)
        for phrase in phrases:
            self.assertIn(phrase, message)

    def test_without_cupy_every_way_to_ask_says_what_to_install(self):
        model = tiny_model()
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.npz")
            model.build(input_shape=(3,), n_out=2).save(path)
            asks = {
                "initialize_model": lambda: tiny_model(device="gpu"),
                "model.to": lambda: model.to("gpu"),
                "load_model": lambda: load_model(path, device="gpu"),
                "check_device": lambda: backend.check_device("gpu"),
            }
            # None in sys.modules makes "import cupy" fail as an uninstalled package does.
            with mock.patch.dict(sys.modules, {"cupy": None}):
                for name, ask in asks.items():
                    with self.subTest(name), \
                            self.assertRaises(backend.DeviceUnavailableError) as context:
                        ask()
                    self.assertOneLineError(context, "CuPy", "pip install cupy-cuda12x",
                                            '".[gpu]"')
        self.assertEqual(model.device, "cpu")
        self.assertIs(type(model.layers[0].parameters["W"]), np.ndarray)

    def test_cupy_without_a_gpu_says_there_is_none(self):
        with mock.patch.dict(sys.modules, {"cupy": cupy_without_a_gpu()}):
            for ask in (lambda: tiny_model(device="gpu"), lambda: tiny_model().to("gpu")):
                with self.assertRaises(backend.DeviceUnavailableError) as context:
                    ask()
                self.assertOneLineError(context, "finds no GPU", "device 'cpu'")

    def test_a_stand_in_without_a_gpu_is_refused_too(self):
        with backend.use_gpu_module(cupy_without_a_gpu()), \
                self.assertRaises(backend.DeviceUnavailableError):
            tiny_model(device="gpu")

    def test_an_unknown_device_is_a_value_error_naming_both(self):
        for device in ("cuda", "GPU", None, 0):
            with self.subTest(device=device), \
                    self.assertRaisesRegex(ValueError, "'cpu' or 'gpu'"):
                tiny_model(device=device)


class TestStandIn(unittest.TestCase):
    def test_use_gpu_module_nests_and_puts_back(self):
        first, second = types.ModuleType("first"), types.ModuleType("second")
        for module in (first, second):
            module.cuda = types.SimpleNamespace(is_available=lambda: True)
        with backend.use_gpu_module(first):
            self.assertIs(backend.gpu_module(), first)
            with backend.use_gpu_module(second):
                self.assertIs(backend.gpu_module(), second)
            self.assertIs(backend.gpu_module(), first)
        with mock.patch.dict(sys.modules, {"cupy": None}), \
                self.assertRaises(backend.DeviceUnavailableError):
            backend.gpu_module()


if __name__ == "__main__":
    unittest.main()
