"""Layers of a network.

Every layer keeps three OrderedDicts: ``parameters``, ``gradients`` (same
keys and shapes) and ``cache`` (what forward saves for backward). Parameters
are created lazily on the first ``forward`` and take the dtype of that input.
The array math of convolution and pooling lives in ``utils.convolution``.
"""

from abc import ABC, abstractmethod
from collections import OrderedDict
import inspect
import numbers

import numpy as np

from .activations import initialize_activation
from .weights import initialize_weights
from .utils import convolution as conv


def _as_float_array(X, layer_name):
    """Return X as a floating ndarray, keeping float32/float64 as given."""
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        if not (np.issubdtype(X.dtype, np.integer) or X.dtype == bool):
            raise ValueError(f"{layer_name}: expected a numeric array, got dtype {X.dtype}")
        X = X.astype(np.float64)
    return X


def _check_rank(X, rank, layer_name, layout):
    if X.ndim != rank:
        raise ValueError(
            f"{layer_name}: expected a {rank}-D input {layout}, "
            f"got an array of shape {X.shape}"
        )


def _check_positive_int(value, what):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be an int >= 1, got {value!r}")
    return int(value)


class Layer(ABC):
    """Base class of every layer."""

    def __init__(self):
        self.activation = None
        self.n_in = None
        self.n_out = None
        self.parameters = OrderedDict()
        self.cache = OrderedDict()
        self.gradients = OrderedDict()
        self.training = True

    @abstractmethod
    def forward(self, X):
        """Compute the layer's output for a batch X (batch first)."""

    @abstractmethod
    def backward(self, dLdY):
        """Given dL/dY, fill ``gradients`` and return dL/dX."""

    def __call__(self, X):
        return self.forward(X)

    def clear_gradients(self):
        """Reset the cache and set every gradient to zeros."""
        self.cache = OrderedDict()
        self.gradients = OrderedDict(
            (name, np.zeros_like(grad)) for name, grad in self.gradients.items()
        )

    def forward_with_param(self, param_name, X):
        """Return f(value) = forward(X) with parameter ``param_name`` set to value.

        Used by the gradient checker to perturb one parameter at a time.
        """
        if self.n_in is None:
            self.forward(X)
        if param_name not in self.parameters:
            raise ValueError(
                f"{type(self).__name__} has no parameter {param_name!r}; "
                f"it has {list(self.parameters)}"
            )

        def inner_forward(param):
            self.parameters[param_name] = param
            return self.forward(X)

        return inner_forward

    def _get_parameters(self):
        return list(self.parameters.values())

    def _get_cache(self):
        return list(self.cache.values())

    def _get_gradients(self):
        return list(self.gradients.values())

    def _set_parameter_dtype(self, dtype):
        """Cast parameters and gradients to ``dtype`` (called at initialisation)."""
        for name in self.parameters:
            self.parameters[name] = self.parameters[name].astype(dtype, copy=False)
            self.gradients[name] = np.zeros_like(self.parameters[name])


