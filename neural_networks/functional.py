"""The array math of every layer, as pure functions (PyTorch's ``nn.functional``).

A layer in ``layers.py`` keeps the state (parameters, gradients, cache,
running statistics, reusable buffers) and calls one function here each way:
``x_forward`` returns the output and what ``x_backward`` needs, and
``x_backward`` returns the gradients. Nothing here imports a layer or a
model, and no function changes its inputs unless it says so.

- ``affine_forward`` / ``affine_backward``: Z = X W + b (FullyConnected).
- ``conv2d_forward`` / ``conv2d_backward``, ``maxpool2d_*``, ``avgpool2d_*``:
  convolution and pooling over NHWC images (Conv2D, Pool2D).
- ``flatten_forward`` / ``flatten_backward`` (Flatten).
- ``batchnorm_forward`` / ``batchnorm_backward`` (BatchNorm).
- ``dropout_forward`` / ``dropout_backward`` (Dropout).

Convolution is cross-correlation:
    Z[n, r, c, o] = sum_{i, j, ch} W[i, j, ch, o] * Xpad[n, r*s + i, c*s + j, ch] + b[0, o]

The forward pass gathers every receptive field into one matrix ("im2col")
and does a single matrix product; the backward pass does two matrix
products and adds the column gradient back onto the input with one strided
add per kernel offset ("col2im"). With stride 1 and no more output channels
than a kernel row holds numbers, the input gradient goes another way with
fewer copies: one product over shifted rows of dZ, then one add per kernel
column (_row_shift_input_gradient). Pooling loops over the kernel offsets
only, never over examples or positions.

numpy runs each elementwise call as loops over the array's axes, and the
innermost loop is fast only when it is long. The im2col matrix therefore
comes in two layouts, chosen from the shapes alone:

- rows layout, (positions, kr*kc*channels): a window row (kc*channels
  numbers) is contiguous in an NHWC image, so copies run over long spans
  when there are many channels. It is built a block of images at a time
  into a buffer that stays in cache, and the backward pass builds it again
  from X rather than store the whole batch's matrix;
- channel-major layout, in blocks of images, each (kr*kc*channels + 1,
  positions of the block): copies and adds run along an image row
  (out_cols numbers), which is longer when there are few channels (e.g. 1
  or 3 for the first layer of a network), and each block is still in the
  CPU cache when its matrix products read it.

Both give the same numbers; only the memory order differs.
"""

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import parallel


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


def _span(start, count, stride):
    """Slice of ``count`` indices from ``start`` in steps of ``stride``."""
    return slice(start, start + stride * (count - 1) + 1, stride)


def _offset_slice(i, j, stride, out_shape):
    """Index of the padded-input positions that kernel offset (i, j) touches."""
    out_rows, out_cols = out_shape
    return slice(None), _span(i, out_rows, stride), _span(j, out_cols, stride)


