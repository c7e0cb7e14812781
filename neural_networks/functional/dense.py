"""Fully connected layers' math: the affine map Z = X W + b, and flattening.

``affine_forward`` / ``affine_backward`` are FullyConnected's;
``flatten_forward`` / ``flatten_backward`` are Flatten's. Batches are rows:
X is (batch, n_in), W (n_in, n_out), b (1, n_out).
"""

import numpy as np

from .. import backend, parallel


#: Multiply-adds from which a fully connected layer's products use two threads.
PARALLEL_AFFINE_FLOPS = 1 << 22


def _large_product(X, W):
    """True when the products of a fully connected layer are worth two threads (never
    on a GPU, which runs each product on all its cores)."""
    return X.shape[0] * W.shape[0] * W.shape[1] >= PARALLEL_AFFINE_FLOPS \
        and backend.get_array_module(X) is np


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
    xp = backend.get_array_module(X)
    Z = xp.empty((X.shape[0], W.shape[1]), dtype=np.result_type(X.dtype, W.dtype))
    n_out = W.shape[1]
    halves = _large_product(X, W) and n_out >= 2
    outputs = [(0, n_out // 2), (n_out // 2, n_out)] if halves else [(0, n_out)]

    def block(k, slot):
        part = slice(*outputs[k])
        xp.matmul(X, W[:, part], out=Z[:, part])
        Z[:, part] += b[:, part]

    parallel.for_each(block, len(outputs))
    return Z


def affine_backward(dZ, X, W, input_gradient=True):
    """Gradients of Z = X W + b.

    Parameters
    ----------
    dZ              (batch, n_out), dL/dZ
    X               (batch, n_in), the input of the forward pass
    W               (n_in, n_out)
    input_gradient  False skips dX (a network's first layer needs none)

    Returns
    -------
    dX  (batch, n_in) = dZ W^T, or None without ``input_gradient``
    dW  (n_in, n_out) = X^T dZ
    db  (1, n_out), the column sums of dZ

    Large products (dX and dW) run on two threads inside a
    ``parallel.session()``, each as one whole product.
    """
    xp = backend.get_array_module(dZ)
    dX = xp.empty(X.shape, dtype=np.result_type(dZ.dtype, W.dtype)) if input_gradient else None
    dW = xp.empty(W.shape, dtype=np.result_type(X.dtype, dZ.dtype))

    def product(k, slot):
        if k == 0:
            xp.matmul(X.T, dZ, out=dW)
        else:
            xp.matmul(dZ, W.T, out=dX)

    products = 2 if input_gradient else 1
    if products == 2 and _large_product(X, W):
        parallel.for_each(product, products)
    else:  # one product, or too small to gain from a second thread
        for k in range(products):
            product(k, 0)
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
