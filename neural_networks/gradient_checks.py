"""The gradient-check report: every activation, layer and loss of the library
against central finite differences in float64.

The layers are those of the registry (``layers.LAYERS``), each in every
example it declares (``Layer.examples``), in training mode: BatchNorm with
the batch's statistics, Dropout with one mask (every forward pass of a check
starts from the same state of numpy's generator). A layer gets its rows here
by being registered.

``check_gradients.ipynb`` walks through the same cases one cell at a time;
without Jupyter, ``python -m neural_networks.gradient_checks`` prints them as
one table and exits non-zero if any check fails.
"""

import argparse
import sys

import numpy as np

from .activations import initialize_activation
from .layers import LAYERS, Conv2D, Flatten, FullyConnected, Pool2D
from .losses import initialize_loss
from .summary import layer_title
from .utils.checks import check_number
from .utils.grad_check import check_activation, check_layer, check_loss

#: A check passes when its relative error is below this (float64 inputs).
TOLERANCE = 1e-7

#: What the report checks besides the layers' examples.
ACTIVATION_NAMES = ["linear", "sigmoid", "tanh", "arctan", "relu", "softmax"]
LOSS_NAMES = ["cross_entropy", "l2"]

# The course layers' examples as check_gradients.ipynb reads them, one cell per layer.
#: FullyConnected: (n_out, activation)
FULLY_CONNECTED_CASES = [(s["n_out"], s["activation"]) for s, _ in FullyConnected.examples]
#: Conv2D: (kernel_shape, stride, pad)
CONV2D_CASES = [(s["kernel_shape"], s["stride"], s["pad"]) for s, _ in Conv2D.examples]
#: Pool2D: (mode, kernel_shape, stride, pad)
POOL2D_CASES = [(s["mode"], s["kernel_shape"], s["stride"], s["pad"]) for s, _ in Pool2D.examples]
#: Flatten: keep_dim
FLATTEN_CASES = [s["keep_dim"] for s, _ in Flatten.examples]


def away_from_zero(Z, margin=0.1):
    """Move every entry at least ``margin`` away from 0, keeping its sign.

    Finite differences are wrong across a kink (ReLU at 0), so the
    activation checks keep their inputs clear of it.
    """
    return np.where(Z >= 0, Z + margin, Z - margin)


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


def run_all_checks(seed=0):
    """Run every check of the report in float64.

    Returns
    -------
    list of (piece, quantity, relative error) tuples, in the order
    activations, the examples of every registered layer (in the registry's
    order), losses
    """
    np.random.seed(seed)  # weight initialisers draw from numpy's global generator
    rng = np.random.default_rng(seed)
    rows = []

    def add(piece, errors):
        rows.extend((piece, quantity, err) for quantity, err in errors.items())

    for name in ACTIVATION_NAMES:
        Z = away_from_zero(rng.standard_normal((4, 5)))
        add(f"activation {name}", check_activation(initialize_activation(name), Z,
                                                   rng.standard_normal((4, 5))))
    for cls in LAYERS.values():
        for settings, shape in cls.examples:
            layer = cls(**settings)
            X = rng.standard_normal(shape)
            dLdY = rng.standard_normal(layer.forward(X).shape)
            add(f"{layer_title(layer.describe())} on {shape}", check_layer(layer, X, dLdY))
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


def _setting(kind, what, **bounds):
    """argparse type: a ``kind`` number within ``check_number``'s bounds (NaN and infinity
    are no numbers), so a bad value is argparse's one-line error, not a traceback later."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a {'whole ' * (kind is int)}"
                                             f"number, got {text!r}") from None
        try:
            return check_number(what, value, whole=kind is int, **bounds)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse


def main(argv=None):
    """Print the report; return 0 when every check passes, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m neural_networks.gradient_checks",
        description="Check every activation, layer and loss of neural_networks against "
                    "central finite differences in float64.",
    )
    parser.add_argument("--tol", type=_setting(float, "--tol", above=0), default=TOLERANCE,
                        help="largest relative error that passes, a number > 0 "
                             "(default %(default)g)")
    parser.add_argument("--seed", type=_setting(int, "--seed", at_least=0, below=2**32),
                        default=0, help="random seed, in [0, 2**32) (default 0)")
    args = parser.parse_args(argv)
    rows = run_all_checks(seed=args.seed)
    print(format_table(rows, args.tol))
    failed = [row for row in rows if not row[2] < args.tol]
    print(f"{len(rows) - len(failed)} of {len(rows)} checks passed "
          f"(relative error < {args.tol:g})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
