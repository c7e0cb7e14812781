"""One run of a training script from start to end, written once for all three
(``train_ffnn.py``, ``train_fashion_mnist.py``, ``train_cifar10.py``) and for
each pair of a sweep: a new run claims its folder, builds its data and network
and records them (``start``), or an earlier run is opened to resume
(``resume.open_run``); the folder is locked all along and given back if a new
run ends before its first checkpoint (``give_back``); training checkpoints
every epoch and stops cleanly on Ctrl-C or SIGTERM, printing the command that
resumes it (``fit``); then the run is scored on the test set (``after_training``)
and the folder unlocked. ``Run`` and ``TrainingRun`` hold that order; a script
says only what differs (its settings and their rules, how to build its data and
network, its title, what to report).

Every run folder holds the same files: ``args.json`` (what ran),
``metrics.csv``, ``loss.png``, ``accuracy.png``, ``last.npz`` (after every
epoch, and when stopped), ``best.npz`` (at the best validation error) and
``predictions.csv``; image runs add ``confusion_matrix.png``,
``misclassified.png`` and, for a CNN, ``filters.png``
(``plots.write_test_pictures``). Pictures may be PDF or SVG instead
(``--plot-format``). ``last.npz`` and ``best.npz`` load with
``neural_networks.load_model``.

A run killed at any moment can be resumed to the result it would have had:
in its first epoch (args.json, no last.npz yet) it starts again from its
settings; between the writes of last.npz and best.npz the resumed run
rewrites best.npz from last.npz (``resume.check_best``); after training, Ctrl-C
or SIGTERM prints the command that makes the predictions and pictures
(``after_training``). ``--overwrite`` starts the new run in an empty folder
and keeps the earlier run until the new one has a checkpoint (``start``).
"""

import contextlib
import os
import signal
import sys
import time

import numpy as np

from . import backend, plots, run_folder
from .resume import check_best, check_kept_settings, extend, open_run, resume_line
from .scripts import (EXIT_INTERRUPTED, EXIT_NON_FINITE, EXIT_OK, Terminated,
                      resume_command)
from .training import NonFiniteLossError, TrainingInterrupted, best_epoch, metrics_rows

#: Curves are redrawn after an epoch only if this many seconds passed since the
#: last drawing or the start (and always when a run ends): drawing two PNGs takes
#: longer than a whole Iris epoch, and a short run (a sweep's pair) draws them once.
CURVE_SECONDS = 20.0


class RunFiles:
    """Writes a run's metrics.csv after every epoch and its curves now and then.

    Parameters
    ----------
    folder           the run folder
    title            what the run is, in words, for the plots' titles
    fmt              the pictures' format, one of ``plots.PLOT_FORMATS``
    label_smoothing  the training labels' smoothing, named on the loss plot
    """

    def __init__(self, folder, title, fmt="png", label_smoothing=0.0):
        self.folder = folder
        self.title = title
        self.fmt = plots.check_plot_format(fmt)
        self.label_smoothing = label_smoothing
        self.drawn = time.monotonic()

    def epoch_end(self, model, record):
        """``Trainer``'s ``on_epoch_end`` (after the epoch's checkpoint): the run is under
        way, so an earlier run it overwrites goes."""
        run_folder.drop_set_aside(self.folder)
        rows = metrics_rows(model.history)
        run_folder.write_metrics(self.folder, rows)
        if time.monotonic() - self.drawn >= CURVE_SECONDS:
            self.draw(model)

    def draw(self, model):
        """Write loss and accuracy curves, marking the epoch best.npz keeps (the best
        validation error, where an early stop leaves the model too)."""
        if model.history["epochs"]:
            plots.write_curves(self.folder, metrics_rows(model.history), self.title,
                               self.fmt, kept_epoch=best_epoch(model.history),
                               label_smoothing=self.label_smoothing)
        self.drawn = time.monotonic()


