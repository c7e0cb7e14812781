"""What every layer has, and what it declares about itself (``Layer``).

A layer subclasses ``Layer`` and writes ``__init__``, ``forward(X)`` and
``backward(dLdY)``; the base class does the bookkeeping, so that a new layer
cannot get it wrong (Keras' ``base_layer`` and PyTorch's ``Module`` do the
same):

- **configuration**: the constructor's arguments are bound, defaults
  included, into ``layer.config`` when the layer is made, before its
  ``__init__`` runs. ``describe()`` (what a checkpoint records and compares),
  ``repr(layer)`` and the summary's titles are built from it. An ``__init__``
  that turns an argument into a canonical form records that form with
  ``settle`` (a kernel size 3 as (3, 3)).
- **state**: ``parameters``, ``gradients``, ``buffers`` (state that is saved
  but not trained, such as running statistics) and ``cache``, OrderedDicts
  present from the start, empty until the layer fills them.
- **shapes**: the output shape of the last ``forward`` is kept in the cache
  as "out_shape", and ``backward`` is given only a ``dLdY`` of that shape;
  ``n_in`` is stored as an int, a tuple of ints or None, whatever it was set to.
- **the input gradient**: every layer's ``backward`` is called as
  ``backward(dLdY, input_gradient=True)``. With ``input_gradient=False`` it
  returns None: a layer whose own ``backward`` takes ``input_gradient`` skips
  computing dL/dX then (``skips_input_gradient``, read from that signature);
  for any other layer dL/dX is computed and dropped.
- **declarations** the network reads (class attributes, overridden where a
  layer differs): ``runs_on_threads``, ``min_train_batch``,
  ``initial_only`` and ``image_filters()``; and ``examples``, small instances
  that the conformance test (tests/test_layer_conformance.py) and the
  gradient-check report build and feed.
- **device**: the parameters are made on the device of the first input
  (``create_parameters``), drawn on the host either way; ``to(device)`` moves
  the declared arrays (``parameters``, ``gradients``, ``buffers``) and drops
  the cache. An input or dLdY on another device than the parameters is a
  ValueError.
- **checks** the layers' modules share: ``as_batch`` (an input as a float
  batch of the expected rank, or ValueError); numbers are checked with
  ``utils.checks``.
"""

import functools
import inspect
from abc import ABC, abstractmethod
from collections import OrderedDict

import numpy as np

from . import backend
from .activations import canonical_name, initialize_activation
from .utils.checks import check_flag, is_whole


def _as_n_in(value):
    """``n_in`` as an int, a tuple of ints (the shape of one example) or None."""
    if value is None or type(value) is int:
        return value
    if is_whole(value):
        return int(value)
    if isinstance(value, (tuple, list)) and all(map(is_whole, value)):
        return tuple(int(v) for v in value)
    raise ValueError(f"n_in must be an int, a tuple of ints or None, got {value!r}")


