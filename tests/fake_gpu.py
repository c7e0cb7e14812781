"""A fake GPU for the tests: CuPy's rules on the CPU, with numpy doing the math.

No GPU runs here or in CI, yet the library will run on CuPy arrays (the array
module follows the data, as in DeZero's ``cuda.get_array_module``). This module
gives the tests a device that behaves like CuPy where it matters: code that
runs on the fake runs on CuPy, and code that CuPy refuses (an implicit copy to
or from the host, a numpy function that cannot take a device array) fails here
the same way. Use it as CuPy::

    from tests.fake_gpu import counters, fakecupy as cp

    x = cp.asarray(host_array)          # host -> device (counted as an upload)
    xp = cp.get_array_module(x)         # fakecupy for device arrays, numpy otherwise
    counters.reset()
    loss = xp.sum(xp.exp(x))            # a 0-d device array, not a float
    value = float(loss)                 # a host synchronisation: counters.syncs == 1
    back = cp.asnumpy(x)                # device -> host (also a synchronisation)

What it mimics (each rule checked in CuPy's documentation and in its source,
github.com/cupy/cupy at commit 6b6d956 of 2026-08-20):

- A device array (``fakecupy.ndarray``) wraps a private numpy array; it is not
  an ndarray subclass. ``numpy.asarray``, ``numpy.array``,
  ``numpy.ascontiguousarray`` and everything else that goes through
  ``__array__`` raise TypeError, as CuPy does: the only ways to the host are
  ``fakecupy.asnumpy(x)`` and ``x.get()``.
  https://docs.cupy.dev/en/stable/reference/ndarray.html ("Conversion to/from
  NumPy arrays": not implicitly convertible).
- Ufuncs and operators take device arrays and scalars only: Python scalars and
  numpy scalars (``numpy.float32(2)``) are kernel arguments; a numpy array,
  0-d included, or a list raises TypeError (CuPy: "Unsupported type"). The
  comparisons alone take a 0-d numpy array, as its value.
  https://docs.cupy.dev/en/stable/user_guide/difference.html ("Universal
  Functions only work with CuPy array or scalar").
- numpy's own functions and ufuncs called on device arrays dispatch to the
  fake module (NEP 13 ``__array_ufunc__``, NEP 18 ``__array_function__``):
  ``numpy.sum(x)`` is ``fakecupy.sum(x)``, ``numpy.linalg.norm(x)`` is
  ``fakecupy.linalg.norm(x)``; a numpy function the fake module lacks raises
  numpy's TypeError "no implementation found".
  https://docs.cupy.dev/en/stable/user_guide/interoperability.html
- Reductions return 0-d device arrays, never Python or numpy scalars.
  ``float(x)``, ``int(x)``, ``bool(x)``, ``x.item()``, ``x.tolist()``,
  ``repr(x)``, ``format(x)``, ``x.get()``, ``asnumpy(x)``, pickling, and the
  operations whose output shape depends on the data (boolean-mask indexing,
  ``nonzero``, ``unique``, ``bincount``, one-argument ``where``) synchronise
  the host with the device in CuPy; here each adds one to ``counters.syncs``.
  Host-to-device copies (``asarray`` or ``array`` of host data, host index
  arrays, host values stored through advanced indexing) add one to
  ``counters.uploads``.
  https://docs.cupy.dev/en/stable/user_guide/difference.html ("Zero-dimensional
  array: Reduction methods").
- ``fakecupy.lib.stride_tricks.as_strided(x, shape=None, strides=None)`` takes
  no ``writeable`` argument; ``numpy.lib.stride_tricks.as_strided(x, ...)``
  refuses a device array (numpy's does not dispatch: it calls ``__array__``).
  ``sliding_window_view`` exists in both, and numpy's dispatches to the fake's;
  ``writeable=True`` raises NotImplementedError, as in CuPy.
  https://docs.cupy.dev/en/stable/reference/generated/cupy.lib.stride_tricks.as_strided.html
  https://docs.cupy.dev/en/stable/reference/generated/cupy.lib.stride_tricks.sliding_window_view.html
- ``numpy.empty(shape)`` and the other creators without an array argument
  make host arrays; the device has its own (``fakecupy.zeros`` ...).
- ``x[index]``: integers, slices, ``None``, ``...``, device arrays, and, as in
  CuPy, host index arrays and lists (copied to the device: an upload). An
  integer index gives a 0-d view, as in CuPy. ``x[basic_index] = v`` takes a
  device array or a scalar; a host array that is not 0-d raises ValueError
  (CuPy: "non-scalar numpy.ndarray cannot be used for fill").
- ``ufunc.at`` for ``add``, ``subtract`` (int32 only), ``maximum``, ``minimum``
  and the bitwise ufuncs, with CuPy's dtype limits (CuPy's replacement of
  ``cupyx.scatter_add``); ``ufunc.reduce`` and ``accumulate`` for ``add`` and
  ``multiply`` only; ``reduceat`` for ``add`` only.
  https://docs.cupy.dev/en/stable/reference/generated/cupy.ufunc.html
- ``x.flags`` has ``c_contiguous``, ``f_contiguous`` and ``owndata`` only (no
  ``writeable``). ``x.set(host)`` copies a host array of the same shape and
  dtype into ``x``. ``shares_memory`` works (CuPy's synchronises: counted).
  https://docs.cupy.dev/en/stable/reference/generated/cupy.ndarray.html
- ``fakecupy.random`` refuses every draw with RuntimeError: the library draws
  on the host and uploads, so a device-side draw is a test failure.
- ``fakecupy.cuda``: ``Device(id=0)`` (``.id``, ``.use()``, ``.synchronize()``,
  a context manager), ``is_available()``, ``get_device_id()``,
  ``get_current_stream().synchronize()`` and ``runtime.getDeviceCount()``:
  one device. The synchronize calls count as syncs.
- ``get_array_module(*args)`` returns ``fakecupy`` when an argument is a
  device array, numpy otherwise; ``asarray``, ``array``, ``asnumpy``,
  ``ascontiguousarray``, ``result_type``, ``can_cast``, the dtypes
  (``float32``, ``float64`` ...) and constants that CuPy takes from numpy.

The module holds only names that CuPy has (the lists ``UFUNC_NAMES``,
``FUNCTION_NAMES`` and ``NUMPY_NAMES`` below, checked against CuPy's
``__init__.py``); a name it lacks raises AttributeError, so the library fails
here before it fails on a GPU: add the name to a list once CuPy is checked.

What it deliberately does differently (stricter than CuPy, never looser,
except where noted):

- A function of the fake module refuses host arrays in any argument. CuPy lets
  a few through with an implicit copy (the indices of ``take_along_axis``);
  the fake allows such copies only in indexing, where CuPy documents them.
- Out-of-bounds integer indices raise IndexError (numpy's rule); CuPy wraps
  them around. Duplicate indices in an assignment keep numpy's last-wins
  order; CuPy's is undefined.
- Views that numpy makes read-only (``broadcast_to``, ``sliding_window_view``)
  stay read-only here; CuPy has no read-only arrays and would let a write
  through overlapping memory.
- The results are numpy's bit for bit. Looser than CuPy: reductions keep
  numpy's summation order, float-to-integer casts of out-of-range values keep
  numpy's results, and most functions of the fake module accept Python lists
  as array arguments (CuPy's ufuncs do not, and the fake's ufuncs refuse them).

The counters are plain integers, not thread-safe; count in one thread.
"""

