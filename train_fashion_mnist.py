"""Train an MLP or a CNN on Fashion-MNIST with this library.

    python train_fashion_mnist.py --model mlp
    python train_fashion_mnist.py --model cnn
    python train_fashion_mnist.py --model cnn --resume      # after Ctrl-C
    python train_fashion_mnist.py --model cnn --device gpu  # on a GPU (CuPy)

Runs are saved to experiments/<name>/ (metrics.csv, loss.png, accuracy.png,
last.npz, best.npz, predictions.csv). The last line printed is
``Test accuracy: 0.XXXX``. The command line is
``neural_networks.train_fashion_mnist`` (also run as ``python -m
neural_networks.train_fashion_mnist`` after ``pip install .``); the logic
lives in ``neural_networks.image_runs``.
"""

import sys

from neural_networks.train_fashion_mnist import main

if __name__ == "__main__":
    sys.exit(main())
