"""Layers of a network.

Every layer keeps four OrderedDicts: ``parameters``, ``gradients`` (same
keys and shapes), ``buffers`` (saved but not trained) and ``cache`` (what
forward saves for backward). Parameters are created lazily on the first
``forward`` and take the dtype of that input. A layer holds state only; its
array math is one call into ``functional`` each way, as in PyTorch's
``nn.Module`` and ``nn.functional``. What every layer shares, and declares
about itself to the network, checkpoints and summary, is ``base_layer.Layer``'s.
The normalisation layers (``BatchNorm``, ``GroupNorm``) live in
``normalization_layers`` and are registered and importable here with the rest.
"""

from collections import OrderedDict

import numpy as np

from . import backend
from . import functional as F
from .activations import canonical_name, initialize_activation
from .base_layer import Layer, as_batch
from .normalization_layers import BatchNorm, GroupNorm
from .utils.checks import check_number
from .utils.registry import accepted_keywords, check_keywords, check_required, factory, lookup
from .weights import initialize_weights

__all__ = ["LAYERS", "BatchNorm", "Conv2D", "Dropout", "Flatten", "FullyConnected", "GroupNorm",
           "Layer", "Pool2D", "initialize_layer"]


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
        self.n_out = check_number("FullyConnected n_out", n_out, at_least=1, whole=True)
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
        X = as_batch(X, "FullyConnected", "(batch, features)", rank=2)
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
        self.n_out = check_number("Conv2D n_out", n_out, at_least=1, whole=True)
        self.kernel_shape = self.settle("kernel_shape",
                                        F.as_pair(kernel_shape, "Conv2D kernel_shape"))
        if min(self.kernel_shape) < 1:
            raise ValueError(f"Conv2D kernel_shape must be >= 1, got {kernel_shape!r}")
        self.stride = check_number("Conv2D stride", stride, at_least=1, whole=True)
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
        X = as_batch(X, "Conv2D", "(batch, rows, cols, channels)", rank=4)
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
        self.stride = check_number("Pool2D stride", stride, at_least=1, whole=True)
        self.pad = pad
        self.pads = F.pad_amounts(pad, self.kernel_shape)
        self.activation = initialize_activation("linear")

    def forward(self, X):
        """Parameters: X (batch, rows, cols, channels).
        Returns: (batch, out_rows, out_cols, channels)."""
        X = as_batch(X, "Pool2D", "(batch, rows, cols, channels)", rank=4)
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
        X = as_batch(X, "Flatten", "(batch, ...)")
        Y = F.flatten_forward(X, self.keep_dim)
        self.cache["in_dims"] = X.shape
        self.n_in, self.n_out = X.shape[1:], Y.shape[1]
        return Y

    def backward(self, dLdY):
        """Parameters: dLdY (batch, prod(rest)). Returns: dL/dX of the input's shape."""
        return F.flatten_backward(dLdY, self.cache["in_dims"])


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
        check_number("Dropout p", p)
        if not 0 <= p < 1:
            raise ValueError(f"Dropout p must be in [0, 1), got {p!r}")
        self.p = p
        self.activation = initialize_activation("linear")

    def forward(self, X):
        """Parameters: X, any shape (batch first). Returns: same shape."""
        X = as_batch(X, "Dropout", "(batch, ...)")
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
