"""Learning-rate schedules: ``scheduler(epoch) -> learning rate``.

``epoch`` may be fractional (the model passes ``epoch + iteration /
iterations_per_epoch``), so smooth schedules such as cosine and warm-up move
every step; stepwise schedules (constant, staircase, step) see the same
value for the whole epoch.
"""

import inspect
import math


class ConstantLR:
    """lr(epoch) = lr."""

    def __init__(self, lr):
        self.lr = lr

    def __call__(self, epoch):
        return self.lr


class ExponentialLR:
    """lr(epoch) = lr * decay ** (epoch / stage_length), exponent floored if staircase."""

    def __init__(self, lr, decay=0.1, stage_length=1, staircase=False):
        if stage_length <= 0:
            raise ValueError(f"stage_length must be > 0, got {stage_length!r}")
        self.lr = lr
        self.decay = decay
        self.stage_length = stage_length
        self.staircase = staircase

    def __call__(self, epoch):
        exponent = epoch / self.stage_length
        if self.staircase:
            exponent = math.floor(exponent)
        return self.lr * self.decay**exponent


class StepLR:
    """lr(epoch) = lr * decay ** (number of milestones <= epoch).

    Without ``milestones`` the rate drops every ``stage_length`` epochs.
    """

    def __init__(self, lr, decay=0.1, stage_length=None, milestones=None):
        if milestones is None and (stage_length is None or stage_length <= 0):
            raise ValueError(
                f"the step schedule needs milestones or a stage_length > 0, got "
                f"milestones={milestones!r}, stage_length={stage_length!r}"
            )
        self.lr = lr
        self.decay = decay
        self.stage_length = stage_length
        self.milestones = sorted(milestones) if milestones is not None else None

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
    """

    def __init__(self, lr, total_epochs=None, warmup_epochs=0, min_lr=0.0, warmup_start=0.0):
        if total_epochs is None or total_epochs <= 0:
            raise ValueError(f"the cosine schedule needs total_epochs > 0, got {total_epochs!r}")
        if not 0 <= warmup_epochs < total_epochs:
            raise ValueError(
                f"warmup_epochs must be in [0, total_epochs={total_epochs}), got {warmup_epochs!r}"
            )
        self.lr = lr
        self.total_epochs = total_epochs
        self.warmup_epochs = warmup_epochs
        self.min_lr = min_lr
        self.warmup_start = warmup_start

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


def initialize_scheduler(name, lr, decay=None, stage_length=None, staircase=None, **options):
    """Build a schedule from its name; arguments left None take the class default.

    Parameters
    ----------
    name          "constant", "exponential", "step" or "cosine"
    lr            base learning rate
    decay         factor per stage (exponential, step)
    stage_length  epochs per stage (exponential, step)
    staircase     floor the exponent (exponential)
    options       ``milestones`` (step); ``total_epochs``, ``warmup_epochs``,
                  ``min_lr``, ``warmup_start`` (cosine)
    """
    if name is None:
        name = "constant"
    if name not in SCHEDULERS:
        raise ValueError(
            f"unknown learning-rate scheduler {name!r}; expected one of {sorted(SCHEDULERS)}"
        )
    if lr is None or lr < 0:
        raise ValueError(f"lr must be a number >= 0, got {lr!r}")
    cls = SCHEDULERS[name]
    accepted = inspect.signature(cls).parameters
    unknown = sorted(k for k, v in options.items() if v is not None and k not in accepted)
    if unknown:
        raise ValueError(f"the {name!r} schedule does not take {unknown}")
    # The course's three settings may come with any schedule; the ones a
    # schedule has no use for are ignored, as the course's code did.
    given = {"decay": decay, "stage_length": stage_length, "staircase": staircase, **options}
    return cls(lr, **{k: v for k, v in given.items() if v is not None and k in accepted})
