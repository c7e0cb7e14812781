"""The sweep behind ``train_ffnn.py --sweep``: one Iris network per pair of
learning rate x hidden size, the model picked by its validation error, and
``results.csv``, ``results.md`` and ``best_loss.png`` written.

Each pair of a sweep is a run of its own (``runs.train_and_save``), in
``<sweep folder>/<pair_name>/`` with the files of every run, trained one after
the other or in joblib's processes (``jobs``); the table does not depend on
which. The sweep's own folder is held as a run's is (``Sweep``, a
``lifecycle.Run``). A stopped sweep writes its results as partial, and
resuming it finishes the stopped pairs and trains the others, to the same
table as a sweep never stopped.
"""

import csv
import io
import itertools
import os
import signal
import threading

from tqdm import tqdm

from . import checkpoints, run_folder, scripts
from .lifecycle import Run
from .plots import write_best_loss
from .resume import number, open_run, run_state, whole
from .runs import DEFAULTS, RUN_RULES, iris_data, iris_model, summarize, train_and_save, train_iris
from .scripts import COMMON_OPTIONS, common_settings
from .training import StopSignals
from .utils.files import write_text

#: The default sweep grid.
SWEEP_LRS = (0.001, 0.01, 0.1)
SWEEP_HIDDENS = (5, 10, 25)

#: Folder name used when no name is given.
DEFAULT_SWEEP_NAME = "iris_sweep"

#: Columns of results.csv, in order.
RESULT_COLUMNS = ("lr", "hidden", "train_loss", "val_loss", "val_error", "test_error")


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


def pair_name(lr, hidden):
    """The run folder of the pair (lr, hidden) inside a sweep's folder, e.g.
    ``lr0.01_hidden10`` (the learning rate's shortest exact spelling)."""
    return f"lr{float(lr)!r}_hidden{int(hidden)}"


def sweep_settings(lrs, hiddens, momentum, epochs, batch_size, seed, **common):
    """Everything that defines a sweep, as saved under "settings" in its ``args.json``
    (``common``: the settings of ``scripts.COMMON_OPTIONS``, such as ``plot_format``,
    which every pair takes); ValueError for an empty grid or a pair listed twice."""
    lrs, hiddens = [float(lr) for lr in lrs], [int(hidden) for hidden in hiddens]
    if not lrs or not hiddens:
        raise ValueError(f"the sweep needs at least one lr and one hidden size, got "
                         f"lrs={lrs}, hiddens={hiddens}")
    for what, values in (("lrs", lrs), ("hiddens", hiddens)):
        if len(set(values)) != len(values):
            raise ValueError(f"the sweep's {what} must differ from each other (each pair "
                             f"gets its own run folder), got {values}")
    return {"dataset": "iris", "model": "ffnn", "sweep": {"lrs": lrs, "hiddens": hiddens},
            "momentum": momentum, "epochs": epochs, "batch_size": batch_size, "seed": seed,
            **common_settings(**common)}


def sweep_grid(settings):
    """The (lr, hidden) pairs of a sweep's settings, lr-major, hidden-minor."""
    return list(itertools.product(settings["sweep"]["lrs"], settings["sweep"]["hiddens"]))


#: In a sweep's folder while the sweep is stopping: pairs not yet begun return at once.
STOP_NAME = ".stop"

# Weights, shuffling and dropout draw from numpy's global random generator, so two pairs
# training in threads of one process (joblib's "threading" backend, Dask's threads) would
# take each other's draws: in a process, one pair trains at a time.
_one_pair_at_a_time = threading.Lock()


def train_pair(folder, lr, hidden, settings, resume, sweep_pid, device="cpu"):
    """Train the sweep pair (lr, hidden) in its run folder ``folder/<pair_name>``: a
    new run, or (``resume``) the run its last.npz holds, finished if it was stopped,
    scored without writing anything if it is finished; on ``device``. A whole run per call, so
    that any of joblib's workers can run it; nothing when the sweep is stopping.

    Returns
    -------
    (lr, hidden, row, status, printed): the row of ``RESULT_COLUMNS`` (None
    when the run did not finish), the exit status (None: not begun), and what
    the run printed
    """
    if os.getpid() != sweep_pid and threading.current_thread() is threading.main_thread():
        # A worker process: the Ctrl-C a terminal sends the sweep's whole process group
        # must not kill it between pairs; during training the Trainer still catches it
        # and saves the pair's checkpoint.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with _one_pair_at_a_time:
        if os.path.exists(os.path.join(folder, STOP_NAME)):
            return lr, hidden, None, None, ""
        return (lr, hidden, *_train_pair(folder, lr, hidden, settings, resume, device))


