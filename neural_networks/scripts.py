"""What every training script shares (``train_ffnn.py``, ``train_fashion_mnist.py``,
``train_cifar10.py``): a run in its own folder, trained with checkpoints,
stopped cleanly by Ctrl-C or SIGTERM, resumed from its folder, evaluated on
the test set, and one line with exit status 2 for a user's mistake.

Every run folder holds the same files: ``args.json`` (what ran),
``metrics.csv``, ``loss.png``, ``accuracy.png``, ``last.npz`` (after every
epoch, and when stopped), ``best.npz`` (at the best validation error) and
``predictions.csv``; image runs add ``confusion_matrix.png``,
``misclassified.png`` and, for a CNN, ``filters.png`` (``plots.write_test_pictures``).
Pictures may be PDF or SVG instead (``--plot-format``). ``last.npz`` and
``best.npz`` load with ``neural_networks.load_model``.

A run with ``--patience N`` stops once N epochs pass without a better
validation error; it is then finished: resuming it trains nothing more and
scores its best model again.

``--resume`` without ``--name`` continues the run the user left unfinished
(``choose_run``), says where it goes on in the epochs' own 1-based count
(``resume_line``), and a resumed run keeps its own settings: an option that
says otherwise is refused (``check_kept_settings``), and so is an args.json
that holds no settings a run wrote (``check_saved_settings``).

A run killed at any moment can be resumed to the result it would have had:
in its first epoch (args.json, no last.npz yet) it starts again from its
settings; between the writes of last.npz and best.npz the resumed run
rewrites best.npz from last.npz (``check_best``); after training, Ctrl-C or
SIGTERM prints the command that makes the predictions and pictures
(``after_training``). ``--overwrite`` starts the new run in an empty folder
and keeps the earlier run until the new one has a checkpoint (``start``).
"""

import argparse
import contextlib
import os
import re
import shlex
import signal
import sys
import time

import numpy as np

from . import checkpoints, plots, run_folder
from .training import NonFiniteLossError, TrainingInterrupted, best_epoch, metrics_rows
from .utils.checks import check_number
from .utils.files import write_bytes

#: Exit statuses: success, a non-finite value stopped training, a user error,
#: stopped by Ctrl-C (128 + SIGINT). SIGTERM gives 143 (128 + SIGTERM).
EXIT_OK, EXIT_NON_FINITE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

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


def invocation(script):
    """How the user started this training script: ``["python", "-m", <module>]`` when
    it runs as a module (``python -m neural_networks.train_ffnn`` after ``pip install .``),
    else ``["python", script]`` (the checkout's top-level script)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name.startswith("neural_networks."):
        return ["python", "-m", spec.name]
    return ["python", script]


def resume_command(script, folder, *flags, **options):
    """The command that resumes the run in ``folder``, with ``flags`` (such as
    ``"--sweep"``) and ``options`` (those whose value is None are left out), started
    the way this process was (see ``invocation``)."""
    save_dir, name = os.path.split(os.path.normpath(folder))
    parts = [*invocation(script), *flags, "--resume", "--name", name]
    if os.path.normpath(save_dir) != "experiments":
        parts += ["--save-dir", save_dir]
    for option, value in options.items():
        if value is not None:
            parts += [f"--{option.replace('_', '-')}", str(value)]
    return " ".join(shlex.quote(part) for part in parts)


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
    ``run_folder.unlock`` when the run ends.

    Returns
    -------
    (folder, result)
    """
    folder = run_folder.claim(save_dir, name, default_name, overwrite)
    aside = None
    try:
        run_folder.lock(folder)
        result, args = prepare()
        if overwrite:
            aside = run_folder.set_aside(folder)
        run_folder.write_args(folder, args)
    except BaseException:
        # What went wrong is the message: a folder that cannot be given back must not
        # replace it.
        with contextlib.suppress(OSError, ValueError):
            if aside is None or not run_folder.put_back(folder):
                run_folder.release(folder)
        raise
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


def given_options(parser, argv=None):
    """The ``dest`` of every option ``argv`` sets on the command line, whether or not
    its value equals the default (``--seed 0`` counts as given)."""
    unset = object()
    # Attributes already on the namespace are not overwritten by defaults, so what
    # still holds ``unset`` afterwards was not on the command line.
    namespace = argparse.Namespace(**dict.fromkeys(vars(parser.parse_args([])), unset))
    return {dest for dest, value in vars(parser.parse_args(argv, namespace)).items()
            if value is not unset}


