"""Layers of a network.

Every layer keeps four OrderedDicts: ``parameters``, ``gradients`` (same
keys and shapes), ``buffers`` (saved but not trained) and ``cache`` (what
forward saves for backward). Parameters are created lazily on the first
``forward`` and take the dtype of that input. A layer holds state only; its
array math is one call into ``functional`` each way, as in PyTorch's
``nn.Module`` and ``nn.functional``. What every layer shares, and declares
about itself to the network, checkpoints and summary, is ``base_layer.Layer``'s.
"""

from collections import OrderedDict
import math
import numbers

import numpy as np

from . import backend
from . import functional as F
from .activations import Linear, ReLU, canonical_name, initialize_activation
from .base_layer import Layer
from .utils.registry import accepted_keywords, check_keywords, check_required, factory, lookup
from .weights import initialize_weights

__all__ = ["LAYERS", "BatchNorm", "Conv2D", "Dropout", "Flatten", "FullyConnected", "GroupNorm",
           "Layer", "Pool2D", "initialize_layer"]


def _as_batch(X, layer_name, layout, rank=None, min_rank=1):
    """X as a float32/float64 array with a non-empty batch axis, or ValueError.

    Integer and bool inputs become float64. Only shapes and the dtype are
    looked at, never the values: this runs on every forward pass.

    Parameters
    ----------
    X           the input
    layer_name  for the messages
    layout      the expected axes, for the messages, e.g. "(batch, features)"
    rank        the number of axes required, or None
    min_rank    the fewest axes allowed when ``rank`` is None
    """
    X = backend.as_array(X)
    if X.dtype == np.float16:
        # Half precision underflows in the optimizers (Adam's eps is 1e-8).
        raise ValueError(f"{layer_name}: float16 is not supported; use float32 or float64 "
                         f"(got an input of dtype float16)")
    if not np.issubdtype(X.dtype, np.floating):
        if not (np.issubdtype(X.dtype, np.integer) or X.dtype == bool):
            raise ValueError(f"{layer_name}: expected a numeric array, got dtype {X.dtype}")
        X = X.astype(np.float64)
    if rank is not None and X.ndim != rank:
        raise ValueError(
            f"{layer_name}: expected a {rank}-D input {layout}, got an array of shape {X.shape}"
        )
    if X.ndim < min_rank:
        raise ValueError(f"{layer_name}: expected an input of shape {layout}, got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(
            f"{layer_name}: expected a batch of at least one example, got input shape {X.shape}"
        )
    return X


def _check_positive_int(value, what):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be an int >= 1, got {value!r}")
    return int(value)