class FullyConnected(Layer):
    """Affine map Z = X W + b followed by an activation.

    Parameters
    ----------
    n_out        number of output features
    activation   name of the activation applied to Z
    weight_init  name of the initializer for W
    """

    def __init__(self, n_out, activation, weight_init="xavier_uniform"):
        super().__init__()
        self.n_out = _check_positive_int(n_out, "FullyConnected n_out")
        self.activation_name = activation or "linear"
        self.activation = initialize_activation(self.activation_name)
        self.init_weights = initialize_weights(weight_init, activation=self.activation_name)

    def _init_parameters(self, X_shape, dtype=np.float64):
        """Set n_in from X_shape = (batch, n_in) and create W (n_in, n_out), b (1, n_out)."""
        self.n_in = X_shape[1]
        W = self.init_weights((self.n_in, self.n_out))
        b = np.zeros((1, self.n_out))
        self.parameters = OrderedDict([("W", W), ("b", b)])
        self.cache = OrderedDict()
        self._set_parameter_dtype(dtype)

    def forward(self, X):
        """Parameters: X (batch, n_in). Returns: activation(X W + b), (batch, n_out)."""
        X = _as_float_array(X, "FullyConnected")
        _check_rank(X, 2, "FullyConnected", "(batch, features)")
        if self.n_in is None:
            self._init_parameters(X.shape, X.dtype)
        elif X.shape[1] != self.n_in:
            raise ValueError(
                f"FullyConnected: expected {self.n_in} input features, got {X.shape[1]} "
                f"(input shape {X.shape})"
            )
        W, b = self.parameters["W"], self.parameters["b"]
        Z = X @ W
        Z += b
        self.cache["X"] = X
        self.cache["Z"] = Z
        return self.activation(Z)

    def backward(self, dLdY):
        """Parameters: dLdY (batch, n_out). Returns: dL/dX (batch, n_in)."""
        X, Z = self.cache["X"], self.cache["Z"]
        dZ = self.activation.backward(Z, dLdY)
        self.gradients["W"] = X.T @ dZ
        self.gradients["b"] = dZ.sum(axis=0, keepdims=True)
        return dZ @ self.parameters["W"].T


class Conv2D(Layer):
    """2-D convolution (cross-correlation) over NHWC images, then an activation.

    Parameters
    ----------
    n_out         number of output channels
    kernel_shape  (kernel_rows, kernel_cols) or an int for a square kernel
    activation    name of the activation
    stride        int >= 1
    pad           "same", "valid" or an int >= 0 (rows and columns on each side)
    weight_init   name of the initializer for W
    """

    def __init__(self, n_out, kernel_shape, activation, stride=1, pad="same",
                 weight_init="xavier_uniform"):
        super().__init__()
        self.n_out = _check_positive_int(n_out, "Conv2D n_out")
        self.kernel_shape = conv.as_pair(kernel_shape, "Conv2D kernel_shape")
        if min(self.kernel_shape) < 1:
            raise ValueError(f"Conv2D kernel_shape must be >= 1, got {kernel_shape!r}")
        self.stride = _check_positive_int(stride, "Conv2D stride")
        self.pad = pad
        self.pads = conv.pad_amounts(pad, self.kernel_shape)
        self.activation_name = activation or "linear"
        self.activation = initialize_activation(self.activation_name)
        self.init_weights = initialize_weights(weight_init, activation=self.activation_name)
        # The im2col matrix and its gradient, reused from one training step to the next.
        self.workspace = {}

    def _init_parameters(self, X_shape, dtype=np.float64):
        """Set n_in from X_shape = (batch, rows, cols, n_in); W (kr, kc, n_in, n_out), b (1, n_out)."""
        self.n_in = X_shape[3]
        W = self.init_weights((*self.kernel_shape, self.n_in, self.n_out))
        b = np.zeros((1, self.n_out))
        self.parameters = OrderedDict([("W", W), ("b", b)])
        self.cache = OrderedDict()
        self._set_parameter_dtype(dtype)

    def forward(self, X):
        """Parameters: X (batch, rows, cols, n_in).
        Returns: (batch, out_rows, out_cols, n_out)."""
        X = _as_float_array(X, "Conv2D")
        _check_rank(X, 4, "Conv2D", "(batch, rows, cols, channels)")
        conv.output_shape(X.shape[1:3], self.kernel_shape, self.stride, self.pads)
        if self.n_in is None:
            self._init_parameters(X.shape, X.dtype)
        elif X.shape[3] != self.n_in:
            raise ValueError(
                f"Conv2D: expected {self.n_in} input channels, got {X.shape[3]} "
                f"(input shape {X.shape})"
            )
        # Evaluation batches may be large and come once: no buffer is kept for them.
        Z, cols = conv.conv2d_forward(
            X, self.parameters["W"], self.parameters["b"], self.stride, self.pads,
            workspace=self.workspace if self.training else None,
        )
        self.cache["X_shape"] = X.shape
        self.cache["cols"] = cols
        self.cache["Z"] = Z
        return self.activation(Z)

    def backward(self, dLdY):
        """Parameters: dLdY (batch, out_rows, out_cols, n_out).
        Returns: dL/dX (batch, rows, cols, n_in)."""
        dZ = self.activation.backward(self.cache["Z"], dLdY)
        dX, dW, db = conv.conv2d_backward(
            dZ, self.cache["cols"], self.cache["X_shape"], self.parameters["W"],
            self.stride, self.pads, workspace=self.workspace,
        )
        self.gradients["W"] = dW
        self.gradients["b"] = db
        return dX


