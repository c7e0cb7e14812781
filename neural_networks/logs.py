"""Run logging: arguments, per-epoch metrics and their curves as PNG files."""

import json
import os

import numpy as np
from matplotlib.figure import Figure


def _jsonable(value):
    """Make numpy scalars/arrays and other objects safe for json.dump."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def write_json_atomic(path, obj):
    """Write ``obj`` as JSON to ``path`` through a temporary file and os.replace."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=_jsonable)
    os.replace(tmp, path)


def plot_curves(path, curves, title, ylabel, xlabel="epoch"):
    """Draw one figure with a line per entry of ``curves`` (label -> values)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, values in curves.items():
        if len(values):
            ax.plot(np.arange(1, len(values) + 1), values, label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if any(len(v) for v in curves.values()):
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


class Logger:
    """Keep a run's arguments and per-epoch log, and optionally save and plot them.

    Parameters
    ----------
    model_name  name of the run; files go to ``save_dir/model_name/``
    model_args  the model's arguments (saved in ``args.json``)
    data_args   the dataset's arguments (saved in ``args.json``)
    save        write ``args.json`` and ``log.json`` after every epoch
    plot        draw ``loss.png`` and ``error.png`` after every epoch
    save_dir    parent folder of the run folder
    overwrite   allow reusing a folder that already holds a run's log
    """

    def __init__(self, model_name, model_args, data_args, save=False, plot=False,
                 save_dir="experiments/", overwrite=False):
        self.model_name = model_name
        self.model_args = model_args
        self.data_args = data_args
        self.save = save
        self.plot = plot
        self.save_dir = os.path.join(save_dir, model_name, "")
        self.counter = 0
        self.log = {
            "loss": {"train": [], "validate": []},
            "error": {"train": [], "validate": []},
            "params": [],
        }
        if save or plot:
            log_path = os.path.join(self.save_dir, "log.json")
            if os.path.exists(log_path) and not overwrite:
                raise FileExistsError(
                    f"{self.save_dir} already holds a run (log.json); choose another "
                    f"model_name or pass overwrite=True to replace it"
                )
            os.makedirs(self.save_dir, exist_ok=True)
            write_json_atomic(
                os.path.join(self.save_dir, "args.json"),
                {"model_name": model_name, "model_args": model_args, "data_args": data_args},
            )

    def push(self, epoch_log):
        """Append one epoch's metrics.

        Parameters
        ----------
        epoch_log  {"loss": {"train": float, "validate": float},
                    "error": {"train": float, "validate": float},
                    "params": {name: summary, ...}}  (any key may be missing)
        """
        for metric in ("loss", "error"):
            for split, value in epoch_log.get(metric, {}).items():
                self.log[metric].setdefault(split, []).append(value)
        self.log["params"].append(epoch_log.get("params", {}))
        self.counter += 1
        if self.save:
            write_json_atomic(os.path.join(self.save_dir, "log.json"), self.log)
        if self.plot:
            self.draw()

    def draw(self):
        """Write loss.png and error.png (train vs validation per epoch)."""
        for metric in ("loss", "error"):
            plot_curves(
                os.path.join(self.save_dir, f"{metric}.png"),
                {split: values for split, values in self.log[metric].items()},
                title=f"{self.model_name}: {metric}",
                ylabel=metric,
            )
