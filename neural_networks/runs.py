"""Training runs on Iris: one network, or a sweep over learning rate x hidden size.

This module holds the logic behind ``train_ffnn.py``: the course's default
two-layer network, run folders that never overwrite an earlier run, and the
sweep that picks a model by its validation error and writes
``results.csv``, ``results.md`` and ``best_loss.png``.
"""

import csv
import io
import itertools
import os
import sys

from tqdm import tqdm

from . import run_folder, scripts
from .datasets import initialize_dataset
from .models import initialize_model
from .run_folder import plot_curves
from .utils import AttrDict
from .utils.files import write_text

#: The course's default network and training settings.
DEFAULTS = AttrDict(
    hidden=10,
    lr=0.01,
    momentum=0.9,
    epochs=100,
    batch_size=25,
    seed=0,
)

#: The default sweep grid.
SWEEP_LRS = (0.001, 0.01, 0.1)
SWEEP_HIDDENS = (5, 10, 25)

#: Folder names used when no name is given.
DEFAULT_RUN_NAME = "iris_ffnn"
DEFAULT_SWEEP_NAME = "iris_sweep"

#: Columns of results.csv, in order.
RESULT_COLUMNS = ("lr", "hidden", "train_loss", "val_loss", "val_error", "test_error")


# ---------------------------------------------------------------- run folders

def check_run_name(name):
    """Raise ValueError unless ``name`` is a plain folder name (no path parts)."""
    return run_folder.check_name(name)


# ------------------------------------------------------------- one network

def iris_model(hidden, lr, momentum, seed, logger=None):
    """The course's two-layer network: ``hidden`` ReLU units, softmax output,
    cross-entropy loss, SGD with momentum. The output size comes from the data."""
    layer_args = [
        AttrDict(name="fully_connected", activation="relu", weight_init="xavier_uniform",
                 n_out=hidden),
        AttrDict(name="fully_connected", activation="softmax", weight_init="xavier_uniform",
                 n_out=None),
    ]
    optimizer_args = AttrDict(name="SGD", lr=lr, lr_scheduler="constant", momentum=momentum)
    return initialize_model("feed_forward", "cross_entropy", layer_args, optimizer_args,
                            logger=logger, seed=seed)


def iris_data(batch_size):
    """The course's Iris splits, standardised with the training split's mean and
    standard deviation: what these runs train on (the course's loader gives
    them raw)."""
    return initialize_dataset("iris", batch_size=batch_size, standardize=True)


def run_settings(hidden, lr, momentum, epochs, batch_size, seed, patience=None,
                 plot_format="png"):
    """Everything that defines a run, as saved under "settings" in ``args.json``
    (``patience``: early stopping, None for never; ``plot_format``: the pictures')."""
    return {"dataset": "iris", "model": "ffnn", "hidden": hidden, "lr": lr,
            "momentum": momentum, "epochs": epochs, "batch_size": batch_size, "seed": seed,
            "patience": patience, "plot_format": run_folder.check_plot_format(plot_format)}


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


def train_and_save(save_dir="experiments", name=None, overwrite=False, verbose=True,
                   resume=False, out=None, **settings):
    """Train one network in the run folder ``save_dir/<run name>/``, or resume one.

    The folder gets the files of every run (see ``scripts``): ``args.json``,
    ``metrics.csv``, ``loss.png``, ``accuracy.png``, ``last.npz``,
    ``best.npz`` and ``predictions.csv``. The figures reported are the final
    model's, as the course's script reports them (after an early stop, the
    final model has the best epoch's parameters, those of ``best.npz``).
    ``settings`` are those of ``run_settings``; when resuming, only ``epochs``
    may be given (a new total).

    Returns
    -------
    (run folder, summary dict of ``train_iris``, exit status): the summary is
    None when training did not finish (stopped by a signal or a non-finite
    value; the status says which)
    """
    out = out or sys.stdout  # looked up now, so redirect_stdout takes it
    if resume:
        folder, args = scripts.open_run(save_dir, name or DEFAULT_RUN_NAME, "iris")
    else:
        run = run_settings(**{**DEFAULTS, **settings})

        def prepare():
            model = iris_model(run["hidden"], run["lr"], run["momentum"], run["seed"])
            dataset = iris_data(run["batch_size"])
            return (model, dataset), {"settings": run, "layers": model.layer_args,
                                      "optimizer": model.optimizer_args}

        folder, (model, dataset) = scripts.start(save_dir, name, DEFAULT_RUN_NAME, overwrite,
                                                 prepare)
        epochs = run["epochs"]
    try:
        if resume:
            run = args["settings"]
            dataset = iris_data(run["batch_size"])
            model = iris_model(run["hidden"], run["lr"], run["momentum"], run["seed"]).load(
                os.path.join(folder, "last.npz"))
            epochs = scripts.extend(folder, args, model, settings.get("epochs"))
            print(f"Resuming {folder} at epoch {model.epoch} (iteration {model.iteration})",
                  file=out)
        hint = scripts.resume_command("train_ffnn.py", folder)
        status = scripts.fit(model, dataset, folder, epochs, "Iris, two-layer network", hint,
                             out=out, verbose=verbose, fmt=run.get("plot_format", "png"),
                             patience=run.get("patience"))
        if status is not None:
            return folder, None, status
        scripts.predict_test(model, dataset, folder)
        return folder, summarize(model, dataset), scripts.EXIT_OK
    finally:
        run_folder.unlock(folder)