def _clip(offset, pad, in_size, out_size, stride):
    """Where kernel offset ``offset`` meets the unpadded input, along one axis.

    Output position r reads input index r*stride + offset - pad. Returns
    (out_slice, in_slice) over the positions whose index lies inside the
    input (padding contributes zero and is skipped), or None if there are none.
    """
    first = max(0, -((offset - pad) // stride))
    last = min(out_size - 1, (in_size - 1 + pad - offset) // stride)
    if last < first:
        return None
    start = first * stride + offset - pad
    return slice(first, last + 1), slice(start, start + (last - first) * stride + 1, stride)


def _clipped_offsets(kernel_shape, stride, pads, in_shape, out_shape):
    """For every kernel offset (i, j) that touches the input: (i, j, out_index, in_index).

    ``out_index`` and ``in_index`` index axes 1 and 2 of NHWC arrays.
    """
    for i in range(kernel_shape[0]):
        rows = _clip(i, pads[0], in_shape[0], out_shape[0], stride)
        for j in range(kernel_shape[1]):
            cols = _clip(j, pads[1], in_shape[1], out_shape[1], stride)
            if rows is not None and cols is not None:
                yield (i, j, (slice(None), rows[0], cols[0]), (slice(None), rows[1], cols[1]))


def _channel_major(in_channels, kernel_cols, out_cols):
    """True when the channel-major im2col layout gives the longer inner loops.

    A rows-layout copy runs over kernel_cols*in_channels contiguous numbers,
    a channel-major one over out_cols.
    """
    return kernel_cols * in_channels < out_cols


#: Largest block of the im2col matrix, or of its gradient, that is built and
#: used before the next one: small enough to stay in the CPU's cache.
BLOCK_BYTES = 4 << 20

#: A batch is split into at least this many blocks (when it has that many
#: images), so that the threads of a parallel session share the work. A fixed
#: number, not the thread count: the blocks, and so the results, do not
#: depend on how many threads run them.
MIN_BLOCKS = 8

#: Rows of an array that a chain of elementwise steps goes through before the
#: next rows: small enough that the steps after the first find them in cache.
CHAIN_BLOCK_BYTES = 1 << 20


def _image_blocks(n, per_image_bytes, block_bytes=None, min_blocks=MIN_BLOCKS):
    """Split n images (or rows) into nearly equal blocks of at most block_bytes.

    block_bytes defaults to BLOCK_BYTES. There are at least min_blocks
    blocks (or n, if fewer).

    Returns
    -------
    size    images in a full block
    blocks  list of (start, stop) image ranges; only the last may be shorter
    """
    most = max(1, min((block_bytes or BLOCK_BYTES) // per_image_bytes, -(-n // min_blocks)))
    size = -(-n // -(-n // most))  # the fewest blocks, then as even as possible
    return size, [(start, min(n, start + size)) for start in range(0, n, size)]


def _reusable(workspace, name, shape, dtype):
    """An uninitialised array kept in ``workspace`` between calls.

    ``workspace`` is a dict owned by the caller (a layer); the array is
    reused while shape and dtype stay the same, which saves the page faults
    of a fresh large allocation on every call. With ``workspace=None`` a new
    array is made.
    """
    if workspace is None:
        return np.empty(shape, dtype=dtype)
    array = workspace.get(name)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = workspace[name] = np.empty(shape, dtype=dtype)
    return array


def _sum_over_positions(A, B):
    """A @ B for a product that sums over all output positions (a weight gradient).

    Parameters
    ----------
    A  (p, positions)
    B  (positions, q)

    Returns
    -------
    (p, q), C-contiguous

    Such products are long and thin. On a 2-core machine shared with other
    processes, two-thread OpenBLAS 0.3.31 took seconds instead of
    milliseconds on them whenever the result had fewer rows than columns
    (its threads wait for each other once per block of the long axis);
    computing the transpose, (B.T @ A.T).T, avoided that.

    When the result is small (a first layer's few input channels) the product
    mostly streams its operands, and runs about twice as fast in pieces of
    POSITIONS_PER_PIECE positions whose operands stay in cache, added in order.
    """
    if A.shape[0] * B.shape[1] > SMALL_PRODUCT:
        pieces = [(0, A.shape[1])]
    else:
        pieces = [(start, min(A.shape[1], start + POSITIONS_PER_PIECE))
                  for start in range(0, A.shape[1], POSITIONS_PER_PIECE)]
    total = None
    for start, stop in pieces:
        a, b = A[:, start:stop], B[start:stop]
        part = a @ b if A.shape[0] >= B.shape[1] else (b.T @ a.T).T
        if total is None:
            total = np.ascontiguousarray(part)
        else:
            total += part
    return total


#: Results of at most this many numbers make _sum_over_positions work in pieces.
SMALL_PRODUCT = 64 * 64
POSITIONS_PER_PIECE = 2048


def im2col(X, kernel_shape, stride, pads, out_shape, out=None):
    """The im2col matrix in the rows layout: one row per output position.

    Parameters
    ----------
    X             (batch, rows, cols, channels)
    kernel_shape  (kr, kc)
    stride        int >= 1
    pads          (pad_rows, pad_cols)
    out_shape     (out_rows, out_cols)
    out           array of the result's shape to write into, or None

    Returns
    -------
    (batch*out_rows*out_cols, kr*kc*channels); entry [(n, r, c), (i, j, ch)]
    is Xpad[n, r*stride + i, c*stride + j, ch]
    """
    view = windows(pad_input(X, pads), kernel_shape, stride, out_shape)
    positions = X.shape[0] * out_shape[0] * out_shape[1]
    K = kernel_shape[0] * kernel_shape[1] * X.shape[3]
    cols = np.empty((positions, K), dtype=X.dtype) if out is None else out
    cols.reshape(view.shape)[...] = view
    return cols


def _rows_forward(X, W, b, stride, pads, out_shape, workspace=None):
    """conv2d_forward in the rows layout, a block of images at a time.

    Each block's im2col matrix is built in a per-thread buffer that the
    block's matrix product reads while it is still in cache, and is then
    overwritten: conv2d_backward rebuilds it from X. Writing the whole
    batch's matrix out to memory and reading it back took longer than
    building it twice.

    Returns
    -------
    Z  (batch*out_rows*out_cols, out_channels)
    X  the input, which is what _rows_backward needs
    """
    n = X.shape[0]
    kr, kc, _, out_channels = W.shape
    per_image = out_shape[0] * out_shape[1]
    W_mat = W.reshape(-1, out_channels)
    K = W_mat.shape[0]
    Z = np.empty((n * per_image, out_channels), dtype=X.dtype)
    size, blocks = _image_blocks(n, K * per_image * X.dtype.itemsize)
    cols = _reusable(workspace, "cols", (parallel.slots(), size * per_image, K), X.dtype)

    def block(k, slot):
        start, stop = blocks[k]
        rows = slice(start * per_image, stop * per_image)
        block_cols = cols[slot, :(stop - start) * per_image]
        im2col(X[start:stop], (kr, kc), stride, pads, out_shape, out=block_cols)
        np.matmul(block_cols, W_mat, out=Z[rows])
        Z[rows] += b

    parallel.for_each(block, len(blocks))
    return Z, X


def _channel_major_forward(X, W, b, stride, pads, out_shape, workspace=None):
    """conv2d_forward in the channel-major layout, a block of images at a time.

    Returns
    -------
    Z     (batch*out_rows*out_cols, out_channels)
    cols  (blocks, K + 1, size*out_rows*out_cols): block k holds images
          k*size ... k*size + size - 1 (the last block may use fewer columns);
          entry [k, (i, j, ch), (n, r, c)] is Xpad[n, r*stride + i,
          c*stride + j, ch] and the last row is all ones, so that the matrix
          product adds b
    """
    n, rows, width, channels = X.shape
    kr, kc, _, out_channels = W.shape
    out_rows, out_cols = out_shape
    per_image = out_rows * out_cols
    K = kr * kc * channels
    pr, pc = pads
    # A channels-first padded copy: each image row is then contiguous.
    Xpad = np.zeros((channels, n, rows + 2 * pr, width + 2 * pc), dtype=X.dtype)
    s_ch, s_n, s_r, s_c = Xpad.strides
    fields = as_strided(
        Xpad,
        shape=(kr, kc, channels, n, out_rows, out_cols),
        strides=(s_r, s_c, s_ch, s_n, s_r * stride, s_c * stride),
        writeable=False,
    )
    size, blocks = _image_blocks(n, (K + 1) * per_image * X.dtype.itemsize)
    cols = _reusable(workspace, "cols", (len(blocks), K + 1, size * per_image), X.dtype)
    # With few channels K is small and a separate pass adding b would cost
    # as much as the product; the row of ones adds it instead.
    W_b = np.concatenate([W.reshape(K, out_channels), b])
    Z = np.empty((n * per_image, out_channels), dtype=X.dtype)

    def block(k, slot):
        start, stop = blocks[k]
        Xpad[:, start:stop, pr:pr + rows, pc:pc + width] = X[start:stop].transpose(3, 0, 1, 2)
        columns = cols[k, :, :(stop - start) * per_image]
        columns[:K].reshape(kr, kc, channels, stop - start, out_rows, out_cols)[...] = \
            fields[:, :, :, start:stop]
        columns[K] = 1
        np.matmul(columns.T, W_b, out=Z[start * per_image:stop * per_image])

    parallel.for_each(block, len(blocks))
    return Z, cols


def conv2d_forward(X, W, b, stride, pads, workspace=None):
    """Convolution (cross-correlation) of a batch of NHWC images.

    Parameters
    ----------
    X          (batch, rows, cols, in_channels)
    W          (kr, kc, in_channels, out_channels)
    b          (1, out_channels)
    stride     int >= 1
    pads       (pad_rows, pad_cols)
    workspace  dict of reusable buffers kept by the caller, or None

    Returns
    -------
    Z      (batch, out_rows, out_cols, out_channels)
    saved  what conv2d_backward needs: in the rows layout X itself (the
           backward pass rebuilds each block's im2col matrix from it, so X
           must not change in between), in the channel-major layout the
           im2col matrix in blocks of images (see _channel_major_forward),
           which lives in ``workspace``: the next call overwrites it.

    Blocks of images run in parallel inside a ``parallel.session()``.
    """
    kr, kc, in_channels, out_channels = W.shape
    out_shape = output_shape(X.shape[1:3], (kr, kc), stride, pads)
    forward = _channel_major_forward if _channel_major(in_channels, kc, out_shape[1]) \
        else _rows_forward
    Z, saved = forward(X, W, b, stride, pads, out_shape, workspace)
    return Z.reshape(X.shape[0], *out_shape, out_channels), saved


def _sum_in_order(parts):
    """The sum of a list of arrays, added first to last (the same bits every time)."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def _channel_major_backward(dZ_mat, cols, X_shape, W, stride, pads, out_shape, workspace,
                            input_gradient=True):
    """conv2d_backward for the channel-major layout, with the blocks of the forward pass.

    Returns dX (None without ``input_gradient``), dW and db as conv2d_backward does.
    """
    kr, kc, in_channels, out_channels = W.shape
    n, rows, width, _ = X_shape
    out_rows, out_cols = out_shape
    per_image = out_rows * out_cols
    pr, pc = pads
    size = cols.shape[2] // per_image
    blocks = [(start, min(n, start + size)) for start in range(0, n, size)]
    K = kr * kc * in_channels
    # col2im adds each kernel offset's block of dcols into dX along image
    # rows: kr*kc adds. Two rounds cost about 1 + 2*kr + kc instead: zero a
    # buffer, add the kr row shifts into it (whole images at once with stride
    # 1, but numpy buffers those adds, which makes each cost about two), then
    # add its kc column shifts into dX. They win for large kernels (5x5: 16
    # against 25; 3x3: 10 against 9). dcols rows are then in the order (j, i, ch).
    two_rounds = kr * kc > 2 * kr + kc + 1
    W_mat = (W.transpose(1, 0, 2, 3) if two_rounds else W).reshape(K, out_channels)
    slots = parallel.slots()
    if input_gradient:
        dcols = _reusable(workspace, "dcols", (slots, K, size * per_image), dZ_mat.dtype)
        if two_rounds:
            shifted = _reusable(workspace, "shifted",
                                (slots, kc, in_channels, size, rows + 2 * pr, out_cols),
                                dZ_mat.dtype)
        dX_t = np.zeros((in_channels, n, rows + 2 * pr, width + 2 * pc), dtype=dZ_mat.dtype)
        dX = np.empty(X_shape, dtype=dZ_mat.dtype)
    parts = [None] * len(blocks)

    def block(k, slot):
        start, stop = blocks[k]
        images = stop - start
        dZ_block = dZ_mat[start * per_image:stop * per_image]
        # The row of ones turns the column sums of dZ (db) into the last row.
        parts[k] = _sum_over_positions(cols[k, :, :images * per_image], dZ_block)
        if not input_gradient:
            return
        columns = dcols[slot, :, :images * per_image]
        np.matmul(W_mat, dZ_block.T, out=columns)
        columns = columns.reshape(-1, in_channels, images, out_rows, out_cols)
        dX_block = dX_t[:, start:stop]
        if two_rounds:
            moved = shifted[slot, :, :, :images]
            moved[...] = 0
            for i in range(kr):
                moved[:, :, :, _span(i, out_rows, stride)] += columns[i::kr]
            for j in range(kc):
                dX_block[:, :, :, _span(j, out_cols, stride)] += moved[j]
        else:
            for i in range(kr):
                for j in range(kc):
                    dX_block[:, :, _span(i, out_rows, stride), _span(j, out_cols, stride)] += \
                        columns[i * kc + j]
        dX[start:stop] = dX_block[:, :, pr:pr + rows, pc:pc + width].transpose(1, 2, 3, 0)

    parallel.for_each(block, len(blocks))
    dW_db = _sum_in_order(parts)
    dW = dW_db[:-1].reshape(kr, kc, in_channels, out_channels)
    return (dX if input_gradient else None), dW, dW_db[-1:].copy()


def _row_shifts(W_shape, stride):
    """True when _row_shift_input_gradient is the cheaper way to a rows-layout dX.

    col2im's matrix holds kr*kc*in_channels numbers per output position; the
    row-shift way copies kr*out_channels numbers per position instead, and
    every copy and add runs over longer spans. It needs stride 1.
    """
    kr, kc, in_channels, out_channels = W_shape
    return stride == 1 and out_channels <= kc * in_channels


def _row_shift_input_gradient(W, pads, X_shape, out_shape, size, workspace, dtype):
    """dX of a stride-1 convolution without col2im over every kernel offset.

    dXpad[n, y, x] = sum_{i, j} W[i, j] dZ[n, y - i, x - j] splits into a sum
    over kernel rows i, done by one matrix product, and a sum over kernel
    columns j, done by kc shifted adds:

        shifted[n, y, c, (i, o)]  = dZ[n, y + pad_rows - i, c, o]  (0 off the edge)
        S = shifted @ W_rows,       W_rows[(i, o), (j, ch)] = W[i, j, ch, o]
        dX[n, y, x, ch] = sum_j S[n, y, x + pad_cols - j, (j, ch)]

    The product does as many multiply-adds as col2im's (kr*kc*in_channels per
    output channel and position), but nothing is ever added at every kernel
    offset. Returns fill(dZ_block, dX_block, slot), which writes every number
    of dX_block from dZ_block (positions, out_channels), using per-slot
    buffers of ``size`` images kept in ``workspace``.
    """
    kr, kc, in_channels, out_channels = W.shape
    _, rows, width, _ = X_shape
    out_rows, out_cols = out_shape
    W_rows = np.ascontiguousarray(W.transpose(0, 3, 1, 2)).reshape(kr * out_channels, -1)
    slots = parallel.slots()
    shifted = _reusable(workspace, "shifted_dZ",
                        (slots, size, rows, out_cols, kr, out_channels), dtype)
    S = _reusable(workspace, "row_sums", (slots, size, rows, out_cols, kc, in_channels), dtype)
    row_clips = [_clip(i, pads[0], rows, out_rows, 1) for i in range(kr)]
    col_clips = {j: clip for j in range(kc)
                 if (clip := _clip(j, pads[1], width, out_cols, 1)) is not None}
    # A column offset that reaches every input column writes dX first, so
    # that dX needs no zeroing.
    full = [j for j, (_, into) in col_clips.items() if into.stop - into.start == width]
    first = full[0] if full else None

    def fill(dZ_block, dX_block, slot):
        images = dX_block.shape[0]
        dZ_images = dZ_block.reshape(images, out_rows, out_cols, out_channels)
        A = shifted[slot, :images]
        for i, clip in enumerate(row_clips):
            if clip is None:
                A[:, :, :, i] = 0
                continue
            out_span, in_span = clip
            A[:, in_span, :, i] = dZ_images[:, out_span]
            A[:, :in_span.start, :, i] = 0
            A[:, in_span.stop:, :, i] = 0
        sums = S[slot, :images]
        np.matmul(A.reshape(-1, kr * out_channels), W_rows,
                  out=sums.reshape(-1, kc * in_channels))
        if first is None:
            dX_block[...] = 0
        else:
            out_span, in_span = col_clips[first]
            dX_block[:, :, in_span] = sums[:, :, out_span, first]
        for j, (out_span, in_span) in col_clips.items():
            if j != first:
                dX_block[:, :, in_span] += sums[:, :, out_span, j]

    return fill


def _rows_backward(dZ_mat, X, X_shape, W, stride, pads, out_shape, workspace,
                   input_gradient=True):
    """conv2d_backward for the rows layout, a block of images at a time.

    ``X`` is the forward pass's input (what _rows_forward returns): each
    block's im2col matrix is rebuilt from it for the weight gradient.

    Returns dX (None without ``input_gradient``), dW and db as conv2d_backward does.
    """
    kr, kc, in_channels, out_channels = W.shape
    n = X_shape[0]
    out_rows, out_cols = out_shape
    per_image = out_rows * out_cols
    W_mat = W.reshape(-1, out_channels)
    K = W_mat.shape[0]
    # A few images at a time, so that each block's im2col matrix (rebuilt
    # here from X) and its dcols are still in the CPU cache when used.
    size, blocks = _image_blocks(n, per_image * K * dZ_mat.itemsize)
    shifts = input_gradient and _row_shifts(W.shape, stride)
    if shifts:
        dX_block_gradient = _row_shift_input_gradient(W, pads, X_shape, out_shape, size,
                                                      workspace, dZ_mat.dtype)
        dX = np.empty(X_shape, dtype=dZ_mat.dtype)  # every block writes all of its images
    elif input_gradient:
        offsets = list(_clipped_offsets((kr, kc), stride, pads, X_shape[1:3], out_shape))
        dcols = _reusable(workspace, "dcols", (parallel.slots(), size * per_image, K),
                          dZ_mat.dtype)
        dX = np.zeros(X_shape, dtype=dZ_mat.dtype)
    parts = [None] * len(blocks)
    ones = np.ones((1, size * per_image), dtype=dZ_mat.dtype)
    cols = _reusable(workspace, "cols", (parallel.slots(), size * per_image, K), X.dtype)

    def block(k, slot):
        start, stop = blocks[k]
        positions = slice(start * per_image, stop * per_image)
        dZ_block = dZ_mat[positions]
        count = (stop - start) * per_image
        block_cols = cols[slot, :count]
        im2col(X[start:stop], (kr, kc), stride, pads, out_shape, out=block_cols)
        parts[k] = (_sum_over_positions(block_cols.T, dZ_block),
                    ones[:, :count] @ dZ_block)
        if shifts:
            dX_block_gradient(dZ_block, dX[start:stop], slot)
        if shifts or not input_gradient:
            return
        columns = dcols[slot, :count]
        np.matmul(dZ_block, W_mat.T, out=columns)
        columns = columns.reshape(stop - start, out_rows, out_cols, kr, kc, in_channels)
        dX_block = dX[start:stop]
        for i, j, out_index, in_index in offsets:
            dX_block[in_index] += columns[out_index + (i, j)]

    parallel.for_each(block, len(blocks))
    dW = _sum_in_order([dW_part for dW_part, _ in parts])
    db = _sum_in_order([db_part for _, db_part in parts])
    return (dX if input_gradient else None), dW.reshape(W.shape), db


def conv2d_backward(dZ, saved, X_shape, W, stride, pads, workspace=None, input_gradient=True):
    """Gradients of a convolution.

    Parameters
    ----------
    dZ              (batch, out_rows, out_cols, out_channels), dL/dZ
    saved           what conv2d_forward returned beside Z
    X_shape         shape of the forward input (batch, rows, cols, in_channels)
    W               (kr, kc, in_channels, out_channels)
    stride          int >= 1
    pads            (pad_rows, pad_cols)
    workspace       dict of reusable buffers kept by the caller, or None
    input_gradient  False skips dX (a network's first layer needs none)

    Returns
    -------
    dX  (batch, rows, cols, in_channels), or None without ``input_gradient``
    dW  (kr, kc, in_channels, out_channels)
    db  (1, out_channels)

    Blocks of images run in parallel inside a ``parallel.session()``; the
    gradients summed over blocks are added in block order either way.
    """
    kr, kc, in_channels, out_channels = W.shape
    n, out_rows, out_cols, _ = dZ.shape
    dZ_mat = dZ.reshape(-1, out_channels)
    backward = _channel_major_backward if _channel_major(in_channels, kc, out_cols) \
        else _rows_backward
    return backward(dZ_mat, saved, X_shape, W, stride, pads, (out_rows, out_cols), workspace,
                    input_gradient)


def _pool_blocks(X_shape, itemsize):
    """Blocks of images for pooling: each block's steps find it in cache."""
    n, rows, cols, channels = X_shape
    return _image_blocks(n, rows * cols * channels * itemsize, CHAIN_BLOCK_BYTES)[1]


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
    out_shape = output_shape(X.shape[1:3], kernel_shape, stride, pads)
    shape = (X.shape[0], *out_shape, X.shape[3])
    Z = np.empty(shape, dtype=X.dtype)
    argmax = np.zeros(shape, dtype=np.uint8 if kr * kc <= 256 else np.int32)
    blocks = _pool_blocks(X.shape, X.itemsize)

    def block(k, slot):
        start, stop = blocks[k]
        Xpad = pad_input(X[start:stop], pads, value=-np.inf)
        candidates = [Xpad[_offset_slice(offset // kc, offset % kc, stride, out_shape)]
                      for offset in range(kr * kc)]
        Z_block, argmax_block = Z[start:stop], argmax[start:stop]
        np.copyto(Z_block, candidates[0])
        for candidate in candidates[1:]:
            np.maximum(Z_block, candidate, out=Z_block)
        # The first maximum's offset is the number of leading offsets that miss
        # the maximum (first one wins on ties, as in PyTorch).
        missed_so_far = np.ones(Z_block.shape, dtype=bool)
        misses = np.empty(Z_block.shape, dtype=bool)
        for candidate in candidates[:-1]:
            np.not_equal(candidate, Z_block, out=misses)
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
    # Windows that tile the input exactly write every position once.
    dXpad = (np.empty if tiles_exactly else np.zeros)(padded_shape, dtype=dZ.dtype)
    blocks = _pool_blocks(X_shape, dZ.itemsize)

    def block(k, slot):
        start, stop = blocks[k]
        dZ_block, argmax_block, dX_block = dZ[start:stop], argmax[start:stop], dXpad[start:stop]
        is_max = np.empty(dZ_block.shape, dtype=bool)
        share = np.empty_like(dZ_block) if windows_overlap else None
        for offset in range(kr * kc):
            np.equal(argmax_block, offset, out=is_max)
            target = dX_block[_offset_slice(offset // kc, offset % kc, stride, out_shape)]
            if windows_overlap:
                target += np.multiply(dZ_block, is_max, out=share)
            else:
                np.multiply(dZ_block, is_max, out=target)

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
    out_rows, out_cols = output_shape((rows, cols), kernel_shape, stride, pads)
    Z = np.zeros((n, out_rows, out_cols, channels), dtype=X.dtype)
    blocks = _pool_blocks(X.shape, X.itemsize)

    def block(k, slot):
        start, stop = blocks[k]
        X_block, Z_block = X[start:stop], Z[start:stop]
        row_sums = np.zeros((stop - start, out_rows, cols, channels), dtype=X.dtype)
        for i in range(kr):
            clipped = _clip(i, pads[0], rows, out_rows, stride)
            if clipped is not None:
                row_sums[:, clipped[0]] += X_block[:, clipped[1]]
        for j in range(kc):
            clipped = _clip(j, pads[1], cols, out_cols, stride)
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
    dX = np.zeros(X_shape, dtype=dZ.dtype)
    blocks = _pool_blocks(X_shape, dZ.itemsize)

    def block(k, slot):
        start, stop = blocks[k]
        share = dZ[start:stop] * (1 / (kr * kc))
        d_row_sums = np.zeros((stop - start, out_rows, cols, channels), dtype=dZ.dtype)
        for j in range(kc):
            clipped = _clip(j, pads[1], cols, out_cols, stride)
            if clipped is not None:
                d_row_sums[:, :, clipped[1]] += share[:, :, clipped[0]]
        dX_block = dX[start:stop]
        for i in range(kr):
            clipped = _clip(i, pads[0], rows, out_rows, stride)
            if clipped is not None:
                dX_block[:, clipped[1]] += d_row_sums[:, clipped[0]]

    parallel.for_each(block, len(blocks))
    return dX


def _large_product(X, W):
    """True when the products of a fully connected layer are worth two threads."""
    return X.shape[0] * W.shape[0] * W.shape[1] >= PARALLEL_AFFINE_FLOPS


#: Multiply-adds from which a fully connected layer's products use two threads.
PARALLEL_AFFINE_FLOPS = 1 << 22


def affine_forward(X, W, b):
    """The affine map of a fully connected layer, Z = X W + b.

    Parameters
    ----------
    X  (batch, n_in)
    W  (n_in, n_out)
    b  (1, n_out)

    Returns
    -------
    Z  (batch, n_out). affine_backward needs X and W, which the caller holds.

    Large products run in two halves of the outputs (each reads half of W)
    inside a ``parallel.session()``.
    """
    Z = np.empty((X.shape[0], W.shape[1]), dtype=np.result_type(X, W))
    n_out = W.shape[1]
    halves = _large_product(X, W) and n_out >= 2
    outputs = [(0, n_out // 2), (n_out // 2, n_out)] if halves else [(0, n_out)]

    def block(k, slot):
        part = slice(*outputs[k])
        np.matmul(X, W[:, part], out=Z[:, part])
        Z[:, part] += b[:, part]

    parallel.for_each(block, len(outputs))
    return Z


def affine_backward(dZ, X, W):
    """Gradients of Z = X W + b.

    Parameters
    ----------
    dZ  (batch, n_out), dL/dZ
    X   (batch, n_in), the input of the forward pass
    W   (n_in, n_out)

    Returns
    -------
    dX  (batch, n_in) = dZ W^T
    dW  (n_in, n_out) = X^T dZ
    db  (1, n_out), the column sums of dZ

    Large products (dX and dW) run on two threads inside a
    ``parallel.session()``, each as one whole product.
    """
    dX = np.empty(X.shape, dtype=np.result_type(dZ, W))
    dW = np.empty(W.shape, dtype=np.result_type(X, dZ))

    def product(k, slot):
        if k == 0:
            np.matmul(dZ, W.T, out=dX)
        else:
            np.matmul(X.T, dZ, out=dW)

    if _large_product(X, W):
        parallel.for_each(product, 2)
    else:  # too small to gain from a second thread
        product(0, 0)
        product(1, 0)
    return dX, dW, dZ.sum(axis=0, keepdims=True)


def flatten_forward(X, keep_dim="first"):
    """Collapse every axis but one; a view of X whenever numpy can make one.

    Parameters
    ----------
    X         (batch, ...)
    keep_dim  "first": (batch, ...) -> (batch, prod(rest));
              "last": (..., k) -> (prod(rest), k)

    Returns
    -------
    Y  2-D; flatten_backward needs X.shape
    """
    if keep_dim == "first":
        return X.reshape(X.shape[0], -1)
    if keep_dim == "last":
        return X.reshape(-1, X.shape[-1])
    raise ValueError(f"keep_dim must be 'first' or 'last', got {keep_dim!r}")


def flatten_backward(dY, X_shape):
    """dL/dX: dY, the gradient of flatten_forward's output, in the input's shape X_shape."""
    return dY.reshape(X_shape)


#: Rows of an array summed as one part of a sum over rows (batch norm's
#: statistics and gradients): the parts run in parallel in a session and are
#: added in order, so the sums never depend on the number of threads.
REDUCE_BLOCK_BYTES = 1 << 20


def _row_blocks(X, block_bytes):
    """(start, stop) blocks of the rows of a 2-D array, about block_bytes each."""
    return _image_blocks(X.shape[0], X.shape[1] * X.itemsize, block_bytes, min_blocks=1)[1]


def batchnorm_forward(X, gamma, beta, running_mean, running_var, momentum, eps, training,
                      relu=False):
    """Batch normalisation of each column of X, then scale and shift (and ReLU).

    In training mode the batch's mean and biased variance normalise X, and
    the running statistics move towards the batch's as PyTorch's do:
    running = (1 - momentum) * running + momentum * statistic, with the
    unbiased variance (so X needs at least 2 rows). In eval mode the running
    statistics normalise X and stay as they are.

    Parameters
    ----------
    X             (n, channels): every axis of the input but the channels,
                  flattened into rows
    gamma, beta   (1, channels)
    running_mean  (1, channels)
    running_var   (1, channels)
    momentum      weight of this batch in the new running statistics
    eps           added to the variance before the square root
    training      True: batch statistics; False: running statistics
    relu          True: return max(Z, 0) instead of Z, in the same array

    Returns
    -------
    Z             (n, channels) = gamma * (X - mean) * inv_std + beta, a new array
    mean          (1, channels), the mean X was centred by   } with X, what
    inv_std       (1, channels), 1 / sqrt(var + eps)         } batchnorm_backward needs
    running_mean  (1, channels): new arrays in training mode, the given
    running_var   ones in eval mode

    Two passes over X, each in blocks of rows (in parallel in a session): the
    statistics, then the output.
    """
    n = X.shape[0]
    if training:
        # Each block's mean and sum of squared deviations from it, in cache,
        # then combined (Chan, Golub and LeVeque's pairwise update): the
        # variance keeps the digits that E[x^2] - mean^2 would lose in float32.
        blocks = _row_blocks(X, REDUCE_BLOCK_BYTES)
        stats = [None] * len(blocks)
        scratch = np.empty((parallel.slots(), blocks[0][1], X.shape[1]), dtype=X.dtype)

        def block_statistics(k, slot):
            start, stop = blocks[k]
            part = X[start:stop]
            block_mean = np.einsum("ij->j", part) / (stop - start)
            centred = np.subtract(part, block_mean, out=scratch[slot, :stop - start])
            stats[k] = (block_mean, np.einsum("ij,ij->j", centred, centred))

        parallel.for_each(block_statistics, len(blocks))
        counts = [stop - start for start, stop in blocks]
        mean = sum(count * m for count, (m, _) in zip(counts, stats, strict=True)) / n
        squares = _sum_in_order([m2 for _, m2 in stats])
        squares += sum(count * (m - mean) ** 2 for count, (m, _) in zip(counts, stats, strict=True))
        mean = mean[None, :].astype(X.dtype, copy=False)
        var = (squares / n)[None, :].astype(X.dtype, copy=False)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * (n / (n - 1))
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / np.sqrt(var + eps)
    scale = gamma * inv_std
    Z = np.empty_like(X)
    chain = _row_blocks(X, CHAIN_BLOCK_BYTES)

    # One multiply and one add per value: Z = X * scale + (beta - mean * scale).
    shift = beta - mean * scale

    def block_output(k, slot):
        start, stop = chain[k]
        out = np.multiply(X[start:stop], scale, out=Z[start:stop])
        out += shift
        if relu:
            np.maximum(out, 0, out=out)

    parallel.for_each(block_output, len(chain))
    return Z, mean, inv_std, running_mean, running_var


def batchnorm_backward(dZ, X, mean, inv_std, gamma, training, overwrite_dZ=False,
                       relu_output=None):
    """Gradients of batchnorm_forward.

    Parameters
    ----------
    dZ            (n, channels), dL/dZ; with ``relu_output``, dL/dY of the ReLU after it
    X             (n, channels), the input of batchnorm_forward
    mean          (1, channels), from batchnorm_forward
    inv_std       (1, channels), from batchnorm_forward
    gamma         (1, channels)
    training      the mode of the forward pass: in training mode the mean and
                  variance depend on X, and the gradient goes through them
    overwrite_dZ  True lets dZ serve as scratch space (one array the size
                  of the batch less); its values are then lost
    relu_output   None, or the output of batchnorm_forward(..., relu=True):
                  dZ is then first masked where it is 0 (the ReLU's backward)

    Returns
    -------
    dX      (n, channels)
    dgamma  (1, channels) = sum over rows of dZ * X_hat, X_hat = (X - mean) * inv_std
    dbeta   (1, channels) = sum over rows of dZ

    Two passes, each in blocks of rows (in parallel in a session): the ReLU
    mask and the sums, then dX.
    """
    n = dZ.shape[0]
    scale = gamma * inv_std
    dX = dZ if overwrite_dZ else np.empty_like(dZ)
    blocks = _row_blocks(dZ, REDUCE_BLOCK_BYTES)
    sums = [None] * len(blocks)

    def block_sums(k, slot):
        start, stop = blocks[k]
        part = dZ[start:stop]
        if relu_output is not None:
            # dX holds the masked dZ until the second pass overwrites it.
            part = np.multiply(part, relu_output[start:stop] > 0, out=dX[start:stop])
        # sum(dZ * X_hat) from X, so that X_hat is never stored or rebuilt:
        # sum(dZ * (X - mean)) * inv_std = (sum(dZ * X) - mean * sum(dZ)) * inv_std.
        sums[k] = (np.einsum("ij->j", part), np.einsum("ij,ij->j", part, X[start:stop]))

    parallel.for_each(block_sums, len(blocks))
    dbeta = _sum_in_order([s for s, _ in sums])[None, :]
    dgamma = inv_std * (_sum_in_order([sx for _, sx in sums])[None, :] - mean * dbeta)
    source = dZ if relu_output is None else dX
    if not training:
        np.multiply(source, scale, out=dX)
        return dX, dgamma, dbeta
    # d/dX of gamma * (X - mean(X)) * inv_std + beta, batch statistics included,
    # is scale * (dZ - dbeta / n - X_hat * dgamma / n); with X_hat written out
    # in X it is scale * dZ + slope * X + offset, per-channel slope and offset.
    slope = -scale * inv_std * dgamma / n
    offset = -scale * dbeta / n - slope * mean
    # Four elementwise steps, block by block: the steps after the first find
    # the block in cache, which saves most of their passes over memory.
    size, chain = _image_blocks(n, dZ.shape[1] * dZ.itemsize, CHAIN_BLOCK_BYTES, min_blocks=1)
    through_statistics = np.empty((parallel.slots(), size, dZ.shape[1]), dtype=dZ.dtype)

    def block_gradient(k, slot):
        start, stop = chain[k]
        part, out = through_statistics[slot, :stop - start], dX[start:stop]
        np.multiply(X[start:stop], slope, out=part)
        part += offset
        np.multiply(source[start:stop], scale, out=out)
        out += part

    parallel.for_each(block_gradient, len(chain))
    return dX, dgamma, dbeta


def dropout_forward(X, p, training=True):
    """Inverted dropout: zero each value with probability p, scale the rest by 1 / (1 - p).

    The mask is drawn from numpy's global generator, so ``np.random.seed``
    fixes it.

    Parameters
    ----------
    X         any shape
    p         probability of dropping a value, 0 <= p < 1
    training  False (eval mode) drops nothing

    Returns
    -------
    Y     X's shape and dtype; X itself when nothing is dropped
    mask  X's shape and dtype, each entry 0 or 1 / (1 - p); None when
          nothing is dropped (eval mode or p == 0: no draw is made)
    """
    if not training or p == 0:
        return X, None
    keep = np.random.random_sample(X.shape) >= p
    mask = keep.astype(X.dtype) * X.dtype.type(1 / (1 - p))
    return X * mask, mask


def dropout_backward(dY, mask):
    """dL/dX = dY * mask; dY itself when the mask is None (nothing dropped)."""
    return dY if mask is None else dY * mask
