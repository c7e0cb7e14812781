"""Training runs on Iris: the course's two-layer network, in a run folder.

This module holds the logic behind ``train_ffnn.py``: the course's default
two-layer network, trained in a run folder that never overwrites an earlier
run (``train_and_save``, an ``IrisRun`` of ``lifecycle``) and reported as the
course's script reports it. The sweep over learning rate x hidden size, whose
pairs are such runs, is ``sweeps``.
"""

from . import run_folder
from .datasets import initialize_dataset
from .lifecycle import TrainingRun, predict_test
from .models import initialize_model
from .resume import number, one_of, optional, whole
from .scripts import common_settings
from .utils import AttrDict
from .utils.memory import physical_memory

#: The course's default network and training settings.
DEFAULTS = AttrDict(
    hidden=10,
    lr=0.01,
    momentum=0.9,
    epochs=100,
    batch_size=25,
    seed=0,
)

#: Folder name used when no name is given.
DEFAULT_RUN_NAME = "iris_ffnn"


def check_run_name(name):
    """Raise ValueError unless ``name`` is a plain folder name (no path parts)."""
    return run_folder.check_name(name)


def iris_model(hidden, lr, momentum, seed, logger=None, device="cpu"):
    """The course's two-layer network: ``hidden`` ReLU units, softmax output,
    cross-entropy loss, SGD with momentum, on ``device`` ("cpu" or "gpu"). The
    output size comes from the data."""
    layer_args = [
        AttrDict(name="fully_connected", activation="relu", weight_init="xavier_uniform",
                 n_out=hidden),
        AttrDict(name="fully_connected", activation="softmax", weight_init="xavier_uniform",
                 n_out=None),
    ]
    optimizer_args = AttrDict(name="SGD", lr=lr, lr_scheduler="constant", momentum=momentum)
    return initialize_model("feed_forward", "cross_entropy", layer_args, optimizer_args,
                            logger=logger, seed=seed, device=device)


def iris_data(batch_size):
    """The course's Iris splits, standardised with the training split's mean and
    standard deviation: what these runs train on (the course's loader gives
    them raw)."""
    return initialize_dataset("iris", batch_size=batch_size, standardize=True)


def run_settings(hidden, lr, momentum, epochs, batch_size, seed, patience=None, **common):
    """Everything that defines a run, as saved under "settings" in ``args.json``
    (``patience``: early stopping, None for never; ``common``: the settings of
    ``scripts.COMMON_OPTIONS``, such as ``plot_format``, the pictures')."""
    return {"dataset": "iris", "model": "ffnn", "hidden": hidden, "lr": lr,
            "momentum": momentum, "epochs": epochs, "batch_size": batch_size, "seed": seed,
            "patience": patience, **common_settings(**common)}


#: What a run's saved settings must be to be resumed (``resume.check_saved_settings``;
#: those of ``scripts.COMMON_OPTIONS`` are checked for every run).
RUN_RULES = {
    "model": one_of(("ffnn",)),
    "hidden": whole(at_least=1),
    "lr": number(above=0),
    "momentum": number(at_least=0, below=1),
    "batch_size": whole(at_least=1),
    "seed": whole(at_least=0, below=2**32),
    "patience": optional(whole(at_least=1)),
}


def check_fits(hidden, dataset):
    """ValueError, before anything is built, when the network of ``hidden`` units cannot
    fit in this machine's memory: its float64 weights, their gradients and SGD's
    momentum, one copy each (``--hidden 1000000000`` needs 179 GiB)."""
    n_in, n_out = dataset.train.data.shape[1], dataset.out_dim
    needed = 3 * 8 * ((n_in + 1) * hidden + (hidden + 1) * n_out)
    available = physical_memory()
    if available is not None and needed > available:
        raise ValueError(f"a hidden layer of {hidden:,} units needs {needed / 2**30:,.1f} GiB "
                         f"for its weights, their gradients and the momentum, more than this "
                         f"machine's {available / 2**30:,.1f} GiB of memory")


