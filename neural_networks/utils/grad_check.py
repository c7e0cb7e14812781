"""Numerical gradient checking by two-sided finite differences.

``check_gradients`` compares one analytic gradient with the finite difference;
``check_activation``, ``check_layer`` and ``check_loss`` apply it to every
gradient of an activation, a layer or a loss. The report over every piece of
the library, and its command, are in ``neural_networks.gradient_checks``.
"""

import numpy as np

from .checks import check_number


def numerical_gradient(fn, x, dLdf, h=1e-6):
    """Estimate dL/dx for L = sum(fn(x) * dLdf) by central differences.

    Parameters
    ----------
    fn    function of one array returning an array of dLdf's shape
    x     the point, any shape; perturbed in place and restored
    dLdf  upstream gradient, shape of fn(x)
    h     step size, a finite number > 0 (0 would divide by 0)

    Returns
    -------
    array of x's shape
    """
    check_number("h", h, above=0)
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
    h     finite-difference step, a finite number > 0

    Returns
    -------
    float, the relative error ||numgrad - grad|| / ||numgrad + grad||
    """
    x = np.array(x, dtype=np.float64, copy=True)
    numgrad = numerical_gradient(fn, x, dLdf, h=h)
    return relative_error(numgrad, grad)


# The checks of a whole activation, layer or loss only call the methods of the
# object they are given, so this module imports nothing from the layers.


def check_activation(activation, Z, dY):
    """Check ``activation.backward`` at Z.

    Parameters
    ----------
    activation  an ``Activation``
    Z           input, any shape (float64)
    dY          upstream gradient dL/dY, shape of Z

    Returns
    -------
    {"dZ": relative error}
    """
    dZ = activation.backward(Z, dY)
    return {"dZ": check_gradients(activation.forward, dZ, Z, dY)}


def check_layer(layer, X, dLdY):
    """Check a layer's dL/dX and the gradient of every parameter, in the layer's
    mode (``layer.training``).

    Every forward pass of the check starts from the same state of numpy's
    global generator, so a layer that draws from it (Dropout's mask) computes
    one function of X, whose gradient can be checked.

    Parameters
    ----------
    layer  a ``Layer``; initialised by a first forward if it is not yet
    X      input batch (float64)
    dLdY   upstream gradient, shape of ``layer.forward(X)``

    Returns
    -------
    {"dX": error, "dW": error, "db": error, ...}: one entry per parameter,
    in the order of ``layer.parameters``
    """
    draws = np.random.get_state()

    def same_draws(forward):
        def call(value):
            np.random.set_state(draws)
            return forward(value)
        return call

    same_draws(layer.forward)(X)
    dX = layer.backward(dLdY)
    grads = {name: np.array(grad, copy=True) for name, grad in layer.gradients.items()}
    errors = {"dX": check_gradients(same_draws(layer.forward), dX, X, dLdY)}
    for name, grad in grads.items():
        value = layer.parameters[name].copy()
        errors[f"d{name}"] = check_gradients(same_draws(layer.forward_with_param(name, X)),
                                             grad, value, dLdY)
        layer.parameters[name] = value  # forward_with_param left a perturbed copy there
    return errors


def check_loss(loss, Y, Y_hat):
    """Check ``loss.backward`` (dL/dY_hat) against the scalar ``loss.forward``.

    Parameters
    ----------
    loss   a ``Loss``
    Y      labels, shape (m, k)
    Y_hat  predictions, shape (m, k)

    Returns
    -------
    {"dY_hat": relative error}
    """
    grad = loss.backward(Y, Y_hat)
    return {"dY_hat": check_gradients(lambda P: loss.forward(Y, P), grad, Y_hat, 1.0)}


if __name__ == "__main__":
    # The report used to run from here: say where it went, not exit 0 having checked nothing.
    raise SystemExit("the gradient-check report moved: python -m neural_networks.gradient_checks")
