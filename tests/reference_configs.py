"""Configurations of the course's reference-data tests, shared by
``tests/make_reference_data.py`` (which writes the data with PyTorch) and the
tests (which replay it against ``neural_networks``).

For a test class ``C``, ``tests/data/C.npz`` holds one case for each element
``i`` of ``itertools.product(LayerConfigs, BatchSizes, InputSizes)``, in that
order, under the keys ``f"{i}input"`` (forward's positional arguments stacked
on a new first axis), ``f"{i}output"``, ``f"{i}upstream_grad"``,
``f"{i}backward"`` and, for layers with parameters (``PARAMETERS``), each
parameter to load (``f"{i}W"`` and ``f"{i}b"``; GroupNorm's ``f"{i}gamma"`` and
``f"{i}beta"``) and the oracle's gradient of each (``f"{i}dW"``, ``f"{i}db"``;
``f"{i}dgamma"``, ``f"{i}dbeta"``), which the tests compare with ``layer.gradients``.

A layer config is a dict of keyword arguments for ``initialize_layer``,
``initialize_activation`` or ``initialize_loss``. An input size is the shape
of one example (without the batch axis); for a loss it is the number of
classes k. This module imports only numpy, so the tests never need torch.
"""

import itertools
import os

import numpy as np

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

ACTIVATION_BATCH_SIZES = [1, 3, 7]
ACTIVATION_INPUT_SIZES = [(5,), (4, 6), (2, 3, 4)]


def _activation_spec(name):
    return {
        "kind": "activation",
        "LayerConfigs": [{"name": name}],
        "BatchSizes": ACTIVATION_BATCH_SIZES,
        "InputSizes": ACTIVATION_INPUT_SIZES,
    }


def _conv_configs():
    """Every kernel (3x3, 3x5, 5x5) x stride (1, 2, 3) x pad ("same", "valid", 1),
    plus a few shapes beyond that grid."""
    activations = ["linear", "relu", "tanh", "sigmoid"]
    configs = []
    grid = itertools.product([(3, 3), (3, 5), (5, 5)], [1, 2, 3], ["same", "valid", 1])
    for k, (kernel_shape, stride, pad) in enumerate(grid):
        configs.append({
            "name": "conv2d", "n_out": 4, "kernel_shape": kernel_shape, "stride": stride,
            "pad": pad, "activation": activations[k % len(activations)],
        })
    configs += [
        # A kernel taller than wide, an even kernel ("same" pads (1, 1) for 4x4
        # and nothing for 2x2), a larger int pad, a 1x1 kernel, a single
        # output channel and a square kernel given as an int.
        {"name": "conv2d", "n_out": 3, "kernel_shape": (5, 3), "stride": 2, "pad": "same",
         "activation": "relu"},
        {"name": "conv2d", "n_out": 2, "kernel_shape": (4, 4), "stride": 1, "pad": "same",
         "activation": "tanh"},
        {"name": "conv2d", "n_out": 2, "kernel_shape": (2, 2), "stride": 2, "pad": "same",
         "activation": "linear"},
        {"name": "conv2d", "n_out": 3, "kernel_shape": (3, 3), "stride": 2, "pad": 2,
         "activation": "relu"},
        {"name": "conv2d", "n_out": 5, "kernel_shape": (1, 1), "stride": 1, "pad": 0,
         "activation": "sigmoid"},
        {"name": "conv2d", "n_out": 1, "kernel_shape": 3, "stride": 1, "pad": "valid",
         "activation": "linear"},
    ]
    return configs


def _pool_configs():
    """Max and average pooling over kernels x strides x pads.

    PyTorch (the oracle) accepts a pad of at most half the kernel on each
    axis, which every pad here respects.
    """
    configs = [
        {"name": "pool2d", "mode": mode, "kernel_shape": kernel_shape, "stride": stride,
         "pad": pad}
        for mode, kernel_shape, stride, pad in itertools.product(
            ["max", "average"], [(2, 2), (3, 3), (2, 3)], [1, 2, 3], ["valid", "same", 1]
        )
    ]
    # A kernel given as an int, and a tall kernel with "same" padding (1, 0).
    for mode in ["max", "average"]:
        configs.append({"name": "pool2d", "mode": mode, "kernel_shape": 3, "stride": 2, "pad": 1})
        configs.append({"name": "pool2d", "mode": mode, "kernel_shape": (3, 2), "stride": 1,
                        "pad": "same"})
    return configs