def default_named(save_dir, default_names):
    """The folders under ``save_dir`` that ``run_folder.claim`` names by default:
    ``<default>``, ``<default>_2``, ``<default>_3``, ... for each of ``default_names``,
    in that order and by number."""
    try:
        entries = os.listdir(save_dir)
    except OSError:
        return []
    found = []
    for rank, default in enumerate(default_names):
        for entry in entries:
            match = re.fullmatch(rf"{re.escape(default)}(?:_([2-9]|[1-9][0-9]+))?", entry)
            if match and os.path.isdir(os.path.join(save_dir, entry)):
                found.append((rank, int(match.group(1) or 1), entry))
    return [entry for _, _, entry in sorted(found)]


def run_state(folder, kind):
    """Whether the run of ``kind`` in ``folder`` is finished, and how far it got.

    Returns
    -------
    None when ``folder`` holds no resumable run of ``kind`` (no args.json of such
    a run); else (finished, words), finished when every epoch was trained or the
    run stopped early. A run stopped before its first checkpoint (args.json, no
    last.npz) is unfinished: it is resumed from its start.
    """
    last = os.path.join(folder, "last.npz")
    try:
        total = resumable_args(folder, kind)["settings"]["epochs"]
    except ValueError:
        return None
    if not os.path.isfile(last):
        return False, "stopped before its first checkpoint"
    try:
        meta = checkpoints.read(last).meta
    except ValueError:
        return False, "its last.npz cannot be read"
    epoch, iteration = meta["epoch"], meta["iteration"]
    if meta["history"].get("stopped_early") is not None:
        return True, f"finished, stopped early after epoch {epoch}"
    if epoch >= total and not iteration:
        return True, f"finished, {epoch}/{total} epochs"
    if iteration:
        return False, f"stopped in epoch {epoch + 1}/{total} after {iteration} iterations"
    return False, f"stopped after epoch {epoch}/{total}"


def choose_run(save_dir, name, default_names, state):
    """The name of the folder ``--resume`` continues: ``name`` when given, else the
    run the user left unfinished.

    Without ``name`` the candidates are the default-named folders (``default_named``)
    for which ``state(folder)`` is not None; ``state`` returns (finished, words), as
    ``run_state`` does. The one unfinished candidate is chosen; with none
    unfinished, the only candidate. Several unfinished, several finished, or none
    at all is a ValueError naming them and how to pick one.
    """
    if name is not None:
        return run_folder.check_name(name)
    pattern = f"{default_names[0]}, {default_names[0]}_2, ..."
    states = {}
    for entry in default_named(save_dir, default_names):
        found = state(os.path.join(save_dir, entry))
        if found is not None and not run_folder.in_use(os.path.join(save_dir, entry)):
            states[entry] = found
    unfinished = [entry for entry, (finished, _) in states.items() if not finished]
    if len(unfinished) == 1 or (len(states) == 1 and not unfinished):
        return unfinished[0] if unfinished else next(iter(states))
    listed = "; ".join(f"{entry} ({states[entry][1]})" for entry in unfinished or states)
    if unfinished:
        raise ValueError(f"cannot tell which run to resume: {len(unfinished)} unfinished runs "
                         f"in {save_dir}: {listed}; pick one with --name")
    if states:
        raise ValueError(f"no unfinished run to resume in {save_dir}: {listed}; pick one "
                         f"with --name (and --epochs N to train it on)")
    raise ValueError(f"cannot resume: {save_dir} holds no run named {pattern} to resume; "
                     f"name the run with --name")


