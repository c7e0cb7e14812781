"""Training runs on real images: Fashion-MNIST (MLP and CNN) and CIFAR-10 (CNN).

The logic behind ``train_fashion_mnist.py`` and ``train_cifar10.py``: the
tuned recipes, the run folder (``args.json``, ``metrics.csv``, ``loss.png``,
``accuracy.png``, ``last.npz`` written after every epoch, ``best.npz`` at the
best validation accuracy, ``predictions.csv``, ``confusion_matrix.png``,
``misclassified.png``, ``filters.png`` for a CNN), resuming, early stopping
and Ctrl-C.
"""

import os
import sys

from . import plots, run_folder, scripts
from .datasets import initialize_dataset
from .models import initialize_model
from .run_folder import METRIC_COLUMNS
from .scripts import EXIT_INTERRUPTED
from .training import format_duration
from .utils import AttrDict
from .utils.memory import keep_freed_memory

__all__ = ["EXIT_INTERRUPTED", "METRIC_COLUMNS", "RECIPES", "main", "parse_args", "run"]

#: Names in words, for plot titles.
DATASET_TITLES = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST", "cifar10": "CIFAR-10"}
MODEL_TITLES = {"mlp": "multilayer perceptron", "cnn": "convolutional network"}


def _conv_block(n_out):
    """3x3 'same' convolution, batch normalisation, ReLU."""
    return [
        AttrDict(name="conv2d", n_out=n_out, kernel_shape=(3, 3), stride=1, pad="same",
                 activation="linear", weight_init="he_uniform"),
        AttrDict(name="batchnorm", activation="relu"),
    ]


def _max_pool(pad=0):
    return AttrDict(name="pool2d", kernel_shape=(2, 2), stride=2, mode="max", pad=pad)


def _conv_pool_block(n_out, pool_pad=0):
    """3x3 'same' convolution, 2x2 max pooling, then batch normalisation and ReLU.

    Pooling before the normalisation leaves batch norm and its ReLU a quarter
    of the values to go through.
    """
    conv, batchnorm = _conv_block(n_out)
    return [conv, _max_pool(pool_pad), batchnorm]


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
            *_conv_pool_block(32),
            *_conv_pool_block(64),
            # 7x7 -> 4x4: one row and column of padding per side, which never wins the max.
            *_conv_pool_block(128, pool_pad=1),
            AttrDict(name="flatten"),
            AttrDict(name="fully_connected", n_out=256, activation="linear", weight_init="he_uniform"),
            AttrDict(name="batchnorm", activation="relu"),
            AttrDict(name="dropout", p=0.3),
            AttrDict(name="fully_connected", n_out=None, activation="softmax"),
        ],
        optimizer=AttrDict(name="SGD", lr=0.1, momentum=0.9, weight_decay=5e-4,
                           lr_scheduler="cosine"),
        epochs=10, batch_size=128, flatten=False, augment="flip", label_smoothing=0.1,
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
# MNIST's images have Fashion-MNIST's shape, so the same recipes serve, without the
# flip: a mirrored digit is no longer that digit.
RECIPES[("mnist", "mlp")] = RECIPES[("fashion_mnist", "mlp")]
RECIPES[("mnist", "cnn")] = AttrDict(RECIPES[("fashion_mnist", "cnn")], augment=None)


def recipe_for(dataset_name, model_name):
    """The recipe of ``RECIPES`` for this dataset and model, or ValueError."""
    key = (dataset_name, model_name)
    if key not in RECIPES:
        valid = ", ".join(f"{d}/{m}" for d, m in RECIPES)
        raise ValueError(f"no recipe for {dataset_name}/{model_name}; there are: {valid}")
    return RECIPES[key]


def settings_rules(dataset_name):
    """What the saved settings of a run on ``dataset_name`` must be to be resumed
    (``scripts.check_saved_settings``)."""
    return {
        "model": scripts.one_of(tuple(m for d, m in RECIPES if d == dataset_name)),
        "batch_size": scripts.whole(at_least=1),
        "lr": scripts.number(above=0),
        "seed": scripts.whole(at_least=0, below=2**32),
        "validation_size": scripts.optional(scripts.whole(at_least=0)),
        "patience": scripts.optional(scripts.whole(at_least=1)),
        "plot_format": scripts.one_of(plots.PLOT_FORMATS),
    }


def build_model(recipe, lr, epochs, seed):
    """The recipe's network with its optimizer; a cosine schedule spans ``epochs``."""
    optimizer = AttrDict(recipe.optimizer, lr=lr)
    if optimizer.get("lr_scheduler") == "cosine":
        optimizer["total_epochs"] = epochs
        # A run shorter than the recipe's warm-up (e.g. --epochs 1) warms up for less.
        if "warmup_epochs" in optimizer:
            optimizer["warmup_epochs"] = min(optimizer["warmup_epochs"], epochs - 1)
    return initialize_model("feed_forward", "cross_entropy", recipe.layers, optimizer, seed=seed)


