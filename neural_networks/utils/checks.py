"""Checks of the numbers and flags that settings take, shared by the package.

A setting that is not what it must be is a ``ValueError`` naming it, what it
must be, and the value that came. numpy scalars count as the numbers they
hold (``np.int64(10)`` is a whole number); ``True`` and ``False`` never do.
"""

import math
import numbers
import operator

_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def check_number(what, value, above=None, at_least=None, below=None, at_most=None,
                 whole=False):
    """Return ``value`` if it is a finite real number within the bounds given.

    bool, strings, None and NaN are not numbers here. A bound left None is
    no bound.

    Parameters
    ----------
    what      the setting's name, for the message
    value     the value to check
    above, at_least, below, at_most   strict and non-strict bounds
    whole     True: only integers (Python's or numpy's; 2.0 is refused)

    Returns
    -------
    ``value``, unchanged; with ``whole``, as a Python int

    Raises
    ------
    ValueError naming ``what``, the bounds and the value that came
    """
    limits = [(sign, bound) for sign, bound in
              ((">", above), (">=", at_least), ("<", below), ("<=", at_most)) if bound is not None]
    kind = "a whole number" if whole else "a finite number"
    expected = " and ".join([kind] + [f"{sign} {bound}" for sign, bound in limits])
    is_number = is_whole(value) if whole else (isinstance(value, numbers.Real)
                                               and not isinstance(value, bool))
    # An int too large for a float is still finite; math.isfinite would overflow on it.
    if (not is_number or not (isinstance(value, numbers.Integral) or math.isfinite(value))
            or not all(_COMPARE[sign](value, bound) for sign, bound in limits)):
        raise ValueError(f"{what} must be {expected}, got {value!r}")
    return int(value) if whole else value


def check_flag(what, value):
    """Return ``value`` if it is True or False; ValueError otherwise (a string "False" is true)."""
    if value is not True and value is not False:
        raise ValueError(f"{what} must be True or False, got {value!r}")
    return value


def is_whole(value):
    """True for an integer, Python's or numpy's, that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_count(value):
    """True for a Python int >= 0 that is not a bool: a count as JSON gives it."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_example_shape(input_shape):
    """``input_shape`` as a tuple of ints >= 1, or ValueError. numpy integers and
    arrays of them count (an int alone is a shape of one axis); bools never do."""
    # numpy's tolist() gives Python numbers, and keeps a float a float.
    dims = input_shape.tolist() if hasattr(input_shape, "tolist") else input_shape
    dims = [dims] if isinstance(dims, numbers.Integral) else dims
    dims = list(dims) if isinstance(dims, (list, tuple, range)) else []
    if not dims or not all(is_whole(d) and d >= 1 for d in dims):
        raise ValueError(f"input_shape must be the shape of one example, whole numbers "
                         f">= 1 such as (28, 28, 1), got {input_shape!r}")
    return tuple(int(d) for d in dims)
