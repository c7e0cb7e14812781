"""Helpers shared by the package: data structures, data processing,
gradient checking and the array math behind convolution and pooling."""

from .data_structures import AttrDict, integers_to_one_hot
from .data_processing import center, normalize, standardize

__all__ = [
    "AttrDict",
    "integers_to_one_hot",
    "center",
    "normalize",
    "standardize",
    "check_gradients",
]


def __getattr__(name):
    # check_gradients is loaded on first use rather than here, so that
    # `python -m neural_networks.utils.grad_check` does not find the module
    # already imported (runpy warns about that).
    if name in ("check_gradients", "grad_check"):
        import importlib

        grad_check = importlib.import_module(f"{__name__}.grad_check")
        return grad_check if name == "grad_check" else grad_check.check_gradients
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
