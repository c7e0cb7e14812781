"""tests/fake_gpu.py: the fake device follows CuPy's rules, each refusal and each
allowed path, counts host synchronisations and uploads, and computes numpy's
results bit for bit in float64 and float32.

The expected refusals are CuPy's (its documentation and source, cited in
tests/fake_gpu.py); the expected numbers are numpy's, computed on host copies.
"""

import copy
import operator
import pickle
import unittest
import warnings

import numpy as np

from tests import fake_gpu
from tests.fake_gpu import counters, fakecupy

DTYPES = (np.float64, np.float32)


def host_data(shape, dtype=np.float64, seed=0, low=0.1, high=0.9):
    """Random host data in [low, high) (inside every ufunc's domain but arccosh's)."""
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)


class FakeTestCase(unittest.TestCase):
    def setUp(self):
        counters.reset()

    def assertSameAsNumpy(self, device_result, host_result):
        """``device_result`` is on the device and equals ``host_result`` bit for bit:
        same values, shape and dtype, a tuple element by element."""
        if isinstance(host_result, tuple):
            self.assertIsInstance(device_result, tuple)
            self.assertEqual(len(device_result), len(host_result))
            for device_item, host_item in zip(device_result, host_result, strict=True):
                self.assertSameAsNumpy(device_item, host_item)
            return
        self.assertIsInstance(device_result, fakecupy.ndarray)
        np.testing.assert_array_equal(fakecupy.asnumpy(device_result), host_result, strict=True)


class TestImplicitConversionRefused(FakeTestCase):
    def test_numpy_cannot_read_a_device_array(self):
        x = fakecupy.asarray(host_data((3, 4)))
        host = np.zeros((3, 4))
        refusals = {
            "np.asarray": lambda: np.asarray(x),
            "np.array": lambda: np.array(x),
            "np.asanyarray": lambda: np.asanyarray(x),
            "np.ascontiguousarray": lambda: np.ascontiguousarray(x),
            "np.array of a list": lambda: np.array([x, x]),
            "np.full": lambda: np.full(3, x[0, 0]),
            "host[...] = device": lambda: host.__setitem__(Ellipsis, x),
            "memoryview": lambda: memoryview(x),
            "numpy's as_strided": lambda: np.lib.stride_tricks.as_strided(x, (2,), (8,)),
        }
        for name, refused in refusals.items():
            with self.subTest(name), self.assertRaises(TypeError):
                refused()
        with self.assertRaisesRegex(TypeError, "Implicit conversion.*asnumpy"):
            np.asarray(x)

    def test_a_device_array_is_no_numpy_array(self):
        # A subclass of numpy.ndarray would be converted by np.asarray without a word.
        x = fakecupy.zeros(3)
        self.assertNotIsInstance(x, np.ndarray)
        self.assertFalse(issubclass(fakecupy.ndarray, np.ndarray))

    def test_asnumpy_and_get_are_the_ways_to_the_host_and_they_copy(self):
        host = host_data((2, 3))
        x = fakecupy.asarray(host)
        for back in (fakecupy.asnumpy(x), x.get()):
            self.assertIs(type(back), np.ndarray)
            np.testing.assert_array_equal(back, host, strict=True)
            back[0, 0] = -1.0
            self.assertEqual(float(x[0, 0]), host[0, 0])
        out = np.empty((2, 3))
        self.assertIs(x.get(out=out), out)
        np.testing.assert_array_equal(out, host)
        self.assertIs(fakecupy.asnumpy(x, out=out), out)
        with self.assertRaises(ValueError):
            x.get(out=np.empty((3, 2)))
        # asnumpy of host data is numpy's asarray: no copy, no sync.
        counters.reset()
        self.assertIs(fakecupy.asnumpy(host), host)
        self.assertEqual(counters.syncs, 0)

    def test_asarray_copies_host_data_to_the_device(self):
        host = host_data((2, 3))
        x = fakecupy.asarray(host)
        host[0, 0] = -1.0
        self.assertNotEqual(float(x[0, 0]), -1.0)
        self.assertIs(fakecupy.asarray(x), x)
        self.assertIsNot(fakecupy.asarray(x, copy=True), x)
        self.assertEqual(fakecupy.asarray(x, dtype=np.float32).dtype, np.float32)
        with self.assertRaises(ValueError):
            fakecupy.asarray(host, copy=False)
        self.assertSameAsNumpy(fakecupy.array([[1, 2], [3, 4]], dtype=np.float32),
                               np.array([[1, 2], [3, 4]], dtype=np.float32))
        self.assertSameAsNumpy(fakecupy.array(x, ndmin=3), host_data((2, 3))[None])
        with self.assertRaisesRegex(ValueError, "Unsupported dtype"):
            fakecupy.asarray(np.array(["a", "b"]))

    def test_set_copies_a_host_array_of_the_same_shape_and_dtype(self):
        x = fakecupy.zeros((2, 3))
        host = host_data((2, 3))
        x.set(host)
        np.testing.assert_array_equal(x.get(), host)
        with self.assertRaises(TypeError):
            x.set(host.astype(np.float32))
        with self.assertRaises(ValueError):
            x.set(host.T)
        with self.assertRaises(TypeError):
            x.set(fakecupy.zeros((2, 3)))


