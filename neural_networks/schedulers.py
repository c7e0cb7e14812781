"""Learning-rate schedules: ``scheduler(epoch) -> learning rate``."""

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
        if stage_length is None or stage_length <= 0:
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


SCHEDULERS = {"constant": ConstantLR, "exponential": ExponentialLR}


def initialize_scheduler(name, lr, decay=None, stage_length=None, staircase=None, **options):
    """Build a schedule from its name; arguments left None take the class default."""
    if name is None:
        name = "constant"
    if name not in SCHEDULERS:
        raise ValueError(
            f"unknown learning-rate scheduler {name!r}; expected one of {sorted(SCHEDULERS)}"
        )
    if lr is None or lr < 0:
        raise ValueError(f"lr must be a number >= 0, got {lr!r}")
    kwargs = {"decay": decay, "stage_length": stage_length, "staircase": staircase, **options}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if name == "constant":
        return ConstantLR(lr)
    return SCHEDULERS[name](lr, **kwargs)
