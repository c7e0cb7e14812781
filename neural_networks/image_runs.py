"""Training runs on real images: Fashion-MNIST (MLP and CNN) and CIFAR-10 (CNN).

The logic behind ``train_fashion_mnist.py`` and ``train_cifar10.py``: the
tuned recipes, the run folder (``args.json``, ``metrics.csv``, ``loss.png``,
``accuracy.png``, ``last.npz`` written after every epoch, ``best.npz`` at the
best validation accuracy, ``predictions.csv``), resuming, and Ctrl-C.
"""

import os
import shlex
import sys

import numpy as np

from . import run_folder
from .datasets import initialize_dataset
from .models import NonFiniteLossError, TrainingInterrupted, initialize_model
from .run_folder import METRIC_COLUMNS
from .utils import AttrDict
from .utils.memory import keep_freed_memory

# Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


def _conv_block(n_out):
    """3x3 'same' convolution, batch normalisation, ReLU."""
    return [
        AttrDict(name="conv2d", n_out=n_out, kernel_shape=(3, 3), stride=1, pad="same",
                 activation="linear", weight_init="he_uniform"),
        AttrDict(name="batchnorm", activation="relu"),
    ]


def _max_pool():
    return AttrDict(name="pool2d", kernel_shape=(2, 2), stride=2, mode="max")


#: The tuned recipes: network, optimizer and training settings per (dataset, model).
RECIPES = {
    ("fashion_mnist", "mlp"): AttrDict(
        layers=[
            AttrDict(name="fully_connected", n_out=1024, activation="linear", weight_init="he_uniform"),
            AttrDict(name="batchnorm", activation="relu"),
            AttrDict(name="dropout", p=0.2),
            AttrDict(name="fully_connected", n_out=512, activation="linear", weight_init="he_uniform"),
            AttrDict(name="batchnorm", activation="relu"),
            AttrDict(name="dropout", p=0.2),
            AttrDict(name="fully_connected", n_out=None, activation="softmax"),
        ],
        optimizer=AttrDict(name="Adam", lr=2e-3, lr_scheduler="cosine", warmup_epochs=1),
        epochs=10, batch_size=128, flatten=True, augment=None,
    ),
    ("fashion_mnist", "cnn"): AttrDict(
        layers=[
            *_conv_block(32), _max_pool(),
            *_conv_block(64), _max_pool(),
            # 7x7 -> 4x4: one zero of padding per side; after a ReLU it never wins the max.
            *_conv_block(128), AttrDict(_max_pool(), pad=1),
            AttrDict(name="flatten"),
            AttrDict(name="fully_connected", n_out=256, activation="linear", weight_init="he_uniform"),
            AttrDict(name="batchnorm", activation="relu"),
            AttrDict(name="dropout", p=0.3),
            AttrDict(name="fully_connected", n_out=None, activation="softmax"),
        ],
        optimizer=AttrDict(name="SGD", lr=0.1, momentum=0.9, weight_decay=5e-4,
                           lr_scheduler="cosine"),
        epochs=10, batch_size=128, flatten=False, augment="flip",
    ),
    ("cifar10", "cnn"): AttrDict(
        layers=[
            *_conv_block(32), *_conv_block(32), _max_pool(),
            *_conv_block(64), *_conv_block(64), _max_pool(),
            *_conv_block(128), _max_pool(),
            AttrDict(name="flatten"),
            AttrDict(name="dropout", p=0.3),
            AttrDict(name="fully_connected", n_out=None, activation="softmax"),
        ],
        optimizer=AttrDict(name="Adam", lr=2e-3, lr_scheduler="cosine", warmup_epochs=1),
        epochs=10, batch_size=128, flatten=False, augment="crop_flip",
    ),
}

def recipe_for(dataset_name, model_name):
    """The recipe of ``RECIPES`` for this dataset and model, or ValueError."""
    key = (dataset_name, model_name)
    if key not in RECIPES:
        valid = ", ".join(f"{d}/{m}" for d, m in RECIPES)
        raise ValueError(f"no recipe for {dataset_name}/{model_name}; there are: {valid}")
    return RECIPES[key]