class TestHostAndDeviceDoNotMix(FakeTestCase):
    def setUp(self):
        super().setUp()
        self.x = fakecupy.asarray(host_data((3, 3)))
        self.host = host_data((3, 3), seed=1)

    def test_operators_and_ufuncs_refuse_host_arrays(self):
        x, host = self.x, self.host
        refusals = {
            "device + host": lambda: x + host,
            "host + device": lambda: host + x,
            "device * 0-d host": lambda: x * np.array(2.0),
            "device @ host": lambda: x @ host,
            "host @ device": lambda: host @ x,
            "np.add(device, host)": lambda: np.add(x, host),
            "np.add(host, device)": lambda: np.add(host, x),
            "np.maximum(device, host)": lambda: np.maximum(x, host),
            "np.add(..., out=host)": lambda: np.add(x, x, out=host),
            "fakecupy.add(device, host)": lambda: fakecupy.add(x, host),
            "fakecupy.exp(host)": lambda: fakecupy.exp(host),
            "device + list": lambda: x + [1.0, 2.0, 3.0],
            "fakecupy.add(device, list)": lambda: fakecupy.add(x, [1.0, 2.0, 3.0]),
        }
        for name, refused in refusals.items():
            with self.subTest(name), self.assertRaises(TypeError):
                refused()

    def test_in_place_operators_refuse_host_arrays(self):
        x, host = self.x, self.host
        with self.assertRaises(TypeError):
            x += host
        with self.assertRaises(TypeError):
            host += x
        np.testing.assert_array_equal(self.host, host_data((3, 3), seed=1))

    def test_functions_refuse_host_arrays(self):
        x, host = self.x, self.host
        refusals = {
            "fakecupy.concatenate": lambda: fakecupy.concatenate([x, host]),
            "np.concatenate (dispatched)": lambda: np.concatenate([x, host]),
            "fakecupy.where": lambda: fakecupy.where(x > 0.5, host, x),
            "fakecupy.einsum": lambda: fakecupy.einsum("ij,jk->ik", x, host),
            "fakecupy.copyto(device, host)": lambda: fakecupy.copyto(x, host),
            "np.copyto(host, device)": lambda: np.copyto(host, x),
            "fakecupy.take_along_axis": lambda: fakecupy.take_along_axis(
                x, np.zeros((3, 1), dtype=np.int64), axis=1),
            "fakecupy.shares_memory": lambda: fakecupy.shares_memory(x, host),
            "x.dot(host)": lambda: x.dot(host),
            "fakecupy.ascontiguousarray(host)": lambda: fakecupy.ascontiguousarray(host),
        }
        for name, refused in refusals.items():
            with self.subTest(name), self.assertRaisesRegex(TypeError, "host|device array"):
                refused()

    def test_python_and_numpy_scalars_are_kernel_arguments(self):
        for dtype in DTYPES:
            host = host_data((2, 3), dtype)
            x = fakecupy.asarray(host)
            with self.subTest(dtype=dtype):
                # Python scalars are weak (NEP 50): the array's dtype stays.
                self.assertSameAsNumpy(x * 2.5, host * 2.5)
                self.assertSameAsNumpy(2.5 - x, 2.5 - host)
                self.assertSameAsNumpy(x ** 2, host ** 2)
                self.assertSameAsNumpy(x / True, host / True)
                # numpy scalars keep their own dtype, on either side.
                self.assertSameAsNumpy(x * np.float64(2.5), host * np.float64(2.5))
                self.assertSameAsNumpy(np.float32(2.5) * x, np.float32(2.5) * host)
                self.assertSameAsNumpy(np.maximum(x, np.float32(0.5)),
                                       np.maximum(host, np.float32(0.5)))

    def test_comparisons_take_a_0d_host_array_as_its_value(self):
        host = host_data((2, 3))
        x = fakecupy.asarray(host)
        self.assertSameAsNumpy(x > np.array(0.5), host > 0.5)
        self.assertSameAsNumpy(np.less(x, np.array(0.5)), host < 0.5)
        self.assertSameAsNumpy(x == None, np.zeros((2, 3), dtype=bool))  # noqa: E711
        self.assertSameAsNumpy(x != None, np.ones((2, 3), dtype=bool))  # noqa: E711
        with self.assertRaises(TypeError):
            x > np.full((2, 3), 0.5)  # noqa: B015 (the refusal is the point)

    def test_ufuncs_take_out_dtype_and_casting_only(self):
        x = self.x
        with self.assertRaisesRegex(TypeError, "Wrong arguments"):
            np.add(x, 1.0, where=x > 0.5)
        with self.assertRaisesRegex(TypeError, "Wrong arguments"):
            fakecupy.add(x, 1.0, order="F")
        self.assertEqual(fakecupy.add(x, 1.0, dtype=np.float32).dtype, np.float32)
        with self.assertRaises(TypeError):
            fakecupy.add(x, 1.0, out=fakecupy.zeros((3, 3), dtype=np.int64), casting="same_kind")


class TestNumpyDispatchesToTheDevice(FakeTestCase):
    def test_numpy_functions_and_ufuncs_run_on_the_device(self):
        for dtype in DTYPES:
            a_host, b_host = host_data((4, 3), dtype), host_data((3, 5), dtype, seed=1)
            a, b = fakecupy.asarray(a_host), fakecupy.asarray(b_host)
            with self.subTest(dtype=dtype):
                self.assertSameAsNumpy(np.sum(a), np.array(np.sum(a_host)))
                self.assertSameAsNumpy(np.mean(a, axis=0), np.mean(a_host, axis=0))
                self.assertSameAsNumpy(np.exp(a), np.exp(a_host))
                self.assertSameAsNumpy(np.matmul(a, b), np.matmul(a_host, b_host))
                self.assertSameAsNumpy(np.einsum("ij,jk->ik", a, b),
                                       np.einsum("ij,jk->ik", a_host, b_host))
                self.assertSameAsNumpy(np.concatenate([a, a]), np.concatenate([a_host, a_host]))
                self.assertSameAsNumpy(np.linalg.norm(a), np.array(np.linalg.norm(a_host)))
                self.assertSameAsNumpy(np.where(a > 0.5, a, 0), np.where(a_host > 0.5, a_host, 0))
                self.assertSameAsNumpy(np.lib.stride_tricks.sliding_window_view(a, 2, axis=0),
                                       np.lib.stride_tricks.sliding_window_view(a_host, 2, axis=0))
                self.assertIsInstance(np.empty_like(a), fakecupy.ndarray)
                self.assertIsInstance(np.zeros_like(a), fakecupy.ndarray)

    def test_numpy_functions_the_fake_lacks_raise_numpys_type_error(self):
        x = fakecupy.zeros(8)
        with self.assertRaisesRegex(TypeError, "no implementation found for 'numpy.fft.fft'"):
            np.fft.fft(x)
        with self.assertRaisesRegex(TypeError, "no implementation found for 'numpy.median'"):
            np.median(x)

    def test_creators_without_an_array_argument_make_host_arrays(self):
        for host in (np.zeros(3), np.empty(3), np.ones(3), np.arange(3.0), np.full(3, 1.0)):
            with self.assertRaises(TypeError):
                host + fakecupy.zeros(3)
        for name, args in {"zeros": (3,), "ones": (3,), "empty": (3,), "full": (3, 1.5),
                           "arange": (3,), "eye": (3,), "linspace": (0, 1, 5),
                           "identity": (2,), "tri": (3,)}.items():
            with self.subTest(name):
                made = getattr(fakecupy, name)(*args)
                self.assertIsInstance(made, fakecupy.ndarray)
                if name != "empty":
                    self.assertSameAsNumpy(made, getattr(np, name)(*args))
        self.assertEqual(fakecupy.zeros((2, 2), dtype=fakecupy.float32).dtype, np.float32)

    def test_get_array_module_follows_the_data(self):
        x = fakecupy.zeros(2)
        self.assertIs(fakecupy.get_array_module(x), fakecupy)
        self.assertIs(fakecupy.get_array_module(np.zeros(2), x, 3.0), fakecupy)
        self.assertIs(fakecupy.get_array_module(np.zeros(2), 3.0), np)
        self.assertIs(fakecupy.get_array_module(), np)

    def test_dtypes_and_constants_are_numpys(self):
        for name in fake_gpu.NUMPY_NAMES:
            self.assertIs(getattr(fakecupy, name), getattr(np, name))
        self.assertEqual(fakecupy.result_type(fakecupy.zeros(2, np.float32), np.float64),
                         np.float64)
        self.assertTrue(fakecupy.can_cast(fakecupy.zeros(2, np.float32), np.float64))

    def test_names_cupy_lacks_are_missing(self):
        # numpy has them, CuPy has not: code that uses them must fail here too.
        for name in ("errstate", "seterr", "asmatrix", "nditer"):
            self.assertTrue(hasattr(np, name), name)
            self.assertFalse(hasattr(fakecupy, name), name)


