"""Train the course's default two-layer network on Iris, or sweep lr x hidden size.

    python train_ffnn.py                      # one run, saved to experiments/iris_ffnn/
    python train_ffnn.py --lr 0.05 --hidden 25 --name my_run
    python train_ffnn.py --sweep              # lr 0.001,0.01,0.1 x hidden 5,10,25
    python train_ffnn.py --sweep --lrs 0.01,0.1 --hiddens 10,25
    python train_ffnn.py --sweep --jobs 2     # the pairs in 2 processes, the same table
    python train_ffnn.py --resume --name my_run  # after Ctrl-C (or --epochs 200 to train on)
    python train_ffnn.py --resume             # the one run left unfinished
    python train_ffnn.py --sweep --resume     # a sweep stopped by Ctrl-C
    python train_ffnn.py --device gpu         # on a GPU (CuPy: pip install -e ".[gpu]")

The options and the summary are ``neural_networks.train_ffnn`` (also run as
``python -m neural_networks.train_ffnn`` after ``pip install .``); the
training is ``neural_networks.runs``. The last line is always
``Test accuracy: 0.XXXX (test error 0.XXXX)``.
"""

import sys

from neural_networks.train_ffnn import main, parse_args, run

__all__ = ["main", "parse_args", "run"]

if __name__ == "__main__":
    sys.exit(main())