import collections
import operator
import types
import warnings

import numpy as np

# The fake module and its submodules; filled in below.
fakecupy = types.ModuleType("fakecupy", "The fake device's array module: the names of CuPy "
                            "that the tests need, over numpy (see tests/fake_gpu.py).")
fakecupy.linalg = types.ModuleType("fakecupy.linalg", "Linear algebra on the fake device.")
fakecupy.lib = types.ModuleType("fakecupy.lib", "stride_tricks only.")
fakecupy.lib.stride_tricks = types.ModuleType("fakecupy.lib.stride_tricks",
                                              "as_strided and sliding_window_view.")
fakecupy.cuda = types.ModuleType("fakecupy.cuda", "One device, id 0.")
fakecupy.cuda.runtime = types.ModuleType("fakecupy.cuda.runtime", "getDeviceCount only.")


def _exported(namespace, name):
    """Decorator: put the function or class in ``namespace`` under ``name``, CuPy's name."""
    def export(obj):
        obj.__name__ = obj.__qualname__ = name
        setattr(namespace, name, obj)
        return obj
    return export


# ---------------------------------------------------------------------------
# Host-device traffic counters
# ---------------------------------------------------------------------------


class Counters:
    """How often code crossed between host and device since the last ``reset()``.

    Attributes
    ----------
    syncs    int, host synchronisations (reads from the device)
    uploads  int, copies from the host to the device
    reasons  collections.Counter, each crossing by its cause
             (e.g. ``"float()"``, ``"get()"``, ``"asarray(host)"``)
    """

    def __init__(self):
        self.reset()

    def reset(self):
        """Set every count back to zero."""
        self.syncs = 0
        self.uploads = 0
        self.reasons = collections.Counter()

    def __repr__(self):
        return (f"Counters(syncs={self.syncs}, uploads={self.uploads}, "
                f"reasons={dict(self.reasons)})")


counters = Counters()


def _sync(reason):
    counters.syncs += 1
    counters.reasons[reason] += 1


def _upload(reason):
    counters.uploads += 1
    counters.reasons[reason] += 1


# ---------------------------------------------------------------------------
# Between the private numpy arrays and device arrays
# ---------------------------------------------------------------------------

# The scalars a CuPy kernel takes as arguments (cupy/_core/_scalar.pyx).
_SCALARS = (bool, int, float, complex, np.generic)


def _refuse_host(value, where):
    raise TypeError(
        f"{where} got a host array ({type(value).__module__}.{type(value).__name__}); "
        f"it is not copied to the device implicitly (CuPy raises TypeError too): "
        f"copy it with fakecupy.asarray(x) first"
    )


def _private(value, where):
    """The numpy value to compute with: a device array's memory, lists and tuples
    walked; a host array refused with TypeError naming ``where``."""
    kind = type(value)
    if kind is ndarray:
        return value._memory
    if kind is np.ndarray:
        _refuse_host(value, where)
    if kind is list or kind is tuple:
        return kind(_private(item, where) for item in value)
    return value


def _private_kwargs(kwargs, where):
    return {key: _private(value, where) for key, value in kwargs.items()}


def _wrap(memory):
    """A device array holding the numpy array ``memory`` (no copy)."""
    if memory.dtype.kind not in "biufc":
        # CuPy holds numbers only (user_guide/difference.html, "Data types").
        raise ValueError(f"Unsupported dtype {memory.dtype}: a device array holds numbers only")
    device = object.__new__(ndarray)
    device._memory = memory
    return device