def start(save_dir, name, default_name, overwrite, prepare, out=None):
    """Claim a new run folder, then ``prepare()`` the run and record it.

    ``prepare`` returns ``(result, args)``: whatever the caller needs (the
    data and the model) and the JSON-able ``args`` written to ``args.json``.
    If it raises (missing data, a bad setting), the folder is given back, so
    a run that cannot start leaves nothing behind.

    With ``overwrite``, a run already in the folder is moved aside once
    ``prepare`` has succeeded (``run_folder.set_aside``), so the new run
    starts from an empty folder; the earlier run is deleted once the new one
    has written its first checkpoint (``RunFiles``, ``fit``), and comes back
    if the new one ends without one (``give_back``). ``out`` is told where it
    waits meanwhile.

    The folder comes back locked (``run_folder.lock``): call
    ``run_folder.unlock`` when the run ends (``Run`` does).

    Returns
    -------
    (folder, result)
    """
    folder = run_folder.claim(save_dir, name, default_name, overwrite)
    aside = None

    def undo(folder):
        # The earlier run comes back if it was set aside; else the folder goes if empty.
        if aside is None or not run_folder.put_back(folder):
            run_folder.release(folder)

    with run_folder.locked(folder, undo):
        result, args = prepare()
        if overwrite:
            aside = run_folder.set_aside(folder)
        run_folder.write_args(folder, args)
    if aside is not None:
        print(f"Overwriting {folder}: its earlier run waits in {aside} until this run's "
              f"first checkpoint, then is deleted", file=out or sys.stdout)
    return folder, result


def give_back(folder):
    """Undo ``start`` for a new run that ended, or failed, before its first checkpoint
    (it did not really start): an earlier run it was to overwrite comes back in its
    place, else the folder is removed if it holds nothing but ``args.json``. Nothing
    once the run has a checkpoint. Returns True if the folder was given back."""
    if os.path.isfile(os.path.join(folder, "last.npz")):
        return False
    try:
        if run_folder.put_back(folder):
            return True
        if set(os.listdir(folder)) - {run_folder.LOCK_NAME} <= {"args.json"}:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, "args.json"))
            return run_folder.release(folder)
    except (OSError, ValueError):
        pass  # called while another error is raised: that one is the message
    return False


def fit(model, dataset, folder, epochs, title, resume_hint, out=None, fmt="png",
        **train_options):
    """Train ``model`` up to ``epochs`` epochs in all, checkpointing into ``folder``.

    ``fmt`` is the curves' format; ``train_options`` go to ``model.train``
    (``patience`` among them).

    Returns
    -------
    None when training finished (or stopped early); otherwise the exit status,
    after printing why and, when stopped by a signal, how to resume. Running
    out of memory is a ValueError saying so.
    """
    out = out or sys.stdout  # looked up now, so redirect_stdout takes it
    files = RunFiles(folder, title, fmt, getattr(dataset.train, "label_smoothing", 0.0))
    try:
        model.train(dataset, max(epochs - model.epoch, 0),
                    checkpoint=os.path.join(folder, "last.npz"),
                    best_checkpoint=os.path.join(folder, "best.npz"),
                    on_epoch_end=files.epoch_end, **train_options)
    except TrainingInterrupted as stop:
        run_folder.drop_set_aside(folder)
        files.draw(model)
        print(f"\nInterrupted: checkpoint saved to {stop.checkpoint}.", file=out)
        print(f"Resume with: {resume_hint}", file=out)
        return stop.exit_status
    except NonFiniteLossError as error:
        files.draw(model)
        print(f"\n{error}", file=out)
        # An overwriting run that wrote no checkpoint replaced nothing.
        if not os.path.isfile(os.path.join(folder, "last.npz")) and run_folder.put_back(folder):
            print(f"{folder} holds its earlier run again: this run, which was to overwrite "
                  f"it, wrote no checkpoint.", file=out)
        return EXIT_NON_FINITE
    except MemoryError as error:
        raise ValueError(f"out of memory training the run in {folder} ({error or 'no detail'}); "
                         f"a smaller network or batch size needs less") from None
    # A run killed after its last epoch's checkpoint but before that epoch's row of
    # metrics.csv resumes with nothing to train: the row comes from last.npz's history.
    run_folder.write_metrics(folder, metrics_rows(model.history))
    _, status = after_training(lambda: files.draw(model), folder, resume_hint, out)
    return status