def run(dataset_name, model_name, script, epochs=None, batch_size=None, lr=None, seed=None,
        data_dir=None, resume=False, name=None, save_dir="experiments", overwrite=False,
        validation_size=None, test_file=None, patience=None, plot_format=None,
        download=False, out=None):
    """Train, checkpoint and evaluate one recipe; return the exit status.

    Parameters
    ----------
    dataset_name, model_name  a key of ``RECIPES``; model_name None: the dataset's CNN
                              (when resuming: the run's own model)
    script                    the calling script (for the resume hint)
    epochs, batch_size, lr    override the recipe's values (None: the recipe's); when
                              resuming, ``epochs`` is a new total
    seed                      seed of weights, shuffling, dropout and augmentation
                              (None: 0)
    data_dir                  folder with the dataset's files (searched first)
    resume                    continue the run ``name`` from its last.npz; without
                              ``name``, the one unfinished default-named run of
                              ``model_name`` (any model when None; see
                              ``scripts.choose_run``). Every setting given (not None)
                              must equal the run's own, ``epochs`` excepted
    name                      run folder under ``save_dir``
    overwrite                 reuse a folder that holds an earlier run
    validation_size           training examples held out for validation
                              (None: the loader's default)
    test_file                 CIFAR-10 only: an unlabeled test set (.npy/.npz of
                              (N, 32, 32, 3) uint8) to predict for a Kaggle submission
    download                  fetch the dataset's official files if no place holds them
    patience                  stop once this many epochs bring no better validation
                              error (None: never); a resumed run keeps its own
    plot_format               "png", "pdf" or "svg", for every picture (None: png); a
                              resumed run keeps its own

    Returns
    -------
    0 on success, 130 after Ctrl-C or 143 after SIGTERM (checkpoint saved), 1 on a
    non-finite value
    """
    out = out or sys.stdout  # looked up now, so redirect_stdout takes it
    models = sorted(m for d, m in RECIPES if d == dataset_name)
    if model_name is not None:
        recipe_for(dataset_name, model_name)
    elif not resume:
        model_name = "cnn" if "cnn" in models else models[0]

    def load(settings, recipe):
        # Only the MNIST loaders take ``flatten``; None leaves an option to the loader.
        options = {"validation_size": settings["validation_size"], "test_file": test_file,
                   "flatten": True if recipe.flatten else None, "download": download or None}
        dataset = initialize_dataset(
            dataset_name, batch_size=settings["batch_size"], data_dir=data_dir,
            augment=recipe.augment, **{k: v for k, v in options.items() if v is not None},
        )
        dataset.train.label_smoothing = recipe.get("label_smoothing", 0.0)
        return dataset

    if resume:
        folder, args = scripts.open_run(
            save_dir, name, dataset_name,
            [f"{dataset_name}_{m}" for m in ([model_name] if model_name else models)],
            settings_rules(dataset_name))
    else:
        recipe = recipe_for(dataset_name, model_name)
        settings = {
            "dataset": dataset_name, "model": model_name,
            "epochs": epochs or recipe.epochs, "batch_size": batch_size or recipe.batch_size,
            "lr": lr or recipe.optimizer.lr, "seed": seed or 0,
            "validation_size": validation_size, "patience": patience,
            "plot_format": plots.check_plot_format(plot_format or "png"),
        }

        def prepare():
            dataset = load(settings, recipe)
            if patience is not None and dataset.validate is None:
                raise ValueError("--patience watches the validation error, so it needs a "
                                 "validation split (--validation-size > 0)")
            model = build_model(recipe, settings["lr"], settings["epochs"], settings["seed"])
            return (dataset, model), {"settings": settings, "layers": recipe.layers,
                                      "optimizer": recipe.optimizer, "augment": recipe.augment,
                                      "label_smoothing": recipe.get("label_smoothing", 0.0)}

        folder, (dataset, model) = scripts.start(save_dir, name, f"{dataset_name}_{model_name}",
                                                 overwrite, prepare, out)
        total = settings["epochs"]
    try:
        if resume:
            settings = args["settings"]
            asked = {"model": model_name, "batch_size": batch_size, "lr": lr, "seed": seed,
                     "validation_size": validation_size, "patience": patience,
                     "plot_format": plot_format}
            scripts.check_kept_settings(folder, settings,
                                        {k: v for k, v in asked.items() if v is not None})
            model_name = settings["model"]
            recipe = recipe_for(dataset_name, model_name)
            dataset = load(settings, recipe)
            last, planned = os.path.join(folder, "last.npz"), settings["epochs"]

            def resumed(total):
                # A run stopped before its first checkpoint starts afresh, as prepare does.
                model = build_model(recipe, settings["lr"], total, settings["seed"])
                return model.load(last) if os.path.isfile(last) else model

            model = resumed(planned)
            total = scripts.extend(folder, args, model, epochs)
            if total != planned:
                # A longer run: its learning-rate schedule spans the new total.
                model = resumed(total)
            if os.path.isfile(last):
                scripts.check_best(folder, model)
            print(scripts.resume_line(folder, model, total, dataset.train.samples_per_epoch),
                  file=out)
        return _train_and_report(model, dataset, folder, total, script, data_dir, test_file,
                                 f"{DATASET_TITLES[dataset_name]}, {MODEL_TITLES[model_name]}",
                                 out, settings["patience"], settings["plot_format"])
    except BaseException:
        if not resume:
            scripts.give_back(folder)
        raise
    finally:
        run_folder.unlock(folder)


