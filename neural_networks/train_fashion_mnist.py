"""The command line of the Fashion-MNIST runs (an MLP or a CNN).

    python -m neural_networks.train_fashion_mnist --model mlp   # as python train_fashion_mnist.py
    python -m neural_networks.train_fashion_mnist --model cnn --resume  # after Ctrl-C

The options, recipes and run folders are ``neural_networks.image_runs``.
"""

import sys

from .image_runs import main as image_main

# The name --help and the resume hint show: the checkout's script, as argparse
# itself names a module run with -m by its file name.
SCRIPT = "train_fashion_mnist.py"


def main(argv=None):
    """Train on Fashion-MNIST as ``argv`` says; return the exit status."""
    return image_main("fashion_mnist", SCRIPT, argv)


if __name__ == "__main__":
    sys.exit(main())