def _train_pair(folder, lr, hidden, settings, resume, device):
    """``train_pair``'s (row, status, printed), in the one thread training here."""
    path = os.path.join(folder, pair_name(lr, hidden))
    last = os.path.join(path, "last.npz")
    # A pair stopped before its first checkpoint is resumed too: from its start.
    state = run_state(path, "iris") if resume else None
    resume = state is not None
    out = io.StringIO()
    if state is not None and state[0] and os.path.isfile(os.path.join(path, "predictions.csv")):
        model = iris_model(hidden, lr, settings["momentum"], settings["seed"],
                           device=device).load(last)
        summary = summarize(model, iris_data(settings["batch_size"]))
        status = scripts.EXIT_OK
    else:
        new = {} if resume else {"hidden": hidden, "lr": lr, "momentum": settings["momentum"],
                                 "epochs": settings["epochs"],
                                 "batch_size": settings["batch_size"], "seed": settings["seed"],
                                 **{dest: settings[dest] for dest in COMMON_OPTIONS}}
        # overwrite: a new sweep replaces what an earlier one left in the pair's folder.
        _, summary, status = train_and_save(folder, pair_name(lr, hidden), overwrite=True,
                                            verbose=False, resume=resume, out=out,
                                            device=device, **new)
    row = None if summary is None else {"lr": lr, "hidden": hidden,
                                        **{k: summary[k] for k in RESULT_COLUMNS[2:]}}
    return row, status, out.getvalue()


def train_grid(folder, settings, resume=False, jobs=1, progress=True, device="cpu"):
    """Train every pair of the sweep ``settings`` with ``train_pair``, ``jobs`` at once,
    on ``device``.

    ``jobs`` > 1 hands the pairs to joblib's processes (its default backend, or
    the one a ``joblib.parallel_config`` around the call names: Dask, Ray ...);
    1 trains them one after the other in this process. The first Ctrl-C or
    SIGTERM, or a pair that does not finish (a non-finite loss), stops the
    grid: no pair begins after it, a pair in training when the signal reaches
    its process saves its checkpoint and stops, the others finish. A second
    signal stops at once (each pair keeps the checkpoint of its last epoch).

    Returns
    -------
    (rows, status, notes): rows in grid order, None for a pair that did not
    finish; status None when every pair finished, else the exit status; notes,
    what the pairs that stopped printed
    """
    from joblib import Parallel, delayed  # loaded by the sweep only

    grid, stop = sweep_grid(settings), os.path.join(folder, STOP_NAME)
    if os.path.exists(stop):
        os.remove(stop)  # left by a sweep that was killed while stopping
    done, statuses, notes = {}, [], []

    def stop_pairs(signum=None):
        if not os.path.exists(stop):
            write_text(stop, "")

    bar = tqdm(total=len(grid), desc="sweep", disable=not progress)
    try:
        with StopSignals(enabled=True, on_stop=stop_pairs) as signals:
            for lr, hidden, row, status, printed in Parallel(
                    n_jobs=jobs, return_as="generator_unordered")(
                    delayed(train_pair)(folder, lr, hidden, settings, resume, os.getpid(),
                                        device)
                    for lr, hidden in grid):
                if row is not None:
                    done[lr, hidden] = row
                    bar.update(1)
                elif status is not None:
                    statuses.append(status)
                    if status == scripts.EXIT_NON_FINITE:
                        notes.append(f"lr {lr:g}, hidden {hidden}: {printed.strip()}")
                    stop_pairs()
        if signals.signum is not None:
            statuses.insert(0, 128 + signals.signum)
    except KeyboardInterrupt:
        statuses.insert(0, scripts.EXIT_INTERRUPTED)
    except scripts.Terminated:
        statuses.insert(0, 128 + signal.SIGTERM)
    finally:
        bar.close()
        if os.path.exists(stop):
            os.remove(stop)
    rows = [done.get(pair) for pair in grid]
    if len(done) == len(grid):
        return rows, None, notes  # a signal after the last pair began stopped nothing
    # No status of its own: pairs saw a stop file that another process wrote.
    return rows, statuses[0] if statuses else scripts.EXIT_INTERRUPTED, notes