def _device(value):
    """``value`` as the device returns it: arrays and numpy scalars become device
    arrays (0-d for a scalar), tuples (named ones too) and lists are walked."""
    kind = type(value)
    if kind is np.ndarray:
        return _wrap(value)
    if isinstance(value, np.generic):
        return _wrap(np.array(value))
    if kind is list:
        return [_device(item) for item in value]
    if isinstance(value, tuple):
        items = [_device(item) for item in value]
        return kind(*items) if hasattr(kind, "_fields") else kind(items)
    return value


def _device_or_given_out(result, kwargs):
    """The ``out`` the caller gave (so that ``f(x, out=o) is o``), else ``result`` on the device."""
    out = kwargs.get("out")
    return out if type(out) is ndarray else _device(result)


def _host_data(value):
    """Host data for an upload: device arrays inside lists taken as their memory."""
    kind = type(value)
    if kind is ndarray:
        return value._memory
    if kind is list or kind is tuple:
        return [_host_data(item) for item in value]
    return value


def _upload_copy(value, reason, dtype=None, order="K", ndmin=0):
    """A device copy of host data (array, list, scalar), never a view of the host's memory."""
    _upload(reason)
    return _wrap(np.array(_host_data(value), dtype=dtype, order=order, copy=True, ndmin=ndmin))


# ---------------------------------------------------------------------------
# The device array
# ---------------------------------------------------------------------------


class Flags:
    """``x.flags``: the three layout flags CuPy keeps (cupy/_core/flags.pyx), no ``writeable``."""

    _NAMES = {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous",
              "OWNDATA": "owndata"}

    def __init__(self, c_contiguous, f_contiguous, owndata):
        self.c_contiguous = c_contiguous
        self.f_contiguous = f_contiguous
        self.owndata = owndata

    @property
    def forc(self):
        return self.c_contiguous or self.f_contiguous

    @property
    def fnc(self):
        return self.f_contiguous and not self.c_contiguous

    def __getitem__(self, name):
        if name not in self._NAMES:
            raise KeyError(f"{name} is not a flag of a device array (only "
                           f"{', '.join(self._NAMES)})")
        return getattr(self, self._NAMES[name])


def _index(key):
    """The numpy index for ``key``, and whether it is advanced (holds an array).

    Host index arrays and lists are copied to the device (an upload), and a
    boolean mask costs a sync (CuPy reads the number of True entries to size
    the result). An Ellipsis is appended when there is none, so that an index
    of integers gives a 0-d view, as CuPy's does, not a numpy scalar.
    """
    parts = key if type(key) is tuple else (key,)
    index = []
    advanced = False
    for part in parts:
        kind = type(part)
        if kind is ndarray:
            part = part._memory
        elif kind is np.ndarray or kind is list or kind is tuple:
            _upload("host index array")
            part = np.asarray(part)
            if part.dtype.kind not in "biu":
                raise IndexError(f"arrays used as indices must be of integer or boolean "
                                 f"type, got {part.dtype}")
        if type(part) is np.ndarray:
            advanced = True
            if part.dtype.kind == "b":
                _sync("boolean mask index")
        index.append(part)
    if not any(part is Ellipsis for part in index):
        index.append(Ellipsis)
    return tuple(index), advanced


