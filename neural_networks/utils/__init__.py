"""Helpers shared by the package: data structures, data processing and
gradient checking."""

from .data_processing import center, normalize, standardize
from .data_structures import AttrDict, integers_to_one_hot
from .grad_check import check_gradients

__all__ = [
    "AttrDict",
    "integers_to_one_hot",
    "center",
    "normalize",
    "standardize",
    "check_gradients",
]