SPECS = {
    "TestLinear": _activation_spec("linear"),
    "TestSigmoid": _activation_spec("sigmoid"),
    "TestTanH": _activation_spec("tanh"),
    "TestArcTan": _activation_spec("arctan"),
    "TestReLU": _activation_spec("relu"),
    "TestSoftMax": _activation_spec("softmax"),
    "TestCrossEntropy": {
        "kind": "loss",
        "LayerConfigs": [{"name": "cross_entropy"}],
        "BatchSizes": [1, 3, 7],
        "InputSizes": [2, 5, 10],
    },
    "TestL2": {
        "kind": "loss",
        "LayerConfigs": [{"name": "l2"}],
        "BatchSizes": [1, 3, 7],
        "InputSizes": [1, 5, 10],
    },
    "TestFullyConnected": {
        "kind": "layer",
        "LayerConfigs": [
            {"name": "fully_connected", "n_out": 5, "activation": "relu"},
            {"name": "fully_connected", "n_out": 5, "activation": "tanh"},
            {"name": "fully_connected", "n_out": 5, "activation": "linear"},
            {"name": "fully_connected", "n_out": 5, "activation": "softmax"},
            {"name": "fully_connected", "n_out": 3, "activation": "sigmoid"},
            {"name": "fully_connected", "n_out": 1, "activation": "linear"},
        ],
        "BatchSizes": [1, 3, 7],
        "InputSizes": [(4,), (10,)],
    },
    "TestConv2D": {
        "kind": "layer",
        "LayerConfigs": _conv_configs(),
        "BatchSizes": [1, 3],
        "InputSizes": [(6, 7, 2), (9, 8, 3)],
    },
    "TestPool2D": {
        "kind": "layer",
        "LayerConfigs": _pool_configs(),
        "BatchSizes": [1, 3],
        "InputSizes": [(5, 5, 2), (6, 7, 3)],
    },
    "TestFlatten": {
        "kind": "layer",
        "LayerConfigs": [{"name": "flatten", "keep_dim": "first"}],
        "BatchSizes": [1, 3, 7],
        "InputSizes": [(6,), (2, 3), (4, 5, 3)],
    },
    # Layer normalisation (1 group), 2, 3 and 6 groups, on (batch, features) of 12
    # features and NHWC inputs of 6 channels: 6 groups of one channel there are
    # instance normalisation. (torch refuses groups of a single value in a batch
    # of one, so no config has them.)
    "TestGroupNorm": {
        "kind": "layer",
        "LayerConfigs": [
            {"name": "groupnorm", "groups": 1, "eps": 1e-5, "activation": "linear"},
            {"name": "groupnorm", "groups": 2, "eps": 1e-5, "activation": "relu"},
            {"name": "groupnorm", "groups": 3, "eps": 1e-3, "activation": "tanh"},
            {"name": "groupnorm", "groups": 6, "eps": 1e-5, "activation": "linear"},
        ],
        "BatchSizes": [1, 3],
        "InputSizes": [(12,), (3, 4, 6), (5, 2, 6)],
    },
}

#: Layers whose cases also carry their parameters, and the parameters' names.
PARAMETERS = {"TestFullyConnected": ("W", "b"), "TestConv2D": ("W", "b"),
              "TestGroupNorm": ("gamma", "beta")}


def data_path(class_name):
    """Path of the reference file of a test class."""
    return os.path.join(DATA_DIR, f"{class_name}.npz")


def reference_cases(class_name):
    """List of (i, config, batch_size, input_size) in the protocol's order."""
    spec = SPECS[class_name]
    grid = itertools.product(spec["LayerConfigs"], spec["BatchSizes"], spec["InputSizes"])
    return [(i, dict(config), batch, size) for i, (config, batch, size) in enumerate(grid)]


def case_keys(class_name, i):
    """The keys that case i of a test class must have."""
    suffixes = ["input", "output", "upstream_grad", "backward"]
    names = PARAMETERS.get(class_name, ())
    suffixes += [*names, *(f"d{name}" for name in names)]
    return [f"{i}{suffix}" for suffix in suffixes]


def load_reference(class_name):
    """Load a test class's reference file and check it holds exactly its cases.

    Returns
    -------
    data   dict key -> array
    cases  the list of ``reference_cases(class_name)``

    Raises AssertionError when the file holds more or fewer cases (or keys)
    than the product of the config lists, so a truncated file fails.
    """
    with np.load(data_path(class_name), allow_pickle=False) as archive:
        data = {key: archive[key] for key in archive.files}
    cases = reference_cases(class_name)
    expected = {key for i, *_ in cases for key in case_keys(class_name, i)}
    n_in_file = sum(key.endswith("input") for key in data)
    if set(data) != expected or n_in_file != len(cases):
        missing = sorted(expected - set(data))[:5]
        extra = sorted(set(data) - expected)[:5]
        raise AssertionError(
            f"{data_path(class_name)} holds {n_in_file} cases, expected {len(cases)} "
            f"(product of the config lists); missing keys {missing}, unexpected keys {extra}"
        )
    return data, cases


def assert_matches(actual, expected, what):
    """Assert ``actual`` equals the oracle's ``expected``.

    First the course's check (4 decimals), then exactness in float64: every
    element within a relative error of 1e-7 (with an absolute floor of 1e-12
    for elements that are zero or nearly so).
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    np.testing.assert_almost_equal(actual, expected, decimal=4, err_msg=what)
    np.testing.assert_allclose(actual, expected, rtol=1e-7, atol=1e-12, err_msg=what)