class Pool2D(Layer):
    """Max or average pooling over NHWC images (no parameters).

    Parameters
    ----------
    kernel_shape  int or (kernel_rows, kernel_cols)
    mode          "max" or "average"
    stride        int >= 1
    pad           "same", "valid" or an int >= 0
    """

    MODES = ("max", "average")

    def __init__(self, kernel_shape, mode="max", stride=1, pad=0):
        super().__init__()
        self.kernel_shape = conv.as_pair(kernel_shape, "Pool2D kernel_shape")
        if min(self.kernel_shape) < 1:
            raise ValueError(f"Pool2D kernel_shape must be >= 1, got {kernel_shape!r}")
        if mode not in self.MODES:
            raise ValueError(f"Pool2D mode must be one of {list(self.MODES)}, got {mode!r}")
        self.mode = mode
        self.stride = _check_positive_int(stride, "Pool2D stride")
        self.pad = pad
        self.pads = conv.pad_amounts(pad, self.kernel_shape)
        self.activation = initialize_activation("linear")

    def forward(self, X):
        """Parameters: X (batch, rows, cols, channels).
        Returns: (batch, out_rows, out_cols, channels)."""
        X = _as_float_array(X, "Pool2D")
        _check_rank(X, 4, "Pool2D", "(batch, rows, cols, channels)")
        if self.n_in is None:
            self.n_in = self.n_out = X.shape[3]
        elif X.shape[3] != self.n_in:
            raise ValueError(
                f"Pool2D: expected {self.n_in} input channels, got {X.shape[3]} "
                f"(input shape {X.shape})"
            )
        self.cache["X_shape"] = X.shape
        if self.mode == "max":
            Z, argmax = conv.maxpool2d_forward(X, self.kernel_shape, self.stride, self.pads)
            self.cache["argmax"] = argmax
            return Z
        return conv.avgpool2d_forward(X, self.kernel_shape, self.stride, self.pads)

    def backward(self, dLdY):
        """Parameters: dLdY (batch, out_rows, out_cols, channels).
        Returns: dL/dX (batch, rows, cols, channels)."""
        X_shape = self.cache["X_shape"]
        if self.mode == "max":
            return conv.maxpool2d_backward(
                dLdY, self.cache["argmax"], X_shape, self.kernel_shape, self.stride, self.pads
            )
        return conv.avgpool2d_backward(dLdY, X_shape, self.kernel_shape, self.stride, self.pads)


class Flatten(Layer):
    """Reshape (batch, ...) to (batch, -1); backward restores the input shape.

    ``keep_dim="last"`` instead keeps the last axis: (..., k) -> (-1, k).
    """

    def __init__(self, keep_dim="first"):
        super().__init__()
        if keep_dim not in ("first", "last"):
            raise ValueError(f"Flatten keep_dim must be 'first' or 'last', got {keep_dim!r}")
        self.keep_dim = keep_dim

    def forward(self, X):
        """Parameters: X (batch, ...). Returns: (batch, prod(rest))."""
        X = _as_float_array(X, "Flatten")
        if X.ndim < 1:
            raise ValueError(f"Flatten: expected an array with a batch axis, got shape {X.shape}")
        self.cache["in_dims"] = X.shape
        if self.keep_dim == "first":
            Y = X.reshape(X.shape[0], -1)
        else:
            Y = X.reshape(-1, X.shape[-1])
        self.n_in, self.n_out = X.shape[1:], Y.shape[1]
        return Y

    def backward(self, dLdY):
        """Parameters: dLdY (batch, prod(rest)). Returns: dL/dX of the input's shape."""
        return dLdY.reshape(self.cache["in_dims"])