def open_run(save_dir, name, kind, default_names=None, rules=None):
    """The folder and ``args.json`` settings of an earlier run to resume.

    Parameters
    ----------
    name           the run folder's name; None picks one among the default-named
                   folders of ``default_names`` (see ``choose_run``)
    kind           the settings' "dataset" the caller trains (e.g. "iris")
    rules          what each of the settings must be (``check_saved_settings``)

    Returns
    -------
    (folder, args), the folder locked (see ``start``); ValueError if the folder
    holds no resumable run of that kind or its args.json is not one a run wrote,
    FileExistsError if a live run holds it. A folder with args.json but no
    last.npz is a run stopped before its first checkpoint: the caller starts it
    again from its settings.
    """
    if name is None:
        name = choose_run(save_dir, None, default_names,
                          lambda folder: run_state(folder, kind))
    folder = os.path.join(save_dir, run_folder.check_name(name))
    if not os.path.isfile(os.path.join(folder, "last.npz")):
        settings = saved_settings(folder)
        if "sweep" in settings:
            raise ValueError(f"cannot resume: {folder} holds a sweep; resume it with "
                             f"--sweep --resume")
        if not settings:
            raise ValueError(f"cannot resume: {folder} holds no last.npz of an earlier run")
    run_folder.lock(folder)
    try:
        return folder, resumable_args(folder, kind, rules)
    except BaseException:
        run_folder.unlock(folder)
        raise


def saved_settings(folder):
    """The "settings" of ``folder``'s args.json, or {} when it has none readable."""
    try:
        settings = run_folder.read_args(folder).get("settings")
    except ValueError:
        return {}
    return settings if isinstance(settings, dict) else {}


def resumable_args(folder, kind, rules=None):
    """``folder``'s args.json, checked: a run (or sweep) of ``kind`` whose settings pass
    ``rules`` (see ``check_saved_settings``); else a ValueError naming the file."""
    args = run_folder.read_args(folder)
    settings = args.get("settings")
    if not isinstance(settings, dict) or "dataset" not in settings or "epochs" not in settings:
        raise ValueError(f"cannot resume: {folder}/args.json has no 'settings' of a run")
    if settings["dataset"] != kind:
        raise ValueError(f"cannot resume: {folder} is a {settings['dataset']} run, not {kind}")
    check_saved_settings(folder, settings, {"epochs": whole(at_least=1), **(rules or {})})
    return args


# Rules of ``check_saved_settings``: each checks one saved value, a ValueError
# beginning with ``what`` when it is not what a run writes.

def number(**bounds):
    """A number within ``check_number``'s bounds (``above=0``, ``at_least=1`` ...)."""
    return lambda what, value: check_number(what, value, **bounds)


def whole(**bounds):
    """A whole number within ``check_number``'s bounds."""
    return number(whole=True, **bounds)


def optional(rule):
    """None, or a value ``rule`` accepts."""
    return lambda what, value: None if value is None else rule(what, value)


def one_of(values):
    """One of ``values`` (strings)."""
    def check(what, value):
        if not isinstance(value, str) or value not in values:
            raise ValueError(f"{what} must be one of {', '.join(map(repr, values))}, "
                             f"got {value!r}")
    return check


#: Settings that runs of older versions did not save, and what they meant.
SETTING_DEFAULTS = {"patience": None, "plot_format": "png"}


def check_saved_settings(folder, settings, rules):
    """Check the "settings" of ``folder``'s args.json before a run is resumed from them:
    every key of ``rules`` must be there (``SETTING_DEFAULTS`` fill in those that older
    runs did not save) with a value its rule accepts. A ValueError names the file, the
    key, what was expected and what came, so a hand-edited args.json is refused
    before anything is loaded."""
    path = os.path.join(folder, "args.json")
    for key, rule in rules.items():
        if key not in settings and key in SETTING_DEFAULTS:
            settings[key] = SETTING_DEFAULTS[key]
        if key not in settings:
            raise ValueError(f"cannot resume: {path} has no setting '{key}', which every run "
                             f"saves; it was not written by this run")
        rule(f"cannot resume: {path}: its setting '{key}'", settings[key])
    return settings


def check_kept_settings(folder, settings, given):
    """ValueError naming every option in ``given`` (setting name -> value asked for)
    whose value differs from the resumed run's saved ``settings``: a resumed run
    keeps its own settings (only a new total of epochs may be asked for)."""
    differ = [f"--{key.replace('_', '-')} {value} (the run's is "
              f"{'not set' if settings.get(key) is None else settings[key]})"
              for key, value in given.items() if value != settings.get(key)]
    if differ:
        raise ValueError(f"cannot resume {folder} with {', '.join(differ)}: a resumed run "
                         f"keeps its own settings; drop the option or start a new run")