class TestReductionsAndSyncs(FakeTestCase):
    def test_reductions_return_0d_device_arrays_without_a_sync(self):
        host = host_data((4, 3))
        x = fakecupy.asarray(host)
        counters.reset()
        reduced = [x.sum(), x.max(), x.min(), x.mean(), x.argmax(), x.all(), x.any(),
                   np.sum(x), np.mean(x), fakecupy.sum(x), fakecupy.linalg.norm(x),
                   fakecupy.allclose(x, x), fakecupy.array_equal(x, x),
                   fakecupy.count_nonzero(x), x[1, 2], (x * x).sum()]
        for value in reduced:
            self.assertIsInstance(value, fakecupy.ndarray)
            self.assertEqual(value.shape, ())
        self.assertEqual(counters.syncs, 0)
        total = float(reduced[0])
        self.assertIs(type(total), float)
        self.assertEqual(total, float(host.sum()))
        self.assertEqual(counters.syncs, 1)

    def test_each_read_on_the_host_is_one_sync(self):
        x = fakecupy.asarray(2.5)
        reads = {
            "float()": lambda: self.assertEqual(float(x), 2.5),
            "int()": lambda: self.assertEqual(int(x), 2),
            "complex()": lambda: self.assertEqual(complex(x), 2.5),
            "bool()": lambda: self.assertTrue(x),
            "item()": lambda: self.assertEqual(x.item(), 2.5),
            "tolist()": lambda: self.assertEqual(fakecupy.stack([x, x]).tolist(), [2.5, 2.5]),
            "tobytes()": lambda: self.assertEqual(x.tobytes(), np.array(2.5).tobytes()),
            "repr()": lambda: self.assertEqual(repr(x), repr(np.array(2.5))),
            "str()": lambda: self.assertEqual(str(x), "2.5"),
            "format()": lambda: self.assertEqual(f"{x:.2f}", "2.50"),
            "get()": lambda: x.get(),
        }
        for reason, read in reads.items():
            with self.subTest(reason):
                counters.reset()
                read()
                self.assertEqual(counters.syncs, 1)
                self.assertEqual(counters.reasons, {reason: 1})
        counters.reset()
        fakecupy.asnumpy(x)
        pickle.dumps(x)
        self.assertEqual(counters.syncs, 2)

    def test_arithmetic_and_device_side_work_never_sync(self):
        x = fakecupy.asarray(host_data((8, 4)))
        counters.reset()
        y = fakecupy.exp(x) * 2.0 - x.mean(axis=0, keepdims=True)
        y /= y.sum(axis=1, keepdims=True)
        z = fakecupy.where(y > 0.1, y, 0.0)[fakecupy.argmax(y, axis=1)]
        _ = fakecupy.take_along_axis(z, fakecupy.argmax(z, axis=1, keepdims=True), axis=1)
        _ = copy.deepcopy(z), copy.copy(z), fakecupy.may_share_memory(z, z)
        self.assertEqual((counters.syncs, counters.uploads), (0, 0))

    def test_outputs_sized_by_the_data_sync(self):
        x = fakecupy.asarray(np.array([[0.0, 1.0], [2.0, 0.0]]))
        mask = x > 0.5
        syncing = {
            "boolean mask index": lambda: x[mask],
            "boolean mask assignment": lambda: x.__setitem__(mask, 3.0),
            "fakecupy.nonzero": lambda: fakecupy.nonzero(x),
            "ndarray.nonzero": lambda: x.nonzero(),
            "fakecupy.where of one argument": lambda: fakecupy.where(x),
            "fakecupy.flatnonzero": lambda: fakecupy.flatnonzero(x),
            "fakecupy.argwhere": lambda: fakecupy.argwhere(x),
            "fakecupy.unique": lambda: fakecupy.unique(x),
            "fakecupy.bincount": lambda: fakecupy.bincount(fakecupy.arange(3)),
            "fakecupy.shares_memory": lambda: fakecupy.shares_memory(x, x[1:]),
        }
        for name, operation in syncing.items():
            with self.subTest(name):
                counters.reset()
                operation()
                self.assertEqual(counters.syncs, 1)
        counters.reset()
        _ = x[fakecupy.asarray([1, 0])], x[fakecupy.asarray([True, False]).astype(np.int64)]
        self.assertEqual(counters.syncs, 0)  # integer indices: no sync

    def test_truth_value_rules(self):
        with self.assertRaisesRegex(ValueError, "ambiguous"):
            bool(fakecupy.zeros(2))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.assertFalse(bool(fakecupy.zeros(0)))
        self.assertEqual(caught[0].category, DeprecationWarning)
        self.assertEqual(counters.syncs, 0)

    def test_a_device_array_is_no_python_index(self):
        # CuPy's ndarray has no __index__: it cannot size a range or index a list.
        three = fakecupy.asarray(3)
        with self.assertRaises(TypeError):
            range(three)
        with self.assertRaises(TypeError):
            operator.index(three)
        with self.assertRaises(TypeError):
            [1, 2, 3, 4][three]
        self.assertEqual(int(three), 3)

    def test_uploads_are_counted(self):
        host = host_data((3, 3))
        uploads = {
            "asarray(host)": lambda: fakecupy.asarray(host),
            "array(host)": lambda: fakecupy.array([1.0, 2.0]),
            "set()": lambda: fakecupy.zeros((3, 3)).set(host),
            "host index array": lambda: fakecupy.zeros(3)[np.array([0, 2])],
            "unpickle": lambda: pickle.loads(pickle.dumps(fakecupy.zeros(1))),
        }
        for reason, upload in uploads.items():
            with self.subTest(reason):
                counters.reset()
                upload()
                self.assertEqual(counters.uploads, 1)
                self.assertEqual(counters.reasons[reason], 1)

    def test_device_and_stream_synchronize_are_syncs(self):
        fakecupy.cuda.Device(0).synchronize()
        fakecupy.cuda.get_current_stream().synchronize()
        self.assertEqual(counters.syncs, 2)
        counters.reset()
        self.assertEqual((counters.syncs, counters.uploads, len(counters.reasons)), (0, 0, 0))


