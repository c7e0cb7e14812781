"""Where a kernel's windows fall on an image: shared by convolution and pooling.

Settings as the layers take them (``as_pair``, ``pad_amounts``), the output
size (``output_shape``), the padded input (``pad_input``) and a view of every
window (``windows``); ``span`` and ``clip`` give the slices that one kernel
offset reads, so that convolution and pooling loop over kernel offsets,
never over positions.
Images are NHWC: (batch, rows, cols, channels).
"""


import numpy as np

from .. import backend
from ..utils.checks import is_whole


def as_pair(value, what):
    """Turn an int or a pair of ints into a pair of ints.

    Raises ValueError naming ``what`` for anything else.
    """
    if is_whole(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(is_whole, value)):
        return int(value[0]), int(value[1])
    raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")


def pad_amounts(pad, kernel_shape):
    """Rows and columns of padding on each side.

    Parameters
    ----------
    pad           "same" -> ((kr-1)//2, (kc-1)//2); "valid" -> (0, 0);
                  an int p -> (p, p); a pair (pr, pc) as given
    kernel_shape  (kr, kc)

    Returns
    -------
    (pad_rows, pad_cols)
    """
    kr, kc = kernel_shape
    if isinstance(pad, str):
        if pad == "same":
            return (kr - 1) // 2, (kc - 1) // 2
        if pad == "valid":
            return 0, 0
        raise ValueError(f"pad must be 'same', 'valid' or an int >= 0, got {pad!r}")
    pads = as_pair(pad, "pad ('same', 'valid' or an int >= 0)")
    if min(pads) < 0:
        raise ValueError(f"pad must be >= 0, got {pad!r}")
    return pads


def output_shape(in_shape, kernel_shape, stride, pads):
    """Output rows and columns of a convolution or pooling.

    Parameters
    ----------
    in_shape      (rows, cols) of the input
    kernel_shape  (kr, kc)
    stride        int >= 1
    pads          (pad_rows, pad_cols)

    Returns
    -------
    (out_rows, out_cols) = 1 + (rows + 2*pad - kernel) // stride, per axis
    """
    rows, cols = in_shape
    kr, kc = kernel_shape
    pr, pc = pads
    if kr > rows + 2 * pr or kc > cols + 2 * pc:
        raise ValueError(
            f"kernel {kernel_shape} is larger than the padded input "
            f"({rows + 2 * pr}, {cols + 2 * pc}) (input {in_shape}, padding {pads})"
        )
    return 1 + (rows + 2 * pr - kr) // stride, 1 + (cols + 2 * pc - kc) // stride


def pad_input(X, pads, value=0):
    """Return X surrounded by ``pads`` rows/columns of ``value`` (X itself if none).

    Parameters
    ----------
    X      array (batch, rows, cols, channels)
    pads   (pad_rows, pad_cols)
    value  fill value (0 for convolution, -inf for max pooling)

    Returns
    -------
    array (batch, rows + 2*pad_rows, cols + 2*pad_cols, channels)
    """
    pr, pc = pads
    if pr == 0 and pc == 0:
        return X
    n, rows, cols, ch = X.shape
    shape = (n, rows + 2 * pr, cols + 2 * pc, ch)
    xp = backend.get_array_module(X)
    if xp is not np:
        # On a GPU each fill is a kernel: fill all at once, then copy the interior.
        Xpad = xp.full(shape, value, dtype=X.dtype)
        Xpad[:, pr:pr + rows, pc:pc + cols] = X
        return Xpad
    Xpad = np.empty(shape, dtype=X.dtype)
    # Fill only the border, then copy the interior once.
    Xpad[:, :pr] = value
    Xpad[:, pr + rows:] = value
    Xpad[:, pr:pr + rows, :pc] = value
    Xpad[:, pr:pr + rows, pc + cols:] = value
    Xpad[:, pr:pr + rows, pc:pc + cols] = X
    return Xpad


def windows(Xpad, kernel_shape, stride, out_shape):
    """A view of every receptive field, without copying (read-only on the host).

    Returns
    -------
    view of shape (batch, out_rows, out_cols, kr, kc, channels)
    """
    kr, kc = kernel_shape
    out_rows, out_cols = out_shape
    sn, sr, sc, sch = Xpad.strides
    return backend.as_strided(
        Xpad,
        shape=(Xpad.shape[0], out_rows, out_cols, kr, kc, Xpad.shape[3]),
        strides=(sn, sr * stride, sc * stride, sr, sc, sch),
    )


def span(start, count, stride):
    """Slice of ``count`` indices from ``start`` in steps of ``stride``.

    With ``start`` a kernel offset and ``count`` the output size along an
    axis, it picks the padded-input positions that the offset meets.
    """
    return slice(start, start + stride * (count - 1) + 1, stride)


def clip(offset, pad, in_size, out_size, stride):
    """Where kernel offset ``offset`` meets the unpadded input, along one axis.

    Output position r reads input index r*stride + offset - pad.

    Parameters
    ----------
    offset    kernel row (or column) index, 0 <= offset < kernel size
    pad       padding before the input along this axis
    in_size   input rows (or columns), unpadded
    out_size  output rows (or columns)
    stride    int >= 1

    Returns
    -------
    (out_slice, in_slice) over the output positions whose input index lies
    inside the input, and those input indices (padding contributes zero and
    is skipped); None if there are none
    """
    first = max(0, -((offset - pad) // stride))
    last = min(out_size - 1, (in_size - 1 + pad - offset) // stride)
    if last < first:
        return None
    start = first * stride + offset - pad
    return slice(first, last + 1), slice(start, start + (last - first) * stride + 1, stride)