def build_model(recipe, lr, epochs, seed):
    """The recipe's network with its optimizer; a cosine schedule spans ``epochs``."""
    optimizer = AttrDict(recipe.optimizer, lr=lr)
    if optimizer.get("lr_scheduler") == "cosine":
        optimizer["total_epochs"] = epochs
        # A run shorter than the recipe's warm-up (e.g. --epochs 1) warms up for less.
        if "warmup_epochs" in optimizer:
            optimizer["warmup_epochs"] = min(optimizer["warmup_epochs"], epochs - 1)
    return initialize_model("feed_forward", "cross_entropy", recipe.layers, optimizer, seed=seed)


def metrics_rows(history):
    """One metrics.csv row (keys ``METRIC_COLUMNS``) per finished epoch of ``model.history``;
    the validation cells are empty when there is no validation split."""
    rows = []
    for record in history["epochs"]:
        has_validation = "validate_error" in record
        rows.append(dict(zip(METRIC_COLUMNS, (
            record["epoch"],
            record["train_loss"],
            1 - record["train_error"],
            record["validate_loss"] if has_validation else None,
            1 - record["validate_error"] if has_validation else None,
            record["seconds"],
        ))))
    return rows


def write_run_files(folder, history, title):
    """Write metrics.csv, loss.png and accuracy.png from the model's history."""
    rows = metrics_rows(history)
    run_folder.write_metrics(folder, rows)
    run_folder.write_curves(folder, rows, title)


def _resume_command(script, run_name, save_dir, data_dir):
    parts = ["python", script, "--resume", "--name", run_name]
    if save_dir != "experiments":
        parts += ["--save-dir", save_dir]
    if data_dir is not None:
        parts += ["--data-dir", data_dir]
    return " ".join(shlex.quote(p) for p in parts)


def run(dataset_name, model_name, script, epochs=None, batch_size=None, lr=None, seed=0,
        data_dir=None, resume=False, name=None, save_dir="experiments", overwrite=False,
        validation_size=None, test_file=None, out=sys.stdout):
    """Train, checkpoint and evaluate one recipe; return the exit status.

    Parameters
    ----------
    dataset_name, model_name  a key of ``RECIPES``
    script                    the calling script (for the resume hint)
    epochs, batch_size, lr    override the recipe's values (None: the recipe's)
    seed                      seed of weights, shuffling, dropout and augmentation
    data_dir                  folder with the dataset's files (searched first)
    resume                    continue the run ``name`` from its last.npz
    name                      run folder under ``save_dir``
    overwrite                 reuse a folder that holds an earlier run
    validation_size           training examples held out for validation
                              (None: the loader's default)
    test_file                 CIFAR-10 only: an unlabeled test set (.npy/.npz of
                              (N, 32, 32, 3) uint8) to predict for a Kaggle submission

    Returns
    -------
    0 on success, 130 after Ctrl-C (checkpoint saved), 1 on a non-finite loss
    """
    recipe = recipe_for(dataset_name, model_name)
    default_name = f"{dataset_name}_{model_name}"
    if resume:
        run_name = name or default_name
        folder = os.path.join(save_dir, run_name)
        if not os.path.isfile(os.path.join(folder, "last.npz")) or \
                not os.path.isfile(os.path.join(folder, "args.json")):
            raise ValueError(
                f"cannot resume: {folder} holds no last.npz and args.json of an earlier run"
            )
        settings = run_folder.read_args(folder).get("settings")
        if not isinstance(settings, dict) or "dataset" not in settings:
            raise ValueError(f"cannot resume: {folder}/args.json has no 'settings' of a run")
        if settings["dataset"] != dataset_name:
            raise ValueError(f"cannot resume: {folder} is a {settings['dataset']} run, "
                             f"not {dataset_name}")
        # The run's own model, whatever --model says (the resume hint does not repeat it).
        model_name = settings["model"]
        recipe = recipe_for(dataset_name, model_name)
    else:
        folder = run_folder.claim(save_dir, name, default_name, overwrite)
        run_name = os.path.basename(folder)
        settings = {
            "dataset": dataset_name, "model": model_name,
            "epochs": epochs or recipe.epochs, "batch_size": batch_size or recipe.batch_size,
            "lr": lr or recipe.optimizer.lr, "seed": seed, "validation_size": validation_size,
        }

    # Only Fashion-MNIST's loader takes ``flatten``; None leaves an option to the loader.
    options = {"validation_size": settings["validation_size"], "test_file": test_file,
               "flatten": True if recipe.flatten else None}
    try:
        dataset = initialize_dataset(
            dataset_name, batch_size=settings["batch_size"], data_dir=data_dir,
            augment=recipe.augment, **{k: v for k, v in options.items() if v is not None},
        )
        model = build_model(recipe, settings["lr"], settings["epochs"], settings["seed"])
    except BaseException:
        # A run that cannot start leaves no folder behind.
        if not resume:
            run_folder.release(folder)
        raise
    if not resume:
        run_folder.write_args(folder, {"settings": settings, "layers": recipe.layers,
                                       "optimizer": recipe.optimizer, "augment": recipe.augment})
    last = os.path.join(folder, "last.npz")
    best = os.path.join(folder, "best.npz")
    if resume:
        model.load(last)
        print(f"Resuming {folder} at epoch {model.epoch} (iteration {model.iteration})", file=out)
    title = f"{dataset_name} {model_name}"
    try:
        model.train(dataset, settings["epochs"] - model.epoch, progress="iterations",
                    checkpoint=last, best_checkpoint=best,
                    on_epoch_end=lambda m, record: write_run_files(folder, m.history, title))
    except TrainingInterrupted as stop:
        print(f"\nInterrupted: checkpoint saved to {stop.checkpoint}.", file=out)
        print(f"Resume with: {_resume_command(script, run_name, save_dir, data_dir)}", file=out)
        return EXIT_INTERRUPTED
    except NonFiniteLossError as error:
        print(f"\n{error}", file=out)
        return 1

    seconds = sum(r["seconds"] for r in model.history["epochs"])
    # Evaluate the epoch with the best validation accuracy (chosen without the test set).
    if os.path.isfile(best):
        model.load(best)
    best_epoch = model.epoch
    Y_hat, _ = model.predict(dataset.test.data)
    predictions = run_folder.write_predictions(folder, np.argmax(Y_hat, axis=1))
    print(f"Run saved to {folder} (best validation at epoch {best_epoch}; "
          f"{seconds:.0f} s of training)", file=out)
    print(f"Predictions: {predictions}", file=out)
    if dataset.test.labels is None:
        print("Test accuracy: unknown (the test set has no labels; see predictions.csv)", file=out)
    else:
        accuracy = float(np.mean(np.argmax(Y_hat, 1) == np.argmax(dataset.test.labels, 1)))
        print(f"Test accuracy: {accuracy:.4f}", file=out)
    return 0


