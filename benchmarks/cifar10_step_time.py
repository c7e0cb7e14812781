"""Time training steps of the CIFAR-10 recipe without the CIFAR-10 data.

    python benchmarks/cifar10_step_time.py [--steps N]

CIFAR-10 cannot be downloaded on the machine this library is built on, so
this times the default ``train_cifar10.py`` network and optimizer (float32,
batch 128, crop-and-flip augmentation) on random images of CIFAR-10's shape,
then one validation pass over 5,000 such images, and estimates an epoch
(45,000 training images: 352 steps) from the median step. The time of a
step does not depend on the pixel values, so this is what an epoch on the
real data costs; the accuracy is not measured.
"""

import argparse
import math
import time

import numpy as np

from neural_networks.augmentation import initialize_augmentation
from neural_networks.image_runs import RECIPES, build_model
from neural_networks.utils.memory import keep_freed_memory

TRAIN_IMAGES, VALIDATION_IMAGES = 45000, 5000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    keep_freed_memory()  # as the training scripts do
    recipe = RECIPES[("cifar10", "cnn")]
    steps_per_epoch = math.ceil(TRAIN_IMAGES / recipe.batch_size)
    model = build_model(recipe, recipe.optimizer.lr, recipe.epochs, seed=0)
    model.build(n_out=10)
    model.set_mode("train")
    augment = initialize_augmentation(recipe.augment)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((recipe.batch_size, 32, 32, 3)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, recipe.batch_size)]

    def step(k):
        out = model.forward(augment(X))
        model.backward(Y, out)
        model.update(k / steps_per_epoch)

    seconds = []
    with model.session():  # the steps in one session, as Trainer runs them
        for k in range(3):  # warm-up: buffers, thread pools
            step(k)
        for k in range(args.steps):
            start = time.perf_counter()
            step(k)
            seconds.append(time.perf_counter() - start)
    per_step = float(np.median(seconds))
    images = rng.standard_normal((VALIDATION_IMAGES, 32, 32, 3)).astype(np.float32)
    start = time.perf_counter()
    model.predict(images)
    validation = time.perf_counter() - start
    epoch = steps_per_epoch * per_step + validation
    print(f"median step {per_step:.3f} s; {steps_per_epoch} steps {steps_per_epoch * per_step:.0f} s; "
          f"validation of {VALIDATION_IMAGES} images {validation:.1f} s; "
          f"epoch about {epoch / 60:.1f} min; {recipe.epochs} epochs about "
          f"{recipe.epochs * epoch / 60:.0f} min")


if __name__ == "__main__":
    main()
