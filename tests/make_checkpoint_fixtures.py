"""Write the checkpoints of an earlier version of the library that the tests load.

    PYTHONPATH=<a checkout of that version> python tests/make_checkpoint_fixtures.py

The files in ``tests/data/checkpoints/`` were written so by main at commit
532846c, before training progress moved into ``TrainingState`` and layers
began describing themselves: ``tests/test_checkpoints.py`` loads them with
today's code (``TestCheckpointsOfEarlierVersions``). For each checkpoint
``<name>.npz`` there is ``<name>.expected.npz``, what that version computed
from it: ``output``, the loaded network's outputs for ``input``; and
``trained/<key>``, every parameter and buffer after training it on to the end
of ``FIXTURES[name]["until"]`` epochs on ``fixture_dataset``.

Only the public interface is used here, so that the script runs on that
version and on later ones alike.
"""

import os
import signal
import sys

import numpy as np

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "checkpoints")

MLP = [{"name": "fully_connected", "n_out": 6, "activation": "relu"},
       {"name": "fully_connected", "n_out": None, "activation": "softmax"}]
CNN = [{"name": "conv2d", "n_out": 3, "kernel_shape": 3, "activation": "linear"},
       {"name": "batchnorm", "activation": "relu"},
       {"name": "pool2d", "kernel_shape": 2, "mode": "max", "stride": 2},
       {"name": "flatten"},
       {"name": "dropout", "p": 0.25},
       {"name": "fully_connected", "n_out": None, "activation": "softmax"}]

#: name -> the network, its optimizer, the examples' shape, the epochs trained
#: before saving, the step of the next epoch it stopped at (0: between epochs),
#: and the epoch the test trains it on to.
FIXTURES = {
    "mlp_sgd_momentum": dict(layers=MLP, optimizer={"name": "SGD", "lr": 0.05, "momentum": 0.9},
                             shape=(4,), epochs=2, stop_at=0, until=3),
    "cnn_batchnorm_adam": dict(layers=CNN, optimizer={"name": "Adam", "lr": 0.01},
                               shape=(6, 6, 1), epochs=1, stop_at=0, until=2),
    "cnn_mid_epoch": dict(layers=CNN, optimizer={"name": "Adam", "lr": 0.01},
                          shape=(6, 6, 1), epochs=1, stop_at=2, until=2),
}


def fixture_dataset(shape, n=40, classes=3, batch_size=8):
    """A Dataset of ``n`` random examples of ``shape`` and a validation split, the
    same on every run (its own generator, never numpy's global one)."""
    from neural_networks.datasets import Dataset

    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, *shape))
    Y = np.eye(classes)[rng.integers(0, classes, n)]
    return Dataset(X[:32], Y[:32], batch_size, validation_set=X[32:], validation_labels=Y[32:])


def fixture_input(shape):
    """The inputs whose outputs ``<name>.expected.npz`` holds."""
    return np.random.default_rng(11).standard_normal((5, *shape))


def build(fixture, seed=0):
    """The fixture's network, untrained."""
    from neural_networks import NeuralNetwork
    from neural_networks.utils import AttrDict

    return NeuralNetwork("cross_entropy", [AttrDict(args) for args in fixture["layers"]],
                         AttrDict(fixture["optimizer"]), seed=seed)


def write_checkpoint(fixture, path):
    """Train the fixture's network and save it as it says (between epochs or mid-epoch)."""
    from neural_networks.models import TrainingInterrupted

    model = build(fixture)
    dataset = fixture_dataset(fixture["shape"])
    if not fixture["stop_at"]:
        model.train(dataset, fixture["epochs"], verbose=False)
        model.save(path)
        return
    # Ctrl-C during a step: the step finishes and the checkpoint is written.
    original, calls = dataset.train.sample, []

    def sample():
        calls.append(1)
        if len(calls) == fixture["epochs"] * dataset.train.samples_per_epoch + fixture["stop_at"]:
            os.kill(os.getpid(), signal.SIGINT)
        return original()

    dataset.train.sample = sample
    try:
        model.train(dataset, fixture["epochs"] + 1, verbose=False, checkpoint=path)
    except TrainingInterrupted:
        return
    raise RuntimeError("the run was not interrupted")


def main():
    from neural_networks import load_model

    os.makedirs(FOLDER, exist_ok=True)
    for name, fixture in FIXTURES.items():
        path = os.path.join(FOLDER, f"{name}.npz")
        write_checkpoint(fixture, path)
        model = load_model(path)
        X = fixture_input(fixture["shape"])
        expected = {"input": X, "output": model.predict(X)[0]}
        model.train(fixture_dataset(fixture["shape"]), fixture["until"] - model.epoch,
                    verbose=False)
        expected.update({f"trained/{k}": v for k, v in model.state_dict().items()})
        np.savez(os.path.join(FOLDER, f"{name}.expected.npz"), **expected)
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