class BatchNorm(Layer):
    """Batch normalisation over every axis but the last, then an activation.

    Serves fully connected inputs (batch, features) and NHWC images
    (batch, rows, cols, channels) alike. In training mode it normalises with
    the batch's mean and (biased) variance and updates the running statistics
    as PyTorch's BatchNorm does: running = (1 - momentum) * running +
    momentum * batch statistic, with the unbiased variance. In eval mode it
    uses the running statistics.

    Parameters
    ----------
    momentum    weight of the newest batch in the running statistics
    eps         added to the variance before the square root
    activation  name of the activation applied after normalising

    Attributes
    ----------
    parameters  "gamma", "beta": shape (1, channels), trained
    buffers     "running_mean", "running_var": shape (1, channels), not trained
    """

    def __init__(self, momentum=0.1, eps=1e-5, activation="linear"):
        super().__init__()
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm momentum must be in [0, 1], got {momentum!r}")
        if eps <= 0:
            raise ValueError(f"BatchNorm eps must be > 0, got {eps!r}")
        self.momentum = momentum
        self.eps = eps
        self.activation_name = activation or "linear"
        self.activation = initialize_activation(self.activation_name)
        self.buffers = OrderedDict()

    def _init_parameters(self, X_shape, dtype=np.float64):
        """Set n_in = n_out = X_shape[-1]; gamma ones, beta zeros, running mean 0, var 1."""
        self.n_in = self.n_out = X_shape[-1]
        self.parameters = OrderedDict(
            [("gamma", np.ones((1, self.n_in))), ("beta", np.zeros((1, self.n_in)))]
        )
        self._set_parameter_dtype(dtype)
        self.buffers = OrderedDict(
            [("running_mean", np.zeros((1, self.n_in), dtype=dtype)),
             ("running_var", np.ones((1, self.n_in), dtype=dtype))]
        )

    def forward(self, X):
        """Parameters: X (batch, ..., channels). Returns: same shape."""
        X = _as_float_array(X, "BatchNorm")
        if X.ndim < 2:
            raise ValueError(
                f"BatchNorm: expected an input of shape (batch, ..., channels), got {X.shape}"
            )
        if self.n_in is None:
            self._init_parameters(X.shape, X.dtype)
        elif X.shape[-1] != self.n_in:
            raise ValueError(
                f"BatchNorm: expected {self.n_in} channels (last axis), got {X.shape[-1]} "
                f"(input shape {X.shape})"
            )
        flat = X.reshape(-1, self.n_in)
        n = flat.shape[0]
        if self.training:
            if n < 2:
                raise ValueError(
                    f"BatchNorm needs more than one value per channel in training mode, "
                    f"got input shape {X.shape}"
                )
            # Column sums as a matrix-vector product (BLAS) rather than a numpy
            # reduction over axis 0, which is several times slower on images.
            mean = (np.ones(n, dtype=flat.dtype) @ flat / n)[None, :]
            X_hat = flat - mean
            var = (np.einsum("ij,ij->j", X_hat, X_hat) / n)[None, :]
            m = self.momentum
            self.buffers["running_mean"] = (1 - m) * self.buffers["running_mean"] + m * mean
            self.buffers["running_var"] = (
                (1 - m) * self.buffers["running_var"] + m * var * (n / (n - 1))
            )
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            X_hat = flat - mean
        inv_std = 1 / np.sqrt(var + self.eps)
        X_hat *= inv_std
        Z = X_hat * self.parameters["gamma"]
        Z += self.parameters["beta"]
        self.cache["X_hat"] = X_hat
        self.cache["inv_std"] = inv_std
        self.cache["Z"] = Z
        self.cache["training"] = self.training
        return self.activation(Z.reshape(X.shape))

    def backward(self, dLdY):
        """Parameters: dLdY, the output's shape. Returns: dL/dX, same shape."""
        X_hat, inv_std, Z = self.cache["X_hat"], self.cache["inv_std"], self.cache["Z"]
        dLdY = np.asarray(dLdY)
        dZ = self.activation.backward(Z, dLdY.reshape(Z.shape))
        n = dZ.shape[0]
        scale = self.parameters["gamma"] * inv_std
        self.gradients["gamma"] = np.einsum("ij,ij->j", dZ, X_hat)[None, :]
        self.gradients["beta"] = (np.ones(n, dtype=dZ.dtype) @ dZ)[None, :]
        if not self.cache["training"]:
            return (dZ * scale).reshape(dLdY.shape)
        # d/dX of gamma * (X - mean(X)) / std(X) + beta, batch statistics included:
        # scale * (dZ - mean(dZ) - X_hat * mean(dZ * X_hat)).
        dX = X_hat * (-scale * self.gradients["gamma"] / n)
        # dZ is a fresh array unless the activation passed dLdY through unchanged.
        if np.shares_memory(dZ, dLdY):
            dX += dZ * scale
        else:
            dZ *= scale
            dX += dZ
        dX += -scale * self.gradients["beta"] / n
        return dX.reshape(dLdY.shape)