def resume_line(folder, model, total, steps):
    """What a resumed run prints before training: where it goes on, counted as the
    progress bar and the epoch lines count ("epoch k/N", iterations from 1), or that
    it is finished, and how to train it on.

    Parameters
    ----------
    model  the model loaded from the run's last.npz
    total  the run's total epochs (``extend``'s)
    steps  iterations in an epoch (the training split's ``samples_per_epoch``)
    """
    epoch, iteration = model.epoch, model.iteration
    stop = model.history.get("stopped_early")
    if epoch == 0 and iteration == 0:
        return f"Resuming {folder} from its start: it stopped before its first checkpoint"
    if stop is not None:
        return (f"{folder} is finished: it stopped early after epoch {epoch} (no better "
                f"validation error in {stop['patience']} epochs after epoch "
                f"{stop['best_epoch']}); nothing to train, so it is scored again")
    if epoch >= total and not iteration:
        return (f"{folder} is finished: it trained all {total} of its epochs; nothing to "
                f"train, so it is scored again. To train it on, resume it with --epochs N "
                f"(N > {total})")
    done = f"{epoch} epoch{'s' if epoch != 1 else ''}"
    if iteration:
        done += f" and {iteration} iteration{'s' if iteration != 1 else ''}"
    return (f"Resuming {folder} at epoch {epoch + 1}/{total}, iteration "
            f"{iteration + 1}/{steps} ({done} done)")


def extend(folder, args, model, epochs):
    """The total epochs of a resumed run; ``epochs`` (or None) asks for a new total.

    A new total larger than the epochs done is recorded in ``args.json``;
    one not larger is a ValueError saying why. A run that stopped early is
    finished: its total is the epochs done, and a new total is refused.
    """
    settings = args["settings"]
    stop = model.history.get("stopped_early")
    if stop is not None:
        if epochs is not None:
            raise ValueError(
                f"cannot resume {folder} to {epochs} epochs: it stopped early at epoch "
                f"{stop['epoch']} (no better validation error in {stop['patience']} epochs "
                f"after epoch {stop['best_epoch']}); it is finished, its best model is best.npz")
        return model.epoch
    if epochs is None:
        return settings["epochs"]
    if epochs <= model.epoch:
        raise ValueError(
            f"cannot resume {folder} to {epochs} epochs: it has already trained "
            f"{model.epoch}; pass --epochs larger than {model.epoch} to train further"
        )
    if epochs != settings["epochs"]:
        settings["epochs"] = epochs
        run_folder.write_args(folder, args)
    return epochs


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


def check_best(folder, model):
    """Make ``folder``'s best.npz hold the epoch that ``model`` (loaded from its last.npz)
    records as the best, before a resumed run goes on or is scored.

    last.npz is written before best.npz at the end of an epoch, so a run killed
    between the two has a best.npz of an earlier epoch (or none) while last.npz
    holds the new best epoch itself: best.npz is then written from last.npz, the
    checkpoint of that very moment. Any other disagreement cannot be mended and is
    a ValueError saying what each file holds.
    """
    epoch = best_epoch(model.history)
    best = os.path.join(folder, "best.npz")
    if epoch is None:
        return
    try:
        held = checkpoints.read(best).meta["epoch"] if os.path.isfile(best) else None
    except ValueError:
        held = "unreadable"
    if held == epoch:
        return
    if model.epoch == epoch and model.iteration == 0:
        with open(os.path.join(folder, "last.npz"), "rb") as f:
            write_bytes(best, f.read())
        return
    held = {None: "nothing", "unreadable": "an unreadable file"}.get(held, f"epoch {held}")
    raise ValueError(f"cannot resume {folder}: its best validation error was at epoch {epoch}, "
                     f"but best.npz holds {held}, and last.npz (epoch {model.epoch}) cannot "
                     f"restore it; put back the best.npz of epoch {epoch}, or start the run "
                     f"again")


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


def run_main(function, *args, **kwargs):
    """Call a script's ``function`` and turn what a user can cause into an exit status.

    A ValueError or FileExistsError (a bad setting, a taken or unwritable
    folder, missing data) is one line on stderr and status 2; Ctrl-C outside
    training (while loading data, say) is status 130 with nothing half-written.
    """
    # SIGTERM outside training (loading data, say) unwinds like Ctrl-C, so the
    # run's folder is given back; training puts its own handler in place.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return function(*args, **kwargs)
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("\nTerminated.", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """SIGTERM arrived while no training step was running."""


def _raise_terminated(signum, frame):
    raise Terminated()
