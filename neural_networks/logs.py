"""Run logging: arguments, per-epoch metrics and their curves as PNG files."""

import os

from .run_folder import claim, plot_curves, release
from .utils.files import write_json


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
    overwrite   allow reusing a folder that already holds files

    With ``save`` or ``plot`` the folder is taken by ``run_folder.claim``:
    ``model_name`` must be a plain folder name, and a folder that already
    holds files is a FileExistsError unless ``overwrite``.
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
            # A folder that holds anything (an earlier run's log or curves) is refused.
            folder = claim(save_dir, model_name, overwrite=overwrite)
            try:
                write_json(os.path.join(folder, "args.json"), {
                    "model_name": model_name, "model_args": model_args, "data_args": data_args})
            except ValueError:
                release(folder)
                raise

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
            write_json(os.path.join(self.save_dir, "log.json"), self.log)
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