def after_training(work, folder, resume_hint, out):
    """Call ``work()``: what a run does once its training is saved (curves, test
    predictions and pictures). Ctrl-C or SIGTERM (under ``run_main``) meanwhile stops
    it, saying that the training is done and how to finish the rest: resuming a run
    that trained all its epochs trains nothing and makes them again.

    Returns
    -------
    (what ``work`` returned, None), or (None, the exit status) when stopped
    """
    try:
        return work(), None
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    except Terminated:
        status = 128 + signal.SIGTERM
    print(f"\nInterrupted after training: {os.path.join(folder, 'last.npz')} holds the "
          f"trained run, but its test predictions and pictures are not all written.",
          file=out)
    print(f"Resume with: {resume_hint}", file=out)
    return None, status


def predict_test(model, dataset, folder):
    """Predict the test split and write ``predictions.csv``.

    Returns
    -------
    (outputs (n, classes), accuracy or None when the test split has no labels)
    """
    predicted, Y_hat = model.classify(dataset.test.data)
    run_folder.write_predictions(folder, predicted)
    if dataset.test.labels is None:
        return Y_hat, None
    return Y_hat, float(np.mean(predicted == np.argmax(dataset.test.labels, 1)))


class Run:
    """A run in its own folder, held from its start to its end (``held``): a new run
    claims its folder, locked, and records itself there (``start``), or an earlier run
    is opened to go on (``open``, locked too); a new run that fails is given back
    (``give_back``); the folder is unlocked however the run ends.

    Parameters
    ----------
    save_dir   parent folder of the run folders
    name       the run folder's name; None: a default name (``run_folder.claim``), or
               to resume, the run left unfinished (``resume.choose_run``)
    overwrite  a new run may replace an earlier run in its folder (``start``)
    resume     go on with the earlier run in the folder instead of starting one
    asked      the settings asked for, by name: those of a new run, or for a resumed
               run a new total of "epochs" and settings that must equal its own
    out        where the run's lines go (None: sys.stdout, looked up now, so
               ``redirect_stdout`` takes it)
    device     where the network trains, "cpu" or "gpu": checked before the folder
               is claimed or opened (``backend.check_device``), so a GPU that is
               not there leaves nothing behind; no setting of the run

    A subclass supplies ``default_name()`` and ``new_settings()`` (a new run's folder
    name and settings, from ``asked``), ``prepare()`` (as for ``start``), ``open()``
    (which sets ``folder`` and ``settings``) and ``carry_out()``, what the run does.
    """

    def __init__(self, save_dir="experiments", name=None, overwrite=False, resume=False,
                 asked=None, out=None, device="cpu"):
        self.save_dir, self.name, self.overwrite, self.resume = save_dir, name, overwrite, resume
        self.device = device
        self.asked = dict(asked or {})
        self.out = out or sys.stdout
        self.folder = self.settings = None

    def execute(self):
        """Start or reopen the run, carry it out, and end it; what ``carry_out`` returns."""
        with self.held():
            return self.carry_out()

    @contextlib.contextmanager
    def held(self):
        """The run's folder, locked over the ``with`` block and unlocked after it; a new
        run's folder is given back if the block raises."""
        backend.check_device(self.device)
        if self.resume:
            self.open()
        else:
            self.settings = self.new_settings()
            self.folder, _ = start(self.save_dir, self.name, self.default_name(),
                                   self.overwrite, self.prepare, self.out)
        try:
            yield self.folder
        except BaseException:
            if not self.resume:
                self.give_back()
            raise
        finally:
            run_folder.unlock(self.folder)

    def give_back(self):
        """Undo the start of a new run that failed before its first checkpoint."""
        give_back(self.folder)


