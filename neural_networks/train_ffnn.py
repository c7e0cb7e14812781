"""The command line of the Iris runs: train the course's default two-layer
network, or sweep lr x hidden size.

    python -m neural_networks.train_ffnn          # as python train_ffnn.py in a checkout
    python -m neural_networks.train_ffnn --lr 0.05 --hidden 25 --name my_run
    python -m neural_networks.train_ffnn --sweep  # lr 0.001,0.01,0.1 x hidden 5,10,25
    python -m neural_networks.train_ffnn --sweep --jobs 2  # the pairs in 2 processes
    python -m neural_networks.train_ffnn --resume --name my_run  # after Ctrl-C
    python -m neural_networks.train_ffnn --sweep --resume  # a stopped sweep

``parse_args`` holds every option; the training itself is ``neural_networks.runs``
(one network) and ``neural_networks.sweeps`` (the sweep).
The last line printed is always ``Test accuracy: 0.XXXX (test error 0.XXXX)``.
"""

import argparse
import sys

from . import run_folder, runs, scripts, sweeps

D = runs.DEFAULTS


def positive(kind):
    """argparse type: a ``kind`` value > 0."""
    def parse(text):
        what = "a whole number > 0" if kind is int else "a number > 0"
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


def number_list(kind, what):
    """argparse type: a comma-separated list of ``kind`` values > 0."""
    def parse(text):
        try:
            return sweeps.parse_list(text, kind, what)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return parse


