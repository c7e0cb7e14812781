"""Numerical gradient checking by two-sided finite differences."""

import numpy as np


def numerical_gradient(fn, x, dLdf, h=1e-6):
    """Estimate dL/dx for L = sum(fn(x) * dLdf) by central differences.

    Parameters
    ----------
    fn    function of one array returning an array of dLdf's shape
    x     the point, any shape; perturbed in place and restored
    dLdf  upstream gradient, shape of fn(x)
    h     step size

    Returns
    -------
    array of x's shape
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x = x.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    flat_grad = grad.reshape(-1)
    for k in range(flat_x.size):
        old = flat_x[k]
        flat_x[k] = old + h
        f_plus = np.array(fn(x), dtype=np.float64, copy=True)
        flat_x[k] = old - h
        f_minus = np.array(fn(x), dtype=np.float64, copy=True)
        flat_x[k] = old
        flat_grad[k] = np.sum((f_plus - f_minus) * dLdf) / (2 * h)
    return grad


def relative_error(numerical, analytic):
    """||numerical - analytic|| / ||numerical + analytic||, 0 when both vanish."""
    numerical = np.asarray(numerical, dtype=np.float64)
    analytic = np.asarray(analytic, dtype=np.float64)
    if numerical.shape != analytic.shape:
        raise ValueError(
            f"gradient shapes differ: numerical {numerical.shape}, analytic {analytic.shape}"
        )
    num = np.linalg.norm(numerical - analytic)
    den = np.linalg.norm(numerical + analytic)
    if den == 0:
        return 0.0 if num == 0 else float("inf")
    return float(num / den)


def check_gradients(fn, grad, x, dLdf, h=1e-6):
    """Compare an analytic gradient with a two-sided finite difference.

    Parameters
    ----------
    fn    function of one array, f(x); called with perturbed copies of x
    grad  analytic dL/dx, shape of x
    x     the point at which to check, any shape (float64 recommended)
    dLdf  upstream gradient dL/df, shape of fn(x)
    h     finite-difference step

    Returns
    -------
    float, the relative error ||numgrad - grad|| / ||numgrad + grad||
    """
    x = np.array(x, dtype=np.float64, copy=True)
    numgrad = numerical_gradient(fn, x, dLdf, h=h)
    return relative_error(numgrad, grad)
