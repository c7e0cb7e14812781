"""Normalisation layers: ``BatchNorm`` and ``GroupNorm``.

Each normalises its input over some of its axes, then scales and shifts each
channel (the last axis) by the trained ``gamma`` and ``beta``, then applies an
activation; the math is in ``functional/normalization.py``. They are
registered in ``layers.LAYERS`` (``initialize_layer("batchnorm", ...)``) and
importable from ``layers`` as every other layer is.
"""

from collections import OrderedDict

import numpy as np

from . import backend
from . import functional as F
from .activations import Linear, ReLU
from .base_layer import Layer, as_batch
from .utils.checks import check_number

__all__ = ["BatchNorm", "GroupNorm"]


def _channels_input(layer, X, name):
    """``X`` as a batch (batch, ..., channels) for the normalisation layer ``layer``:
    its parameters made from the first input, the same channels and device after."""
    X = as_batch(X, name, "(batch, ..., channels)", min_rank=2)
    if layer.n_in is None:
        layer.create_parameters(X)
    elif X.shape[-1] != layer.n_in:
        raise ValueError(f"{name}: expected {layer.n_in} channels (last axis), got "
                         f"{X.shape[-1]} (input shape {X.shape})")
    layer.check_device(X)
    return X


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
        check_number("BatchNorm momentum", momentum)
        check_number("BatchNorm eps", eps)
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
        X = _channels_input(self, X, "BatchNorm")
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
        self.groups = check_number("GroupNorm groups", groups, at_least=1, whole=True)
        check_number("GroupNorm eps", eps)
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
        X = _channels_input(self, X, "GroupNorm")
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
