"""Naive convolution and pooling, written the way students first write them.

One Python-level iteration per output number: loop over the examples, the
output rows and columns and (for convolution) the output channels, and
compute each output with a small ``np.sum`` over its window. These functions
exist only as the slow reference of ``bench_layers.py``; the library never
uses them. Arrays are NHWC like the library's.
"""

import numpy as np


def _pad(X, pads, value=0.0):
    pr, pc = pads
    return np.pad(X, ((0, 0), (pr, pr), (pc, pc), (0, 0)), constant_values=value)


def _out_size(size, kernel, stride, pad):
    return 1 + (size + 2 * pad - kernel) // stride


def conv2d_forward(X, W, b, stride, pads):
    """Z[n, r, c, o] = sum(Xpad window * W[..., o]) + b[0, o], one output at a time."""
    n_batch, rows, cols, _ = X.shape
    kr, kc, _, n_out = W.shape
    out_rows = _out_size(rows, kr, stride, pads[0])
    out_cols = _out_size(cols, kc, stride, pads[1])
    Xpad = _pad(X, pads)
    Z = np.zeros((n_batch, out_rows, out_cols, n_out), dtype=X.dtype)
    for n in range(n_batch):
        for r in range(out_rows):
            for c in range(out_cols):
                window = Xpad[n, r * stride:r * stride + kr, c * stride:c * stride + kc, :]
                for o in range(n_out):
                    Z[n, r, c, o] = np.sum(window * W[:, :, :, o]) + b[0, o]
    return Z


def conv2d_backward(dZ, X, W, stride, pads):
    """dX, dW, db of conv2d_forward, accumulated one output at a time."""
    kr, kc, _, n_out = W.shape
    n_batch, out_rows, out_cols, _ = dZ.shape
    pr, pc = pads
    Xpad = _pad(X, pads)
    dXpad = np.zeros_like(Xpad)
    dW = np.zeros_like(W)
    for n in range(n_batch):
        for r in range(out_rows):
            for c in range(out_cols):
                rs = slice(r * stride, r * stride + kr)
                cs = slice(c * stride, c * stride + kc)
                window = Xpad[n, rs, cs, :]
                for o in range(n_out):
                    g = dZ[n, r, c, o]
                    dW[:, :, :, o] += window * g
                    dXpad[n, rs, cs, :] += W[:, :, :, o] * g
    db = dZ.sum(axis=(0, 1, 2)).reshape(1, n_out)
    dX = dXpad[:, pr:pr + X.shape[1], pc:pc + X.shape[2], :]
    return dX, dW, db


def pool2d_forward(X, kernel_shape, stride, pads, mode):
    """Max or average pooling, one output number (example, row, col, channel) at a time."""
    n_batch, rows, cols, channels = X.shape
    kr, kc = kernel_shape
    out_rows = _out_size(rows, kr, stride, pads[0])
    out_cols = _out_size(cols, kc, stride, pads[1])
    Xpad = _pad(X, pads, -np.inf if mode == "max" else 0.0)
    Z = np.zeros((n_batch, out_rows, out_cols, channels), dtype=X.dtype)
    for n in range(n_batch):
        for r in range(out_rows):
            for c in range(out_cols):
                for ch in range(channels):
                    window = Xpad[n, r * stride:r * stride + kr, c * stride:c * stride + kc, ch]
                    Z[n, r, c, ch] = np.max(window) if mode == "max" else np.mean(window)
    return Z


def pool2d_backward(dZ, X, kernel_shape, stride, pads, mode):
    """dX of pool2d_forward: to the first maximum, or spread evenly over the window."""
    kr, kc = kernel_shape
    pr, pc = pads
    n_batch, out_rows, out_cols, channels = dZ.shape
    Xpad = _pad(X, pads, -np.inf if mode == "max" else 0.0)
    dXpad = np.zeros_like(Xpad)
    for n in range(n_batch):
        for r in range(out_rows):
            for c in range(out_cols):
                for ch in range(channels):
                    rs = slice(r * stride, r * stride + kr)
                    cs = slice(c * stride, c * stride + kc)
                    if mode == "max":
                        window = Xpad[n, rs, cs, ch]
                        i, j = np.unravel_index(np.argmax(window), window.shape)
                        dXpad[n, r * stride + i, c * stride + j, ch] += dZ[n, r, c, ch]
                    else:
                        dXpad[n, rs, cs, ch] += dZ[n, r, c, ch] / (kr * kc)
    return dXpad[:, pr:pr + X.shape[1], pc:pc + X.shape[2], :]
