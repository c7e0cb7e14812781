"""Array math behind Conv2D and Pool2D, as pure functions on NHWC arrays.

Convolution is cross-correlation:
    Z[n, r, c, o] = sum_{i, j, ch} W[i, j, ch, o] * Xpad[n, r*s + i, c*s + j, ch] + b[0, o]

The forward pass gathers every receptive field into one matrix ("im2col",
rows = output positions, columns = (i, j, ch)) and does a single matrix
product; the backward pass does two matrix products and scatters the column
gradient back with one strided add per kernel offset ("col2im"). Pooling
loops over the kernel offsets only, never over examples or positions.
"""

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided


def as_pair(value, what):
    """Turn an int or a pair of ints into a pair of ints.

    Raises ValueError naming ``what`` for anything else.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    ):
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
    Xpad = np.empty((n, rows + 2 * pr, cols + 2 * pc, ch), dtype=X.dtype)
    # Fill only the border, then copy the interior once.
    Xpad[:, :pr] = value
    Xpad[:, pr + rows:] = value
    Xpad[:, pr:pr + rows, :pc] = value
    Xpad[:, pr:pr + rows, pc + cols:] = value
    Xpad[:, pr:pr + rows, pc:pc + cols] = X
    return Xpad


def windows(Xpad, kernel_shape, stride, out_shape):
    """A read-only view of every receptive field, without copying.

    Returns
    -------
    view of shape (batch, out_rows, out_cols, kr, kc, channels)
    """
    kr, kc = kernel_shape
    out_rows, out_cols = out_shape
    sn, sr, sc, sch = Xpad.strides
    return as_strided(
        Xpad,
        shape=(Xpad.shape[0], out_rows, out_cols, kr, kc, Xpad.shape[3]),
        strides=(sn, sr * stride, sc * stride, sr, sc, sch),
        writeable=False,
    )


def _offset_slice(i, j, stride, out_shape):
    """Index of the input positions that kernel offset (i, j) touches."""
    out_rows, out_cols = out_shape
    return (
        slice(None),
        slice(i, i + stride * (out_rows - 1) + 1, stride),
        slice(j, j + stride * (out_cols - 1) + 1, stride),
    )


def _scatter_offsets(d_offsets, padded_shape, kernel_shape, stride, pads, out_shape, dtype):
    """Sum per-offset gradients back onto the (unpadded) input.

    Parameters
    ----------
    d_offsets     function (i, j) -> gradient for offset (i, j), shape
                  (batch, out_rows, out_cols, channels)
    padded_shape  shape of the padded input

    Returns
    -------
    dX with the padding cut off, shape (batch, rows, cols, channels)
    """
    kr, kc = kernel_shape
    pr, pc = pads
    dXpad = np.zeros(padded_shape, dtype=dtype)
    for i in range(kr):
        for j in range(kc):
            dXpad[_offset_slice(i, j, stride, out_shape)] += d_offsets(i, j)
    rows = padded_shape[1] - 2 * pr
    cols = padded_shape[2] - 2 * pc
    return dXpad[:, pr:pr + rows, pc:pc + cols]


def conv2d_forward(X, W, b, stride, pads):
    """Convolution (cross-correlation) of a batch of NHWC images.

    Parameters
    ----------
    X       (batch, rows, cols, in_channels)
    W       (kr, kc, in_channels, out_channels)
    b       (1, out_channels)
    stride  int >= 1
    pads    (pad_rows, pad_cols)

    Returns
    -------
    Z     (batch, out_rows, out_cols, out_channels)
    cols  (batch*out_rows*out_cols, kr*kc*in_channels), the im2col matrix
          that conv2d_backward needs
    """
    kr, kc, _, out_channels = W.shape
    out_shape = output_shape(X.shape[1:3], (kr, kc), stride, pads)
    Xpad = pad_input(X, pads)
    # reshape of the strided view makes the one contiguous copy (im2col).
    cols = windows(Xpad, (kr, kc), stride, out_shape).reshape(-1, W[..., 0].size)
    Z = cols @ W.reshape(-1, out_channels)
    Z += b
    return Z.reshape(X.shape[0], *out_shape, out_channels), cols


def conv2d_backward(dZ, cols, X_shape, W, stride, pads):
    """Gradients of a convolution.

    Parameters
    ----------
    dZ       (batch, out_rows, out_cols, out_channels), dL/dZ
    cols     the im2col matrix returned by conv2d_forward
    X_shape  shape of the forward input (batch, rows, cols, in_channels)
    W        (kr, kc, in_channels, out_channels)
    stride   int >= 1
    pads     (pad_rows, pad_cols)

    Returns
    -------
    dX  (batch, rows, cols, in_channels)
    dW  (kr, kc, in_channels, out_channels)
    db  (1, out_channels)
    """
    kr, kc, in_channels, out_channels = W.shape
    out_shape = dZ.shape[1:3]
    dZ_mat = dZ.reshape(-1, out_channels)
    dW = (cols.T @ dZ_mat).reshape(W.shape)
    db = dZ_mat.sum(axis=0, keepdims=True)
    dcols = (dZ_mat @ W.reshape(-1, out_channels).T).reshape(
        dZ.shape[0], *out_shape, kr, kc, in_channels
    )
    pr, pc = pads
    padded_shape = (X_shape[0], X_shape[1] + 2 * pr, X_shape[2] + 2 * pc, in_channels)
    dX = _scatter_offsets(
        lambda i, j: dcols[:, :, :, i, j, :],
        padded_shape, (kr, kc), stride, pads, out_shape, dZ.dtype,
    )
    return dX, dW, db


def maxpool2d_forward(X, kernel_shape, stride, pads):
    """Max pooling; padding never wins (it acts as -inf).

    Parameters
    ----------
    X             (batch, rows, cols, channels)
    kernel_shape  (kr, kc)
    stride        int >= 1
    pads          (pad_rows, pad_cols)

    Returns
    -------
    Z       (batch, out_rows, out_cols, channels)
    argmax  same shape, small ints: the flat offset i*kc + j of each window's
            first maximum (what maxpool2d_backward needs)
    """
    kr, kc = kernel_shape
    out_shape = output_shape(X.shape[1:3], kernel_shape, stride, pads)
    Xpad = pad_input(X, pads, value=-np.inf)
    Z = Xpad[_offset_slice(0, 0, stride, out_shape)].copy()
    argmax = np.zeros(Z.shape, dtype=np.uint8 if kr * kc < 256 else np.int32)
    for k in range(1, kr * kc):
        candidate = Xpad[_offset_slice(k // kc, k % kc, stride, out_shape)]
        # Strict '>' keeps the first maximum on ties, as PyTorch does.
        better = candidate > Z
        np.copyto(Z, candidate, where=better)
        argmax[better] = k
    return Z, argmax


def maxpool2d_backward(dZ, argmax, X_shape, kernel_shape, stride, pads):
    """Route each output gradient to the position of its window's maximum.

    Returns
    -------
    dX  (batch, rows, cols, channels)
    """
    kr, kc = kernel_shape
    pr, pc = pads
    padded_shape = (X_shape[0], X_shape[1] + 2 * pr, X_shape[2] + 2 * pc, X_shape[3])
    zero = np.zeros((), dtype=dZ.dtype)
    return _scatter_offsets(
        lambda i, j: np.where(argmax == i * kc + j, dZ, zero),
        padded_shape, kernel_shape, stride, pads, dZ.shape[1:3], dZ.dtype,
    )


def avgpool2d_forward(X, kernel_shape, stride, pads):
    """Average pooling over the whole window, zero padding included.

    Returns
    -------
    Z  (batch, out_rows, out_cols, channels)
    """
    kr, kc = kernel_shape
    out_shape = output_shape(X.shape[1:3], kernel_shape, stride, pads)
    Xpad = pad_input(X, pads)
    Z = Xpad[_offset_slice(0, 0, stride, out_shape)].copy()
    for k in range(1, kr * kc):
        Z += Xpad[_offset_slice(k // kc, k % kc, stride, out_shape)]
    Z *= 1 / (kr * kc)
    return Z


def avgpool2d_backward(dZ, X_shape, kernel_shape, stride, pads):
    """Spread each output gradient evenly over its window.

    Returns
    -------
    dX  (batch, rows, cols, channels)
    """
    kr, kc = kernel_shape
    pr, pc = pads
    padded_shape = (X_shape[0], X_shape[1] + 2 * pr, X_shape[2] + 2 * pc, X_shape[3])
    share = dZ * (1 / (kr * kc))
    return _scatter_offsets(
        lambda i, j: share, padded_shape, kernel_shape, stride, pads, dZ.shape[1:3], dZ.dtype
    )
