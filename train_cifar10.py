"""Train a CNN on CIFAR-10 with this library.

    python train_cifar10.py --data-dir path/to/cifar-10-batches-py
    python train_cifar10.py --resume                         # after Ctrl-C
    python train_cifar10.py --device gpu                     # on a GPU (CuPy)

CIFAR-10 is the "CIFAR-10 python version" (the cifar-10-batches-py folder or
cifar-10-python.tar.gz). Runs are saved to experiments/<name>/ as for
Fashion-MNIST. The command line is ``neural_networks.train_cifar10`` (also run as
``python -m neural_networks.train_cifar10`` after ``pip install .``); the
logic lives in ``neural_networks.image_runs``.
"""

import sys

from neural_networks.train_cifar10 import main

if __name__ == "__main__":
    sys.exit(main())