class ndarray:  # lower case: CuPy's name
    """A device array: CuPy's ``cupy.ndarray`` over a private numpy array.

    ``fakecupy.ndarray(shape, dtype=float, order='C')`` allocates an
    uninitialised array, as CuPy's constructor does; the other ways in are
    ``fakecupy.asarray``, ``fakecupy.array`` and the fake module's creators.
    """

    __slots__ = ("_memory",)
    # CuPy's value: numpy defers its binary operators to this type.
    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the fake device allocates its own memory: memptr and "
                                      "strides are not supported")
        self._memory = np.empty(shape, dtype=dtype, order=order)

    shape = property(lambda self: self._memory.shape, doc="Lengths of the axes.")
    dtype = property(lambda self: self._memory.dtype, doc="The element type.")
    ndim = property(lambda self: self._memory.ndim, doc="Number of axes.")
    size = property(lambda self: self._memory.size, doc="Number of elements.")
    itemsize = property(lambda self: self._memory.itemsize, doc="Bytes per element.")
    nbytes = property(lambda self: self._memory.nbytes, doc="Bytes of all the elements.")
    strides = property(lambda self: self._memory.strides, doc="Bytes between elements, by axis.")
    T = property(lambda self: _wrap(self._memory.T), doc="The transposed view.")

    @property
    def flags(self):
        """Flags with ``c_contiguous``, ``f_contiguous`` and ``owndata`` only."""
        flags = self._memory.flags
        return Flags(flags.c_contiguous, flags.f_contiguous, flags.owndata)

    @property
    def device(self):
        """The device holding the array (the fake has device 0 only)."""
        return Device(0)

    # -- The refused implicit conversion, and the explicit ones -------------

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed: the array is on "
                        "the (fake) device; use fakecupy.asnumpy(x) or x.get()")

    def get(self, stream=None, order="C", out=None, blocking=True):
        """A host copy (numpy array), or the copy written into ``out``; a sync."""
        _sync("get()")
        if out is None:
            return np.array(self._memory, order=order, copy=True)
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        if out.dtype != self.dtype or out.shape != self.shape:
            raise ValueError(f"out must have shape {self.shape} and dtype {self.dtype}, "
                             f"got {out.shape} and {out.dtype}")
        out[...] = self._memory
        return out

    def set(self, arr, stream=None):
        """Copy the host array ``arr``, of this shape and dtype, into this array; an upload."""
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"only a numpy.ndarray can be set, got {type(arr).__name__}")
        if arr.dtype != self.dtype:
            raise TypeError(f"a {arr.dtype} array cannot be set to a {self.dtype} array")
        if arr.shape != self.shape:
            raise ValueError(f"shape mismatch: the array has shape {self.shape}, the host "
                             f"array {arr.shape}")
        _upload("set()")
        self._memory[...] = arr

    def _read(self, reason):
        """The memory, for a value the host reads (a sync)."""
        _sync(reason)
        return self._memory

    def __float__(self):
        return float(self._read("float()"))

    def __int__(self):
        return int(self._read("int()"))

    def __complex__(self):
        return complex(self._read("complex()"))

    def __bool__(self):
        if self.size == 0:
            warnings.warn("the truth value of an empty array is ambiguous; returning False",
                          DeprecationWarning, stacklevel=2)
            return False
        if self.size > 1:
            raise ValueError("the truth value of an array with more than one element is "
                             "ambiguous: use a.any() or a.all()")
        return bool(self._read("bool()"))

    def item(self):
        """The single element as a Python scalar; a sync."""
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self._read("item()").item()

    def tolist(self):
        """The elements as nested Python lists; a sync."""
        return self._read("tolist()").tolist()

    def tobytes(self, order="C"):
        """The raw bytes; a sync."""
        return self._read("tobytes()").tobytes(order)

    def __repr__(self):
        return repr(self._read("repr()"))

    def __str__(self):
        return str(self._read("str()"))

    def __format__(self, format_spec):
        return format(self._read("format()"), format_spec)

    def __reduce__(self):
        return _unpickle, (self.get(),)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    # -- Container ----------------------------------------------------------

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._memory)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._memory)))

    def __getitem__(self, key):
        return _wrap(self._memory[_index(key)[0]])

    def __setitem__(self, key, value):
        index, advanced = _index(key)
        kind = type(value)
        if kind is ndarray:
            value = value._memory
        elif kind is np.ndarray or kind is list or kind is tuple:
            if advanced:
                # CuPy copies these values to the device (core.array), as it does the indices.
                _upload("host values of an indexed assignment")
            elif np.ndim(value) != 0:
                raise ValueError(f"a host array of shape {np.shape(value)} cannot be stored into "
                                 f"a device array (CuPy: non-scalar numpy.ndarray cannot be used "
                                 f"for fill); copy it with fakecupy.asarray(x) first")
        self._memory[index] = value

    # -- Methods that differ from numpy's ----------------------------------

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        """The array as ``dtype``; ``self`` itself when ``copy`` is False and the dtype is kept."""
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        return _wrap(self._memory.astype(dtype, order=order, casting=casting or "unsafe"))

    def view(self, dtype=None):
        """A view of the same memory, its bytes read as ``dtype`` if given."""
        return _wrap(self._memory.view() if dtype is None else self._memory.view(dtype))

    def fill(self, value):
        """Set every element to ``value``, a scalar or a 0-d device array."""
        if type(value) is ndarray:
            if value.ndim != 0:
                raise ValueError("a non-scalar device array cannot be used for fill")
            value = value._memory
        elif np.ndim(value) != 0:
            raise ValueError(f"fill takes a scalar, got a value of shape {np.shape(value)}")
        self._memory.fill(value)

    def dot(self, b, out=None):
        """The dot product with the device array ``b``."""
        if type(b) is not ndarray:
            raise TypeError(f"dot takes a device array, got {type(b).__name__}")
        return fakecupy.dot(self, b, out=out)

    # -- The ufunc and function protocols (NEP 13, NEP 18), as CuPy's ------

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        device_ufunc = _UFUNCS.get(ufunc.__name__)
        if device_ufunc is None or method not in _UFUNC_METHODS:
            return NotImplemented
        if "out" in kwargs:
            if len(kwargs["out"]) != 1:
                raise ValueError("the 'out' parameter must have exactly one array value")
            kwargs["out"] = kwargs["out"][0]
        for value in inputs + ((kwargs["out"],) if "out" in kwargs else ()):
            if not isinstance(value, (_SCALARS, ndarray, np.ndarray)):
                return NotImplemented
        if ufunc.__name__ in _COMPARISONS:
            inputs = tuple(x.item() if type(x) is np.ndarray and x.ndim == 0 else x
                           for x in inputs)
        if method == "__call__":
            return device_ufunc(*inputs, **kwargs)
        return getattr(device_ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        implementation = _implementation_of(func)
        if implementation is None:
            return NotImplemented
        for kind in types:
            if not issubclass(kind, (ndarray, np.ndarray)):
                return NotImplemented
        return implementation(*args, **kwargs)


_UFUNC_METHODS = ("__call__", "at", "reduce", "accumulate", "reduceat", "outer")


def _unpickle(host):
    return _upload_copy(host, "unpickle")


def _method(name, syncs=False):
    """ndarray.<name>: numpy's method on the memory, its results on the device."""
    where = f"ndarray.{name}"

    def method(self, *args, **kwargs):
        if syncs:
            _sync(where)
        result = getattr(self._memory, name)(*_private(args, where),
                                             **_private_kwargs(kwargs, where))
        return _device_or_given_out(result, kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"numpy.ndarray.{name} on the device (device arrays in and out)."
    return method


# Methods of cupy.ndarray that take numpy's arguments (cupy/_core/core.pyx).
METHOD_NAMES = (
    "all any argmax argmin argsort clip copy cumprod cumsum diagonal flatten max mean min "
    "prod ravel repeat reshape round sort squeeze std sum swapaxes take trace transpose var"
).split()
for _name in METHOD_NAMES:
    setattr(ndarray, _name, _method(_name))
# Its output's shape depends on the data, so CuPy reads a count from the device.
ndarray.nonzero = _method("nonzero", syncs=True)


def _binary(ufunc_name, reflected=False, inplace=False):
    """A binary operator of the device array: one call of the fake ufunc."""
    def operator_(self, other):
        if getattr(type(other), "__array_ufunc__", 0) is None:
            return NotImplemented  # NEP 13: the other operand opted out of ufuncs
        if inplace:
            return _UFUNCS[ufunc_name](self, other, out=self)
        return _UFUNCS[ufunc_name](other, self) if reflected else _UFUNCS[ufunc_name](self, other)
    return operator_


def _unary(ufunc_name):
    return lambda self: _UFUNCS[ufunc_name](self)


_COMPARISONS = {"less": "lt", "less_equal": "le", "equal": "eq", "not_equal": "ne",
                "greater": "gt", "greater_equal": "ge"}


def _comparison(ufunc_name):
    def compare(self, other):
        if getattr(type(other), "__array_ufunc__", 0) is None:
            return NotImplemented
        if type(other) is np.ndarray and other.ndim == 0:
            other = other.item()
        if ufunc_name in ("equal", "not_equal") and (
                other is None or type(other).__eq__ is object.__eq__):
            # As in CuPy: an object with no __eq__ of its own (None too) equals no element.
            return _wrap(np.full(self.shape, ufunc_name == "not_equal"))
        return _UFUNCS[ufunc_name](self, other)
    return compare


for _op, _ufunc_name in {
    "add": "add", "sub": "subtract", "mul": "multiply", "matmul": "matmul",
    "truediv": "divide", "floordiv": "floor_divide", "mod": "remainder", "pow": "power",
    "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
    "lshift": "left_shift", "rshift": "right_shift", "divmod": "divmod",
}.items():
    setattr(ndarray, f"__{_op}__", _binary(_ufunc_name))
    setattr(ndarray, f"__r{_op}__", _binary(_ufunc_name, reflected=True))
    if _op not in ("divmod", "matmul"):  # no in-place divmod; CuPy has no __imatmul__
        setattr(ndarray, f"__i{_op}__", _binary(_ufunc_name, inplace=True))
for _op, _ufunc_name in {"neg": "negative", "pos": "positive", "abs": "absolute",
                         "invert": "invert"}.items():
    setattr(ndarray, f"__{_op}__", _unary(_ufunc_name))
for _ufunc_name, _op in _COMPARISONS.items():
    setattr(ndarray, f"__{_op}__", _comparison(_ufunc_name))
# Mutable and compared elementwise: unhashable, as numpy's and CuPy's arrays are.
ndarray.__hash__ = None
fakecupy.ndarray = ndarray


# ---------------------------------------------------------------------------
# ufuncs
# ---------------------------------------------------------------------------

# ufunc.at: the dtypes of CuPy's scatter kernels (cupy/_core/_routines_indexing.pyx).
_INT_32_64 = ("int32", "int64", "uint32", "uint64")
_AT_DTYPES = {
    "add": _INT_32_64 + ("float16", "float32", "float64"),
    "subtract": ("int32", "uint32"),
    "maximum": _INT_32_64 + ("float32", "float64"),
    "minimum": _INT_32_64 + ("float32", "float64"),
    "bitwise_and": _INT_32_64,
    "bitwise_or": _INT_32_64,
    "bitwise_xor": _INT_32_64,
}


@_exported(fakecupy, "ufunc")
class ufunc:  # lower case: CuPy's name
    """A device ufunc: numpy's ufunc of the same name, with CuPy's rules for arguments.

    Inputs are device arrays or scalars (Python or numpy scalars); ``out`` is
    a device array; the only keywords are ``out``, ``dtype`` and ``casting``.
    """

    def __init__(self, name):
        self._numpy = getattr(np, name)
        self.name = name
        self.nin, self.nout, self.nargs = self._numpy.nin, self._numpy.nout, self._numpy.nargs

    def __repr__(self):
        return f"<fakecupy ufunc '{self.name}'>"

    def _input(self, value):
        if type(value) is ndarray:
            return value._memory
        if isinstance(value, _SCALARS):
            return value
        if type(value) is np.ndarray:
            _refuse_host(value, f"fakecupy.{self.name}")
        raise TypeError(f"Unsupported type {type(value)}: fakecupy.{self.name} takes device "
                        f"arrays and scalars only")

    def _output(self, value):
        if type(value) is not ndarray:
            raise TypeError(f"the out of fakecupy.{self.name} must be a device array, "
                            f"got {type(value).__name__}")
        return value._memory

    def __call__(self, *args, out=None, dtype=None, casting=None, **kwargs):
        if kwargs:
            raise TypeError(f"Wrong arguments {kwargs}: fakecupy ufuncs take out, dtype and "
                            f"casting only")
        if not self.nin <= len(args) <= self.nargs:
            raise TypeError(f"fakecupy.{self.name} takes {self.nin} inputs and up to "
                            f"{self.nout} outputs, got {len(args)} arguments")
        inputs = [self._input(value) for value in args[:self.nin]]
        outs = args[self.nin:]
        if out is not None:
            if outs:
                raise ValueError("cannot specify 'out' as both a positional and keyword "
                                 "argument")
            outs = out if isinstance(out, tuple) else (out,)
        options = {"dtype": dtype}
        if casting is not None:
            options["casting"] = casting
        if outs:
            options["out"] = tuple(self._output(value) for value in outs)
        result = self._numpy(*inputs, **options)
        if outs:
            return outs[0] if self.nout == 1 else tuple(outs)
        return _device(result)

    def at(self, a, indices, b=None):
        """In place: ``a[indices] = ufunc(a[indices], b)``, repeated indices accumulating."""
        self._check_method("at", _AT_DTYPES, a)
        if a.dtype.name not in _AT_DTYPES[self.name]:
            raise TypeError(f"fakecupy.{self.name}.at supports "
                            f"{', '.join(_AT_DTYPES[self.name])}, got {a.dtype}")
        index, _ = _index(indices)
        if type(b) is ndarray:
            b = b._memory
        elif type(b) is np.ndarray or type(b) is list:
            _upload("host values of ufunc.at")
        self._numpy.at(a._memory, index, b)

    def _check_method(self, method, supported, array):
        """Refuse what CuPy's ufunc.<method> refuses: another ufunc, or a host array."""
        if self.name not in supported:
            raise NotImplementedError(f"fakecupy.{self.name}.{method} is not supported (CuPy "
                                      f"has it for {', '.join(supported)} only)")
        if type(array) is not ndarray:
            raise TypeError(f"fakecupy.{self.name}.{method} takes a device array, got "
                            f"{type(array).__name__}")

    def _reduction(self, method, supported, array, *args, **kwargs):
        self._check_method(method, supported, array)
        where = f"fakecupy.{self.name}.{method}"
        result = getattr(self._numpy, method)(array._memory, *_private(args, where),
                                              **_private_kwargs(kwargs, where))
        return _device_or_given_out(result, kwargs)

    def reduce(self, array, axis=0, dtype=None, out=None, keepdims=False):
        """``add.reduce`` is ``sum`` and ``multiply.reduce`` is ``prod``; CuPy has no others."""
        return self._reduction("reduce", ("add", "multiply"), array, axis=axis, dtype=dtype,
                               out=out, keepdims=keepdims)

    def accumulate(self, array, axis=0, dtype=None, out=None):
        """``add.accumulate`` is ``cumsum`` and ``multiply.accumulate`` is ``cumprod``."""
        return self._reduction("accumulate", ("add", "multiply"), array, axis=axis,
                               dtype=dtype, out=out)

    def reduceat(self, array, indices, axis=0, dtype=None, out=None):
        """``add.reduceat`` only."""
        return self._reduction("reduceat", ("add",), array, indices, axis=axis, dtype=dtype,
                               out=out)

    def outer(self, A, B, **kwargs):
        """The ufunc of every pair of an element of ``A`` and one of ``B``."""
        A, B = fakecupy.asarray(A), fakecupy.asarray(B)
        return self(A.reshape(A.shape + (1,) * B.ndim), B.reshape((1,) * A.ndim + B.shape),
                    **kwargs)


# The ufuncs that numpy and CuPy both have. np.true_divide is np.divide and np.mod
# is np.remainder: one fake ufunc each, by numpy's name, under both names.
UFUNC_NAMES = (
    "add subtract multiply divide true_divide floor_divide negative positive power float_power "
    "remainder mod fmod divmod absolute fabs sign rint floor ceil trunc "
    "exp exp2 expm1 log log2 log10 log1p logaddexp logaddexp2 sqrt square cbrt reciprocal "
    "sin cos tan arcsin arccos arctan arctan2 hypot sinh cosh tanh arcsinh arccosh arctanh "
    "degrees radians deg2rad rad2deg greater greater_equal less less_equal equal not_equal "
    "logical_and logical_or logical_xor logical_not maximum minimum fmax fmin "
    "isfinite isinf isnan signbit copysign nextafter ldexp frexp modf heaviside "
    "bitwise_and bitwise_or bitwise_xor invert left_shift right_shift matmul"
).split()
_UFUNCS = {}
for _name in UFUNC_NAMES:
    _numpy_name = getattr(np, _name).__name__
    _UFUNCS.setdefault(_numpy_name, ufunc(_numpy_name))
    setattr(fakecupy, _name, _UFUNCS[_numpy_name])
fakecupy.abs = _UFUNCS["absolute"]


# ---------------------------------------------------------------------------
# Functions of the fake module
# ---------------------------------------------------------------------------


def _function(numpy_function, name, host_result=False, syncs=False):
    """fakecupy.<name>: ``numpy_function`` on the memory of device arrays, its result
    on the device.

    ``host_result``: the result stays a host value (``shape``, ``ndim``), as
    in CuPy; otherwise a Python scalar becomes a 0-d device array, as CuPy's
    ``allclose`` and ``count_nonzero`` return. ``syncs``: CuPy reads from the
    device to size the output (``nonzero``, ``unique``).
    """
    where = f"fakecupy.{name}"

    def function(*args, **kwargs):
        if syncs:
            _sync(where)
        result = numpy_function(*_private(args, where), **_private_kwargs(kwargs, where))
        if host_result:
            return result
        if type(result) in (bool, int, float, complex):
            result = np.array(result)
        return _device_or_given_out(result, kwargs)

    function.__name__ = function.__qualname__ = name.rpartition(".")[2]
    function.__doc__ = f"numpy.{name} on the device (device arrays in and out, host arrays refused)."
    return function


# CuPy's functions that the fake module has (each checked in cupy/__init__.py).
FUNCTION_NAMES = (
    # creation
    "empty zeros ones full empty_like zeros_like ones_like full_like arange linspace eye "
    "identity tri copy "
    # shape and joining
    "reshape ravel transpose moveaxis swapaxes squeeze expand_dims broadcast_to "
    "broadcast_arrays atleast_1d atleast_2d atleast_3d concatenate stack vstack hstack split "
    "array_split tile repeat flip roll pad "
    # indexing
    "take take_along_axis put_along_axis diag diagonal tril triu copyto "
    # sorting, searching, counting
    "sort argsort argmax argmin searchsorted count_nonzero isin "
    # reductions, and elementwise functions that are not ufuncs
    "sum prod mean var std max min amax amin cumsum cumprod clip around round nan_to_num diff "
    "average trace all any isclose allclose array_equal "
    # products
    "dot vdot inner outer tensordot einsum kron"
).split()
# Their output's shape depends on the data, so CuPy reads a count from the device.
SYNCING_FUNCTION_NAMES = "nonzero flatnonzero argwhere unique bincount".split()
HOST_RESULT_FUNCTION_NAMES = "ndim shape size".split()
LINALG_NAMES = "norm inv solve det svd qr eigh cholesky pinv slogdet".split()
# What CuPy takes from numpy as it is: dtypes, abstract types, constants, dtype helpers.
NUMPY_NAMES = (
    "bool_ bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 intp float16 float32 "
    "float64 complex64 complex128 dtype generic number integer signedinteger unsignedinteger "
    "inexact floating complexfloating inf nan pi e newaxis finfo iinfo issubdtype "
    "promote_types isdtype"
).split()

for _name in FUNCTION_NAMES:
    setattr(fakecupy, _name, _function(getattr(np, _name), _name))
for _name in SYNCING_FUNCTION_NAMES:
    setattr(fakecupy, _name, _function(getattr(np, _name), _name, syncs=True))
for _name in HOST_RESULT_FUNCTION_NAMES:
    setattr(fakecupy, _name, _function(getattr(np, _name), _name, host_result=True))
for _name in LINALG_NAMES:
    setattr(fakecupy.linalg, _name, _function(getattr(np.linalg, _name), f"linalg.{_name}"))
for _name in NUMPY_NAMES:
    setattr(fakecupy, _name, getattr(np, _name))

_elementwise_where = _function(np.where, "where")


@_exported(fakecupy, "where")
def _where(condition, x=None, y=None):
    """``where(condition, x, y)``, elementwise; ``where(condition)`` is ``nonzero`` (a sync)."""
    if x is None and y is None:
        return fakecupy.nonzero(condition)
    return _elementwise_where(condition, x, y)


@_exported(fakecupy, "asarray")
def _asarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    """``a`` itself if it is a device array already (cast if ``dtype`` differs);
    otherwise a device copy of the host data ``a`` (an upload)."""
    if type(a) is ndarray:
        if not copy and (dtype is None or np.dtype(dtype) == a.dtype):
            return a
        if copy is False:
            raise ValueError(f"copy=False, but a {a.dtype} array cannot become {dtype} "
                             f"without a copy")
        return _wrap(np.array(a._memory, dtype=dtype, order=order or "K", copy=True))
    if copy is False:
        raise ValueError("copy=False, but host data cannot reach the device without a copy")
    return _upload_copy(a, "asarray(host)", dtype=dtype, order=order or "K")


@_exported(fakecupy, "array")
def _array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """A device array of ``obj``: a copy, unless ``copy`` is False and nothing changes."""
    if type(obj) is not ndarray:
        return _upload_copy(obj, "array(host)", dtype=dtype, order=order, ndmin=ndmin)
    if not copy and (dtype is None or np.dtype(dtype) == obj.dtype) and obj.ndim >= ndmin:
        return obj
    return _wrap(np.array(obj._memory, dtype=dtype, order=order, copy=True, ndmin=ndmin))


@_exported(fakecupy, "ascontiguousarray")
def _ascontiguousarray(a, dtype=None):
    """``a`` in C order on the device (``a`` itself if it is already)."""
    if type(a) is not ndarray:
        raise TypeError(f"fakecupy.ascontiguousarray takes a device array, got "
                        f"{type(a).__name__}; copy host data with fakecupy.asarray")
    if a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    return _wrap(np.ascontiguousarray(a._memory, dtype=dtype))


@_exported(fakecupy, "asnumpy")
def _asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """A host array: a copy of a device array (a sync), numpy's asarray of anything else."""
    if type(a) is ndarray:
        return a.get(stream=stream, order=order, out=out, blocking=blocking)
    host = np.asarray(a, order=order)
    if out is None:
        return host
    out[...] = host
    return out


@_exported(fakecupy, "get_array_module")
def _get_array_module(*args):
    """``fakecupy`` if an argument is a device array, otherwise ``numpy``."""
    for value in args:
        if type(value) is ndarray:
            return fakecupy
    return np


@_exported(fakecupy, "is_available")
def _is_available():
    """True: the fake device is always there."""
    return True


def _dtype_of(value):
    return value.dtype if type(value) is ndarray else value


@_exported(fakecupy, "result_type")
def _result_type(*arrays_and_dtypes):
    """numpy's result type, a device array standing for its dtype (a host value)."""
    return np.result_type(*(_dtype_of(value) for value in arrays_and_dtypes))


@_exported(fakecupy, "can_cast")
def _can_cast(from_, to, casting="safe"):
    """numpy's can_cast, a device array standing for its dtype (a host value)."""
    return np.can_cast(_dtype_of(from_), to, casting=casting)


def _memories(a, b, where):
    if type(a) is not ndarray or type(b) is not ndarray:
        raise TypeError(f"fakecupy.{where} takes two device arrays, got {type(a).__name__} "
                        f"and {type(b).__name__}")
    return a._memory, b._memory


@_exported(fakecupy, "shares_memory")
def _shares_memory(a, b, max_work=None):
    """True if ``a`` and ``b`` share an element (a Python bool).

    CuPy compares the element addresses of both arrays on the device and reads
    the answer back, a sync, unless ``a is b`` or ``max_work`` is
    ``'MAY_SHARE_BOUNDS'`` (then it compares the bounds, on the host).
    """
    first, second = _memories(a, b, "shares_memory")
    if a is b and a.size != 0:
        return True
    if max_work == "MAY_SHARE_BOUNDS":
        return bool(np.may_share_memory(first, second))
    if max_work not in (None, "MAY_SHARE_EXACT"):
        raise NotImplementedError("an integer max_work is not supported (nor in CuPy)")
    _sync("shares_memory")
    return bool(np.shares_memory(first, second))


@_exported(fakecupy, "may_share_memory")
def _may_share_memory(a, b, max_work=None):
    """True if the memory bounds of ``a`` and ``b`` overlap (no sync)."""
    first, second = _memories(a, b, "may_share_memory")
    if max_work is not None:
        raise NotImplementedError("only max_work=None is supported (as in CuPy)")
    return bool(np.may_share_memory(first, second))


@_exported(fakecupy.lib.stride_tricks, "as_strided")
def _as_strided(x, shape=None, strides=None):
    """A view of the device array ``x`` with ``shape`` and ``strides`` (in bytes).

    CuPy's signature: no ``writeable`` (nor ``subok``) argument.
    """
    if type(x) is not ndarray:
        raise TypeError(f"fakecupy.lib.stride_tricks.as_strided takes a device array, got "
                        f"{type(x).__name__}")
    return _wrap(np.lib.stride_tricks.as_strided(x._memory, shape=shape, strides=strides))


@_exported(fakecupy.lib.stride_tricks, "sliding_window_view")
def _sliding_window_view(x, window_shape, axis=None, *, subok=False, writeable=False):
    """A read-only view of every window of ``window_shape`` along ``axis``.

    ``writeable=True`` raises NotImplementedError, as in CuPy. Host data is
    copied to the device first (CuPy calls ``cupy.array(x, copy=False)``).
    """
    if writeable:
        raise NotImplementedError("Writeable views are not supported.")
    if type(x) is not ndarray:
        x = _upload_copy(x, "sliding_window_view(host)")
    return _wrap(np.lib.stride_tricks.sliding_window_view(x._memory, window_shape, axis=axis))


class _RefusedRandom(types.ModuleType):
    """fakecupy.random: every draw raises RuntimeError (the library draws on the host)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise RuntimeError(
            f"fakecupy.random.{name}: a random draw on the device; the library draws on the "
            f"host (numpy) and copies the draws to the device, so the fake refuses this")


fakecupy.random = _RefusedRandom("fakecupy.random", _RefusedRandom.__doc__)


# -- fakecupy.cuda: one device ------------------------------------------------------


@_exported(fakecupy.cuda, "Device")
class Device:
    """A CUDA device of the fake: only device 0 exists."""

    def __init__(self, device=None):
        self.id = 0 if device is None else operator.index(device)

    def use(self):
        """Make this the current device."""
        if self.id != 0:
            raise RuntimeError(f"invalid device ordinal {self.id}: the fake has device 0 only")

    def synchronize(self):
        """Wait for the device's work to finish: a sync."""
        self.use()
        _sync("Device.synchronize()")

    def __enter__(self):
        self.use()
        return self

    def __exit__(self, *exc_info):
        return False

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


@_exported(fakecupy.cuda, "Stream")
class Stream:
    """The fake device's one stream."""

    def synchronize(self):
        """Wait for the stream's work to finish: a sync."""
        _sync("Stream.synchronize()")


fakecupy.cuda.is_available = _is_available
fakecupy.cuda.get_current_stream = Stream
fakecupy.cuda.get_device_id = lambda: 0
fakecupy.cuda.runtime.getDeviceCount = lambda: 1


# -- numpy function -> fake function, for __array_function__ -----------------------

_IMPLEMENTATIONS = {}


def _implementation_of(func):
    """The fake module's function for the numpy function ``func``, or None.

    Found as CuPy finds its own: the same name in the same submodule
    (``numpy.linalg.norm`` -> ``fakecupy.linalg.norm``).
    """
    if func not in _IMPLEMENTATIONS:
        namespace = fakecupy
        for part in func.__module__.split(".")[1:]:
            namespace = getattr(namespace, part, None)
        found = getattr(namespace, func.__name__, None)
        _IMPLEMENTATIONS[func] = found if callable(found) else None
    return _IMPLEMENTATIONS[func]
