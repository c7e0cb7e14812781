"""Weight initializers.

``initialize_weights(name, activation, mode)`` returns ``init(shape)``, a
function producing a float64 array of that shape. Gains follow PyTorch's
``torch.nn.init.calculate_gain``; fans are ``(n_in, n_out)`` for a matrix of
shape ``(n_in, n_out)`` and ``(kr*kc*cin, kr*kc*cout)`` for a kernel of shape
``(kr, kc, cin, cout)``.
"""

import math

import numpy as np

from .utils.registry import accepted_keywords, build, factory, lookup

GAINS = {
    "linear": 1.0,
    "identity": 1.0,  # Fall 2023's name for linear
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


# Each entry takes the initializer's own settings and returns ``init(shape)``;
# its signature is what ``initialize_weights`` accepts for that name.


def _zeros():
    return np.zeros


def _ones():
    return np.ones


def _identity():
    """Identity matrix for (n_in, n_out); a centred Dirac kernel for conv."""

    def init(shape):
        if len(shape) == 2:
            return np.eye(*shape)
        if len(shape) == 4:
            kr, kc, cin, cout = shape
            W = np.zeros(shape)
            W[kr // 2, kc // 2] = np.eye(cin, cout)
            return W
        raise ValueError(f"identity init needs a 2-D or 4-D shape, got {shape}")

    return init


def _uniform(low=0.0, high=1.0):
    return lambda shape: np.random.uniform(low, high, size=shape)


def _normal(mean=0.0, std=1.0):
    return lambda shape: np.random.normal(mean, std, size=shape)


def _constant(value=0.5):
    return lambda shape: np.full(shape, value, dtype=np.float64)


def _sparse(sparsity=0.1, std=0.01):
    """Normal(0, std) entries with a fraction ``sparsity`` of each column zeroed."""

    def init(shape):
        if len(shape) != 2:
            raise ValueError(f"sparse init needs a 2-D shape, got {shape}")
        rows, cols = shape
        W = np.random.normal(0.0, std, size=shape)
        n_zeros = int(math.ceil(sparsity * rows))
        for col in range(cols):
            W[np.random.permutation(rows)[:n_zeros], col] = 0.0
        return W

    return init


def _he_uniform(gain=1.0, mode="fan_in"):
    def init(shape):
        bound = gain * math.sqrt(3.0 / _fan(shape, mode))
        return np.random.uniform(-bound, bound, size=shape)

    return init


def _he_normal(gain=1.0, mode="fan_in"):
    def init(shape):
        return np.random.normal(0.0, gain / math.sqrt(_fan(shape, mode)), size=shape)

    return init


def _xavier_uniform(gain=1.0):
    def init(shape):
        fan_in, fan_out = calculate_fans(shape)
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return np.random.uniform(-bound, bound, size=shape)

    return init


def _xavier_normal(gain=1.0):
    def init(shape):
        fan_in, fan_out = calculate_fans(shape)
        return np.random.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), size=shape)

    return init


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


@factory(INITIALIZERS, "weight initializer")
def initialize_weights(name, activation=None, mode="fan_in", **options):
    """Return ``init(shape) -> np.ndarray`` for the initializer ``name``.

    ``activation`` and ``mode`` are the course's settings and may come with
    any initializer (a layer passes its activation whatever its
    initializer); those an initializer does not use are ignored. Any other
    option must be one the initializer takes: a misspelt or foreign one is a
    ValueError listing what it accepts.

    Parameters
    ----------
    name        one of ``INITIALIZERS``
    activation  the activation that follows, for the gain of he_* / xavier_*
    mode        "fan_in" or "fan_out", for he_*
    options     the initializer's own settings: ``value`` (constant),
                ``low``/``high`` (uniform), ``mean``/``std`` (normal),
                ``sparsity``/``std`` (sparse), ``gain`` (he_*, xavier_*;
                overrides the activation's)

    Returns
    -------
    a function of a shape tuple returning a float64 array of that shape
    """
    entry = lookup(INITIALIZERS, "weight initializer", name)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    course = {"gain": calculate_gain(activation), "mode": mode}
    used = {k: v for k, v in course.items() if k in accepted_keywords(entry)}
    # An option left None keeps what the course's settings gave (build drops Nones).
    given = {k: v for k, v in options.items() if v is not None}
    fill = build(INITIALIZERS, "weight initializer", name, {**used, **given})
    return lambda shape: fill(tuple(shape))