class TestStrideTricks(FakeTestCase):
    def test_as_strided_has_cupys_signature(self):
        for dtype in DTYPES:
            host = host_data((5, 4), dtype)
            x = fakecupy.asarray(host)
            shape, strides = (4, 2, 4), (host.strides[0], host.strides[0], host.strides[1])
            with self.subTest(dtype=dtype):
                self.assertSameAsNumpy(fakecupy.lib.stride_tricks.as_strided(x, shape, strides),
                                       np.lib.stride_tricks.as_strided(host, shape, strides))
                self.assertSameAsNumpy(fakecupy.lib.stride_tricks.as_strided(x), host)
        with self.assertRaises(TypeError):
            fakecupy.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
        with self.assertRaises(TypeError):
            fakecupy.lib.stride_tricks.as_strided(host, shape, strides)
        with self.assertRaises(TypeError):
            np.lib.stride_tricks.as_strided(x, shape, strides)

    def test_as_strided_views_share_memory(self):
        x = fakecupy.zeros((2, 3))
        view = fakecupy.lib.stride_tricks.as_strided(x, (3,), (x.strides[1],))
        view[1] = 5.0
        self.assertEqual(float(x[0, 1]), 5.0)

    def test_sliding_window_view(self):
        host = host_data((6, 5))
        x = fakecupy.asarray(host)
        expected = np.lib.stride_tricks.sliding_window_view(host, (3, 2))
        self.assertSameAsNumpy(fakecupy.lib.stride_tricks.sliding_window_view(x, (3, 2)),
                               expected)
        self.assertSameAsNumpy(np.lib.stride_tricks.sliding_window_view(x, (3, 2)), expected)
        with self.assertRaisesRegex(NotImplementedError, "Writeable"):
            fakecupy.lib.stride_tricks.sliding_window_view(x, 2, writeable=True)
        # Host data goes to the device first, as cupy.array(x) does.
        counters.reset()
        self.assertSameAsNumpy(fakecupy.lib.stride_tricks.sliding_window_view(host, (3, 2)),
                               expected)
        self.assertEqual(counters.uploads, 1)
        window = fakecupy.lib.stride_tricks.sliding_window_view(x, 2, axis=0)
        with self.assertRaises(ValueError):
            window[0, 0, 0] = 1.0  # overlapping memory stays read-only


