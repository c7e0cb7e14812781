"""What ``--resume`` reads back from an earlier run and checks before it goes on.

Without ``--name`` it continues the run the user left unfinished
(``choose_run``, among the default-named folders, by ``run_state``); it opens
the run's folder locked (``open_run``), refuses an args.json that holds no
settings a run wrote (``check_saved_settings``, by rules such as ``whole`` and
``one_of``) and an option that says otherwise than the run's own settings
(``check_kept_settings``: a resumed run keeps them, only a new total of epochs
may be asked for, ``extend``). It mends a best.npz that a kill between the two
checkpoint writes left behind (``check_best``) and says where the run goes on,
in the epochs' own 1-based count (``resume_line``).

A run with ``--patience N`` that stopped early is finished: resuming it trains
nothing more and scores its best model again.
"""

import os
import re

from . import checkpoints, run_folder
from .scripts import COMMON_OPTIONS
from .training import best_epoch
from .utils.checks import check_number
from .utils.files import write_bytes


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


def open_run(save_dir, name, kind, default_names=None, rules=None, state=None, sweep=False):
    """The folder and ``args.json`` of an earlier run (or sweep) to resume.

    Parameters
    ----------
    name           the run folder's name; None picks one among the default-named
                   folders of ``default_names`` (see ``choose_run``)
    kind           the settings' "dataset" the caller trains (e.g. "iris")
    rules          what each of the settings must be (``check_saved_settings``)
    state          what ``choose_run`` asks of each candidate (default: ``run_state``)
    sweep          open a sweep (its settings hold a "sweep" grid), not a run

    Returns
    -------
    (folder, args), the folder locked (``run_folder.locked``); ValueError if the
    folder holds no resumable run of that kind or its args.json is not one a run
    wrote, FileExistsError if a live run holds it. A folder with args.json but no
    last.npz is a run stopped before its first checkpoint: the caller starts it
    again from its settings.
    """
    if name is None:
        name = choose_run(save_dir, None, default_names,
                          state or (lambda folder: run_state(folder, kind)))
    folder = os.path.join(save_dir, run_folder.check_name(name))
    _check_holds(folder, sweep)
    with run_folder.locked(folder):
        return folder, resumable_args(folder, kind, rules)


def _check_holds(folder, sweep):
    """ValueError unless ``folder`` holds what ``open_run`` was asked to resume."""
    settings = saved_settings(folder)
    if sweep:
        if "sweep" not in settings:
            raise ValueError(f"cannot resume: {folder} holds no sweep (no args.json of one)")
    elif not os.path.isfile(os.path.join(folder, "last.npz")):
        if "sweep" in settings:
            raise ValueError(f"cannot resume: {folder} holds a sweep; resume it with "
                             f"--sweep --resume")
        if not settings:
            raise ValueError(f"cannot resume: {folder} holds no last.npz of an earlier run")


def saved_settings(folder):
    """The "settings" of ``folder``'s args.json, or {} when it has none readable."""
    try:
        settings = run_folder.read_args(folder).get("settings")
    except ValueError:
        return {}
    return settings if isinstance(settings, dict) else {}


def resumable_args(folder, kind, rules=None):
    """``folder``'s args.json, checked: a run (or sweep) of ``kind`` whose settings pass
    ``rules`` and those of the options every script has (``common_rules``; see
    ``check_saved_settings``); else a ValueError naming the file."""
    args = run_folder.read_args(folder)
    settings = args.get("settings")
    if not isinstance(settings, dict) or "dataset" not in settings or "epochs" not in settings:
        raise ValueError(f"cannot resume: {folder}/args.json has no 'settings' of a run")
    if settings["dataset"] != kind:
        raise ValueError(f"cannot resume: {folder} is a {settings['dataset']} run, not {kind}")
    check_saved_settings(folder, settings, {"epochs": whole(at_least=1), **(rules or {}),
                                            **common_rules()})
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


def common_rules():
    """The rules of the settings of ``scripts.COMMON_OPTIONS``: one of their choices."""
    return {dest: one_of(option["choices"]) for dest, option in COMMON_OPTIONS.items()}


#: Settings that runs of older versions did not save, and what they meant (those of
#: ``scripts.COMMON_OPTIONS`` too: their ``default``).
SETTING_DEFAULTS = {"patience": None}


def check_saved_settings(folder, settings, rules):
    """Check the "settings" of ``folder``'s args.json before a run is resumed from them:
    every key of ``rules`` must be there (``SETTING_DEFAULTS`` fill in those that older
    runs did not save) with a value its rule accepts. A ValueError names the file, the
    key, what was expected and what came, so a hand-edited args.json is refused
    before anything is loaded."""
    path = os.path.join(folder, "args.json")
    defaults = {**SETTING_DEFAULTS,
                **{dest: option["default"] for dest, option in COMMON_OPTIONS.items()}}
    for key, rule in rules.items():
        if key not in settings and key in defaults:
            settings[key] = defaults[key]
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
