"""The array math of every layer, as pure functions (PyTorch's ``nn.functional``).

A layer in ``layers.py`` keeps the state (parameters, gradients, cache,
running statistics, reusable buffers) and calls one function here each way:
``x_forward`` returns the output and what ``x_backward`` needs, and
``x_backward`` returns the gradients. Nothing here imports a layer or a
model, and no function changes its inputs unless it says so.

One module per topic; every public name is also a name of this package
(``from neural_networks import functional as F; F.conv2d_forward``):

- ``dense``: ``affine_forward`` / ``affine_backward``, Z = X W + b
  (FullyConnected); ``flatten_forward`` / ``flatten_backward`` (Flatten).
- ``conv``: ``conv2d_forward`` / ``conv2d_backward`` and ``im2col``,
  convolution over NHWC images (Conv2D).
- ``pooling``: ``maxpool2d_*``, ``avgpool2d_*`` (Pool2D).
- ``normalization``: ``batchnorm_forward`` / ``batchnorm_backward`` (BatchNorm),
  ``groupnorm_forward`` / ``groupnorm_backward`` (GroupNorm).
- ``dropout``: ``dropout_forward`` / ``dropout_backward`` (Dropout).
- ``geometry``: where a kernel's windows fall, shared by conv and pooling
  (``as_pair``, ``pad_amounts``, ``output_shape``, ``pad_input``, ``windows``).
- ``blocking``: how the work is cut into blocks of images or rows, their
  buffers, and sums added in block order (``BLOCK_BYTES`` and the other
  settings).

Setting one of the block settings on this package (``F.BLOCK_BYTES = ...``)
sets it in the module that reads it, as when all of this was one module.
"""

import sys
import types

from . import blocking, conv, dense, dropout, geometry, normalization, pooling
from .blocking import (
    BLOCK_BYTES,
    CHAIN_BLOCK_BYTES,
    MIN_BLOCKS,
    POSITIONS_PER_PIECE,
    REDUCE_BLOCK_BYTES,
    SMALL_PRODUCT,
)
from .conv import conv2d_backward, conv2d_forward, im2col
from .dense import (
    PARALLEL_AFFINE_FLOPS,
    affine_backward,
    affine_forward,
    flatten_backward,
    flatten_forward,
)
from .dropout import dropout_backward, dropout_forward
from .geometry import as_pair, output_shape, pad_amounts, pad_input, windows
from .normalization import (batchnorm_backward, batchnorm_forward, groupnorm_backward,
                            groupnorm_forward)
from .pooling import avgpool2d_backward, avgpool2d_forward, maxpool2d_backward, maxpool2d_forward

__all__ = [
    "blocking", "conv", "dense", "dropout", "geometry", "normalization", "pooling",
    "BLOCK_BYTES", "CHAIN_BLOCK_BYTES", "MIN_BLOCKS", "PARALLEL_AFFINE_FLOPS",
    "POSITIONS_PER_PIECE", "REDUCE_BLOCK_BYTES", "SMALL_PRODUCT",
    "affine_backward", "affine_forward", "as_pair", "avgpool2d_backward", "avgpool2d_forward",
    "batchnorm_backward", "batchnorm_forward", "conv2d_backward", "conv2d_forward",
    "dropout_backward", "dropout_forward", "flatten_backward", "flatten_forward",
    "groupnorm_backward", "groupnorm_forward", "im2col",
    "maxpool2d_backward", "maxpool2d_forward", "output_shape", "pad_amounts", "pad_input",
    "windows",
]

#: The module that reads each setting re-exported above.
_SETTINGS = {name: module for module in (blocking, dense)
            for name in vars(module) if name.isupper()}


class _Package(types.ModuleType):
    def __setattr__(self, name, value):
        # The modules read their settings from their own globals: a setting
        # changed only here would silently change nothing.
        if name in _SETTINGS:
            setattr(_SETTINGS[name], name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
