"""How the array math is cut into blocks: sizes, buffers, and sums in a fixed order.

Convolution, pooling and batch norm work through a batch a block of images
(or rows) at a time, so that the steps after the first find the block in
the CPU's cache; inside a ``parallel.session()`` the blocks run on a thread
each (``parallel.for_each``). The blocks depend on array shapes and the
settings below only, never on the number of threads, and partial sums are
added in block order: the results are the same bits with any number of
threads.

The settings below are read at each call (MIN_BLOCKS only as the default
of image_blocks, fixed at import): a test may shrink them
(``blocking.BLOCK_BYTES = ...``) to make many small blocks.

All of this is for the CPU. On a GPU (CuPy arrays) each call is one block
over the whole batch: the device spreads every operation over its own cores,
and more blocks would only launch more kernels.
"""

import numpy as np

from .. import backend


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

#: Rows of an array summed as one part of a sum over rows (batch norm's
#: statistics and gradients): the parts run in parallel in a session and are
#: added in order, so the sums never depend on the number of threads.
REDUCE_BLOCK_BYTES = 1 << 20

#: Results of at most this many numbers make sum_over_positions work in pieces
#: of POSITIONS_PER_PIECE positions.
SMALL_PRODUCT = 64 * 64
POSITIONS_PER_PIECE = 2048


def image_blocks(n, per_image_bytes, block_bytes=None, min_blocks=MIN_BLOCKS, xp=np):
    """Split n images (or rows) into nearly equal blocks of at most block_bytes.

    block_bytes defaults to BLOCK_BYTES. There are at least min_blocks
    blocks (or n, if fewer).

    Parameters
    ----------
    n                number of images (or rows)
    per_image_bytes  bytes that one image (or row) adds to a block
    block_bytes      most bytes a block may hold (a block has at least one image)
    min_blocks       fewest blocks, so that threads share the work
    xp               the array module of the data: on a GPU (not numpy) the
                     whole batch is one block

    Returns
    -------
    size    images in a full block
    blocks  list of (start, stop) image ranges; only the last may be shorter
    """
    if xp is not np:
        return n, [(0, n)]
    most = max(1, min((block_bytes or BLOCK_BYTES) // per_image_bytes, -(-n // min_blocks)))
    size = -(-n // -(-n // most))  # the fewest blocks, then as even as possible
    return size, [(start, min(n, start + size)) for start in range(0, n, size)]


def reusable(workspace, name, shape, dtype, xp=np):
    """An uninitialised array kept in ``workspace`` between calls.

    ``workspace`` is a dict owned by the caller (a layer); the array is
    reused while shape, dtype and device stay the same, which saves the page
    faults of a fresh large allocation on every call. With ``workspace=None``
    a new array is made.

    Parameters
    ----------
    xp  the array module (numpy, or CuPy for a GPU) the array must belong to

    Returns
    -------
    array of ``shape`` and ``dtype``, ``workspace[name]`` when a workspace is given
    """
    if workspace is None:
        return xp.empty(shape, dtype=dtype)
    array = workspace.get(name)
    if array is None or array.shape != shape or array.dtype != dtype \
            or backend.get_array_module(array) is not xp:
        array = workspace[name] = xp.empty(shape, dtype=dtype)
    return array


def sum_in_order(parts):
    """The sum of a list of arrays, added first to last (the same bits every time).

    Parameters
    ----------
    parts  non-empty list of arrays of one shape (per-block partial sums)

    Returns
    -------
    an array of that shape: the one part itself when there is one (no copy: on
    a GPU, where every sum is one block, a copy would be one more kernel), else
    a new array, the parts left as they are
    """
    if len(parts) == 1:
        return parts[0]
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def sum_over_positions(A, B):
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
    On a GPU it is one product.
    """
    xp = backend.get_array_module(A, B)
    if A.shape[0] * B.shape[1] > SMALL_PRODUCT or xp is not np:
        pieces = [(0, A.shape[1])]
    else:
        pieces = [(start, min(A.shape[1], start + POSITIONS_PER_PIECE))
                  for start in range(0, A.shape[1], POSITIONS_PER_PIECE)]
    total = None
    for start, stop in pieces:
        a, b = A[:, start:stop], B[start:stop]
        part = a @ b if A.shape[0] >= B.shape[1] else (b.T @ a.T).T
        if total is None:
            total = xp.ascontiguousarray(part)
        else:
            total += part
    return total

