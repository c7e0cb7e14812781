"""Batch normalisation (BatchNorm), with an optional ReLU fused into it, and
group normalisation (GroupNorm).

Batch normalisation's input comes with every axis but the channels flattened
into rows, (n, channels): a fully connected layer's (batch, features), or an
NHWC image batch as (batch*rows*cols, channels). Sums over rows run in blocks
(``blocking.REDUCE_BLOCK_BYTES``, ``blocking.CHAIN_BLOCK_BYTES``), in
parallel inside a ``parallel.session()``, and are added in block order. On a
GPU the same code runs with CuPy, all rows as one block.

Group normalisation's statistics belong to one example each, so its input
keeps its batch axis: (batch, ..., channels).
"""


from .. import backend, parallel
from . import blocking


def _row_blocks(X, block_bytes):
    """(start, stop) blocks of the rows of a 2-D array, about block_bytes each (one on a GPU)."""
    return blocking.image_blocks(X.shape[0], X.shape[1] * X.itemsize, block_bytes,
                                 min_blocks=1, xp=backend.get_array_module(X))[1]


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
    xp = backend.get_array_module(X)
    if training:
        mean, var = _batch_statistics(X)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * (n / (n - 1))
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / xp.sqrt(var + eps)
    scale = gamma * inv_std
    # One multiply and one add per value: Z = X * scale + (beta - mean * scale).
    Z = _scale_and_shift(X, scale, beta - mean * scale, relu)
    return Z, mean, inv_std, running_mean, running_var


def _batch_statistics(X):
    """The mean and biased variance of each column of X (n, channels), each
    (1, channels) in X's dtype, from one pass over X in blocks of rows (in
    parallel in a session)."""
    n = X.shape[0]
    xp = backend.get_array_module(X)
    # Each block's mean and sum of squared deviations from it, in cache,
    # then combined (Chan, Golub and LeVeque's pairwise update): the
    # variance keeps the digits that E[x^2] - mean^2 would lose in float32.
    blocks = _row_blocks(X, blocking.REDUCE_BLOCK_BYTES)
    stats = [None] * len(blocks)
    scratch = xp.empty((parallel.slots(), blocks[0][1], X.shape[1]), dtype=X.dtype)

    def block_statistics(k, slot):
        start, stop = blocks[k]
        part = X[start:stop]
        block_mean = xp.einsum("ij->j", part) / (stop - start)
        centred = xp.subtract(part, block_mean, out=scratch[slot, :stop - start])
        stats[k] = (block_mean, xp.einsum("ij,ij->j", centred, centred))

    parallel.for_each(block_statistics, len(blocks))
    if len(stats) == 1:
        # One block (always on a GPU): its statistics are the batch's, and
        # combining would only add rounding and a dozen small kernels.
        mean, squares = stats[0]
    else:
        counts = [stop - start for start, stop in blocks]
        mean = sum(count * m for count, (m, _) in zip(counts, stats, strict=True)) / n
        squares = blocking.sum_in_order([m2 for _, m2 in stats])
        squares += sum(count * (m - mean) ** 2
                       for count, (m, _) in zip(counts, stats, strict=True))
    mean = mean[None, :].astype(X.dtype, copy=False)
    var = (squares / n)[None, :].astype(X.dtype, copy=False)
    return mean, var


def _scale_and_shift(X, scale, shift, relu):
    """Z = X * scale + shift, or max(that, 0) with ``relu``: a new array of X's
    shape (n, channels), scale and shift (1, channels). One pass over X in
    blocks of rows (in parallel in a session), each block's steps in cache."""
    xp = backend.get_array_module(X)
    Z = xp.empty_like(X)
    chain = _row_blocks(X, blocking.CHAIN_BLOCK_BYTES)

    def block_output(k, slot):
        start, stop = chain[k]
        out = xp.multiply(X[start:stop], scale, out=Z[start:stop])
        out += shift
        if relu:
            xp.maximum(out, 0, out=out)

    parallel.for_each(block_output, len(chain))
    return Z


