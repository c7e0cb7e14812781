"""Max and average pooling (Pool2D) over NHWC images.

Each function loops over the kernel offsets only, never over examples or
positions, a block of images at a time (``blocking.CHAIN_BLOCK_BYTES``), in
parallel inside a ``parallel.session()``. Where the windows fall comes from
``geometry``. On a GPU the same code runs with CuPy, the whole batch as one
block.
"""

import numpy as np

from .. import backend, parallel
from . import blocking, geometry


def _offset_slice(i, j, stride, out_shape):
    """Index of the padded-input positions that kernel offset (i, j) touches."""
    out_rows, out_cols = out_shape
    return slice(None), geometry.span(i, out_rows, stride), geometry.span(j, out_cols, stride)


def _pool_blocks(X_shape, itemsize, xp):
    """Blocks of images for pooling: each block's steps find it in cache (one on a GPU)."""
    n, rows, cols, channels = X_shape
    return blocking.image_blocks(n, rows * cols * channels * itemsize,
                                 blocking.CHAIN_BLOCK_BYTES, xp=xp)[1]


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

    Blocks of images run in parallel inside a ``parallel.session()``.
    """
    kr, kc = kernel_shape
    out_shape = geometry.output_shape(X.shape[1:3], kernel_shape, stride, pads)
    shape = (X.shape[0], *out_shape, X.shape[3])
    xp = backend.get_array_module(X)
    Z = xp.empty(shape, dtype=X.dtype)
    argmax = xp.zeros(shape, dtype=np.uint8 if kr * kc <= 256 else np.int32)
    blocks = _pool_blocks(X.shape, X.itemsize, xp)

    def block(k, slot):
        start, stop = blocks[k]
        Xpad = geometry.pad_input(X[start:stop], pads, value=-np.inf)
        candidates = [Xpad[_offset_slice(offset // kc, offset % kc, stride, out_shape)]
                      for offset in range(kr * kc)]
        Z_block, argmax_block = Z[start:stop], argmax[start:stop]
        xp.copyto(Z_block, candidates[0])
        for candidate in candidates[1:]:
            xp.maximum(Z_block, candidate, out=Z_block)
        # The first maximum's offset is the number of leading offsets that miss
        # the maximum (first one wins on ties, as in PyTorch).
        missed_so_far = xp.ones(Z_block.shape, dtype=bool)
        misses = xp.empty(Z_block.shape, dtype=bool)
        for candidate in candidates[:-1]:
            xp.not_equal(candidate, Z_block, out=misses)
            missed_so_far &= misses
            argmax_block += missed_so_far

    parallel.for_each(block, len(blocks))
    return Z, argmax


def maxpool2d_backward(dZ, argmax, X_shape, kernel_shape, stride, pads):
    """Route each output gradient to the position of its window's maximum.

    Returns
    -------
    dX  (batch, rows, cols, channels)
    """
    kr, kc = kernel_shape
    pr, pc = pads
    n, rows, cols, channels = X_shape
    out_shape = dZ.shape[1:3]
    padded_shape = (n, rows + 2 * pr, cols + 2 * pc, channels)
    windows_overlap = stride < kr or stride < kc
    tiles_exactly = (not windows_overlap and stride == kr == kc
                     and padded_shape[1:3] == (out_shape[0] * kr, out_shape[1] * kc))
    xp = backend.get_array_module(dZ)
    # Windows that tile the input exactly write every position once.
    dXpad = (xp.empty if tiles_exactly else xp.zeros)(padded_shape, dtype=dZ.dtype)
    blocks = _pool_blocks(X_shape, dZ.itemsize, xp)

    def block(k, slot):
        start, stop = blocks[k]
        dZ_block, argmax_block, dX_block = dZ[start:stop], argmax[start:stop], dXpad[start:stop]
        is_max = xp.empty(dZ_block.shape, dtype=bool)
        share = xp.empty_like(dZ_block) if windows_overlap else None
        for offset in range(kr * kc):
            xp.equal(argmax_block, offset, out=is_max)
            target = dX_block[_offset_slice(offset // kc, offset % kc, stride, out_shape)]
            if windows_overlap:
                target += xp.multiply(dZ_block, is_max, out=share)
            else:
                xp.multiply(dZ_block, is_max, out=target)

    parallel.for_each(block, len(blocks))
    return dXpad[:, pr:pr + rows, pc:pc + cols]


def avgpool2d_forward(X, kernel_shape, stride, pads):
    """Average pooling over the whole window, zero padding included.

    The window sum is taken in two passes, over the kernel rows and then over
    the kernel columns (kr + kc adds instead of kr * kc); padding adds zero,
    so it is skipped rather than copied. Blocks of images run in parallel
    inside a ``parallel.session()``.

    Returns
    -------
    Z  (batch, out_rows, out_cols, channels)
    """
    kr, kc = kernel_shape
    n, rows, cols, channels = X.shape
    out_rows, out_cols = geometry.output_shape((rows, cols), kernel_shape, stride, pads)
    xp = backend.get_array_module(X)
    Z = xp.zeros((n, out_rows, out_cols, channels), dtype=X.dtype)
    blocks = _pool_blocks(X.shape, X.itemsize, xp)

    def block(k, slot):
        start, stop = blocks[k]
        X_block, Z_block = X[start:stop], Z[start:stop]
        row_sums = xp.zeros((stop - start, out_rows, cols, channels), dtype=X.dtype)
        for i in range(kr):
            clipped = geometry.clip(i, pads[0], rows, out_rows, stride)
            if clipped is not None:
                row_sums[:, clipped[0]] += X_block[:, clipped[1]]
        for j in range(kc):
            clipped = geometry.clip(j, pads[1], cols, out_cols, stride)
            if clipped is not None:
                Z_block[:, :, clipped[0]] += row_sums[:, :, clipped[1]]
        Z_block *= 1 / (kr * kc)

    parallel.for_each(block, len(blocks))
    return Z


def avgpool2d_backward(dZ, X_shape, kernel_shape, stride, pads):
    """Spread each output gradient evenly over its window (two passes, as forward).

    Returns
    -------
    dX  (batch, rows, cols, channels)
    """
    kr, kc = kernel_shape
    n, rows, cols, channels = X_shape
    out_rows, out_cols = dZ.shape[1:3]
    xp = backend.get_array_module(dZ)
    dX = xp.zeros(X_shape, dtype=dZ.dtype)
    blocks = _pool_blocks(X_shape, dZ.itemsize, xp)

    def block(k, slot):
        start, stop = blocks[k]
        share = dZ[start:stop] * (1 / (kr * kc))
        d_row_sums = xp.zeros((stop - start, out_rows, cols, channels), dtype=dZ.dtype)
        for j in range(kc):
            clipped = geometry.clip(j, pads[1], cols, out_cols, stride)
            if clipped is not None:
                d_row_sums[:, :, clipped[1]] += share[:, :, clipped[0]]
        dX_block = dX[start:stop]
        for i in range(kr):
            clipped = geometry.clip(i, pads[0], rows, out_rows, stride)
            if clipped is not None:
                dX_block[:, clipped[1]] += d_row_sums[:, clipped[0]]

    parallel.for_each(block, len(blocks))
    return dX
