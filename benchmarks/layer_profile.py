"""Milliseconds per training step in each layer of a recipe's network, layer by layer.

    python benchmarks/layer_profile.py [--model cnn|mlp] [--steps N] [--threads T]

Builds the network of ``train_fashion_mnist.py --model M``, runs training
steps (forward, loss, backward, update) on random inputs of Fashion-MNIST's
shape in one ``parallel.session()`` as ``Trainer`` does, and prints the mean
time of every layer's forward and backward, and of the whole step. Where
``bench_training.py`` sums the time by layer type beside PyTorch's, this
shows which layer of the network it goes to. ``--threads 1`` shows the
library without its threads.
"""

import argparse
import time

import numpy as np

from neural_networks import parallel
from neural_networks.image_runs import RECIPES, build_model
from neural_networks.utils.memory import keep_freed_memory
from step_breakdown import Stopwatch


def profile(model_name, steps, warm_up=5, batch=128, seed=0):
    """Returns ({(layer label, phase): seconds per step}, seconds per whole step)."""
    recipe = RECIPES[("fashion_mnist", model_name)]
    model = build_model(recipe, recipe.optimizer.lr, recipe.epochs, seed=seed)
    model.build(n_out=10)
    rng = np.random.default_rng(seed)
    shape = (batch, 784) if recipe.flatten else (batch, 28, 28, 1)
    X = rng.random(shape, dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    watch = Stopwatch()
    for i, layer in enumerate(model.layers):
        label = f"{i:2d} {type(layer).__name__}"
        for phase in ("forward", "backward"):
            setattr(layer, phase, watch.wrap(getattr(layer, phase), label, phase))
    model.set_mode("train")
    with parallel.session():
        for k in range(warm_up + steps):
            if k == warm_up:
                watch.seconds.clear()
                start = time.perf_counter()
            model.backward(Y, model.forward(X))
            model.update(k / steps)
        total = time.perf_counter() - start
    return {key: seconds / steps for key, seconds in watch.seconds.items()}, total / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of the parallel session (default: BLAS's)")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as the training scripts run
    if args.threads is not None:
        parallel.set_threads(args.threads)
    per_layer, step = profile(args.model, args.steps)
    print(f"{args.model}, batch 128, float32, {parallel.threads()} thread(s), "
          f"mean of {args.steps} steps")
    print("| layer | forward ms | backward ms |")
    print("|---|---:|---:|")
    for label in sorted({label for label, _ in per_layer}):
        forward, backward = (1e3 * per_layer.get((label, phase), 0.0)
                             for phase in ("forward", "backward"))
        print(f"| {label} | {forward:.2f} | {backward:.2f} |")
    layers = 1e3 * sum(per_layer.values())
    print(f"layers {layers:.1f} ms, whole step (with loss and update) {1e3 * step:.1f} ms")


if __name__ == "__main__":
    main()
