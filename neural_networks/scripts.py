"""What the command lines of the training scripts share (``train_ffnn.py``,
``train_fashion_mnist.py``, ``train_cifar10.py``): the exit statuses, one line
on stderr and status 2 for a user's mistake (``run_main``), the options every
script has (``COMMON_OPTIONS``), which options a command line gave
(``given_options``), the ``--device`` a run trains on (``add_device_option``) and
the command that resumes a run (``resume_command``).

A run's folder, training and report are ``lifecycle``'s; what ``--resume``
reads back and checks is ``resume``'s.
"""

import argparse
import os
import shlex
import signal
import sys

from .backend import DEVICES
from .plots import PLOT_FORMATS, check_plot_format

#: Exit statuses: success, a non-finite value stopped training, a user error,
#: stopped by Ctrl-C (128 + SIGINT). SIGTERM gives 143 (128 + SIGTERM).
EXIT_OK, EXIT_NON_FINITE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Options every training script has, with one meaning, by their settings' name: an
#: entry here is the whole of adding one. Each is an option of every script's command
#: line (``add_common_options``), a setting saved in every run's and sweep's args.json
#: (``common_settings``; a sweep's pairs take the sweep's), checked when a run is
#: resumed (``resume.common_rules``; ``default`` stands in for runs saved before the
#: option existed) and kept by a resumed run: ``train_ffnn.py --resume`` refuses it,
#: the image scripts check it against the run's own. ``check`` vets a new run's value.
COMMON_OPTIONS = {
    "plot_format": {"flag": "--plot-format", "choices": PLOT_FORMATS, "default": "png",
                    "help": "format of every picture (default %(default)s)",
                    "check": check_plot_format},
}


def add_common_options(parser):
    """Add every option of ``COMMON_OPTIONS`` to the argparse ``parser``."""
    for dest, option in COMMON_OPTIONS.items():
        parser.add_argument(option["flag"], dest=dest, choices=option["choices"],
                            default=option["default"], help=option["help"])


def add_device_option(parser):
    """Add ``--device`` to the argparse ``parser``: where the network trains, "cpu"
    (numpy, the default) or "gpu" (CuPy).

    Unlike ``COMMON_OPTIONS`` it is no setting of the run: args.json does not hold
    it, and a run may be resumed on either device, whichever it started on (its
    checkpoints hold host arrays). ``lifecycle.Run`` checks it before a folder is
    claimed or opened.
    """
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="where the network trains: cpu (numpy) or gpu (CuPy: "
                             "pip install -e \".[gpu]\"); not kept with the run, so a run "
                             "may be resumed on the other (default %(default)s)")


def common_values(args):
    """The values of ``COMMON_OPTIONS`` in the parsed ``args``, by settings' name."""
    return {dest: getattr(args, dest) for dest in COMMON_OPTIONS}


def common_settings(**values):
    """The settings of ``COMMON_OPTIONS`` for a new run: each value given (not None)
    checked, the default for the others; ValueError for a name that is none of them."""
    unknown = set(values) - set(COMMON_OPTIONS)
    if unknown:
        raise ValueError(f"expected settings among {', '.join(COMMON_OPTIONS)}, got "
                         f"{', '.join(sorted(unknown))}")
    return {dest: option["check"](option["default"] if values.get(dest) is None
                                  else values[dest])
            for dest, option in COMMON_OPTIONS.items()}


def given_options(parser, argv=None):
    """The ``dest`` of every option ``argv`` sets on the command line, whether or not
    its value equals the default (``--seed 0`` counts as given)."""
    unset = object()
    # Attributes already on the namespace are not overwritten by defaults, so what
    # still holds ``unset`` afterwards was not on the command line.
    namespace = argparse.Namespace(**dict.fromkeys(vars(parser.parse_args([])), unset))
    return {dest for dest, value in vars(parser.parse_args(argv, namespace)).items()
            if value is not unset}


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
