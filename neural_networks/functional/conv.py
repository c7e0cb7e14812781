"""Convolution (Conv2D) of NHWC images by im2col and matrix products.

Convolution is cross-correlation:
    Z[n, r, c, o] = sum_{i, j, ch} W[i, j, ch, o] * Xpad[n, r*s + i, c*s + j, ch] + b[0, o]

The forward pass gathers every receptive field into one matrix ("im2col")
and does a single matrix product; the backward pass does two matrix
products and adds the column gradient back onto the input with one strided
add per kernel offset ("col2im"). With stride 1 and no more output channels
than a kernel row holds numbers, the input gradient goes another way with
fewer copies: one product over shifted rows of dZ, then one add per kernel
column (_row_shift_input_gradient).

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

Both give the same numbers; only the memory order differs. The blocks and
their buffers come from ``blocking``; where windows fall, from ``geometry``.
On a GPU the same code runs with CuPy (the array module follows the data),
the whole batch as one block.
"""

from .. import backend, parallel
from . import blocking, geometry


def _channel_major(in_channels, kernel_cols, out_cols):
    """True when the channel-major im2col layout gives the longer inner loops.

    A rows-layout copy runs over kernel_cols*in_channels contiguous numbers,
    a channel-major one over out_cols.
    """
    return kernel_cols * in_channels < out_cols


def _clipped_offsets(kernel_shape, stride, pads, in_shape, out_shape):
    """For every kernel offset (i, j) that touches the input: (i, j, out_index, in_index).

    ``out_index`` and ``in_index`` index axes 1 and 2 of NHWC arrays.
    """
    for i in range(kernel_shape[0]):
        rows = geometry.clip(i, pads[0], in_shape[0], out_shape[0], stride)
        for j in range(kernel_shape[1]):
            cols = geometry.clip(j, pads[1], in_shape[1], out_shape[1], stride)
            if rows is not None and cols is not None:
                yield (i, j, (slice(None), rows[0], cols[0]), (slice(None), rows[1], cols[1]))


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
    view = geometry.windows(geometry.pad_input(X, pads), kernel_shape, stride, out_shape)
    positions = X.shape[0] * out_shape[0] * out_shape[1]
    K = kernel_shape[0] * kernel_shape[1] * X.shape[3]
    xp = backend.get_array_module(X)
    cols = xp.empty((positions, K), dtype=X.dtype) if out is None else out
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
    xp = backend.get_array_module(X)
    Z = xp.empty((n * per_image, out_channels), dtype=X.dtype)
    size, blocks = blocking.image_blocks(n, K * per_image * X.dtype.itemsize, xp=xp)
    cols = blocking.reusable(workspace, "cols", (parallel.slots(), size * per_image, K), X.dtype,
                             xp)

    def block(k, slot):
        start, stop = blocks[k]
        rows = slice(start * per_image, stop * per_image)
        block_cols = cols[slot, :(stop - start) * per_image]
        im2col(X[start:stop], (kr, kc), stride, pads, out_shape, out=block_cols)
        xp.matmul(block_cols, W_mat, out=Z[rows])
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
    xp = backend.get_array_module(X)
    # A channels-first padded copy: each image row is then contiguous.
    Xpad = xp.zeros((channels, n, rows + 2 * pr, width + 2 * pc), dtype=X.dtype)
    s_ch, s_n, s_r, s_c = Xpad.strides
    fields = backend.as_strided(
        Xpad,
        shape=(kr, kc, channels, n, out_rows, out_cols),
        strides=(s_r, s_c, s_ch, s_n, s_r * stride, s_c * stride),
    )
    size, blocks = blocking.image_blocks(n, (K + 1) * per_image * X.dtype.itemsize, xp=xp)
    cols = blocking.reusable(workspace, "cols", (len(blocks), K + 1, size * per_image), X.dtype,
                             xp)
    # With few channels K is small and a separate pass adding b would cost
    # as much as the product; the row of ones adds it instead.
    W_b = xp.concatenate([W.reshape(K, out_channels), b])
    Z = xp.empty((n * per_image, out_channels), dtype=X.dtype)

    def block(k, slot):
        start, stop = blocks[k]
        Xpad[:, start:stop, pr:pr + rows, pc:pc + width] = X[start:stop].transpose(3, 0, 1, 2)
        columns = cols[k, :, :(stop - start) * per_image]
        columns[:K].reshape(kr, kc, channels, stop - start, out_rows, out_cols)[...] = \
            fields[:, :, :, start:stop]
        columns[K] = 1
        xp.matmul(columns.T, W_b, out=Z[start * per_image:stop * per_image])

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
    out_shape = geometry.output_shape(X.shape[1:3], (kr, kc), stride, pads)
    forward = _channel_major_forward if _channel_major(in_channels, kc, out_shape[1]) \
        else _rows_forward
    Z, saved = forward(X, W, b, stride, pads, out_shape, workspace)
    return Z.reshape(X.shape[0], *out_shape, out_channels), saved


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
    xp = backend.get_array_module(dZ_mat)
    if input_gradient:
        dcols = blocking.reusable(workspace, "dcols", (slots, K, size * per_image), dZ_mat.dtype,
                                  xp)
        if two_rounds:
            shifted = blocking.reusable(workspace, "shifted",
                                        (slots, kc, in_channels, size, rows + 2 * pr, out_cols),
                                        dZ_mat.dtype, xp)
        dX_t = xp.zeros((in_channels, n, rows + 2 * pr, width + 2 * pc), dtype=dZ_mat.dtype)
        dX = xp.empty(X_shape, dtype=dZ_mat.dtype)
    parts = [None] * len(blocks)

    def block(k, slot):
        start, stop = blocks[k]
        images = stop - start
        dZ_block = dZ_mat[start * per_image:stop * per_image]
        # The row of ones turns the column sums of dZ (db) into the last row.
        parts[k] = blocking.sum_over_positions(cols[k, :, :images * per_image], dZ_block)
        if not input_gradient:
            return
        columns = dcols[slot, :, :images * per_image]
        xp.matmul(W_mat, dZ_block.T, out=columns)
        columns = columns.reshape(-1, in_channels, images, out_rows, out_cols)
        dX_block = dX_t[:, start:stop]
        _add_columns(columns, dX_block, shifted[slot, :, :, :images] if two_rounds else None,
                     (kr, kc), stride)
        dX[start:stop] = dX_block[:, :, pr:pr + rows, pc:pc + width].transpose(1, 2, 3, 0)

    parallel.for_each(block, len(blocks))
    dW_db = blocking.sum_in_order(parts)
    dW = dW_db[:-1].reshape(kr, kc, in_channels, out_channels)
    return (dX if input_gradient else None), dW, dW_db[-1:].copy()