def momentum_value(text):
    """argparse type: a momentum in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a momentum in [0, 1), got {text!r}")
    return value


def parse_args(argv=None):
    """Every option of the Iris runs; ``argv`` defaults to ``sys.argv[1:]``.

    A combination that cannot run (``--lr`` with ``--sweep``, ``--lrs`` or
    ``--jobs`` without it, ``--resume`` with settings of its own, a bad
    ``--name``) exits with status 2 and argparse's message. A setting given
    with ``--resume`` is refused even when it equals the default; ``--device`` is
    no setting, and a run resumes on either device.
    """
    parser = argparse.ArgumentParser(
        description="Train a two-layer network (ReLU hidden layer, softmax output, "
                    "cross-entropy, SGD with momentum) on Iris, or sweep lr x hidden size "
                    "and pick the combination with the lowest validation error.",
    )
    parser.add_argument("--hidden", type=positive(int), default=None,
                        help=f"hidden units (default {D.hidden}; not with --sweep)")
    parser.add_argument("--lr", type=positive(float), default=None,
                        help=f"learning rate (default {D.lr}; not with --sweep)")
    parser.add_argument("--momentum", type=momentum_value, default=D.momentum,
                        help="SGD momentum (default %(default)s)")
    parser.add_argument("--epochs", type=positive(int), default=None,
                        help=f"epochs (default {D.epochs})")
    parser.add_argument("--batch-size", type=positive(int), default=D.batch_size,
                        help="training batch size (default %(default)s)")
    parser.add_argument("--seed", type=int, default=D.seed,
                        help="random seed for weights and shuffling (default %(default)s)")
    parser.add_argument("--name", default=None,
                        help=f"run folder under --save-dir (default {runs.DEFAULT_RUN_NAME}, "
                             f"or {sweeps.DEFAULT_SWEEP_NAME} with --sweep; a taken default "
                             f"gets a suffix _2, _3, ...; a taken --name is refused)")
    parser.add_argument("--overwrite", action="store_true",
                        help="reuse the run folder even if it holds an earlier run")
    parser.add_argument("--save-dir", default="experiments", help="parent folder of the run folders (default %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help=f"continue the run --name from its last checkpoint (default: the "
                             f"one unfinished run {runs.DEFAULT_RUN_NAME}, "
                             f"{runs.DEFAULT_RUN_NAME}_2, ...); with --epochs, train it up to "
                             f"that many epochs; with --sweep, continue a stopped sweep")
    parser.add_argument("--sweep", action="store_true",
                        help="train every (lr, hidden) pair of --lrs x --hiddens, each in its "
                             "own run folder inside the sweep's")
    parser.add_argument("--jobs", type=positive(int), default=1,
                        help="sweep pairs trained at once, each in its own process "
                             "(default %(default)s: one after the other; with --sweep)")
    parser.add_argument("--lrs", type=number_list(float, "--lrs"), default=None,
                        help="sweep learning rates, comma-separated (default "
                             + ",".join(f"{v:g}" for v in sweeps.SWEEP_LRS) + ")")
    parser.add_argument("--hiddens", type=number_list(int, "--hiddens"), default=None,
                        help="sweep hidden sizes, comma-separated (default "
                             + ",".join(str(v) for v in sweeps.SWEEP_HIDDENS) + ")")
    parser.add_argument("--patience", type=positive(int), default=None,
                        help="stop once this many epochs bring no better validation error "
                             "(default: train every epoch; not with --sweep)")
    scripts.add_common_options(parser)
    scripts.add_device_option(parser)
    return _checked(parser, parser.parse_args(argv), argv)


def _checked(parser, args, argv):
    """``args``, unless they combine options that cannot run together (argparse's exit
    with status 2)."""
    if args.sweep and args.patience is not None:
        parser.error("--patience stops a single run; a sweep trains every pair in full")
    if args.sweep and (args.lr is not None or args.hidden is not None):
        parser.error("--lr and --hidden set a single run; with --sweep use --lrs and --hiddens")
    if not args.sweep and (args.lrs is not None or args.hiddens is not None):
        parser.error("--lrs and --hiddens need --sweep")
    if not args.sweep and args.jobs != 1:
        parser.error("--jobs trains the pairs of a sweep at once; it needs --sweep")
    if args.resume:
        given = scripts.given_options(parser, argv)
        own = ("lrs", "hiddens", "epochs") if args.sweep else ("hidden", "lr", "patience")
        refused = [f"--{dest.replace('_', '-')}" for dest in (
            *own, "overwrite", "batch_size", "momentum", "seed", *scripts.COMMON_OPTIONS)
            if dest in given]
        if refused:
            what = "a sweep" if args.sweep else "a run"
            parser.error(f"--resume continues {what} with its own settings; drop "
                         f"{', '.join(refused)}")
    if args.name is not None:
        try:
            runs.check_run_name(args.name)
        except ValueError as err:
            parser.error(str(err))
    return args


def run(args):
    """Train, sweep or resume as ``args`` say; print the summary; return the exit status."""
    common = dict(momentum=args.momentum, epochs=args.epochs or D.epochs,
                  batch_size=args.batch_size, seed=args.seed, **scripts.common_values(args))
    if args.sweep:
        if args.resume:
            folder, rows, best, table, status = sweeps.sweep_and_save(
                args.save_dir, args.name, jobs=args.jobs, resume=True, device=args.device)
        else:
            folder, rows, best, table, status = sweeps.sweep_and_save(
                args.save_dir, args.name, args.overwrite, jobs=args.jobs, device=args.device,
                lrs=args.lrs or sweeps.SWEEP_LRS, hiddens=args.hiddens or sweeps.SWEEP_HIDDENS,
                **common)
        if best is None:
            return status
        print(table, end="")
        fmt = run_folder.read_args(folder)["settings"]["plot_format"]
        print(f"Saved results.csv, results.md and best_loss.{fmt} to {folder}")
        print(runs.accuracy_line(rows[best]["test_error"]))
        return status
    if args.resume:
        folder, summary, status = runs.train_and_save(args.save_dir, args.name, resume=True,
                                                      epochs=args.epochs, device=args.device)
    else:
        folder, summary, status = runs.train_and_save(
            args.save_dir, args.name, args.overwrite, device=args.device,
            hidden=args.hidden or D.hidden, lr=args.lr or D.lr, patience=args.patience,
            **common)
    if summary is None:
        return status
    print(f"Saved the run to {folder}")
    print(runs.accuracy_line(summary["test_error"]))
    return status


def main(argv=None):
    """Parse ``argv``, run, and return the exit status (see ``scripts.run_main``)."""
    return scripts.run_main(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
