"""Weight initializers.

``initialize_weights(name, activation, mode)`` returns ``init(shape)``, a
function producing a float64 array of that shape. Gains follow PyTorch's
``torch.nn.init.calculate_gain``; fans are ``(n_in, n_out)`` for a matrix of
shape ``(n_in, n_out)`` and ``(kr*kc*cin, kr*kc*cout)`` for a kernel of shape
``(kr, kc, cin, cout)``.
"""

import math

import numpy as np

GAINS = {
    "linear": 1.0,
    "sigmoid": 1.0,
    "softmax": 1.0,
    "arctan": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
}


def calculate_gain(activation):
    """The recommended scale for an activation (1 when None)."""
    if activation is None:
        return 1.0
    if activation not in GAINS:
        raise ValueError(
            f"no gain known for activation {activation!r}; expected one of {sorted(GAINS)}"
        )
    return GAINS[activation]


def calculate_fans(shape):
    """Return (fan_in, fan_out) for a weight shape.

    Parameters
    ----------
    shape  (n_in, n_out) for a matrix, (kr, kc, cin, cout) for a kernel

    Returns
    -------
    (fan_in, fan_out), ints
    """
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"fans need a shape with at least 2 axes, got {shape}")
    receptive_field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return receptive_field * shape[-2], receptive_field * shape[-1]


def _fan(shape, mode):
    fan_in, fan_out = calculate_fans(shape)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")


def _zeros(shape, **_):
    return np.zeros(shape)


def _ones(shape, **_):
    return np.ones(shape)


def _identity(shape, **_):
    """Identity matrix for (n_in, n_out); a centred Dirac kernel for conv."""
    shape = tuple(shape)
    if len(shape) == 2:
        return np.eye(*shape)
    if len(shape) == 4:
        kr, kc, cin, cout = shape
        W = np.zeros(shape)
        W[kr // 2, kc // 2] = np.eye(cin, cout)
        return W
    raise ValueError(f"identity init needs a 2-D or 4-D shape, got {shape}")


def _uniform(shape, low=0.0, high=1.0, **_):
    return np.random.uniform(low, high, size=shape)


def _normal(shape, mean=0.0, std=1.0, **_):
    return np.random.normal(mean, std, size=shape)


def _constant(shape, value=0.5, **_):
    return np.full(shape, value, dtype=np.float64)


def _sparse(shape, sparsity=0.1, std=0.01, **_):
    """Normal(0, std) entries with a fraction ``sparsity`` of each column zeroed."""
    shape = tuple(shape)
    if len(shape) != 2:
        raise ValueError(f"sparse init needs a 2-D shape, got {shape}")
    rows, cols = shape
    W = np.random.normal(0.0, std, size=shape)
    n_zeros = int(math.ceil(sparsity * rows))
    for col in range(cols):
        W[np.random.permutation(rows)[:n_zeros], col] = 0.0
    return W


def _he_uniform(shape, gain=1.0, mode="fan_in", **_):
    bound = gain * math.sqrt(3.0 / _fan(shape, mode))
    return np.random.uniform(-bound, bound, size=shape)


def _he_normal(shape, gain=1.0, mode="fan_in", **_):
    std = gain / math.sqrt(_fan(shape, mode))
    return np.random.normal(0.0, std, size=shape)


def _xavier_uniform(shape, gain=1.0, **_):
    fan_in, fan_out = calculate_fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return np.random.uniform(-bound, bound, size=shape)


def _xavier_normal(shape, gain=1.0, **_):
    fan_in, fan_out = calculate_fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return np.random.normal(0.0, std, size=shape)


INITIALIZERS = {
    "zeros": _zeros,
    "ones": _ones,
    "identity": _identity,
    "uniform": _uniform,
    "normal": _normal,
    "constant": _constant,
    "sparse": _sparse,
    "he_uniform": _he_uniform,
    "he_normal": _he_normal,
    "xavier_uniform": _xavier_uniform,
    "xavier_normal": _xavier_normal,
}


def initialize_weights(name, activation=None, mode="fan_in", **options):
    """Return ``init(shape) -> np.ndarray`` for the initializer ``name``.

    Parameters
    ----------
    name        one of ``INITIALIZERS``
    activation  the activation that follows, for the gain of he_* / xavier_*
    mode        "fan_in" or "fan_out", for he_*
    options     extra settings: ``value`` (constant), ``low``/``high``
                (uniform), ``mean``/``std`` (normal, sparse), ``sparsity``

    Returns
    -------
    a function of a shape tuple returning a float64 array of that shape
    """
    if name not in INITIALIZERS:
        raise ValueError(
            f"unknown weight initializer {name!r}; expected one of {sorted(INITIALIZERS)}"
        )
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    gain = calculate_gain(activation)
    fill = INITIALIZERS[name]

    def init(shape):
        return fill(tuple(shape), gain=gain, mode=mode, **options)

    return init