class TrainingRun(Run):
    """One network trained in its run folder, the same way by every script: built
    anew (``prepare``) or restored from the run's last.npz (``reopen``), trained to
    its total of epochs with checkpoints and signals (``fit``), then scored.
    ``execute`` returns (what ``score`` returned, exit status), or (None, status)
    when the run stopped before it was scored (a signal, a non-finite value).

    What differs between the scripts, a subclass supplies:

    kind                     the settings' "dataset", e.g. "iris"
    script                   the checkout's script, for the resume command
    train_options            more keyword arguments of ``model.train``
    default_name()           a new run's folder name when none is given
    default_names()          the folder names ``--resume`` without a name looks among
    new_settings()           a new run's settings (args.json's "settings"), from ``asked``
    rules()                  what a resumed run's saved settings must be
                             (``resume.check_saved_settings``)
    kept()                   the settings asked for that a resumed run must share
    load_data(settings)      the dataset
    check(dataset)           ValueError when a new run cannot go on with it
    build(settings, epochs)  a new network for a run of ``epochs`` epochs in all, on
                             ``device``
    record(model)            what args.json holds beside "settings"
    title()                  what the run is, in words, for the pictures
    resume_options()         options the resume command repeats (None: left out)
    score()                  once trained: the test predictions (and pictures)
    """

    kind = script = None
    train_options = {}

    def default_names(self):
        return [self.default_name()]

    def check(self, dataset):
        pass

    def resume_options(self):
        return {}

    def prepare(self):
        """A new run's data and network (``start``'s ``prepare``)."""
        self.dataset = self.load_data(self.settings)
        self.check(self.dataset)
        self.epochs = self.settings["epochs"]
        self.model = self.build(self.settings, self.epochs)
        return None, {"settings": self.settings, **self.record(self.model)}

    def open(self):
        self.folder, self.saved = open_run(self.save_dir, self.name, self.kind,
                                           self.default_names(), self.rules())
        self.settings = self.saved["settings"]

    def reopen(self):
        """A resumed run, checked and restored: its settings against those asked, its
        network from last.npz (built anew if it stopped before its first checkpoint),
        best.npz mended, its total of epochs; then the line saying where it goes on."""
        check_kept_settings(self.folder, self.settings, self.kept())
        self.dataset = self.load_data(self.settings)
        planned = self.settings["epochs"]
        self.model = self.restore(planned)
        if os.path.isfile(os.path.join(self.folder, "last.npz")):
            check_best(self.folder, self.model)
        self.epochs = extend(self.folder, self.saved, self.model, self.asked.get("epochs"))
        if self.epochs != planned:
            # A longer run: a learning-rate schedule spans the new total.
            self.model = self.restore(self.epochs)
        print(resume_line(self.folder, self.model, self.epochs,
                          self.dataset.train.samples_per_epoch), file=self.out)

    def restore(self, epochs):
        """The network of the run's last.npz, built for ``epochs`` epochs in all; a new
        one when there is no last.npz (a run stopped before it starts again)."""
        model = self.build(self.settings, epochs)
        last = os.path.join(self.folder, "last.npz")
        return model.load(last) if os.path.isfile(last) else model

    def carry_out(self):
        if self.resume:
            self.reopen()
        hint = resume_command(self.script, self.folder, **self.resume_options())
        status = fit(self.model, self.dataset, self.folder, self.epochs, self.title(), hint,
                     out=self.out, fmt=self.settings["plot_format"],
                     patience=self.settings["patience"], **self.train_options)
        if status is not None:
            return None, status
        result, status = after_training(self.score, self.folder, hint, self.out)
        return result, EXIT_OK if status is None else status