def summarize(model, dataset):
    """The final train and validation figures of ``model`` and its test loss and error."""
    record = model.history["epochs"][-1]
    results = model.test(dataset, verbose=False)
    return {
        "train_loss": record["train_loss"],
        "val_loss": record["validate_loss"],
        "val_error": record["validate_error"],
        "test_loss": results["test_loss"],
        "test_error": results["test_error"],
    }


def train_iris(hidden=DEFAULTS.hidden, lr=DEFAULTS.lr, momentum=DEFAULTS.momentum,
               epochs=DEFAULTS.epochs, batch_size=DEFAULTS.batch_size, seed=DEFAULTS.seed,
               logger=None, verbose=False):
    """Train one network on Iris (in memory, no files) and evaluate it.

    Returns
    -------
    (model, summary) where summary is a dict with the final ``train_loss``,
    ``val_loss``, ``val_error`` and the ``test_loss``, ``test_error``
    """
    model = iris_model(hidden, lr, momentum, seed, logger=logger)
    dataset = iris_data(batch_size)
    model.train(dataset, epochs, verbose=verbose)
    return model, summarize(model, dataset)


class IrisRun(TrainingRun):
    """One Iris network in its run folder (see ``lifecycle.TrainingRun``); ``score``
    gives the summary of ``summarize``. ``verbose``: print a line per epoch."""

    kind, script = "iris", "train_ffnn.py"

    def __init__(self, verbose=True, **where):
        super().__init__(**where)
        self.train_options = {"verbose": verbose}

    def default_name(self):
        return DEFAULT_RUN_NAME

    def new_settings(self):
        return run_settings(**{**DEFAULTS, **self.asked})

    def rules(self):
        return RUN_RULES

    def kept(self):
        return {key: value for key, value in self.asked.items() if key != "epochs"}

    def load_data(self, settings):
        return iris_data(settings["batch_size"])

    def check(self, dataset):
        check_fits(self.settings["hidden"], dataset)

    def build(self, settings, epochs):
        return iris_model(settings["hidden"], settings["lr"], settings["momentum"],
                          settings["seed"], device=self.device)

    def record(self, model):
        return {"layers": model.layer_args, "optimizer": model.optimizer_args}

    def title(self):
        return "Iris, two-layer network"

    def resume_options(self):
        return {"device": None if self.device == "cpu" else self.device}

    def score(self):
        predict_test(self.model, self.dataset, self.folder)
        return summarize(self.model, self.dataset)


def train_and_save(save_dir="experiments", name=None, overwrite=False, verbose=True,
                   resume=False, out=None, device="cpu", **settings):
    """Train one network in the run folder ``save_dir/<run name>/``, or resume one.

    The folder gets the files of every run (see ``lifecycle``): ``args.json``,
    ``metrics.csv``, ``loss.png``, ``accuracy.png``, ``last.npz``,
    ``best.npz`` and ``predictions.csv``. The figures reported are the final
    model's, as the course's script reports them (after an early stop, the
    final model has the best epoch's parameters, those of ``best.npz``).
    ``settings`` are those of ``run_settings``; when resuming, ``epochs`` is a
    new total and any other setting given must equal the run's own (else
    ValueError), and ``name`` None resumes the one unfinished default-named
    run (see ``resume.choose_run``). ``device`` ("cpu" or "gpu") is where the
    network trains, no setting: a run resumes on either.

    Returns
    -------
    (run folder, summary dict of ``train_iris``, exit status): the summary is
    None when training did not finish (stopped by a signal or a non-finite
    value; the status says which)
    """
    run = IrisRun(verbose, save_dir=save_dir, name=name, overwrite=overwrite, resume=resume,
                  asked=settings, out=out, device=device)
    summary, status = run.execute()
    return run.folder, summary, status


def accuracy_line(test_error):
    """The last line the training script prints."""
    return f"Test accuracy: {1 - test_error:.4f} (test error {test_error:.4f})"