def _as_json(value):
    """A setting as JSON holds it: tuples as lists, numpy scalars as Python numbers."""
    if isinstance(value, (tuple, list)):
        return [_as_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _binding_config(init, signature):
    """``init`` that first binds its arguments into ``self.config``.

    Only the constructor of the class being made binds them: a base class's
    ``__init__`` reached through ``super().__init__(...)`` leaves them be.
    """
    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        if type(self).__init__ is __init__:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError:
                return init(self, *args, **kwargs)  # Python's own message for the bad call
            bound.apply_defaults()
            self.config = OrderedDict(list(bound.arguments.items())[1:])
        return init(self, *args, **kwargs)

    return __init__


def _keeping_out_shape(forward):
    """``forward`` that keeps its output's shape in the cache, for ``backward``'s check."""
    @functools.wraps(forward)
    def keeping(self, X):
        Y = forward(self, X)
        self.cache["out_shape"] = Y.shape
        return Y

    return keeping


def _checking_backward(backward, skips_input_gradient):
    """``backward`` called as ``backward(dLdY, input_gradient=True)``, with ``dLdY``
    checked against the last output's shape (by the outermost class's backward only)."""
    @functools.wraps(backward)
    def checked(self, dLdY, input_gradient=True):
        if type(self).backward is checked:
            check_flag(f"{type(self).__name__}.backward: input_gradient", input_gradient)
            dLdY = self.checked_dLdY(dLdY)
        if skips_input_gradient:
            return backward(self, dLdY, input_gradient=input_gradient)
        dX = backward(self, dLdY)
        return dX if input_gradient else None

    return checked


class Layer(ABC):
    """Base class of every layer (see the module's docstring for what it does).

    Attributes
    ----------
    config      the constructor's arguments by name, defaults included
    parameters  name -> array, trained
    gradients   name -> dL/d(parameter), the parameters' names and shapes
    buffers     name -> array, saved with the parameters but not trained
    cache       what ``forward`` keeps for ``backward`` (and "out_shape")
    n_in        input features or channels (an int); Flatten's, the shape of one
                example (a tuple); None before the first input
    n_out       output features or channels
    activation  the activation applied last (None for a layer with none)
    training    True in training mode, False in eval mode
    """

    #: True when the layer's math runs blocks of work on ``parallel``'s threads
    #: (conv, pooling): the network then runs in a ``parallel.session()``.
    runs_on_threads = False
    #: The fewest examples a training batch may hold (BatchNorm needs 2).
    min_train_batch = 1
    #: Arguments that only draw the first parameters: a checkpoint's values replace
    #: what they drew, so ``describe`` leaves them out.
    initial_only = ("weight_init",)
    #: Small instances of the layer: (constructor arguments, shape of an input batch)
    #: pairs, fed standard normal inputs by the conformance test and the gradient-check
    #: report. Every registered layer declares one at least.
    examples = ()
    #: Whether ``backward(dLdY, input_gradient=False)`` skips computing dL/dX; set
    #: for each class from its ``backward``'s signature (an ``input_gradient`` argument).
    skips_input_gradient = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        if "__init__" in own or cls.__init__ is Layer.__init__:
            cls.__init__ = _binding_config(cls.__init__, inspect.signature(cls.__init__))
        if "forward" in own:
            cls.forward = _keeping_out_shape(own["forward"])
        if "backward" in own:
            skips = "input_gradient" in inspect.signature(own["backward"]).parameters
            cls.skips_input_gradient = skips
            cls.backward = _checking_backward(own["backward"], skips)

    def __init__(self):
        self.activation = None
        self.n_in = None
        self.n_out = None
        self.parameters = OrderedDict()
        self.gradients = OrderedDict()
        self.buffers = OrderedDict()
        self.cache = OrderedDict()
        self.training = True

    @abstractmethod
    def forward(self, X):
        """Compute the layer's output for a batch X (batch first)."""

    @abstractmethod
    def backward(self, dLdY):
        """Given dL/dY, fill ``gradients`` and return dL/dX. A layer that can skip
        dL/dX takes ``input_gradient`` too, and returns None when it is False."""

    def __call__(self, X):
        return self.forward(X)

    def __repr__(self):
        settings = ", ".join(f"{name}={value!r}" for name, value in self.config.items())
        return f"{type(self).__name__}({settings})"

    @property
    def n_in(self):
        return self._n_in

    @n_in.setter
    def n_in(self, value):
        self._n_in = _as_n_in(value)

    # ------------------------------------------------------- declarations

    def settle(self, name, value):
        """Record ``value`` in ``config`` as the canonical form of constructor argument
        ``name`` (unless the class being made takes no such argument); return it."""
        if name in self.config:
            self.config[name] = value
        return value

    def describe(self):
        """The layer's type, settings (``config`` but ``initial_only``) and parameter
        shapes, as JSON values: what a checkpoint records and compares on loading.

        Returns
        -------
        {"type": class name, <setting>: value, ..., "parameters": {name: shape list}}
        """
        description = {"type": type(self).__name__}
        description.update((name, _as_json(value)) for name, value in self.config.items()
                           if name not in self.initial_only)
        description["parameters"] = {name: list(value.shape)
                                     for name, value in self.parameters.items()}
        return description

    def image_filters(self):
        """The kernels to draw as pictures, (rows, cols, in_channels, n_out), or None
        for a layer that has none (only a convolution has)."""
        return None

    # ------------------------------------------------------------- device

    def to(self, device):
        """Move the parameters, gradients and buffers to ``device`` ("cpu" or "gpu")
        and drop the cache, which holds arrays of the last pass (run forward again
        before backward). Returns the layer."""
        backend.check_device(device)
        self.move_state(device)
        self.cache = OrderedDict()
        return self

    def move_state(self, device):
        """Put the declared arrays (``parameters``, ``gradients``, ``buffers``) on ``device``."""
        for arrays in (self.parameters, self.gradients, self.buffers):
            for name, value in arrays.items():
                arrays[name] = backend.to_device(value, device)

    def create_parameters(self, X):
        """Create the parameters for the batch ``X``: ``_init_parameters`` for its shape
        and dtype (drawn on the host), then put on its device."""
        self._init_parameters(X.shape, X.dtype)
        self.move_state(backend.device_of(X))

    def check_device(self, X, what="input"):
        """Raise ValueError unless the array ``X`` is on the device of the parameters
        (any device before there are parameters)."""
        for value in self.parameters.values():
            held, given = backend.device_of(value), backend.device_of(X)
            if held != given:
                raise ValueError(
                    f"{type(self).__name__}: the parameters are on the {held}, the {what} on "
                    f"the {given}: put both on one device (model.to(device), layer.to(device) "
                    f"or backend.to_device(array, device))")
            return

    # ---------------------------------------- the course's and the helpers

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

    def set_activation(self, name):
        """Apply the activation ``name`` after the layer's map (its canonical name is
        the ``activation`` setting: "identity" is "linear")."""
        self.activation_name = self.settle("activation", canonical_name(name))
        self.activation = initialize_activation(self.activation_name)

    def set_parameter_dtype(self, dtype):
        """Cast parameters and gradients to ``dtype`` (called at initialisation)."""
        for name in self.parameters:
            self.parameters[name] = self.parameters[name].astype(dtype, copy=False)
            self.gradients[name] = np.zeros_like(self.parameters[name])

    def keep_Z(self, Z):
        """Cache Z for the activation's backward, or None when it never reads Z (the
        identity), so that an output the caller drops is freed at once."""
        self.cache["Z"] = Z if self.activation.backward_reads_Z else None

    def activation_gradient(self, dLdY):
        """dL/dZ from dL/dY through the activation, given the Z that forward kept.

        forward keeps Z only when the activation's backward reads it (not for
        the identity), so an activation swapped in between is refused here.
        """
        Z = self.cache.get("Z")
        if Z is None and self.activation.backward_reads_Z:
            raise ValueError(
                f"{type(self).__name__}.backward: the activation is now "
                f"{type(self.activation).__name__}, which needs Z, but the last forward pass "
                f"ran with one that does not keep it; run forward again"
            )
        return self.activation.backward(Z, dLdY)

    def checked_dLdY(self, dLdY):
        """dLdY as an array, checked against the shape of the last forward's output.

        ``forward`` keeps that shape in the cache as "out_shape"; an empty
        cache means no forward pass since the layer was made or cleared.
        """
        out_shape = self.cache.get("out_shape")
        if out_shape is None:
            raise ValueError(
                f"{type(self).__name__}.backward: expected a forward pass first (backward "
                f"needs its cache, which is empty before the first forward and after "
                f"clear_gradients)"
            )
        dLdY = backend.as_array(dLdY)
        self.check_device(dLdY, "dLdY")
        if dLdY.shape != out_shape:
            raise ValueError(
                f"{type(self).__name__}.backward: expected dLdY of the last output's shape "
                f"{out_shape}, got {dLdY.shape}"
            )
        return dLdY


def as_batch(X, layer_name, layout, rank=None, min_rank=1):
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

