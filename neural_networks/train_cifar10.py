"""The command line of the CIFAR-10 runs (a CNN).

    python -m neural_networks.train_cifar10 --data-dir path/to/cifar-10-batches-py
    python -m neural_networks.train_cifar10 --resume      # after Ctrl-C

The options, the recipe and run folders are ``neural_networks.image_runs``.
"""

import sys

from .image_runs import main as image_main

# The name --help and the resume hint show: the checkout's script, as argparse
# itself names a module run with -m by its file name.
SCRIPT = "train_cifar10.py"


def main(argv=None):
    """Train on CIFAR-10 as ``argv`` says; return the exit status."""
    return image_main("cifar10", SCRIPT, argv)


if __name__ == "__main__":
    sys.exit(main())