def _train_and_report(model, dataset, folder, total, script, data_dir, test_file, title, out,
                      patience, fmt):
    """Train to ``total`` epochs, then score the best-validation checkpoint on the test set."""
    hint = scripts.resume_command(script, folder, data_dir=data_dir, test_file=test_file)
    status = scripts.fit(model, dataset, folder, total, title, hint, out=out, fmt=fmt,
                         progress="iterations", patience=patience)
    if status is not None:
        return status
    seconds = sum(r["seconds"] for r in model.history["epochs"])
    best = os.path.join(folder, "best.npz")

    def score():
        # Evaluate the epoch with the best validation accuracy (chosen without the test set).
        if os.path.isfile(best):
            model.load(best)
        Y_hat, accuracy = scripts.predict_test(model, dataset, folder)
        plots.write_test_pictures(model, dataset, Y_hat, folder, title, fmt)
        return accuracy

    accuracy, status = scripts.after_training(score, folder, hint, out)
    if status is not None:
        return status
    print(f"Run saved to {folder} (best validation at epoch {model.epoch}; "
          f"{format_duration(seconds)} of training)", file=out)
    print(f"Predictions: {os.path.join(folder, 'predictions.csv')}", file=out)
    if accuracy is None:
        print("Test accuracy: unknown (the test set has no labels; see predictions.csv)", file=out)
    else:
        print(f"Test accuracy: {accuracy:.4f}", file=out)
    return scripts.EXIT_OK


def parse_args(dataset_name, script, argv=None):
    """Command-line options shared by the image training scripts. With ``--resume``,
    the settings whose default stands for a new run (``model``, ``seed``,
    ``plot_format``) are None unless given: a resumed run keeps its own."""
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
                        help=f"continue the run --name from its last checkpoint (default: "
                             f"the one unfinished run {dataset_name}_<model>, "
                             f"{dataset_name}_<model>_2, ...); it keeps its own settings, and "
                             f"--epochs N sets a new total")
    parser.add_argument("--name", default=None, help="run folder under --save-dir")
    parser.add_argument("--save-dir", default="experiments",
                        help="parent folder of the run folders (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="reuse the run folder even if it holds an earlier run")
    parser.add_argument("--patience", type=int, default=None,
                        help="stop once this many epochs bring no better validation error "
                             "(default: train every epoch)")
    parser.add_argument("--plot-format", choices=plots.PLOT_FORMATS, default="png",
                        help="format of every picture (default %(default)s)")
    parser.add_argument("--download", action="store_true",
                        help="download the dataset's official files if they are not found "
                             "(into --data-dir if given, else $NEURAL_NETWORKS_DATA or the "
                             "user's cache folder)")
    if dataset_name == "cifar10":
        parser.add_argument("--test-file", default=None,
                            help="unlabeled test images (.npy/.npz, (N, 32, 32, 3) uint8) "
                                 "to predict instead of the official test batch")
    args = parser.parse_args(argv)
    for option in ("epochs", "batch_size", "patience"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1, got {value}")
    if args.lr is not None and not 0 < args.lr < float("inf"):
        parser.error(f"--lr must be a finite number > 0, got {args.lr}")
    if args.resume:
        if args.overwrite:
            parser.error("--resume continues a run in its own folder; drop --overwrite")
        # A resumed run keeps its settings: None marks what the command line left
        # unsaid, so only the settings given are checked against the run's.
        given = scripts.given_options(parser, argv)
        for option in ("model", "seed", "plot_format"):
            if option not in given:
                setattr(args, option, None)
    return args


def main(dataset_name, script, argv=None):
    """Entry point of the image training scripts; returns the exit status."""
    args = parse_args(dataset_name, script, argv)
    # Reuse freed memory rather than fault in fresh pages every step (glibc only).
    keep_freed_memory()
    return scripts.run_main(
        run, dataset_name, args.model, script, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, seed=args.seed, data_dir=args.data_dir, resume=args.resume, name=args.name,
        save_dir=args.save_dir, overwrite=args.overwrite, validation_size=args.validation_size,
        test_file=getattr(args, "test_file", None), download=args.download, patience=args.patience,
        plot_format=args.plot_format)