def parse_args(dataset_name, script, argv=None):
    """Command-line options shared by the image training scripts."""
    import argparse

    models = sorted(m for d, m in RECIPES if d == dataset_name)
    default_model = "cnn" if "cnn" in models else models[0]
    defaults = recipe_for(dataset_name, default_model)
    parser = argparse.ArgumentParser(
        prog=script,
        description=f"Train this library's tuned network on {dataset_name} and report the "
                    f"test accuracy. The defaults are the tuned settings.",
    )
    parser.add_argument("--model", choices=models, default=default_model,
                        help="network (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs (default: the recipe's, {defaults.epochs})")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"training batch size (default: the recipe's, {defaults.batch_size})")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    parser.add_argument("--validation-size", type=int, default=None,
                        help="training examples held out for validation (default: the loader's)")
    parser.add_argument("--data-dir", default=None,
                        help="folder with the dataset's files (searched before the defaults)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run --name (default <dataset>_<model>) from its last checkpoint")
    parser.add_argument("--name", default=None, help="run folder under --save-dir")
    parser.add_argument("--save-dir", default="experiments",
                        help="parent folder of the run folders (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="reuse the run folder even if it holds an earlier run")
    if dataset_name == "cifar10":
        parser.add_argument("--test-file", default=None,
                            help="unlabeled test images (.npy/.npz, (N, 32, 32, 3) uint8) "
                                 "to predict instead of the official test batch")
    args = parser.parse_args(argv)
    for option in ("epochs", "batch_size"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1, got {value}")
    if args.lr is not None and not 0 < args.lr < float("inf"):
        parser.error(f"--lr must be a finite number > 0, got {args.lr}")
    return args


def main(dataset_name, script, argv=None):
    """Entry point of the image training scripts; returns the exit status."""
    args = parse_args(dataset_name, script, argv)
    # Reuse freed memory rather than fault in fresh pages every step (glibc only).
    keep_freed_memory()
    try:
        return run(dataset_name, args.model, script, epochs=args.epochs,
                   batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                   data_dir=args.data_dir, resume=args.resume, name=args.name,
                   save_dir=args.save_dir, overwrite=args.overwrite,
                   validation_size=args.validation_size,
                   test_file=getattr(args, "test_file", None))
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