def _add_columns(columns, dX_block, moved, kernel_shape, stride):
    """col2im for a block of the channel-major layout: adds every kernel offset's
    gradient columns into the padded input gradient.

    Parameters
    ----------
    columns       (kr*kc, in_channels, images, out_rows, out_cols), the rows of
                  dcols by kernel offset: in the order (i, j), or (j, i) with ``moved``
    dX_block      (in_channels, images, padded rows, padded cols), added into
    moved         None: one add per kernel offset; or a buffer (kc, in_channels,
                  images, padded rows, out_cols) for the two rounds, zeroed here
    kernel_shape  (kr, kc)
    stride        int >= 1
    """
    kr, kc = kernel_shape
    out_rows, out_cols = columns.shape[3:]
    if moved is not None:
        moved[...] = 0
        for i in range(kr):
            moved[:, :, :, geometry.span(i, out_rows, stride)] += columns[i::kr]
        for j in range(kc):
            dX_block[:, :, :, geometry.span(j, out_cols, stride)] += moved[j]
    else:
        for i in range(kr):
            for j in range(kc):
                dX_block[:, :, geometry.span(i, out_rows, stride),
                         geometry.span(j, out_cols, stride)] += columns[i * kc + j]


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
    xp = backend.get_array_module(W)
    W_rows = xp.ascontiguousarray(W.transpose(0, 3, 1, 2)).reshape(kr * out_channels, -1)
    slots = parallel.slots()
    shifted = blocking.reusable(workspace, "shifted_dZ",
                                (slots, size, rows, out_cols, kr, out_channels), dtype, xp)
    S = blocking.reusable(workspace, "row_sums",
                          (slots, size, rows, out_cols, kc, in_channels), dtype, xp)
    row_clips = [geometry.clip(i, pads[0], rows, out_rows, 1) for i in range(kr)]
    col_clips = {j: clip for j in range(kc)
                 if (clip := geometry.clip(j, pads[1], width, out_cols, 1)) is not None}
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
        xp.matmul(A.reshape(-1, kr * out_channels), W_rows,
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
    xp = backend.get_array_module(dZ_mat)
    # A few images at a time, so that each block's im2col matrix (rebuilt
    # here from X) and its dcols are still in the CPU cache when used.
    size, blocks = blocking.image_blocks(n, per_image * K * dZ_mat.itemsize, xp=xp)
    shifts = input_gradient and _row_shifts(W.shape, stride)
    if shifts:
        dX_block_gradient = _row_shift_input_gradient(W, pads, X_shape, out_shape, size,
                                                      workspace, dZ_mat.dtype)
        dX = xp.empty(X_shape, dtype=dZ_mat.dtype)  # every block writes all of its images
    elif input_gradient:
        offsets = list(_clipped_offsets((kr, kc), stride, pads, X_shape[1:3], out_shape))
        dcols = blocking.reusable(workspace, "dcols", (parallel.slots(), size * per_image, K),
                                  dZ_mat.dtype, xp)
        dX = xp.zeros(X_shape, dtype=dZ_mat.dtype)
    parts = [None] * len(blocks)
    ones = xp.ones((1, size * per_image), dtype=dZ_mat.dtype)
    cols = blocking.reusable(workspace, "cols", (parallel.slots(), size * per_image, K), X.dtype,
                             xp)

    def block(k, slot):
        start, stop = blocks[k]
        positions = slice(start * per_image, stop * per_image)
        dZ_block = dZ_mat[positions]
        count = (stop - start) * per_image
        block_cols = cols[slot, :count]
        im2col(X[start:stop], (kr, kc), stride, pads, out_shape, out=block_cols)
        parts[k] = (blocking.sum_over_positions(block_cols.T, dZ_block),
                    ones[:, :count] @ dZ_block)
        if shifts:
            dX_block_gradient(dZ_block, dX[start:stop], slot)
        if shifts or not input_gradient:
            return
        columns = dcols[slot, :count]
        xp.matmul(dZ_block, W_mat.T, out=columns)
        columns = columns.reshape(stop - start, out_rows, out_cols, kr, kc, in_channels)
        dX_block = dX[start:stop]
        for i, j, out_index, in_index in offsets:
            dX_block[in_index] += columns[out_index + (i, j)]

    parallel.for_each(block, len(blocks))
    dW = blocking.sum_in_order([dW_part for dW_part, _ in parts])
    db = blocking.sum_in_order([db_part for _, db_part in parts])
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
