"""Unpickling a file that should hold plain data and numpy arrays, and may be hostile.

CIFAR-10's "python version" batches are pickles, and a pickle can call any
function with any arguments. ``load_array_pickle`` reads one with three
guards, each against what a corrupt or hostile file could make it do:

- Nothing is called but stand-ins for the four pieces a pickled numpy array
  is made of (``numpy.ndarray``, ``numpy.dtype``, ``_reconstruct``, and
  ``_codecs.encode`` with the latin-1 codec, how Python 3 writes bytes at
  protocol 2). They only record what the pickle says; the array is built
  afterwards with ``np.frombuffer``, once its shape, dtype and bytes agree.
  So numpy never allocates what a pickle merely declares (an array of 2**62
  bytes), and never runs its own unpickling code on untrusted state.
- Before unpickling, the opcodes are read once (``pickletools.genops``): a
  frame, string or bytes longer than the bytes left, or a memo index beyond
  those filled, is refused. The unpickler would allocate each up front
  (a memo index of 2**27 alone grows its memo to 2 GB).
- Whatever else goes wrong in the unpickler (a truncated file, an allowed
  callable given bad arguments) is a ValueError naming the file.
"""

import codecs
import io
import math
import pickle
import pickletools

import numpy as np

# The kinds of dtype a data array may have: booleans, integers, floats.
ARRAY_KINDS = "biuf"


class _PickledArray:
    """A numpy array as the pickle describes it; ``array_from`` checks and builds it."""

    def __init__(self):
        # No arguments: a pickle that calls numpy.ndarray(...) itself is refused here.
        self.state = None

    def __setstate__(self, state):
        self.state = state


class _PickledDtype:
    """A numpy dtype as the pickle describes it: numpy.dtype's arguments and state."""

    def __init__(self, spec, align=False, copy=True):
        self.spec = spec
        self.state = None

    def __setstate__(self, state):
        self.state = state


def _reconstruct(subtype, shape, typecode):
    # numpy pickles every array as _reconstruct(ndarray, (0,), b"b") and then its state.
    if subtype is not _PickledArray:
        raise ValueError(f"_reconstruct builds numpy arrays only, got {subtype!r}")
    return _PickledArray()


def _encode_latin1(text, encoding):
    # How pickle's protocol 2 writes bytes under Python 3: _codecs.encode(str, "latin1").
    if codecs.lookup(encoding).name != "iso8859-1":
        raise ValueError(f"_codecs.encode is allowed with the latin-1 codec only, got {encoding!r}")
    if not isinstance(text, str):
        raise ValueError(f"_codecs.encode takes a str here, got {type(text).__name__}")
    return text.encode("latin-1")


class _StandInUnpickler(pickle.Unpickler):
    """Finds the stand-ins for the pieces of a numpy array, and refuses every other name."""

    STAND_INS = {
        ("numpy", "ndarray"): _PickledArray,
        ("numpy", "dtype"): _PickledDtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("_codecs", "encode"): _encode_latin1,
    }

    def find_class(self, module, name):
        if (module, name) not in self.STAND_INS:
            raise ValueError(f"refusing to unpickle {module}.{name}: only plain data and numpy "
                             f"arrays may be in this file")
        return self.STAND_INS[module, name]


def check_opcodes(payload):
    """Refuse a pickle whose opcodes ask the unpickler for more memory than the file holds.

    ``pickletools.genops`` reads every opcode's argument, and refuses a string or
    bytes longer than what is left; a frame longer than what is left, or a memo
    index beyond the entries filled so far (picklers number them 0, 1, 2, ...),
    is refused here. Raises ValueError saying which and where.
    """
    entries = 0
    for opcode, arg, pos in pickletools.genops(payload):
        if opcode.name == "FRAME" and arg > len(payload) - pos:
            raise ValueError(f"a frame of {arg} bytes at byte {pos}, where "
                             f"{len(payload) - pos} bytes are left")
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            if arg > entries:
                raise ValueError(f"memo index {arg} at byte {pos}, after {entries} entries")
            entries += 1
        elif opcode.name == "MEMOIZE":
            entries += 1


def _dtype_from(pickled):
    """The numpy dtype a ``_PickledDtype`` describes: a plain number type only."""
    if not isinstance(pickled, _PickledDtype):
        raise ValueError(f"an array's dtype must be a numpy dtype, got {type(pickled).__name__}")
    spec = pickled.spec.decode("ascii") if isinstance(pickled.spec, bytes) else pickled.spec
    if not isinstance(spec, str) or len(spec) > 8:
        raise ValueError(f"a dtype must be named by a short string such as 'u1', got {spec!r:.40}")
    dtype = np.dtype(spec)
    if dtype.kind not in ARRAY_KINDS:
        raise ValueError(f"refusing an array of dtype {dtype}: only booleans, integers and "
                         f"floats may be in this file")
    # numpy's dtype state is (version, byte order, ...); '|' for one-byte types.
    state = pickled.state
    order = state[1] if isinstance(state, tuple) and len(state) > 1 else "="
    if isinstance(order, bytes):
        order = order.decode("ascii")
    if order not in ("<", ">", "=", "|"):
        raise ValueError(f"a dtype's byte order must be one of < > = |, got {order!r}")
    return dtype.newbyteorder(order) if order in "<>" else dtype


def array_from(pickled):
    """The numpy array a ``_PickledArray`` describes, once its bytes fit its shape and dtype.

    Returns
    -------
    a read-only array over the pickle's bytes, of the shape and dtype it declares
    """
    state = pickled.state
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise ValueError("an array's state must be (version, shape, dtype, fortran order, "
                         f"data), got {type(state).__name__}")
    shape, dtype, fortran, data = state[-4:]
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"an array's shape must be a tuple of sizes, got {shape!r:.60}")
    dtype = _dtype_from(dtype)
    if not isinstance(data, bytes):
        raise ValueError(f"an array's data must be bytes, got {type(data).__name__}")
    needed = math.prod(shape) * dtype.itemsize
    if len(data) != needed:
        raise ValueError(f"an array of shape {shape} and dtype {dtype} needs {needed} bytes, "
                         f"the file holds {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def load_array_pickle(payload, where):
    """Unpickle ``payload`` (bytes) with the guards above; its strings stay bytes.

    Parameters
    ----------
    payload  the whole file, already read (its size is the caller's to limit)
    where    the file's name, for messages

    Returns
    -------
    the unpickled object; the numpy arrays in it are built when it is one, or
    when they are values of the dict it is (an array anywhere else stays a
    stand-in, which the caller refuses as it refuses any other wrong type)
    """
    try:
        check_opcodes(payload)
        loaded = _StandInUnpickler(io.BytesIO(payload), encoding="bytes").load()
        if isinstance(loaded, _PickledArray):
            loaded = array_from(loaded)
        elif isinstance(loaded, dict):
            loaded = {key: array_from(value) if isinstance(value, _PickledArray) else value
                      for key, value in loaded.items()}
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, LookupError,
            AttributeError, OverflowError) as err:
        raise ValueError(f"{where} cannot be read as a pickle of data and numpy arrays: "
                         f"{err}") from None
    return loaded