class Dropout(Layer):
    """Inverted dropout: in training, zero each value with probability p and scale
    the rest by 1 / (1 - p); in eval mode, the identity.

    Parameters
    ----------
    p  probability of dropping a value, 0 <= p < 1
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout p must be in [0, 1), got {p!r}")
        self.p = p
        self.activation = initialize_activation("linear")

    def forward(self, X):
        """Parameters: X, any shape (batch first). Returns: same shape."""
        X = _as_float_array(X, "Dropout")
        self.n_in = self.n_out = X.shape[-1] if X.ndim > 1 else None
        if not self.training or self.p == 0:
            self.cache["mask"] = None
            return X
        keep = np.random.random_sample(X.shape) >= self.p
        mask = keep.astype(X.dtype) * X.dtype.type(1 / (1 - self.p))
        self.cache["mask"] = mask
        return X * mask

    def backward(self, dLdY):
        """Parameters: dLdY, the output's shape. Returns: dL/dX, same shape."""
        mask = self.cache["mask"]
        return dLdY if mask is None else dLdY * mask


LAYERS = {
    "fully_connected": FullyConnected,
    "conv2d": Conv2D,
    "pool2d": Pool2D,
    "flatten": Flatten,
    "batchnorm": BatchNorm,
    "dropout": Dropout,
}


def initialize_layer(name, activation=None, weight_init=None, n_out=None, kernel_shape=None,
                     stride=None, pad=None, mode=None, keep_dim="first", **options):
    """Build a layer from its name; arguments left None take the class default.

    Parameters
    ----------
    name     one of ``LAYERS``
    options  further constructor arguments of layers added beyond the course's

    Arguments that the chosen layer does not take are ignored, so one
    argument dict can describe any layer (e.g. ``activation`` for a pool).
    """
    if name not in LAYERS:
        raise ValueError(f"unknown layer {name!r}; expected one of {sorted(LAYERS)}")
    cls = LAYERS[name]
    given = {
        "activation": activation,
        "weight_init": weight_init,
        "n_out": n_out,
        "kernel_shape": kernel_shape,
        "stride": stride,
        "pad": pad,
        "mode": mode,
        "keep_dim": keep_dim,
        **options,
    }
    accepted = inspect.signature(cls).parameters
    kwargs = {k: v for k, v in given.items() if v is not None and k in accepted}
    missing = [
        k for k, p in accepted.items()
        if p.default is inspect.Parameter.empty and k not in kwargs and k != "activation"
    ]
    if missing:
        raise ValueError(f"layer {name!r} needs {', '.join(missing)}; got {kwargs}")
    if "activation" in accepted and "activation" not in kwargs:
        kwargs["activation"] = "linear"
    return cls(**kwargs)
