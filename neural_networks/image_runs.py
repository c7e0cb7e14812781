"""Training runs on real images: Fashion-MNIST (MLP and CNN) and CIFAR-10 (CNN).

The logic behind ``train_fashion_mnist.py`` and ``train_cifar10.py``: the
tuned recipes (``RECIPES``), the options a user gives (``ImageRunOptions``)
and the run (``ImageRun``, a ``lifecycle.TrainingRun``): its folder
(``args.json``, ``metrics.csv``, ``loss.png``, ``accuracy.png``, ``last.npz``
written after every epoch, ``best.npz`` at the best validation accuracy,
``predictions.csv``, ``confusion_matrix.png``, ``misclassified.png``,
``filters.png`` for a CNN), resuming, early stopping and Ctrl-C.
"""

import dataclasses
import os
import sys

from . import plots, scripts
from .datasets import initialize_dataset
from .lifecycle import TrainingRun, predict_test
from .models import initialize_model
from .resume import number, one_of, optional, whole
from .run_folder import METRIC_COLUMNS
from .scripts import EXIT_INTERRUPTED, common_settings
from .training import format_duration
from .utils import AttrDict
from .utils.memory import keep_freed_memory

__all__ = ["EXIT_INTERRUPTED", "METRIC_COLUMNS", "RECIPES", "ImageRunOptions", "main",
           "parse_args", "run"]

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
    (``resume.check_saved_settings``; those of ``scripts.COMMON_OPTIONS`` are checked
    for every run)."""
    return {
        "model": one_of(tuple(m for d, m in RECIPES if d == dataset_name)),
        "batch_size": whole(at_least=1),
        "lr": number(above=0),
        "seed": whole(at_least=0, below=2**32),
        "validation_size": optional(whole(at_least=0)),
        "patience": optional(whole(at_least=1)),
    }


def build_model(recipe, lr, epochs, seed, device="cpu"):
    """The recipe's network with its optimizer, on ``device`` ("cpu" or "gpu"); a
    cosine schedule spans ``epochs``."""
    optimizer = AttrDict(recipe.optimizer, lr=lr)
    if optimizer.get("lr_scheduler") == "cosine":
        optimizer["total_epochs"] = epochs
        # A run shorter than the recipe's warm-up (e.g. --epochs 1) warms up for less.
        if "warmup_epochs" in optimizer:
            optimizer["warmup_epochs"] = min(optimizer["warmup_epochs"], epochs - 1)
    return initialize_model("feed_forward", "cross_entropy", recipe.layers, optimizer, seed=seed,
                            device=device)


@dataclasses.dataclass
class ImageRunOptions:
    """What a user asks of an image run: the options of the image scripts.

    Parameters
    ----------
    dataset                   a dataset of ``RECIPES`` ("fashion_mnist", "mnist", "cifar10")
    script                    the calling script (for the resume hint)
    model                     a model of ``RECIPES`` for the dataset; None: the dataset's
                              CNN (when resuming: the run's own model)
    epochs, batch_size, lr    override the recipe's values (None: the recipe's); when
                              resuming, ``epochs`` is a new total
    seed                      seed of weights, shuffling, dropout and augmentation
                              (None: 0)
    validation_size           training examples held out for validation
                              (None: the loader's default)
    patience                  stop once this many epochs bring no better validation
                              error (None: never); a resumed run keeps its own
    data_dir                  folder with the dataset's files (searched first)
    test_file                 CIFAR-10 only: an unlabeled test set (.npy/.npz of
                              (N, 32, 32, 3) uint8) to predict for a Kaggle submission
    download                  fetch the dataset's official files if no place holds them
    resume                    continue the run ``name`` from its last.npz; without
                              ``name``, the one unfinished default-named run of
                              ``model`` (any model when None; see
                              ``resume.choose_run``). Every setting given (not None)
                              must equal the run's own, ``epochs`` excepted
    name                      run folder under ``save_dir``
    save_dir                  parent folder of the run folders
    overwrite                 reuse a folder that holds an earlier run
    common                    the settings of ``scripts.COMMON_OPTIONS`` asked for, by
                              name (``plot_format``: "png", "pdf" or "svg", for every
                              picture); None or missing: the default, or when
                              resuming the run's own
    device                    where the network trains, "cpu" or "gpu"; no setting of
                              the run, so a run resumes on either
    """

    dataset: str
    script: str
    model: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int | None = None
    validation_size: int | None = None
    patience: int | None = None
    data_dir: str | None = None
    test_file: str | None = None
    download: bool = False
    resume: bool = False
    name: str | None = None
    save_dir: str = "experiments"
    overwrite: bool = False
    common: dict = dataclasses.field(default_factory=dict)
    device: str = "cpu"

    @classmethod
    def from_args(cls, dataset, script, args):
        """The options of the parsed command line ``args`` (``parse_args``'s)."""
        names = {field.name for field in dataclasses.fields(cls)} - {"dataset", "script"}
        return cls(dataset, script, **{k: v for k, v in vars(args).items() if k in names},
                   common=scripts.common_values(args))


class ImageRun(TrainingRun):
    """A recipe of ``RECIPES`` trained in its run folder (see ``lifecycle.TrainingRun``),
    as ``options`` (an ``ImageRunOptions``) ask; ``score`` evaluates the epoch with
    the best validation accuracy and gives the report's figures."""

    train_options = {"progress": "iterations"}

    def __init__(self, options, out=None):
        self.options = options
        self.kind, self.script = options.dataset, options.script
        self.models = sorted(m for d, m in RECIPES if d == options.dataset)
        self.model_name = options.model
        if options.model is not None or not self.models:
            recipe_for(options.dataset, options.model)  # ValueError naming the recipes
        elif not options.resume:
            self.model_name = "cnn" if "cnn" in self.models else self.models[0]
        super().__init__(options.save_dir, options.name, options.overwrite, options.resume,
                         {"epochs": options.epochs}, out, options.device)

    def default_name(self):
        return f"{self.kind}_{self.model_name}"

    def default_names(self):
        return [f"{self.kind}_{m}" for m in ([self.model_name] if self.model_name
                                             else self.models)]

    def new_settings(self):
        o, recipe = self.options, recipe_for(self.kind, self.model_name)
        return {"dataset": self.kind, "model": self.model_name,
                "epochs": o.epochs or recipe.epochs, "batch_size": o.batch_size or recipe.batch_size,
                "lr": o.lr or recipe.optimizer.lr, "seed": o.seed or 0,
                "validation_size": o.validation_size, "patience": o.patience,
                **common_settings(**o.common)}

    def rules(self):
        return settings_rules(self.kind)

    def kept(self):
        o = self.options
        asked = {"model": o.model, "batch_size": o.batch_size, "lr": o.lr, "seed": o.seed,
                 "validation_size": o.validation_size, "patience": o.patience, **o.common}
        return {key: value for key, value in asked.items() if value is not None}

    def recipe(self):
        return recipe_for(self.kind, self.settings["model"])

    def load_data(self, settings):
        recipe, o = self.recipe(), self.options
        # Only the MNIST loaders take ``flatten``; None leaves an option to the loader.
        options = {"validation_size": settings["validation_size"], "test_file": o.test_file,
                   "flatten": True if recipe.flatten else None, "download": o.download or None}
        dataset = initialize_dataset(
            self.kind, batch_size=settings["batch_size"], data_dir=o.data_dir,
            augment=recipe.augment, **{k: v for k, v in options.items() if v is not None},
        )
        dataset.train.label_smoothing = recipe.get("label_smoothing", 0.0)
        return dataset

    def check(self, dataset):
        if self.settings["patience"] is not None and dataset.validate is None:
            raise ValueError("--patience watches the validation error, so it needs a "
                             "validation split (--validation-size > 0)")

    def build(self, settings, epochs):
        return build_model(self.recipe(), settings["lr"], epochs, settings["seed"],
                           self.device)

    def record(self, model):
        recipe = self.recipe()
        return {"layers": recipe.layers, "optimizer": recipe.optimizer,
                "augment": recipe.augment, "label_smoothing": recipe.get("label_smoothing", 0.0)}

    def title(self):
        return f"{DATASET_TITLES[self.kind]}, {MODEL_TITLES[self.settings['model']]}"

    def resume_options(self):
        return {"data_dir": self.options.data_dir, "test_file": self.options.test_file,
                "device": None if self.device == "cpu" else self.device}

    def score(self):
        """Evaluate the epoch with the best validation accuracy (chosen without the test
        set): predictions.csv and the test pictures. Returns the report's figures."""
        seconds = sum(r["seconds"] for r in self.model.history["epochs"])
        best = os.path.join(self.folder, "best.npz")
        if os.path.isfile(best):
            self.model.load(best)
        Y_hat, accuracy = predict_test(self.model, self.dataset, self.folder)
        plots.write_test_pictures(self.model, self.dataset, Y_hat, self.folder, self.title(),
                                  self.settings["plot_format"])
        return {"accuracy": accuracy, "seconds": seconds, "epoch": self.model.epoch}


def run(options, out=None):
    """Train, checkpoint and evaluate one recipe as ``options`` (an ``ImageRunOptions``)
    ask; print where the run is and its test accuracy; return the exit status.

    Returns
    -------
    0 on success, 130 after Ctrl-C or 143 after SIGTERM (checkpoint saved), 1 on a
    non-finite value
    """
    out = out or sys.stdout  # looked up now, so redirect_stdout takes it
    image_run = ImageRun(options, out)
    report, status = image_run.execute()
    if report is None:
        return status
    folder = image_run.folder
    print(f"Run saved to {folder} (best validation at epoch {report['epoch']}; "
          f"{format_duration(report['seconds'])} of training)", file=out)
    print(f"Predictions: {os.path.join(folder, 'predictions.csv')}", file=out)
    if report["accuracy"] is None:
        print("Test accuracy: unknown (the test set has no labels; see predictions.csv)", file=out)
    else:
        print(f"Test accuracy: {report['accuracy']:.4f}", file=out)
    return status


def parse_args(dataset_name, script, argv=None):
    """Command-line options shared by the image training scripts. With ``--resume``,
    the settings whose default stands for a new run (``model``, ``seed`` and those of
    ``scripts.COMMON_OPTIONS``) are None unless given: a resumed run keeps its own."""
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
    scripts.add_common_options(parser)
    scripts.add_device_option(parser)
    parser.add_argument("--download", action="store_true",
                        help="download the dataset's official files if they are not found "
                             "(into --data-dir if given, else $NEURAL_NETWORKS_DATA or the "
                             "user's cache folder)")
    if dataset_name == "cifar10":
        parser.add_argument("--test-file", default=None,
                            help="unlabeled test images (.npy/.npz, (N, 32, 32, 3) uint8) "
                                 "to predict instead of the official test batch")
    return _checked(parser, parser.parse_args(argv), argv)


def _checked(parser, args, argv):
    """``args``, once every value is one a run can take (else argparse's exit with
    status 2); with ``--resume``, the settings the command line left unsaid None."""
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
        for option in ("model", "seed", *scripts.COMMON_OPTIONS):
            if option not in given:
                setattr(args, option, None)
    return args


def main(dataset_name, script, argv=None):
    """Entry point of the image training scripts; returns the exit status."""
    args = parse_args(dataset_name, script, argv)
    # Reuse freed memory rather than fault in fresh pages every step (glibc only).
    keep_freed_memory()
    return scripts.run_main(run, ImageRunOptions.from_args(dataset_name, script, args))