def _check_finite_number(value, what):
    """Refuse bools, non-numbers, NaN and infinities (ValueError naming ``what``)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value)):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return value


class FullyConnected(Layer):
    """Affine map Z = X W + b followed by an activation.

    Parameters
    ----------
    n_out        number of output features
    activation   name of the activation applied to Z
    weight_init  name of the initializer for W
    """

    examples = [(dict(n_out=3, activation="relu"), (4, 5)),
                (dict(n_out=4, activation="sigmoid"), (4, 5)),
                (dict(n_out=3, activation="softmax"), (4, 5))]

    def __init__(self, n_out, activation, weight_init="xavier_uniform"):
        super().__init__()
        self.n_out = _check_positive_int(n_out, "FullyConnected n_out")
        self.set_activation(activation)
        self.init_weights = initialize_weights(weight_init, activation=self.activation_name)

    def _init_parameters(self, X_shape, dtype=np.float64):
        """Set n_in from X_shape = (batch, n_in) and create W (n_in, n_out), b (1, n_out)."""
        self.n_in = X_shape[1]
        W = self.init_weights((self.n_in, self.n_out))
        b = np.zeros((1, self.n_out))
        self.parameters = OrderedDict([("W", W), ("b", b)])
        self.cache = OrderedDict()
        self.set_parameter_dtype(dtype)

    def forward(self, X):
        """Parameters: X (batch, n_in). Returns: activation(X W + b), (batch, n_out)."""
        X = _as_batch(X, "FullyConnected", "(batch, features)", rank=2)
        if self.n_in is None:
            self.create_parameters(X)
        elif X.shape[1] != self.n_in:
            raise ValueError(
                f"FullyConnected: expected {self.n_in} input features, got {X.shape[1]} "
                f"(input shape {X.shape})"
            )
        self.check_device(X)
        Z = F.affine_forward(X, self.parameters["W"], self.parameters["b"])
        self.cache["X"] = X
        self.keep_Z(Z)
        return self.activation(Z)

    def backward(self, dLdY, input_gradient=True):
        """Parameters: dLdY (batch, n_out); input_gradient=False skips dL/dX.
        Returns: dL/dX (batch, n_in), or None without input_gradient."""
        dZ = self.activation_gradient(dLdY)
        dX, self.gradients["W"], self.gradients["b"] = F.affine_backward(
            dZ, self.cache["X"], self.parameters["W"], input_gradient=input_gradient)
        return dX


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

    runs_on_threads = True
    # Square and oblong kernels, strides 1 and 2, each kind of padding.
    examples = [(dict(n_out=4, kernel_shape=kernel_shape, activation="tanh", stride=stride,
                      pad=pad), (2, 7, 6, 3))
                for kernel_shape, stride, pad in [((3, 3), 1, "same"), ((1, 1), 1, "valid"),
                                                  ((2, 3), 2, "valid"), ((3, 2), 2, 1),
                                                  ((5, 5), 1, "same")]]

    def __init__(self, n_out, kernel_shape, activation, stride=1, pad="same",
                 weight_init="xavier_uniform"):
        super().__init__()
        self.n_out = _check_positive_int(n_out, "Conv2D n_out")
        self.kernel_shape = self.settle("kernel_shape",
                                        F.as_pair(kernel_shape, "Conv2D kernel_shape"))
        if min(self.kernel_shape) < 1:
            raise ValueError(f"Conv2D kernel_shape must be >= 1, got {kernel_shape!r}")
        self.stride = _check_positive_int(stride, "Conv2D stride")
        self.pad = pad
        self.pads = F.pad_amounts(pad, self.kernel_shape)
        self.set_activation(activation)
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
        self.set_parameter_dtype(dtype)

    def forward(self, X):
        """Parameters: X (batch, rows, cols, n_in).
        Returns: (batch, out_rows, out_cols, n_out)."""
        X = _as_batch(X, "Conv2D", "(batch, rows, cols, channels)", rank=4)
        F.output_shape(X.shape[1:3], self.kernel_shape, self.stride, self.pads)
        if self.n_in is None:
            self.create_parameters(X)
        elif X.shape[3] != self.n_in:
            raise ValueError(
                f"Conv2D: expected {self.n_in} input channels, got {X.shape[3]} "
                f"(input shape {X.shape})"
            )
        self.check_device(X)
        # Evaluation batches may be large and come once: no buffer is kept for them.
        Z, saved = F.conv2d_forward(
            X, self.parameters["W"], self.parameters["b"], self.stride, self.pads,
            workspace=self.workspace if self.training else None,
        )
        self.cache["X_shape"] = X.shape
        self.cache["saved"] = saved  # X, or the im2col matrix (see F.conv2d_forward)
        self.keep_Z(Z)
        return self.activation(Z)

    def backward(self, dLdY, input_gradient=True):
        """Parameters: dLdY (batch, out_rows, out_cols, n_out); input_gradient=False
        skips dL/dX (a network's first layer needs none).
        Returns: dL/dX (batch, rows, cols, n_in), or None without input_gradient."""
        dZ = self.activation_gradient(dLdY)
        dX, self.gradients["W"], self.gradients["b"] = F.conv2d_backward(
            dZ, self.cache["saved"], self.cache["X_shape"], self.parameters["W"],
            self.stride, self.pads, workspace=self.workspace, input_gradient=input_gradient,
        )
        return dX

    def image_filters(self):
        """The kernels W, (kernel_rows, kernel_cols, n_in, n_out), as a host array (a
        copy of a GPU's); None before they exist."""
        W = self.parameters.get("W")
        return None if W is None else backend.to_host(W)

    def to(self, device):
        """``Layer.to``, and the im2col buffers of the old device dropped."""
        self.workspace = {}
        return super().to(device)


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
    runs_on_threads = True
    examples = [(dict(kernel_shape=kernel_shape, mode=mode, stride=stride, pad=pad), (2, 7, 6, 3))
                for mode, kernel_shape, stride, pad in [
                    ("max", (2, 2), 2, 0), ("max", (3, 3), 1, "same"), ("max", (2, 3), 1, 1),
                    ("average", (2, 2), 2, 0), ("average", (3, 3), 1, "same"),
                    ("average", (3, 2), 2, 1)]]

    def __init__(self, kernel_shape, mode="max", stride=1, pad=0):
        super().__init__()
        self.kernel_shape = self.settle("kernel_shape",
                                        F.as_pair(kernel_shape, "Pool2D kernel_shape"))
        if min(self.kernel_shape) < 1:
            raise ValueError(f"Pool2D kernel_shape must be >= 1, got {kernel_shape!r}")
        if mode not in self.MODES:
            raise ValueError(f"Pool2D mode must be one of {list(self.MODES)}, got {mode!r}")
        self.mode = mode
        self.stride = _check_positive_int(stride, "Pool2D stride")
        self.pad = pad
        self.pads = F.pad_amounts(pad, self.kernel_shape)
        self.activation = initialize_activation("linear")

    def forward(self, X):
        """Parameters: X (batch, rows, cols, channels).
        Returns: (batch, out_rows, out_cols, channels)."""
        X = _as_batch(X, "Pool2D", "(batch, rows, cols, channels)", rank=4)
        if self.n_in is None:
            self.n_in = self.n_out = X.shape[3]
        elif X.shape[3] != self.n_in:
            raise ValueError(
                f"Pool2D: expected {self.n_in} input channels, got {X.shape[3]} "
                f"(input shape {X.shape})"
            )
        self.cache["X_shape"] = X.shape
        if self.mode == "max":
            Z, self.cache["argmax"] = F.maxpool2d_forward(
                X, self.kernel_shape, self.stride, self.pads)
        else:
            Z = F.avgpool2d_forward(X, self.kernel_shape, self.stride, self.pads)
        return Z

    def backward(self, dLdY):
        """Parameters: dLdY (batch, out_rows, out_cols, channels).
        Returns: dL/dX (batch, rows, cols, channels)."""
        X_shape = self.cache["X_shape"]
        if self.mode == "max":
            return F.maxpool2d_backward(
                dLdY, self.cache["argmax"], X_shape, self.kernel_shape, self.stride, self.pads
            )
        return F.avgpool2d_backward(dLdY, X_shape, self.kernel_shape, self.stride, self.pads)


class Flatten(Layer):
    """Reshape (batch, ...) to (batch, -1); backward restores the input shape.

    ``keep_dim="last"`` instead keeps the last axis: (..., k) -> (-1, k).
    """

    examples = [(dict(keep_dim="first"), (2, 7, 6, 3)), (dict(keep_dim="last"), (2, 7, 6, 3))]

    def __init__(self, keep_dim="first"):
        super().__init__()
        if keep_dim not in ("first", "last"):
            raise ValueError(f"Flatten keep_dim must be 'first' or 'last', got {keep_dim!r}")
        self.keep_dim = keep_dim

    def forward(self, X):
        """Parameters: X (batch, ...). Returns: (batch, prod(rest))."""
        X = _as_batch(X, "Flatten", "(batch, ...)")
        Y = F.flatten_forward(X, self.keep_dim)
        self.cache["in_dims"] = X.shape
        self.n_in, self.n_out = X.shape[1:], Y.shape[1]
        return Y

    def backward(self, dLdY):
        """Parameters: dLdY (batch, prod(rest)). Returns: dL/dX of the input's shape."""
        return F.flatten_backward(dLdY, self.cache["in_dims"])


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
    momentum    weight of the newest batch in the running statistics, in [0, 1]
    eps         added to the variance before the square root, > 0
    activation  name of the activation applied after normalising

    Attributes
    ----------
    parameters  "gamma", "beta": shape (1, channels), trained
    buffers     "running_mean", "running_var": shape (1, channels), not trained
    """

    # The batch statistics need two values per channel at least.
    min_train_batch = 2
    examples = [(dict(activation="relu"), (3, 4, 3, 2)),
                (dict(momentum=0.2, eps=1e-3, activation="tanh"), (6, 4))]

    def __init__(self, momentum=0.1, eps=1e-5, activation="linear"):
        super().__init__()
        _check_finite_number(momentum, "BatchNorm momentum")
        _check_finite_number(eps, "BatchNorm eps")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm momentum must be in [0, 1], got {momentum!r}")
        if eps <= 0:
            raise ValueError(f"BatchNorm eps must be > 0, got {eps!r}")
        self.momentum = momentum
        self.eps = eps
        self.set_activation(activation)

    def _init_parameters(self, X_shape, dtype=np.float64):
        """Set n_in = n_out = X_shape[-1]; gamma ones, beta zeros, running mean 0, var 1."""
        self.n_in = self.n_out = X_shape[-1]
        self.parameters = OrderedDict(
            [("gamma", np.ones((1, self.n_in))), ("beta", np.zeros((1, self.n_in)))]
        )
        self.set_parameter_dtype(dtype)
        self.buffers = OrderedDict(
            [("running_mean", np.zeros((1, self.n_in), dtype=dtype)),
             ("running_var", np.ones((1, self.n_in), dtype=dtype))]
        )

    def forward(self, X):
        """Parameters: X (batch, ..., channels). Returns: same shape."""
        X = _as_batch(X, "BatchNorm", "(batch, ..., channels)", min_rank=2)
        if self.n_in is None:
            self.create_parameters(X)
        elif X.shape[-1] != self.n_in:
            raise ValueError(
                f"BatchNorm: expected {self.n_in} channels (last axis), got {X.shape[-1]} "
                f"(input shape {X.shape})"
            )
        self.check_device(X)
        flat = X.reshape(-1, self.n_in)
        if self.training and flat.shape[0] < 2:
            raise ValueError(
                f"BatchNorm needs more than one value per channel in training mode, got "
                f"input shape {X.shape}. Train on batches of at least 2 examples (drop or "
                f"merge a last batch of one), or switch the layer to eval mode "
                f"(layer.training = False, model.set_mode('eval')) to use the running statistics"
            )
        # ReLU (and the identity) are done inside batchnorm_forward, in its
        # output array; other activations come after, as in the other layers.
        relu = type(self.activation) is ReLU
        fused = relu or type(self.activation) is Linear
        Z, mean, inv_std, running_mean, running_var = F.batchnorm_forward(
            flat, self.parameters["gamma"], self.parameters["beta"],
            self.buffers["running_mean"], self.buffers["running_var"],
            self.momentum, self.eps, self.training, relu=relu,
        )
        self.buffers["running_mean"] = running_mean
        self.buffers["running_var"] = running_var
        self.cache["X"] = flat
        self.cache["mean"] = mean
        self.cache["inv_std"] = inv_std
        # After a fused ReLU, Z is its output, positive exactly where its input
        # was, so ReLU.backward reads the same mask from it.
        self.cache["Z"] = Z
        self.cache["training"] = self.training
        Z = Z.reshape(X.shape)
        return Z if fused else self.activation(Z)

    def backward(self, dLdY, input_gradient=True):
        """Parameters: dLdY, the output's shape; input_gradient=False skips dL/dX.
        Returns: dL/dX, same shape, or None without input_gradient."""
        Z, training = self.cache["Z"], self.cache["training"]
        relu_output = None
        if type(self.activation) is ReLU:
            # The fused ReLU's mask is applied inside batchnorm_backward, in
            # the same pass over memory as its sums.
            dZ, relu_output = dLdY.reshape(Z.shape), Z
        else:
            dZ = self.activation.backward(Z, dLdY.reshape(Z.shape))
        # dZ may serve as scratch space unless it is dLdY itself.
        dX, self.gradients["gamma"], self.gradients["beta"] = F.batchnorm_backward(
            dZ, self.cache["X"], self.cache["mean"], self.cache["inv_std"],
            self.parameters["gamma"], training,
            overwrite_dZ=not backend.may_share_memory(dZ, dLdY),
            relu_output=relu_output, input_gradient=input_gradient,
        )
        return None if dX is None else dX.reshape(dLdY.shape)


class GroupNorm(Layer):
    """Group normalisation, then an activation (Wu and He, 2018; PyTorch's GroupNorm).

    Each example's channels (the last axis) fall into ``groups`` groups of
    consecutive channels, and each group is normalised by its own mean and
    (biased) variance over its channels and every other axis of the example;
    then each channel is scaled by gamma and shifted by beta. No statistic
    spans the batch: training and eval mode compute the same, with any batch
    size. Serves (batch, features) and NHWC (batch, rows, cols, channels)
    inputs; ``groups=1`` is layer normalisation over (rows, cols, channels),
    ``groups=channels`` instance normalisation.

    Parameters
    ----------
    groups      the number of groups, which must divide the channels
    eps         added to the variance before the square root, > 0
    activation  name of the activation applied after normalising

    Attributes
    ----------
    parameters  "gamma", "beta": shape (1, channels), trained
    """

    examples = [(dict(groups=2, activation="relu"), (3, 4, 3, 6)),
                (dict(groups=1), (4, 6)),
                (dict(groups=3, eps=1e-3, activation="tanh"), (2, 3, 2, 3))]

    def __init__(self, groups, eps=1e-5, activation="linear"):
        super().__init__()
        self.groups = _check_positive_int(groups, "GroupNorm groups")
        _check_finite_number(eps, "GroupNorm eps")
        if eps <= 0:
            raise ValueError(f"GroupNorm eps must be > 0, got {eps!r}")
        self.eps = eps
        self.set_activation(activation)

    def _init_parameters(self, X_shape, dtype=np.float64):
        """Set n_in = n_out = the channels of X_shape; gamma ones, beta zeros."""
        channels = X_shape[-1]
        if channels % self.groups:
            raise ValueError(
                f"GroupNorm: groups={self.groups} must divide the channels (last axis), got "
                f"{channels} channels (input shape {X_shape})"
            )
        self.n_in = self.n_out = channels
        self.parameters = OrderedDict([("gamma", np.ones((1, channels))),
                                       ("beta", np.zeros((1, channels)))])
        self.set_parameter_dtype(dtype)

    def forward(self, X):
        """Parameters: X (batch, ..., channels). Returns: same shape."""
        X = _as_batch(X, "GroupNorm", "(batch, ..., channels)", min_rank=2)
        if self.n_in is None:
            self.create_parameters(X)
        elif X.shape[-1] != self.n_in:
            raise ValueError(
                f"GroupNorm: expected {self.n_in} channels (last axis), got {X.shape[-1]} "
                f"(input shape {X.shape})"
            )
        self.check_device(X)
        Z, self.cache["mean"], self.cache["inv_std"] = F.groupnorm_forward(
            X, self.parameters["gamma"], self.parameters["beta"], self.groups, self.eps)
        self.cache["X"] = X
        self.keep_Z(Z)
        return self.activation(Z)

    def backward(self, dLdY, input_gradient=True):
        """Parameters: dLdY, the output's shape; input_gradient=False skips dL/dX.
        Returns: dL/dX, same shape, or None without input_gradient."""
        dZ = self.activation_gradient(dLdY)
        dX, self.gradients["gamma"], self.gradients["beta"] = F.groupnorm_backward(
            dZ, self.cache["X"], self.cache["mean"], self.cache["inv_std"],
            self.parameters["gamma"], input_gradient=input_gradient)
        return dX


class Dropout(Layer):
    """Inverted dropout: in training, zero each value with probability p and scale
    the rest by 1 / (1 - p); in eval mode, the identity.

    Parameters
    ----------
    p  probability of dropping a value, 0 <= p < 1
    """

    examples = [(dict(p=0.5), (4, 5)), (dict(p=0.0), (2, 7, 6, 3))]

    def __init__(self, p=0.5):
        super().__init__()
        _check_finite_number(p, "Dropout p")
        if not 0 <= p < 1:
            raise ValueError(f"Dropout p must be in [0, 1), got {p!r}")
        self.p = p
        self.activation = initialize_activation("linear")

    def forward(self, X):
        """Parameters: X, any shape (batch first). Returns: same shape."""
        X = _as_batch(X, "Dropout", "(batch, ...)")
        self.n_in = self.n_out = X.shape[-1] if X.ndim > 1 else None
        Y, self.cache["mask"] = F.dropout_forward(X, self.p, self.training)
        return Y

    def backward(self, dLdY):
        """Parameters: dLdY, the output's shape. Returns: dL/dX, same shape."""
        return F.dropout_backward(dLdY, self.cache["mask"])


LAYERS = {
    "fully_connected": FullyConnected,
    "conv2d": Conv2D,
    "pool2d": Pool2D,
    "flatten": Flatten,
    "batchnorm": BatchNorm,
    "dropout": Dropout,
    "groupnorm": GroupNorm,
}


@factory(LAYERS, "layer")
def initialize_layer(name, activation=None, weight_init=None, n_out=None, kernel_shape=None,
                     stride=None, pad=None, mode=None, keep_dim="first", **options):
    """Build a layer from its name.

    Parameters
    ----------
    name          one of ``LAYERS``: "fully_connected", "conv2d", "pool2d",
                  "flatten" (the course's), "batchnorm", "dropout", "groupnorm"
    activation, weight_init, n_out, kernel_shape, stride, pad, mode, keep_dim
                  the course's arguments; one left None takes the class
                  default, and a layer that needs an activation gets "linear"
    options       arguments of the layers beyond the course: BatchNorm's
                  ``momentum`` and ``eps``, Dropout's ``p``, GroupNorm's
                  ``groups`` and ``eps``

    Returns
    -------
    the layer

    Every argument given must be one the layer takes; any other is a
    ValueError naming it and listing what the layer accepts, so a typo such
    as ``activaton="relu"`` or ``padding="valid"`` cannot pass unnoticed.
    Two course habits still work with any layer: ``keep_dim="first"`` (the
    default), and ``activation="linear"`` (or Fall 2023's ``"identity"``) for a
    layer without an activation (Pool2D, Flatten, Dropout), since the identity
    is what such a layer applies.
    """
    cls = lookup(LAYERS, "layer", name)
    accepted = accepted_keywords(cls)
    given = dict(activation=activation, weight_init=weight_init, n_out=n_out,
                 kernel_shape=kernel_shape, stride=stride, pad=pad, mode=mode,
                 keep_dim=keep_dim, **options)
    if "keep_dim" not in accepted and keep_dim == "first":
        del given["keep_dim"]
    if "activation" not in accepted:
        if canonical_name(activation) != "linear":
            raise ValueError(
                f"layer {name!r} applies no activation, so activation must be None, "
                f"'linear' or 'identity', got {activation!r}; it accepts {', '.join(accepted)}"
            )
        del given["activation"]
    kwargs = {k: v for k, v in given.items() if v is not None}
    check_keywords(cls, "layer", name, kwargs)
    if "activation" in accepted:
        kwargs.setdefault("activation", "linear")
    check_required(cls, "layer", name, kwargs)
    return cls(**kwargs)