def results_markdown(rows, best, unfinished=()):
    """The sweep table in Markdown, the chosen row marked, and a line on the choice.

    A partial sweep (``best`` None) has rows of only "lr" and "hidden" for the
    pairs not finished, shown with empty cells, and begins with a line naming
    them: ``unfinished``, one description per such pair.
    """
    lines = [
        "| lr | hidden | final train loss | val loss | val error | test error | chosen |",
        "|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    if best is None:
        done = sum("test_error" in r for r in rows)
        lines[:0] = [f"Partial sweep: {done} of {len(rows)} pairs finished, so none is chosen "
                     f"yet. Not finished: {'; '.join(unfinished)}.", ""]
    for i, r in enumerate(rows):
        values = " | ".join(f"{r[k]:.4f}" if k in r else "" for k in RESULT_COLUMNS[2:])
        lines.append(f"| {r['lr']:g} | {r['hidden']} | {values} | {'*' if i == best else ''} |")
    if best is not None:
        r = rows[best]
        lines += [
            "",
            f"Chosen by validation error (ties: lower validation loss): lr {r['lr']:g}, "
            f"hidden {r['hidden']}; its test error is {r['test_error']:.4f}.",
        ]
    return "\n".join(lines) + "\n"


def write_sweep_results(folder, rows, best, best_iteration_loss, plot_format="png",
                        unfinished=()):
    """Write ``results.csv``, ``results.md`` and ``best_loss.<plot_format>`` into
    ``folder`` (which must exist; ``sweep_and_save`` claims it).

    A partial sweep (``best`` None; rows and ``unfinished`` as for
    ``results_markdown``) gets empty cells for the pairs not finished, an empty
    "chosen" column and no picture.

    Returns
    -------
    the Markdown table (the text of results.md)
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*RESULT_COLUMNS, "chosen"])
    for i, r in enumerate(rows):
        writer.writerow([repr(float(r[k])) if isinstance(r.get(k), float) else r.get(k, "")
                         for k in RESULT_COLUMNS] + ["" if best is None else int(i == best)])
    write_text(os.path.join(folder, "results.csv"), out.getvalue())
    table = results_markdown(rows, best, unfinished)
    write_text(os.path.join(folder, "results.md"), table)
    if best is None:
        return table
    write_best_loss(folder, best_iteration_loss, rows[best]["lr"], rows[best]["hidden"],
                    plot_format)
    return table


def sweep_state(folder):
    """(finished, words) of the sweep in ``folder``, as ``resume.run_state`` says it
    of a run; None when ``folder`` holds no sweep. A sweep is finished when every
    pair is and its results.csv names the chosen one."""
    try:
        settings = run_folder.read_args(folder).get("settings")
    except ValueError:
        return None
    if not isinstance(settings, dict) or settings.get("dataset") != "iris":
        return None
    try:
        _check_grid("", settings.get("sweep"))
    except ValueError:
        return None
    grid = sweep_grid(settings)
    states = [run_state(os.path.join(folder, pair_name(*pair)), "iris") for pair in grid]
    done = sum(state is not None and state[0] for state in states)
    try:
        with open(os.path.join(folder, "results.csv"), newline="") as f:
            chosen = [row["chosen"] for row in csv.DictReader(f)]
    except (OSError, KeyError):
        chosen = []
    finished = done == len(grid) and len(chosen) == len(grid) and all(chosen)
    return finished, f"{done} of {len(grid)} pairs finished"


def _check_grid(what, grid):
    """``resume.check_saved_settings``'s rule for a sweep's grid: lists of distinct
    learning rates > 0 and hidden sizes >= 1."""
    if not isinstance(grid, dict) or set(grid) != {"lrs", "hiddens"}:
        raise ValueError(f"{what} must be {{'lrs': [...], 'hiddens': [...]}}, got {grid!r:.100}")
    for key, rule in (("lrs", number(above=0)), ("hiddens", whole(at_least=1))):
        values = grid[key]
        if not isinstance(values, list) or not values:
            raise ValueError(f"{what}['{key}'] must be a list of at least one value, got "
                             f"{values!r:.100}")
        for i, value in enumerate(values):
            rule(f"{what}['{key}'][{i}]", value)
        if len(set(values)) != len(values):
            raise ValueError(f"{what}['{key}'] must list different values, got {values}")


#: What a sweep's saved settings must be to be resumed.
SWEEP_RULES = {**{key: RUN_RULES[key] for key in ("model", "momentum", "batch_size", "seed")},
               "sweep": _check_grid}


def _pair_words(folder, lr, hidden):
    """The pair and how far it got, for the line that names the unfinished pairs."""
    path = os.path.join(folder, pair_name(lr, hidden))
    state = run_state(path, "iris")
    if state is None:
        state = (False, "stopped before its first checkpoint" if os.path.isdir(path)
                 else "not started")
    return f"lr {lr:g}, hidden {hidden} ({state[1]})"


class Sweep(Run):
    """A sweep in its own folder, held as a run's is (see ``lifecycle.Run``): every
    pair trained with ``train_grid``, then the results written (``write_sweep_results``).
    ``jobs``: pairs trained at once; ``progress``: a progress bar over the grid.
    ``execute`` returns (rows, best, table, status), as ``sweep_and_save``."""

    def __init__(self, jobs=1, progress=True, **where):
        super().__init__(**where)
        self.jobs, self.progress = jobs, progress

    def default_name(self):
        return DEFAULT_SWEEP_NAME

    def new_settings(self):
        defaults = {"lrs": SWEEP_LRS, "hiddens": SWEEP_HIDDENS, "momentum": DEFAULTS.momentum,
                    "epochs": DEFAULTS.epochs, "batch_size": DEFAULTS.batch_size,
                    "seed": DEFAULTS.seed}
        return sweep_settings(**{**defaults, **self.asked})

    def prepare(self):
        return None, {"settings": self.settings}

    def open(self):
        self.folder, args = open_run(self.save_dir, self.name, "iris", [DEFAULT_SWEEP_NAME],
                                     SWEEP_RULES, state=sweep_state, sweep=True)
        self.settings = args["settings"]

    def give_back(self):
        """Nothing: each pair gives itself back, and the pairs that finished stay."""

    def carry_out(self):
        rows, status, notes = train_grid(self.folder, self.settings, self.resume, self.jobs,
                                         self.progress, self.device)
        # Under way: an earlier sweep this one overwrites goes.
        run_folder.drop_set_aside(self.folder)
        if status is None:
            best = choose_best(rows)
            last = os.path.join(self.folder, pair_name(*sweep_grid(self.settings)[best]),
                                "last.npz")
            best_loss = checkpoints.read(last).meta["history"]["iteration_loss"]
            table = write_sweep_results(self.folder, rows, best, best_loss,
                                        self.settings["plot_format"])
            return rows, best, table, scripts.EXIT_OK
        return self.stopped(rows, status, notes)

    def stopped(self, rows, status, notes):
        """Write and print the partial results of a sweep that did not finish, why, and
        (unless a pair diverged) how to resume it; (rows, None, table, status)."""
        grid, folder, out = sweep_grid(self.settings), self.folder, self.out
        unfinished = [_pair_words(folder, *pair) for pair, row in zip(grid, rows, strict=True)
                      if row is None]
        rows = [row or {"lr": lr, "hidden": hidden}
                for (lr, hidden), row in zip(grid, rows, strict=True)]
        table = write_sweep_results(folder, rows, None, None, unfinished=unfinished)
        print(table, end="", file=out)
        for note in notes:
            print(note, file=out)
        print(f"\nStopped: {len(grid) - len(unfinished)} of {len(grid)} pairs finished; "
              f"partial results saved to {os.path.join(folder, 'results.csv')} and "
              f"results.md.", file=out)
        if status != scripts.EXIT_NON_FINITE:
            hint = scripts.resume_command("train_ffnn.py", folder, "--sweep",
                                          jobs=self.jobs if self.jobs != 1 else None,
                                          device=None if self.device == "cpu" else self.device)
            print(f"Resume with: {hint}", file=out)
        return rows, None, table, status


def sweep_and_save(save_dir="experiments", name=None, overwrite=False, progress=True,
                   plot_format="png", jobs=1, resume=False, out=None, device="cpu",
                   **settings):
    """Train every pair of a sweep, each in its own run folder
    ``save_dir/<sweep name>/<pair_name>/`` (the files of every run), and write
    the results to ``save_dir/<sweep name>/`` (``write_sweep_results``).

    Parameters
    ----------
    settings  those of ``sweep_settings`` (lrs, hiddens, momentum, epochs, batch_size,
              seed, and those of ``scripts.COMMON_OPTIONS`` such as ``plot_format``)
    jobs      pairs trained at once (see ``train_grid``); the results do not
              depend on it
    resume    continue the stopped sweep ``name`` (None: the one unfinished
              default-named sweep, see ``resume.choose_run``) with its own
              settings: finished pairs are read back, stopped ones finished
    device    where the pairs train, "cpu" or "gpu"; no setting of the sweep, so a
              sweep resumes on either

    When the sweep stops before every pair finished (Ctrl-C, SIGTERM, a
    non-finite loss), the results are written as partial and ``out`` is told
    why, where, and how to resume.

    Returns
    -------
    (folder, rows, best, table, status): best None and status the exit status
    when the sweep did not finish, else status 0
    """
    sweep = Sweep(jobs, progress, save_dir=save_dir, name=name, overwrite=overwrite,
                  resume=resume, asked={**settings, "plot_format": plot_format}, out=out,
                  device=device)
    rows, best, table, status = sweep.execute()
    return sweep.folder, rows, best, table, status


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
