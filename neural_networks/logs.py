"""Run logging: arguments, per-epoch metrics and their curves as PNG files."""

import os
import weakref

from .plots import plot_curves
from .run_folder import claim, release, take_over, unlock
from .utils.files import write_json


#: Run folder -> token of the Logger of this process that holds its lock. A newer
#: Logger of the same folder (a notebook cell run again) takes the entry over,
#: so the older one, when collected, leaves the newer one's lock alone.
_HOLDERS = {}


def _let_go(folder, token):
    if _HOLDERS.get(folder) is token:
        del _HOLDERS[folder]
        unlock(folder)


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
    overwrite   write into ``save_dir/model_name/`` whatever it holds

    With ``save`` or ``plot`` the run gets ``save_dir/model_name/``, as in the
    course, so a driver can be run again and again. An earlier run in that
    folder is not overwritten: it is moved aside to ``model_name_2`` (or the
    next free suffix) and one line says where it went (``run_folder.take_over``,
    which also refuses a folder in use by a live run, a file and a symbolic
    link). The folder is locked (``run_folder.lock``) while the Logger lives.
    ``model_name`` must be a plain folder name.
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
            if overwrite:
                folder = claim(save_dir, model_name, overwrite=True)
            else:
                folder, _ = take_over(save_dir, model_name, on_move=self._say_moved)
            try:
                write_json(os.path.join(folder, "args.json"), {
                    "model_name": model_name, "model_args": model_args, "data_args": data_args})
            except ValueError:
                release(folder)
                raise
            if not overwrite:
                # The folder stays locked while this Logger lives (its run may go on).
                folder = os.path.abspath(folder)
                token = _HOLDERS[folder] = object()
                weakref.finalize(self, _let_go, folder, token)

    @staticmethod
    def _say_moved(folder, moved_to):
        print(f"{os.path.normpath(folder)} held an earlier run: moved it to "
              f"{os.path.normpath(moved_to)}")

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
