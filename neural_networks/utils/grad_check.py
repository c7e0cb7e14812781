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


# ------------------------------------------------------------------------
# Checks of every piece of the library, shared by check_gradients.ipynb and
# the command ``python -m neural_networks.utils.grad_check``.

#: A check passes when its relative error is below this (float64 inputs).
TOLERANCE = 1e-7

#: What the report checks. Each entry is small enough to read at a glance.
ACTIVATION_NAMES = ["linear", "sigmoid", "tanh", "arctan", "relu", "softmax"]
#: FullyConnected: (n_out, activation)
FULLY_CONNECTED_CASES = [(3, "relu"), (4, "sigmoid"), (3, "softmax")]
#: Conv2D: (kernel_shape, stride, pad)
CONV2D_CASES = [
    ((3, 3), 1, "same"),
    ((1, 1), 1, "valid"),
    ((2, 3), 2, "valid"),
    ((3, 2), 2, 1),
    ((5, 5), 1, "same"),
]
#: Pool2D: (mode, kernel_shape, stride, pad)
POOL2D_CASES = [
    ("max", (2, 2), 2, 0),
    ("max", (3, 3), 1, "same"),
    ("max", (2, 3), 1, 1),
    ("average", (2, 2), 2, 0),
    ("average", (3, 3), 1, "same"),
    ("average", (3, 2), 2, 1),
]
#: Flatten: keep_dim
FLATTEN_CASES = ["first", "last"]
LOSS_NAMES = ["cross_entropy", "l2"]


def away_from_zero(Z, margin=0.1):
    """Move every entry at least ``margin`` away from 0, keeping its sign.

    Finite differences are wrong across a kink (ReLU at 0), so the
    activation checks keep their inputs clear of it.
    """
    return np.where(Z >= 0, Z + margin, Z - margin)


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
    """Check a layer's dL/dX and the gradient of every parameter.

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
    layer.forward(X)
    dX = layer.backward(dLdY)
    grads = {name: np.array(grad, copy=True) for name, grad in layer.gradients.items()}
    errors = {"dX": check_gradients(layer.forward, dX, X, dLdY)}
    for name, grad in grads.items():
        value = layer.parameters[name].copy()
        errors[f"d{name}"] = check_gradients(layer.forward_with_param(name, X), grad, value, dLdY)
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


def format_errors(piece, errors, tol=TOLERANCE):
    """One line per quantity: ``piece  quantity  relative error 1.2e-10  pass``."""
    return "\n".join(
        f"{piece:<36} {quantity:<7} relative error {err:.3e}  "
        f"{'pass' if err < tol else 'FAIL'}"
        for quantity, err in errors.items()
    )


def print_errors(piece, errors, tol=TOLERANCE):
    """Print ``format_errors`` (what every cell of the notebook shows)."""
    print(format_errors(piece, errors, tol))


def describe_case(*values):
    """A short label such as ``kernel (3, 3) stride 1 pad 'same'``."""
    return " ".join(str(v) for v in values)


def run_all_checks(seed=0):
    """Run every check of the report in float64.

    Returns
    -------
    list of (piece, quantity, relative error) tuples, in the order
    activations, FullyConnected, Conv2D, Pool2D, Flatten, losses
    """
    # Imported here: the layers import this package, and importing them at
    # the top would make the import circular.
    from ..activations import initialize_activation
    from ..layers import Conv2D, Flatten, FullyConnected, Pool2D
    from ..losses import initialize_loss

    np.random.seed(seed)  # weight initialisers draw from numpy's global generator
    rng = np.random.default_rng(seed)
    rows = []

    def add(piece, errors):
        rows.extend((piece, quantity, err) for quantity, err in errors.items())

    for name in ACTIVATION_NAMES:
        Z = away_from_zero(rng.standard_normal((4, 5)))
        add(f"activation {name}", check_activation(initialize_activation(name), Z,
                                                   rng.standard_normal((4, 5))))
    for n_out, activation in FULLY_CONNECTED_CASES:
        layer = FullyConnected(n_out=n_out, activation=activation)
        add(f"FullyConnected {n_out} {activation}",
            check_layer(layer, rng.standard_normal((4, 5)), rng.standard_normal((4, n_out))))
    X = rng.standard_normal((2, 7, 6, 3))
    for kernel_shape, stride, pad in CONV2D_CASES:
        layer = Conv2D(n_out=4, kernel_shape=kernel_shape, activation="tanh",
                       stride=stride, pad=pad)
        dLdY = rng.standard_normal(layer.forward(X).shape)
        add(f"Conv2D k{kernel_shape} s{stride} pad {pad!r}", check_layer(layer, X, dLdY))
    for mode, kernel_shape, stride, pad in POOL2D_CASES:
        layer = Pool2D(kernel_shape=kernel_shape, mode=mode, stride=stride, pad=pad)
        dLdY = rng.standard_normal(layer.forward(X).shape)
        add(f"Pool2D {mode} k{kernel_shape} s{stride} pad {pad!r}", check_layer(layer, X, dLdY))
    for keep_dim in FLATTEN_CASES:
        layer = Flatten(keep_dim=keep_dim)
        dLdY = rng.standard_normal(layer.forward(X).shape)
        add(f"Flatten keep_dim {keep_dim!r}", check_layer(layer, X, dLdY))
    for name in LOSS_NAMES:
        Y = np.eye(3)[rng.integers(0, 3, size=6)]
        logits = rng.standard_normal((6, 3))
        Y_hat = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        add(f"loss {name}", check_loss(initialize_loss(name), Y, Y_hat))
    return rows


def format_table(rows, tol=TOLERANCE):
    """The report: one row per check (piece, quantity, relative error, pass/fail)."""
    width = max([len("piece")] + [len(piece) for piece, _, _ in rows])
    lines = [f"{'piece':<{width}}  {'quantity':<8}  {'relative error':>14}  result",
             "-" * (width + 36)]
    for piece, quantity, err in rows:
        lines.append(f"{piece:<{width}}  {quantity:<8}  {err:>14.3e}  "
                     f"{'pass' if err < tol else 'FAIL'}")
    return "\n".join(lines)


def main(argv=None):
    """Print the report; return 0 when every check passes, 1 otherwise."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m neural_networks.utils.grad_check",
        description="Check every activation, layer and loss of neural_networks against "
                    "central finite differences in float64.",
    )
    parser.add_argument("--tol", type=float, default=TOLERANCE,
                        help="largest relative error that passes (default %(default)g)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    rows = run_all_checks(seed=args.seed)
    print(format_table(rows, args.tol))
    failed = [row for row in rows if not row[2] < args.tol]
    print(f"{len(rows) - len(failed)} of {len(rows)} checks passed "
          f"(relative error < {args.tol:g})")
    return 1 if failed else 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
