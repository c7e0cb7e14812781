"""Learning-rate schedules: ``scheduler(epoch) -> learning rate``.

Each schedule declares the epoch it is given during training in
``moves_within_epoch``. The course's schedules (constant, exponential) and the
step schedule are given the whole epoch number (0, 1, 2, ...) at every step of
that epoch, as the course's ``train`` gives them (``self.update(i)``), so the
rate changes between epochs only. The cosine schedule is given the fractional
epoch ``epoch + iteration / iterations_per_epoch``, so its warm-up and decay
move every step (a one-epoch warm-up would otherwise never warm up).

Every setting is checked when the schedule is built: a learning rate, decay
or stage length that is not a finite number in range is a ``ValueError``
naming the setting and the value, never a NaN found epochs later.
"""

import math

from .utils.checks import check_flag, check_number
from .utils.registry import build, factory


class ConstantLR:
    """lr(epoch) = lr."""

    #: Training gives it the whole epoch number (see the module's docstring).
    moves_within_epoch = False

    def __init__(self, lr):
        self.lr = check_number("lr", lr, above=0)

    def __call__(self, epoch):
        return self.lr


class ExponentialLR:
    """lr(epoch) = lr * decay ** (epoch / stage_length), exponent floored if staircase.

    Training gives it the whole epoch number, as the course's ``train`` does.
    """

    moves_within_epoch = False

    def __init__(self, lr, decay=0.1, stage_length=1, staircase=False):
        self.lr = check_number("lr", lr, above=0)
        self.decay = check_number("decay", decay, above=0)
        self.stage_length = check_number("stage_length", stage_length, above=0)
        self.staircase = check_flag("staircase", staircase)

    def __call__(self, epoch):
        exponent = epoch / self.stage_length
        if self.staircase:
            exponent = math.floor(exponent)
        return self.lr * self.decay**exponent


class StepLR:
    """lr(epoch) = lr * decay ** (number of milestones <= epoch).

    Give either ``milestones`` (epochs, any order) or ``stage_length`` (the
    rate drops every ``stage_length`` epochs), not both. Training gives it the
    whole epoch number.
    """

    moves_within_epoch = False

    def __init__(self, lr, decay=0.1, stage_length=None, milestones=None):
        if (milestones is None) == (stage_length is None):
            raise ValueError(
                f"the step schedule needs milestones or a stage_length > 0 (one of them), got "
                f"milestones={milestones!r}, stage_length={stage_length!r}"
            )
        self.lr = check_number("lr", lr, above=0)
        self.decay = check_number("decay", decay, above=0)
        if stage_length is not None:
            check_number("stage_length", stage_length, above=0)
        if milestones is not None:
            if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
                raise ValueError(f"milestones must be a list of epochs, got {milestones!r}")
            milestones = sorted(check_number(f"milestones[{i}]", m, at_least=0)
                                for i, m in enumerate(milestones))
        self.stage_length = stage_length
        self.milestones = milestones

    def __call__(self, epoch):
        epoch = math.floor(epoch)
        if self.milestones is None:
            drops = epoch // self.stage_length
        else:
            drops = sum(1 for m in self.milestones if m <= epoch)
        return self.lr * self.decay**drops


class CosineLR:
    """Linear warm-up from ``warmup_start`` * lr to lr over ``warmup_epochs``, then a
    half cosine from lr down to ``min_lr`` at ``total_epochs``:

        lr(e) = min_lr + (lr - min_lr) * (1 + cos(pi * (e - w) / (T - w))) / 2

    Training gives it the fractional epoch, so it moves every step.
    """

    moves_within_epoch = True

    def __init__(self, lr, total_epochs=None, warmup_epochs=0, min_lr=0.0, warmup_start=0.0):
        self.lr = check_number("lr", lr, above=0)
        if total_epochs is None:
            raise ValueError("the cosine schedule needs total_epochs > 0, got None")
        self.total_epochs = check_number("total_epochs", total_epochs, above=0)
        self.warmup_epochs = check_number("warmup_epochs", warmup_epochs, at_least=0,
                                          below=total_epochs)
        self.min_lr = check_number("min_lr", min_lr, at_least=0, at_most=lr)
        self.warmup_start = check_number("warmup_start", warmup_start, at_least=0, at_most=1)

    def __call__(self, epoch):
        if epoch < self.warmup_epochs:
            fraction = epoch / self.warmup_epochs
            return self.lr * (self.warmup_start + (1 - self.warmup_start) * fraction)
        progress = min(1.0, (epoch - self.warmup_epochs) / (self.total_epochs - self.warmup_epochs))
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


SCHEDULERS = {
    "constant": ConstantLR,
    "exponential": ExponentialLR,
    "step": StepLR,
    "cosine": CosineLR,
}


@factory(SCHEDULERS, "learning-rate schedule")
def initialize_scheduler(name, lr, decay=None, stage_length=None, staircase=None, **options):
    """Build a schedule from its name; arguments left None take the class default.

    Every setting given must be one the schedule takes: ``decay`` given to
    the cosine schedule, or a misspelt option, is a ValueError listing what
    the schedule accepts. (``initialize_optimizer`` alone lets the course's
    ``lr_decay``, ``stage_length`` and ``staircase`` ride along with a
    constant schedule; see there.)

    Parameters
    ----------
    name          "constant" (also for None), "exponential", "step" or "cosine"
    lr            base learning rate, a finite number > 0
    decay         factor per stage (exponential, step), > 0
    stage_length  epochs per stage (exponential, step), > 0
    staircase     floor the exponent (exponential), True or False
    options       ``milestones`` (step); ``total_epochs``, ``warmup_epochs``,
                  ``min_lr``, ``warmup_start`` (cosine)

    Returns
    -------
    a callable ``schedule(epoch) -> learning rate``
    """
    if name is None:
        name = "constant"
    # build() drops None values, so a missing lr is caught here, by name.
    check_number("lr", lr, above=0)
    settings = {"lr": lr, "decay": decay, "stage_length": stage_length, "staircase": staircase}
    return build(SCHEDULERS, "learning-rate schedule", name, {**settings, **options})