def batchnorm_backward(dZ, X, mean, inv_std, gamma, training, overwrite_dZ=False,
                       relu_output=None, input_gradient=True):
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
    input_gradient  False skips dX (the second pass): a network's first layer needs none

    Returns
    -------
    dX      (n, channels), or None without ``input_gradient``
    dgamma  (1, channels) = sum over rows of dZ * X_hat, X_hat = (X - mean) * inv_std
    dbeta   (1, channels) = sum over rows of dZ

    Two passes, each in blocks of rows (in parallel in a session): the ReLU
    mask and the sums, then dX.
    """
    n = dZ.shape[0]
    xp = backend.get_array_module(dZ)
    scale = gamma * inv_std
    dX = dZ if overwrite_dZ else xp.empty_like(dZ)
    # With relu_output, dX holds the masked dZ until the second pass overwrites it.
    dZ_sum, dZ_X_sum = _parameter_sums(dZ, X, relu_output, dX)
    # sum(dZ * X_hat) from X, so that X_hat is never stored or rebuilt:
    # sum(dZ * (X - mean)) * inv_std = (sum(dZ * X) - mean * sum(dZ)) * inv_std.
    dbeta = dZ_sum[None, :]
    dgamma = inv_std * (dZ_X_sum[None, :] - mean * dbeta)
    if not input_gradient:
        return None, dgamma, dbeta
    source = dZ if relu_output is None else dX
    if not training:
        xp.multiply(source, scale, out=dX)
        return dX, dgamma, dbeta
    # d/dX of gamma * (X - mean(X)) * inv_std + beta, batch statistics included,
    # is scale * (dZ - dbeta / n - X_hat * dgamma / n); with X_hat written out
    # in X it is scale * dZ + slope * X + offset, per-channel slope and offset.
    slope = -scale * inv_std * dgamma / n
    offset = -scale * dbeta / n - slope * mean
    _through_statistics(source, X, scale, slope, offset, out=dX)
    return dX, dgamma, dbeta


def _parameter_sums(dZ, X, relu_output, masked):
    """The column sums of dZ and of dZ * X, each (channels,), from one pass in
    blocks of rows (in parallel in a session), the blocks' sums added in order.

    With ``relu_output`` (n, channels), dZ is first masked where it is 0 (the
    ReLU's backward), into ``masked`` (n, channels), which may be dZ itself.
    """
    xp = backend.get_array_module(dZ)
    blocks = _row_blocks(dZ, blocking.REDUCE_BLOCK_BYTES)
    sums = [None] * len(blocks)

    def block_sums(k, slot):
        start, stop = blocks[k]
        part = dZ[start:stop]
        if relu_output is not None:
            part = xp.multiply(part, relu_output[start:stop] > 0, out=masked[start:stop])
        sums[k] = (xp.einsum("ij->j", part), xp.einsum("ij,ij->j", part, X[start:stop]))

    parallel.for_each(block_sums, len(blocks))
    return (blocking.sum_in_order([s for s, _ in sums]),
            blocking.sum_in_order([sx for _, sx in sums]))


def _through_statistics(source, X, scale, slope, offset, out):
    """out = source * scale + (X * slope + offset): batch norm's dX in training
    mode, written into ``out`` (n, channels), which may be ``source`` itself;
    scale, slope and offset (1, channels)."""
    xp = backend.get_array_module(out)
    # Four elementwise steps, block by block: the steps after the first find
    # the block in cache, which saves most of their passes over memory.
    size, chain = blocking.image_blocks(out.shape[0], out.shape[1] * out.itemsize,
                                        blocking.CHAIN_BLOCK_BYTES, min_blocks=1, xp=xp)
    scratch = xp.empty((parallel.slots(), size, out.shape[1]), dtype=out.dtype)

    def block_gradient(k, slot):
        start, stop = chain[k]
        part, out_block = scratch[slot, :stop - start], out[start:stop]
        xp.multiply(X[start:stop], slope, out=part)
        part += offset
        xp.multiply(source[start:stop], scale, out=out_block)
        out_block += part

    parallel.for_each(block_gradient, len(chain))


def _per_channel(values, channels):
    """(batch, groups) values as (batch, 1, channels): each group's value on its channels."""
    xp = backend.get_array_module(values)
    return xp.repeat(values, channels // values.shape[1], axis=1)[:, None, :]


def _group_sums(values, groups):
    """(batch, channels) values summed over each group's channels: (batch, groups)."""
    return values.reshape(values.shape[0], groups, -1).sum(axis=2)


def groupnorm_forward(X, gamma, beta, groups, eps):
    """Group normalisation of each example, then a per-channel scale and shift.

    The channels (the last axis) fall into ``groups`` groups of consecutive
    channels; each example's group is normalised by its own mean and biased
    variance, taken over its channels and every axis but the batch.

    Parameters
    ----------
    X            (batch, ..., channels), channels a multiple of ``groups``
    gamma, beta  (1, channels)
    groups       the number of groups
    eps          added to the variance before the square root

    Returns
    -------
    Z        X's shape, gamma * (X - mean) * inv_std + beta, a new array
    mean     (batch, groups), the mean of each example's group   } with X, what
    inv_std  (batch, groups), 1 / sqrt(var + eps)                 } groupnorm_backward needs
    """
    # Sums run over positions per channel first, with the channels as numpy's
    # inner loop: a group's few channels as the inner loop would be slow.
    xp = backend.get_array_module(X)
    rows = X.reshape(X.shape[0], -1, X.shape[-1])
    channels = rows.shape[2]
    size = rows.shape[1] * channels // groups
    mean = _group_sums(xp.einsum("npc->nc", rows), groups) / size
    # The variance from the centred values (two passes), not E[x^2] - mean^2,
    # which loses the digits of a group far from zero in float32.
    centred = rows - _per_channel(mean, channels)
    inv_std = 1 / xp.sqrt(_group_sums(xp.einsum("npc,npc->nc", centred, centred), groups) / size
                          + eps)
    Z = xp.multiply(centred, gamma * _per_channel(inv_std, channels), out=centred)
    Z += beta
    return Z.reshape(X.shape), mean, inv_std


def groupnorm_backward(dZ, X, mean, inv_std, gamma, input_gradient=True):
    """Gradients of groupnorm_forward.

    Parameters
    ----------
    dZ              (batch, ..., channels), dL/dZ
    X               the input of groupnorm_forward, dZ's shape
    mean, inv_std   (batch, groups), from groupnorm_forward
    gamma           (1, channels)
    input_gradient  False skips dX: a network's first layer needs none

    Returns
    -------
    dX      dZ's shape, or None without ``input_gradient``
    dgamma  (1, channels) = sum over examples and positions of dZ * X_hat,
            X_hat = (X - mean) * inv_std
    dbeta   (1, channels) = sum over examples and positions of dZ
    """
    xp = backend.get_array_module(dZ)
    groups = mean.shape[1]
    dZ_rows = dZ.reshape(dZ.shape[0], -1, dZ.shape[-1])
    X_rows = X.reshape(dZ_rows.shape)
    channels = dZ_rows.shape[2]
    mean_c, inv_std_c = _per_channel(mean, channels)[:, 0], _per_channel(inv_std, channels)[:, 0]
    # Per example and channel, sums over positions: of dZ, and of dZ * X_hat
    # from X, so that X_hat is never stored: (sum(dZ * X) - mean * sum(dZ)) * inv_std.
    dZ_sum = xp.einsum("npc->nc", dZ_rows)
    dZ_X_hat = (xp.einsum("npc,npc->nc", dZ_rows, X_rows) - mean_c * dZ_sum) * inv_std_c
    dbeta = dZ_sum.sum(axis=0, keepdims=True)
    dgamma = dZ_X_hat.sum(axis=0, keepdims=True)
    if not input_gradient:
        return None, dgamma, dbeta
    # dX = inv_std * (dX_hat - mean(dX_hat) - X_hat * mean(dX_hat * X_hat)), the
    # means over each example's group, dX_hat = gamma * dZ; with X_hat written
    # out in X it is scale * dZ + slope * X + offset, slope and offset per group.
    size = dZ_rows.shape[1] * channels // groups
    mean_dX_hat = _group_sums(gamma * dZ_sum, groups) / size
    mean_dX_hat_X_hat = _group_sums(gamma * dZ_X_hat, groups) / size
    slope = -inv_std * inv_std * mean_dX_hat_X_hat
    offset = -inv_std * mean_dX_hat - slope * mean
    dX = xp.multiply(dZ_rows, gamma * _per_channel(inv_std, channels))
    dX += xp.multiply(X_rows, _per_channel(slope, channels))
    dX += _per_channel(offset, channels)
    return dX.reshape(dZ.shape), dgamma, dbeta
