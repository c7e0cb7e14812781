"""Where arrays live: numpy's on the CPU, CuPy's on a GPU.

The array module follows the data, as DeZero's ``cuda.get_array_module`` and
Chainer's ``backend.get_array_module`` have it: a function given CuPy arrays
computes with CuPy, given numpy arrays with numpy, from the same code. numpy's
own functions and ufuncs called on CuPy arrays run CuPy's (NEP 13 and NEP 18),
so ``np.exp(x)``, ``np.einsum(...)`` or ``np.matmul(a, b, out=c)`` need nothing
from here. This module holds what differs between the two (each difference
checked in CuPy's documentation):

- a creator with no array argument (``np.empty(shape)``) always makes a host
  array: take the module from the input, ``xp = get_array_module(X)``, and
  call ``xp.empty(shape)``;
- ``np.asarray``, ``np.array`` and ``np.ascontiguousarray`` refuse CuPy arrays
  (no implicit copy to the host): ``as_array``, ``to_host``, ``to_device``;
- CuPy's ``as_strided`` takes no ``writeable``, and numpy's does not dispatch:
  ``as_strided``;
- ``np.shares_memory`` on CuPy arrays compares the address of every element on
  the device and reads the answer back: ``may_share_memory`` compares bounds;
- reductions give 0-d device arrays, and each ``float()`` of one waits for the
  device: ``read_scalars`` reads several in one transfer.

Devices are named "cpu" and "gpu". CuPy is imported only when a GPU is asked
for (``gpu_module``); without CuPy, or with CuPy but no GPU, that is a
``DeviceUnavailableError`` (a ValueError) saying what to install. The tests
put a stand-in in CuPy's place with ``use_gpu_module`` (tests/fake_gpu.py's
``fakecupy``, a device with CuPy's rules on the CPU).
"""

import contextlib
import sys

import numpy as np

DEVICES = ("cpu", "gpu")

#: The CuPy wheel ``pip install -e ".[gpu]"`` installs (CUDA 12).
CUPY_WHEEL = "cupy-cuda12x"

_stand_in = None  # the module use_gpu_module put in CuPy's place, or None


class DeviceUnavailableError(ValueError):
    """A GPU was asked for, but CuPy is not installed or finds no GPU."""


@contextlib.contextmanager
def use_gpu_module(module):
    """Use ``module`` as the GPU's array module (CuPy's place) inside the block.

    For tests: ``with backend.use_gpu_module(fakecupy): model.to("gpu")`` runs
    the GPU path on a fake device. ``module`` needs CuPy's names that the
    library uses (``ndarray``, ``asarray``, ``asnumpy``, ``cuda.is_available``,
    ``lib.stride_tricks.as_strided``, ...). The blocks nest.
    """
    global _stand_in
    previous, _stand_in = _stand_in, module
    try:
        yield module
    finally:
        _stand_in = previous


def gpu_module():
    """The GPU's array module: CuPy (imported now, on first use), or the stand-in
    of ``use_gpu_module``.

    Raises
    ------
    DeviceUnavailableError, in one line, when CuPy is not installed or sees no GPU
    """
    module = _stand_in
    if module is None:
        try:
            import cupy as module
        except ImportError as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no module"
            raise DeviceUnavailableError(
                f"device 'gpu' needs CuPy, which does not import ({reason}): install it with "
                f"pip install {CUPY_WHEEL} (CUDA 12; cupy-cuda13x for CUDA 13), or "
                f"pip install -e \".[gpu]\"") from None
    if not module.cuda.is_available():
        raise DeviceUnavailableError(
            "device 'gpu': CuPy is installed but finds no GPU (cupy.cuda.is_available() is "
            "False): run on a machine with an NVIDIA GPU and its driver, or use device 'cpu'")
    return module


def check_device(device):
    """``device`` if it is "cpu" or "gpu" (ValueError otherwise); for "gpu", CuPy is
    loaded and a GPU found first (``gpu_module``)."""
    if device not in DEVICES:
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
    if device == "gpu":
        gpu_module()
    return device


def _loaded_gpu_module():
    """The GPU's module if one is in use (the stand-in, or CuPy once imported), else None."""
    return _stand_in if _stand_in is not None else sys.modules.get("cupy")


def get_array_module(*arrays):
    """The module of the arrays' device: the GPU's (CuPy) if one of them is a GPU
    array, numpy otherwise. Never imports CuPy."""
    gpu = _loaded_gpu_module()
    if gpu is not None:
        for x in arrays:
            if isinstance(x, gpu.ndarray):
                return gpu
    return np


def device_of(x):
    """ "gpu" for a GPU array, "cpu" for anything else."""
    return "cpu" if get_array_module(x) is np else "gpu"


def as_array(x):
    """``x`` as an array where it is: a GPU array as it is, anything else ``np.asarray``."""
    return x if get_array_module(x) is not np else np.asarray(x)


def to_host(x):
    """``x`` as a numpy array: a GPU array copied to the host (a wait for the
    device), anything else ``np.asarray``."""
    xp = get_array_module(x)
    return np.asarray(x) if xp is np else xp.asnumpy(x)


def to_device(x, device, copy=False):
    """``x`` as an array on ``device`` ("cpu" or "gpu"): moved if it is elsewhere,
    else as it is (a copy with ``copy=True``)."""
    if device == "cpu":
        host = to_host(x)
        return np.array(host, copy=True) if copy and host is x else host
    gpu = gpu_module()
    moved = gpu.asarray(x)
    return moved.copy() if copy and moved is x else moved


def to_device_of(x, reference):
    """``x`` on the device that holds the array ``reference`` (see ``to_device``)."""
    return to_device(x, device_of(reference))


def copy_of(x):
    """A copy of ``x`` where it is: GPU arrays stay on the GPU; anything else is
    copied into a numpy array (a Python number into a 0-d one)."""
    return x.copy() if get_array_module(x) is not np else np.array(x, copy=True)


def as_strided(x, shape, strides):
    """A read-only view of ``x`` with ``shape`` and ``strides`` (bytes), on either device.

    numpy's view is made read-only, so that no write goes through overlapping
    windows; CuPy has no read-only arrays (nor a ``writeable`` argument).
    """
    xp = get_array_module(x)
    if xp is np:
        return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


def may_share_memory(a, b):
    """Whether the memory bounds of ``a`` and ``b`` overlap (True when unsure).

    On the host this is numpy's exact ``shares_memory``; on a GPU the bounds are
    compared on the host, since CuPy's exact test reads every element's address
    back from the device.
    """
    xp = get_array_module(a, b)
    if xp is np:
        return np.shares_memory(a, b)
    return bool(xp.may_share_memory(a, b))


def read_scalars(values):
    """The values of several scalars (0-d arrays or numbers) as Python numbers.

    On the host each is read as it is. GPU scalars are stacked and copied back
    in one transfer, so that reading them waits for the device once, not once
    per value (the stack takes the widest dtype: a float32 value comes back as
    the float64 number it is).

    Returns
    -------
    list of Python numbers (float, int or bool), in the order given
    """
    xp = get_array_module(*values)
    if xp is np:
        return [value.item() if isinstance(value, (np.ndarray, np.generic)) else value
                for value in values]
    stacked = xp.stack([xp.asarray(value) for value in values])
    return xp.asnumpy(stacked).tolist()
