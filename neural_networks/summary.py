"""A network as a table of its layers: what ``model.summary()`` prints and
``repr(model)`` returns (as Keras' ``model.summary()``).

Each row is built from what the layer declares: its description (type and
settings, ``Layer.describe``), its parameters and buffers.
"""

from collections import OrderedDict

import numpy as np

from . import backend


def layer_title(description):
    """A layer's type and key settings in a few words, from its description
    (``Layer.describe``): "Conv2D 3x3 s1 same, relu", "Pool2D max 2x2 s2", "Dropout p=0.3"."""
    words = [description["type"]]
    if "kernel_shape" in description:
        if description.get("mode"):
            words.append(description["mode"])
        words += ["x".join(map(str, description["kernel_shape"])), f"s{description['stride']}"]
        pad = description["pad"]
        if isinstance(pad, str):
            words.append(pad)
        elif pad:
            words.append(f"pad {pad}")
    if "p" in description:
        words.append(f"p={description['p']:g}")
    if description.get("keep_dim") == "last":
        words.append("keep last")
    title = " ".join(words)
    activation = description.get("activation")
    return title if activation in (None, "linear") else f"{title}, {activation}"


def table(rows):
    """Rows of text cells as aligned columns: numbers (the last column) to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    last = len(widths) - 1
    return ["  ".join(cell.rjust(w) if i == last else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def _shape_text(shape):
    return "?" if shape is None else f"({', '.join(map(str, ('None', *shape)))})"


def summary_text(model):
    """The table of ``model``: one row per layer (index, type with its key settings,
    output shape with None for the batch axis, parameter count), then the total.
    The output layer has its row even before it is built (one is made only to be
    described).

    Parameters
    ----------
    model   a ``NeuralNetwork``

    Shapes and counts need the input shape, known once the network has seen a
    batch (or ``build(input_shape, n_out)``); before that they are "?" and the
    table says so. Every parameter is trainable; buffers (BatchNorm's running
    statistics) are not parameters and not counted.

    Returns
    -------
    the table, a str
    """
    layers = list(model.layers)
    if not model.built:
        # Only to describe it: the output layer's n_out comes from the data.
        layers.append(model.make_output_layer(model.layer_args[-1].get("n_out") or 1))
    # A checkpoint of the older format brings parameters but no input shape.
    counted = model.built and model.parameter_dtype() is not None
    shaped = counted and model.input_shape is not None
    shapes = output_shapes(model) if shaped else [None] * len(layers)
    counts = [sum(v.size for v in layer.parameters.values()) if counted else None
              for layer in layers]
    rows = [["#", "layer", "output shape", "parameters"],
            ["", "input", _shape_text(model.input_shape), ""]]
    rows += [[str(i), layer_title(layer.describe()), _shape_text(shape),
              "?" if count is None else f"{count:,}"]
             for i, (layer, shape, count) in enumerate(zip(layers, shapes, counts, strict=True))]
    lines = [f"NeuralNetwork ({model.loss.name} loss, {model.optimizer_args['name']} optimizer)",
             *table(rows)]
    if counted:
        total = sum(counts)
        lines.append(f"Total parameters: {total:,} (trainable: {total:,})")
        lines += _buffer_line(layers)
    if not shaped:
        lines.append(f"Output shapes{'' if counted else ' and parameters'} come with the "
                     f"first batch, or with build(input_shape, n_out).")
    return "\n".join(lines)


def _buffer_line(layers):
    """The line that counts the buffers (none without them)."""
    holders = [layer for layer in layers if layer.buffers]
    if not holders:
        return []
    n_buffers = sum(v.size for layer in holders for v in layer.buffers.values())
    names = ", ".join(dict.fromkeys(type(layer).__name__ for layer in holders))
    return [f"Buffers ({names} running statistics, not trained): {n_buffers:,} values, "
            f"not counted as parameters"]


def output_shapes(model):
    """Each layer's output shape for one example (no batch axis), from a forward
    pass of zeros in eval mode that leaves every layer's cache as it was."""
    caches = [layer.cache for layer in model.layers]
    X = backend.to_device(np.zeros((1, *model.input_shape),
                                   dtype=model.parameter_dtype() or np.float64), model.device)
    shapes = []
    try:
        with model.evaluating():
            for layer in model.layers:
                layer.cache = OrderedDict()
                X = layer.forward(X)
                shapes.append(X.shape[1:])
    finally:
        for layer, cache in zip(model.layers, caches, strict=True):
            layer.cache = cache
    return shapes