def accuracy_line(test_error):
    """The last line the training script prints."""
    return f"Test accuracy: {1 - test_error:.4f} (test error {test_error:.4f})"


# ------------------------------------------------------------------- sweep

def choose_best(rows):
    """Index of the row with the lowest validation error.

    Ties go to the lower final validation loss, then to the earlier row of
    the grid. The test error is never looked at.
    """
    if not rows:
        raise ValueError("choose_best needs at least one result row")
    return min(range(len(rows)), key=lambda i: (rows[i]["val_error"], rows[i]["val_loss"], i))


def sweep(lrs=SWEEP_LRS, hiddens=SWEEP_HIDDENS, momentum=DEFAULTS.momentum,
          epochs=DEFAULTS.epochs, batch_size=DEFAULTS.batch_size, seed=DEFAULTS.seed,
          progress=True):
    """Train one network per (lr, hidden) pair, every one from the same seed.

    Parameters
    ----------
    lrs, hiddens  the grid; rows come in the order lr-major, hidden-minor
    progress      show a single progress bar over the grid

    Returns
    -------
    (rows, best, best_iteration_loss): one dict per pair with the keys of
    ``RESULT_COLUMNS``; the index chosen by ``choose_best``; the chosen
    model's training loss at every iteration
    """
    if not lrs or not hiddens:
        raise ValueError(f"the sweep needs at least one lr and one hidden size, got "
                         f"lrs={list(lrs)}, hiddens={list(hiddens)}")
    rows, histories = [], []
    grid = list(itertools.product(lrs, hiddens))
    for lr, hidden in tqdm(grid, desc="sweep", disable=not progress):
        model, summary = train_iris(hidden=hidden, lr=lr, momentum=momentum, epochs=epochs,
                                    batch_size=batch_size, seed=seed)
        rows.append({"lr": lr, "hidden": hidden,
                     **{k: summary[k] for k in RESULT_COLUMNS[2:]}})
        histories.append(model.history["iteration_loss"])
    best = choose_best(rows)
    return rows, best, histories[best]


def results_markdown(rows, best):
    """The sweep table in Markdown, the chosen row marked, and a line on the choice."""
    lines = [
        "| lr | hidden | final train loss | val loss | val error | test error | chosen |",
        "|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for i, r in enumerate(rows):
        lines.append(
            f"| {r['lr']:g} | {r['hidden']} | {r['train_loss']:.4f} | {r['val_loss']:.4f} "
            f"| {r['val_error']:.4f} | {r['test_error']:.4f} | {'*' if i == best else ''} |"
        )
    r = rows[best]
    lines += [
        "",
        f"Chosen by validation error (ties: lower validation loss): lr {r['lr']:g}, "
        f"hidden {r['hidden']}; its test error is {r['test_error']:.4f}.",
    ]
    return "\n".join(lines) + "\n"


def write_sweep_results(folder, rows, best, best_iteration_loss, plot_format="png"):
    """Write ``results.csv``, ``results.md`` and ``best_loss.<plot_format>`` into
    ``folder`` (which must exist; ``sweep_and_save`` claims it).

    Returns
    -------
    the Markdown table (the text of results.md)
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*RESULT_COLUMNS, "chosen"])
    for i, r in enumerate(rows):
        writer.writerow([repr(float(r[k])) if isinstance(r[k], float) else r[k]
                         for k in RESULT_COLUMNS] + [int(i == best)])
    write_text(os.path.join(folder, "results.csv"), out.getvalue())
    table = results_markdown(rows, best)
    write_text(os.path.join(folder, "results.md"), table)
    r = rows[best]
    plot_curves(
        os.path.join(folder, f"best_loss.{plot_format}"),
        {"train (per iteration)": best_iteration_loss},
        title=f"chosen model (lr {r['lr']:g}, hidden {r['hidden']}): training loss",
        ylabel="cross-entropy loss",
        xlabel="iteration",
    )
    return table


def sweep_and_save(save_dir="experiments", name=None, overwrite=False, progress=True,
                   plot_format="png", **settings):
    """Run ``sweep`` and write its results to ``save_dir/<sweep name>/``.

    Returns
    -------
    (folder, rows, best, table)
    """
    folder = run_folder.claim(save_dir, name, DEFAULT_SWEEP_NAME, overwrite)
    try:
        run_folder.lock(folder)
        rows, best, best_loss = sweep(progress=progress, **settings)
        table = write_sweep_results(folder, rows, best, best_loss, plot_format)
    except BaseException:
        run_folder.release(folder)
        raise
    run_folder.unlock(folder)
    return folder, rows, best, table


def parse_list(text, kind, what):
    """Parse a comma-separated list such as ``"0.01,0.1"`` into ``kind`` values > 0.

    Raises ValueError naming ``what`` for anything else.
    """
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{what} must be a comma-separated list of {kind.__name__}s, "
                         f"got {text!r}") from None
    if not values or any(not v > 0 for v in values):
        raise ValueError(f"{what} must list values > 0, got {text!r}")
    return values