class TestIndexing(FakeTestCase):
    def setUp(self):
        super().setUp()
        self.host = host_data((4, 3))
        self.x = fakecupy.asarray(self.host)
        counters.reset()

    def test_integer_index_is_a_0d_view(self):
        element = self.x[1, 2]
        self.assertIsInstance(element, fakecupy.ndarray)
        self.assertEqual(element.shape, ())
        element[...] = 7.0
        self.assertEqual(float(self.x[1, 2]), 7.0)

    def test_basic_and_advanced_indices(self):
        x, host = self.x, self.host
        self.assertSameAsNumpy(x[1:3, ::2], host[1:3, ::2])
        self.assertSameAsNumpy(x[None, ..., 0], host[None, ..., 0])
        self.assertSameAsNumpy(x[fakecupy.asarray([3, 0, 0])], host[[3, 0, 0]])
        self.assertSameAsNumpy(x[fakecupy.arange(4), fakecupy.asarray([0, 1, 2, 0])],
                               host[np.arange(4), [0, 1, 2, 0]])
        # Host index arrays and lists go to the device, as in CuPy (uploads).
        counters.reset()
        self.assertSameAsNumpy(x[np.array([2, 1])], host[[2, 1]])
        self.assertSameAsNumpy(x[[2, 1]], host[[2, 1]])
        self.assertEqual(counters.uploads, 2)
        with self.assertRaisesRegex(IndexError, "integer or boolean"):
            x[np.array([0.5])]
        with self.assertRaises(IndexError):
            x[fakecupy.asarray([4])]  # numpy's rule; CuPy would wrap around

    def test_assignments(self):
        x, host = self.x, self.host.copy()
        x[0] = 1.5
        host[0] = 1.5
        x[1, :] = fakecupy.asarray([1.0, 2.0, 3.0])
        host[1, :] = [1.0, 2.0, 3.0]
        x[2, 1] = np.float32(4.0)
        host[2, 1] = np.float32(4.0)
        x[3, 0] = np.array(5.0)  # a 0-d host array is a scalar
        host[3, 0] = 5.0
        self.assertSameAsNumpy(x, host)
        for value in (np.array([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0]):
            with self.assertRaisesRegex(ValueError, "fakecupy.asarray"):
                x[1, :] = value
        # Advanced indexing copies host values to the device, as in CuPy.
        counters.reset()
        x[np.array([0, 3])] = np.array([[9.0], [8.0]])
        host[[0, 3]] = [[9.0], [8.0]]
        self.assertSameAsNumpy(x, host)
        self.assertEqual(counters.uploads, 2)

    def test_iteration_and_length(self):
        rows = list(self.x)
        self.assertEqual(len(rows), len(self.x))
        for row, host_row in zip(rows, self.host, strict=True):
            self.assertSameAsNumpy(row, host_row)
        with self.assertRaises(TypeError):
            len(fakecupy.asarray(1.0))
        with self.assertRaises(TypeError):
            iter(fakecupy.asarray(1.0))
        self.assertEqual(counters.syncs, 4)  # the four comparisons


class TestArrayAttributesAndMethods(FakeTestCase):
    def test_attributes_are_numpys(self):
        for dtype in DTYPES:
            host = host_data((4, 3), dtype)
            x = fakecupy.asarray(host)
            for name in ("shape", "dtype", "ndim", "size", "itemsize", "nbytes", "strides"):
                self.assertEqual(getattr(x, name), getattr(host, name), name)
            self.assertSameAsNumpy(x.T, host.T)
        self.assertEqual(x.device, fakecupy.cuda.Device(0))

    def test_flags_are_cupys_three(self):
        x = fakecupy.zeros((2, 3))
        self.assertTrue(x.flags.c_contiguous)
        self.assertFalse(x.T.flags.c_contiguous)
        self.assertTrue(x.T.flags.f_contiguous)
        self.assertTrue(x.flags["C_CONTIGUOUS"])
        self.assertTrue(x.flags.owndata)
        self.assertFalse(x[1:].flags.owndata)
        self.assertTrue(x.T.flags.fnc and x.T.flags.forc)
        self.assertFalse(hasattr(x.flags, "writeable"))
        with self.assertRaises(KeyError):
            x.flags["WRITEABLE"]

    def test_methods_equal_numpys_bit_for_bit(self):
        methods = {
            "sum": ((), {"axis": 0}), "mean": ((), {"axis": 1, "keepdims": True}),
            "max": ((), {}), "min": ((), {"axis": 0}), "argmax": ((), {"axis": 1}),
            "argmin": ((), {}), "any": ((), {}), "all": ((), {"axis": 0}),
            "prod": ((), {"axis": 1}), "std": ((), {}), "var": ((), {"axis": 0}),
            "cumsum": ((), {"axis": 0}), "cumprod": ((), {}), "clip": ((0.2, 0.7), {}),
            "round": ((2,), {}), "reshape": (((3, 4),), {}), "transpose": (((1, 0),), {}),
            "ravel": ((), {}), "flatten": ((), {}), "swapaxes": ((0, 1), {}),
            "squeeze": ((), {}), "repeat": ((2,), {"axis": 0}), "take": (([2, 0],), {}),
            "diagonal": ((), {}), "trace": ((), {}), "argsort": ((), {"axis": 1}),
            "copy": ((), {}),
        }
        for dtype in DTYPES:
            host = host_data((4, 3), dtype)
            x = fakecupy.asarray(host)
            for name, call in methods.items():
                args, kwargs = call
                with self.subTest(name, dtype=dtype):
                    self.assertSameAsNumpy(getattr(x, name)(*args, **kwargs),
                                           getattr(host, name)(*args, **kwargs))
            self.assertSameAsNumpy(x.reshape(3, 4), host.reshape(3, 4))
            self.assertSameAsNumpy(x.astype(np.float16), host.astype(np.float16))
            self.assertSameAsNumpy(x.view(np.uint8), host.view(np.uint8))
            self.assertSameAsNumpy(x.dot(x.T), host.dot(host.T))
            sorted_ = x.copy()
            self.assertIsNone(sorted_.sort(axis=0))
            self.assertSameAsNumpy(sorted_, np.sort(host, axis=0))

    def test_astype_view_copy_and_fill(self):
        x = fakecupy.zeros((2, 2))
        self.assertIs(x.astype(np.float64, copy=False), x)
        self.assertIsNot(x.astype(np.float64), x)
        view, duplicate = x.view(), x.copy()
        x.fill(2.0)
        self.assertEqual(float(view[0, 0]), 2.0)
        self.assertEqual(float(duplicate[0, 0]), 0.0)
        x.fill(fakecupy.asarray(3.0))
        self.assertEqual(float(x.sum()), 12.0)
        with self.assertRaises(ValueError):
            x.fill(fakecupy.zeros(2))
        with self.assertRaises(ValueError):
            x.fill(np.zeros(2))

    def test_in_place_operators_keep_the_array(self):
        for dtype in DTYPES:
            host = host_data((3, 2), dtype)
            x = fakecupy.asarray(host)
            same = x
            x += 1.0
            x *= fakecupy.asarray(host)
            x -= np.float32(0.5)
            x /= 3
            x **= 2
            expected = host + 1.0
            expected *= host
            expected -= np.float32(0.5)
            expected /= 3
            expected **= 2
            self.assertIs(x, same)
            self.assertSameAsNumpy(x, expected)
        integers = fakecupy.arange(4)
        with self.assertRaises(TypeError):  # numpy's same_kind rule, as CuPy's
            integers += 0.5

    def test_out_returns_the_given_array(self):
        x = fakecupy.asarray(host_data((3, 2)))
        out = fakecupy.empty((3, 2))
        self.assertIs(fakecupy.exp(x, out=out), out)
        self.assertIs(np.exp(x, out=out), out)
        self.assertIs(np.add(x, x, out=(out,)), out)
        column = fakecupy.empty(2)
        self.assertIs(x.sum(axis=0, out=column), column)
        self.assertIs(np.sum(x, axis=0, out=column), column)
        square = fakecupy.empty((2, 2))
        self.assertIs(fakecupy.matmul(x.T, x, out=square), square)

    def test_pickle_and_copies(self):
        x = fakecupy.asarray(host_data((2, 2)))
        back = pickle.loads(pickle.dumps(x))
        self.assertIsInstance(back, fakecupy.ndarray)
        np.testing.assert_array_equal(back.get(), x.get())
        for duplicate in (copy.copy(x), copy.deepcopy(x)):
            duplicate[0, 0] = -1.0
            self.assertNotEqual(float(x[0, 0]), -1.0)

    def test_constructor_allocates_like_cupys(self):
        x = fakecupy.ndarray((2, 3), dtype=np.float32)
        self.assertEqual((x.shape, x.dtype), ((2, 3), np.float32))
        with self.assertRaises(NotImplementedError):
            fakecupy.ndarray((2, 3), strides=(8, 8))

    def test_unhashable(self):
        with self.assertRaises(TypeError):
            hash(fakecupy.zeros(1))


class TestUfuncMethods(FakeTestCase):
    def test_add_at_accumulates_repeated_indices(self):
        for dtype in DTYPES:
            host = host_data((5, 2), dtype)
            values = host_data((4, 2), dtype, seed=1)
            indices = np.array([0, 3, 0, 0])
            x = fakecupy.asarray(host)
            fakecupy.add.at(x, fakecupy.asarray(indices), fakecupy.asarray(values))
            np.add.at(x, fakecupy.asarray(indices), 1.0)  # numpy's dispatches to the fake's
            expected = host.copy()
            np.add.at(expected, indices, values)
            np.add.at(expected, indices, 1.0)
            self.assertSameAsNumpy(x, expected)
            maximum = fakecupy.asarray(host)
            fakecupy.maximum.at(maximum, (fakecupy.asarray([1, 1]), 0), 5.0)
            expected = host.copy()
            np.maximum.at(expected, ([1, 1], 0), 5.0)
            self.assertSameAsNumpy(maximum, expected)

    def test_ufunc_at_follows_cupys_limits(self):
        x = fakecupy.zeros(3)
        with self.assertRaisesRegex(TypeError, "int32"):
            fakecupy.subtract.at(x, fakecupy.asarray([0]), 1.0)
        with self.assertRaises(NotImplementedError):
            fakecupy.multiply.at(x, fakecupy.asarray([0]), 2.0)
        with self.assertRaisesRegex(TypeError, "float32"):
            fakecupy.maximum.at(fakecupy.zeros(3, np.float16), fakecupy.asarray([0]), 1.0)
        with self.assertRaises(TypeError):
            fakecupy.add.at(np.zeros(3), fakecupy.asarray([0]), 1.0)
        # numpy's add.at hands CuPy the index as it is: a tuple is not an array or a scalar.
        with self.assertRaises(TypeError):
            np.add.at(fakecupy.zeros((2, 2)), (fakecupy.asarray([0]), fakecupy.asarray([1])), 1.0)

    def test_reduce_accumulate_reduceat_outer(self):
        for dtype in DTYPES:
            host = host_data((4, 3), dtype)
            x = fakecupy.asarray(host)
            self.assertSameAsNumpy(np.add.reduce(x, axis=1), np.add.reduce(host, axis=1))
            self.assertSameAsNumpy(fakecupy.multiply.reduce(x), np.multiply.reduce(host))
            self.assertSameAsNumpy(np.add.accumulate(x), np.add.accumulate(host))
            self.assertSameAsNumpy(fakecupy.add.reduceat(x, [0, 2]), np.add.reduceat(host, [0, 2]))
            self.assertSameAsNumpy(np.subtract.outer(x[0], x[1]),
                                   np.subtract.outer(host[0], host[1]))
        for refused in (lambda: np.maximum.reduce(x), lambda: fakecupy.subtract.accumulate(x),
                        lambda: fakecupy.multiply.reduceat(x, [0])):
            with self.assertRaises(NotImplementedError):
                refused()


class TestModule(FakeTestCase):
    def test_random_refuses_every_draw(self):
        for name in ("normal", "uniform", "rand", "seed", "default_rng", "RandomState"):
            with self.subTest(name), self.assertRaisesRegex(RuntimeError, "on the host"):
                getattr(fakecupy.random, name)

    def test_cuda_has_one_device(self):
        self.assertTrue(fakecupy.cuda.is_available())
        self.assertTrue(fakecupy.is_available())
        self.assertEqual(fakecupy.cuda.runtime.getDeviceCount(), 1)
        self.assertEqual(fakecupy.cuda.get_device_id(), 0)
        with fakecupy.cuda.Device(0) as device:
            self.assertEqual(device.id, 0)
        self.assertEqual(fakecupy.cuda.Device(), fakecupy.cuda.Device(0))
        with self.assertRaisesRegex(RuntimeError, "device 0 only"):
            fakecupy.cuda.Device(1).use()

    def test_shares_memory(self):
        x = fakecupy.zeros((4, 4))
        self.assertTrue(fakecupy.shares_memory(x, x[1:, ::2]))
        self.assertFalse(fakecupy.shares_memory(x[:2], x[2:]))
        self.assertTrue(np.shares_memory(x, x.T))
        self.assertFalse(fakecupy.shares_memory(x, x.copy()))
        self.assertTrue(fakecupy.may_share_memory(x[:, 0], x[:, 1]))
        counters.reset()
        self.assertTrue(fakecupy.shares_memory(x, x))
        self.assertTrue(fakecupy.shares_memory(x[::2], x[1::2], max_work="MAY_SHARE_BOUNDS"))
        self.assertEqual(counters.syncs, 0)
        with self.assertRaises(NotImplementedError):
            fakecupy.shares_memory(x, x[1:], max_work=10)


def _cases():
    """A call of every function of the fake module: name -> function(xp, a, b, i),
    with ``a`` (4, 3) floats in (0.1, 0.9), ``b`` (3, 4) floats and ``i`` (4, 3)
    small integers, all arrays of the array module ``xp``. None: uninitialised."""
    return {
        "empty": None, "empty_like": None,  # uninitialised: shape and dtype only
        "zeros": lambda xp, a, b, i: xp.zeros((2, 3), dtype=a.dtype),
        "ones": lambda xp, a, b, i: xp.ones(3, dtype=a.dtype),
        "full": lambda xp, a, b, i: xp.full((2, 2), 0.25, dtype=a.dtype),
        "zeros_like": lambda xp, a, b, i: xp.zeros_like(a),
        "ones_like": lambda xp, a, b, i: xp.ones_like(a),
        "full_like": lambda xp, a, b, i: xp.full_like(a, 0.5),
        "arange": lambda xp, a, b, i: xp.arange(0.0, 1.0, 0.1, dtype=a.dtype),
        "linspace": lambda xp, a, b, i: xp.linspace(0, 1, 7, dtype=a.dtype),
        "eye": lambda xp, a, b, i: xp.eye(3, 4, k=1, dtype=a.dtype),
        "identity": lambda xp, a, b, i: xp.identity(3, dtype=a.dtype),
        "tri": lambda xp, a, b, i: xp.tri(3, dtype=a.dtype),
        "copy": lambda xp, a, b, i: xp.copy(a),
        "reshape": lambda xp, a, b, i: xp.reshape(a, (2, 6)),
        "ravel": lambda xp, a, b, i: xp.ravel(a),
        "transpose": lambda xp, a, b, i: xp.transpose(a),
        "moveaxis": lambda xp, a, b, i: xp.moveaxis(a[None], 0, 2),
        "swapaxes": lambda xp, a, b, i: xp.swapaxes(a, 0, 1),
        "squeeze": lambda xp, a, b, i: xp.squeeze(a[:, :1]),
        "expand_dims": lambda xp, a, b, i: xp.expand_dims(a, 1),
        "broadcast_to": lambda xp, a, b, i: xp.broadcast_to(a[0], (2, 3)),
        "broadcast_arrays": lambda xp, a, b, i: tuple(xp.broadcast_arrays(a, a[0])),
        "atleast_1d": lambda xp, a, b, i: xp.atleast_1d(a[0, 0]),
        "atleast_2d": lambda xp, a, b, i: xp.atleast_2d(a[0]),
        "atleast_3d": lambda xp, a, b, i: xp.atleast_3d(a),
        "concatenate": lambda xp, a, b, i: xp.concatenate([a, b.T], axis=1),
        "stack": lambda xp, a, b, i: xp.stack([a, b.T]),
        "vstack": lambda xp, a, b, i: xp.vstack([a, b.T]),
        "hstack": lambda xp, a, b, i: xp.hstack([a, b.T]),
        "split": lambda xp, a, b, i: tuple(xp.split(a, 2)),
        "array_split": lambda xp, a, b, i: tuple(xp.array_split(a, 3, axis=1)),
        "tile": lambda xp, a, b, i: xp.tile(a, (2, 1)),
        "repeat": lambda xp, a, b, i: xp.repeat(a, 2, axis=1),
        "flip": lambda xp, a, b, i: xp.flip(a, 0),
        "roll": lambda xp, a, b, i: xp.roll(a, 1, axis=1),
        "pad": lambda xp, a, b, i: xp.pad(a, ((1, 0), (0, 2)), constant_values=-1.0),
        "take": lambda xp, a, b, i: xp.take(a, i[:, 0] % 3, axis=1),
        "take_along_axis": lambda xp, a, b, i: xp.take_along_axis(a, i % 3, axis=1),
        "put_along_axis": lambda xp, a, b, i: _put_along_axis(xp, a, i),
        "diag": lambda xp, a, b, i: xp.diag(a),
        "diagonal": lambda xp, a, b, i: xp.diagonal(a, 1),
        "tril": lambda xp, a, b, i: xp.tril(a),
        "triu": lambda xp, a, b, i: xp.triu(a, -1),
        "copyto": lambda xp, a, b, i: _copyto(xp, a, b),
        "sort": lambda xp, a, b, i: xp.sort(a, axis=0),
        "argsort": lambda xp, a, b, i: xp.argsort(a, axis=1),
        "argmax": lambda xp, a, b, i: xp.argmax(a, axis=0),
        "argmin": lambda xp, a, b, i: xp.argmin(a),
        "searchsorted": lambda xp, a, b, i: xp.searchsorted(xp.sort(a[0]), a[1]),
        "count_nonzero": lambda xp, a, b, i: xp.count_nonzero(a > 0.5),
        "isin": lambda xp, a, b, i: xp.isin(i, i[0]),
        "sum": lambda xp, a, b, i: xp.sum(a, axis=1, keepdims=True),
        "prod": lambda xp, a, b, i: xp.prod(a),
        "mean": lambda xp, a, b, i: xp.mean(a, axis=0),
        "var": lambda xp, a, b, i: xp.var(a),
        "std": lambda xp, a, b, i: xp.std(a, axis=1),
        "max": lambda xp, a, b, i: xp.max(a, axis=1),
        "min": lambda xp, a, b, i: xp.min(a),
        "amax": lambda xp, a, b, i: xp.amax(a),
        "amin": lambda xp, a, b, i: xp.amin(a, axis=0),
        "cumsum": lambda xp, a, b, i: xp.cumsum(a, axis=1),
        "cumprod": lambda xp, a, b, i: xp.cumprod(a),
        "clip": lambda xp, a, b, i: xp.clip(a, 0.3, 0.6),
        "around": lambda xp, a, b, i: xp.around(a, 2),
        "round": lambda xp, a, b, i: xp.round(a, 1),
        "nan_to_num": lambda xp, a, b, i: xp.nan_to_num(xp.where(a > 0.5, a, xp.inf)),
        "diff": lambda xp, a, b, i: xp.diff(a, axis=0),
        "average": lambda xp, a, b, i: xp.average(a, axis=0),
        "trace": lambda xp, a, b, i: xp.trace(a),
        "all": lambda xp, a, b, i: xp.all(a > 0.2, axis=0),
        "any": lambda xp, a, b, i: xp.any(a > 0.8),
        "isclose": lambda xp, a, b, i: xp.isclose(a, a + 1e-9),
        "allclose": lambda xp, a, b, i: xp.allclose(a, a + 1e-9),
        "array_equal": lambda xp, a, b, i: xp.array_equal(a, a),
        "dot": lambda xp, a, b, i: xp.dot(a, b),
        "vdot": lambda xp, a, b, i: xp.vdot(a, b.T),
        "inner": lambda xp, a, b, i: xp.inner(a, a),
        "outer": lambda xp, a, b, i: xp.outer(a[0], b[0]),
        "tensordot": lambda xp, a, b, i: xp.tensordot(a, b, axes=([1], [0])),
        "einsum": lambda xp, a, b, i: xp.einsum("ij,jk->ik", a, b),
        "kron": lambda xp, a, b, i: xp.kron(a[:2, :2], b[:2, :2]),
        "nonzero": lambda xp, a, b, i: xp.nonzero(a > 0.5),
        "flatnonzero": lambda xp, a, b, i: xp.flatnonzero(a > 0.5),
        "argwhere": lambda xp, a, b, i: xp.argwhere(a > 0.5),
        "unique": lambda xp, a, b, i: xp.unique(i, return_counts=True),
        "bincount": lambda xp, a, b, i: xp.bincount(i.ravel()),
        "linalg.norm": lambda xp, a, b, i: xp.linalg.norm(a, axis=1),
        "linalg.inv": lambda xp, a, b, i: xp.linalg.inv(a[:3] + xp.eye(3, dtype=a.dtype)),
        "linalg.solve": lambda xp, a, b, i: xp.linalg.solve(a[:3] + xp.eye(3, dtype=a.dtype),
                                                            b[:, 0]),
        "linalg.det": lambda xp, a, b, i: xp.linalg.det(a[:3]),
        "linalg.svd": lambda xp, a, b, i: tuple(xp.linalg.svd(a)),
        "linalg.qr": lambda xp, a, b, i: tuple(xp.linalg.qr(a)),
        "linalg.eigh": lambda xp, a, b, i: tuple(xp.linalg.eigh(a[:3] @ a[:3].T)),
        "linalg.cholesky": lambda xp, a, b, i: xp.linalg.cholesky(
            a[:3] @ a[:3].T + xp.eye(3, dtype=a.dtype)),
        "linalg.pinv": lambda xp, a, b, i: xp.linalg.pinv(a),
        "linalg.slogdet": lambda xp, a, b, i: tuple(xp.linalg.slogdet(a[:3])),
    }


def _put_along_axis(xp, a, i):
    out = a.copy()
    xp.put_along_axis(out, i[:, :1] % 3, 0.0, axis=1)
    return out


def _copyto(xp, a, b):
    out = xp.zeros_like(a)
    xp.copyto(out, b.T, where=a > 0.5)
    return out


class TestResultsAreNumpys(FakeTestCase):
    """Every function and ufunc of the fake module computes numpy's result, bit for
    bit, in float64 and float32: the same call on host data is the reference."""

    def inputs(self, dtype):
        a = host_data((4, 3), dtype)
        b = host_data((3, 4), dtype, seed=1)
        i = np.random.default_rng(2).integers(0, 5, size=(4, 3))
        return (a, b, i), tuple(fakecupy.asarray(v) for v in (a, b, i))

    def test_every_function(self):
        cases = _cases()
        listed = (fake_gpu.FUNCTION_NAMES + fake_gpu.SYNCING_FUNCTION_NAMES
                  + [f"linalg.{name}" for name in fake_gpu.LINALG_NAMES])
        self.assertEqual(sorted(cases), sorted(listed))
        for dtype in DTYPES:
            host, device = self.inputs(dtype)
            for name, case in cases.items():
                with self.subTest(name, dtype=dtype):
                    if case is None:
                        made = getattr(fakecupy, name)(device[0] if "like" in name else (4, 3),
                                                       dtype=dtype)
                        self.assertEqual((made.shape, made.dtype), ((4, 3), dtype))
                        continue
                    self.assertSameAsNumpy(_as_device_results(case(fakecupy, *device)),
                                           _as_host_results(case(np, *host)))

    def test_host_result_functions(self):
        x = fakecupy.zeros((4, 3))
        self.assertEqual((fakecupy.ndim(x), fakecupy.shape(x), fakecupy.size(x)), (2, (4, 3), 12))
        self.assertEqual((np.ndim(x), np.shape(x), np.size(x)), (2, (4, 3), 12))

    def test_every_ufunc(self):
        integer_only = {"bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift",
                        "right_shift"}
        for dtype in DTYPES:
            for name in fake_gpu.UFUNC_NAMES + ["abs"]:
                device_ufunc, host_ufunc = getattr(fakecupy, name), getattr(np, name)
                if name in integer_only:
                    host = [np.arange(1, 7, dtype=np.int32).reshape(2, 3)] * host_ufunc.nin
                elif name == "matmul":
                    host = [host_data((3, 3), dtype, seed=s) for s in range(2)]
                elif name == "ldexp":
                    host = [host_data((2, 3), dtype), np.arange(6, dtype=np.int32).reshape(2, 3)]
                else:
                    low = 1.1 if name == "arccosh" else 0.1
                    host = [host_data((2, 3), dtype, seed=s, low=low, high=low + 0.8)
                            for s in range(host_ufunc.nin)]
                device = [fakecupy.asarray(value) for value in host]
                with self.subTest(name, dtype=dtype):
                    expected = host_ufunc(*host)
                    self.assertSameAsNumpy(device_ufunc(*device), expected)
                    self.assertSameAsNumpy(host_ufunc(*device), expected)


def _as_device_results(result):
    return tuple(result) if isinstance(result, (tuple, list)) else result


def _as_host_results(result):
    """numpy's result in the form the device gives it: scalars as 0-d arrays."""
    if isinstance(result, (tuple, list)):
        return tuple(_as_host_results(item) for item in result)
    return np.asarray(result)


class TestGenericTrainingStep(FakeTestCase):
    """A small CNN step written once, with ``xp = get_array_module(X)``, as the library
    will be: on the fake device it gives numpy's numbers bit for bit, syncs once per
    step (the loss read as a float) and uploads only the batch."""

    def step(self, params, X, labels, learning_rate=0.1):
        xp = fakecupy.get_array_module(X)
        W, b, V = params
        n, rows, cols, _ = X.shape
        kr, kc, _, channels = W.shape
        out_rows, out_cols = rows - kr + 1, cols - kc + 1
        windows = xp.lib.stride_tricks.as_strided(
            X, (n, out_rows, out_cols, kr, kc, X.shape[3]),
            X.strides[:3] + X.strides[1:])
        Z = xp.tensordot(windows, W, axes=3) + b
        A = xp.maximum(Z, 0)
        flat = A.reshape(n, -1)
        logits = flat @ V
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        loss = -xp.take_along_axis(log_probs, labels[:, None], axis=1).mean()
        dlogits = xp.exp(log_probs)
        xp.add.at(dlogits, (xp.arange(n), labels), -1.0)
        dlogits /= n
        dV = flat.T @ dlogits
        dZ = (dlogits @ V.T).reshape(A.shape) * (Z > 0)
        dW = xp.tensordot(windows, dZ, axes=([0, 1, 2], [0, 1, 2]))
        db = dZ.sum(axis=(0, 1, 2))
        for param, grad in zip(params, (dW, db, dV), strict=True):
            param -= learning_rate * grad
        return float(loss)

    def test_same_numbers_one_sync_per_step(self):
        rng = np.random.default_rng(0)
        for dtype in DTYPES:
            host_params = [rng.normal(0, 0.3, shape).astype(dtype)
                           for shape in ((3, 3, 2, 4), (4,), (6 * 6 * 4, 5))]
            device_params = [fakecupy.asarray(p) for p in host_params]
            batches = [(rng.normal(size=(8, 8, 8, 2)).astype(dtype), rng.integers(0, 5, 8))
                       for _ in range(3)]
            counters.reset()
            for X, labels in batches:
                host_loss = self.step(host_params, X, labels)
                device_loss = self.step(device_params, fakecupy.asarray(X),
                                        fakecupy.asarray(labels))
                self.assertEqual(device_loss, host_loss)
            self.assertEqual(counters.reasons, {"float()": 3, "asarray(host)": 6})
            for host_param, device_param in zip(host_params, device_params, strict=True):
                self.assertSameAsNumpy(device_param, host_param)

    def test_host_only_code_fails_on_the_device(self):
        X = fakecupy.zeros((2, 4, 4, 1))
        with self.assertRaises(TypeError):  # numpy's as_strided with writeable=False
            np.lib.stride_tricks.as_strided(X, (2, 3, 3, 2, 2, 1), writeable=False)
        with self.assertRaises(TypeError):  # a host buffer filled from the device
            buffer = np.empty((2, 6, 6, 1))
            buffer[:, 1:5, 1:5] = X
        with self.assertRaises(TypeError):  # a host random draw mixed in
            X * np.random.default_rng(0).random(X.shape)


if __name__ == "__main__":
    unittest.main()
