"""The hook base class and priorities of mmcv's runner.

A hook is called by the runner at named events with the runner itself, whose state it reads
and changes: ``before_run``, ``before_train_iter``, ``after_train_iter``, ``after_run``.
During the iteration events ``runner.iter`` is the 0-based index of the current iteration (as
mmcv's IterBasedRunner); ``every_n_iters`` and ``is_last_iter`` count completed ones.
Hooks run in the order of their priority (a smaller number first); hooks of equal priority run
in the order they were registered.
"""
from enum import IntEnum

from ...config import ConfigError


class Priority(IntEnum):
    """mmcv's hook priorities."""
    HIGHEST = 0
    VERY_HIGH = 10
    HIGH = 30
    ABOVE_NORMAL = 40
    NORMAL = 50
    BELOW_NORMAL = 60
    LOW = 70
    VERY_LOW = 90
    LOWEST = 100


def get_priority(priority, key="priority"):
    """An int 0..100 for a Priority, its name ('LOW') or an int; else a ConfigError."""
    if isinstance(priority, str) and priority.upper() in Priority.__members__:
        return int(Priority[priority.upper()])
    if isinstance(priority, int) and not isinstance(priority, bool) and 0 <= priority <= 100:
        return int(priority)
    raise ConfigError(f"{key}={priority!r}: expected an int in 0..100 or one of "
                      f"{', '.join(Priority.__members__)}")


class Hook:
    """Does nothing at every event; subclasses override the events they act on."""

    priority = "NORMAL"  # the default when registered without an explicit priority

    def before_run(self, runner):
        pass

    def after_run(self, runner):
        pass

    def before_train_iter(self, runner):
        pass

    def after_train_iter(self, runner):
        pass

    @staticmethod
    def every_n_iters(runner, n):
        return n > 0 and (runner.iter + 1) % n == 0

    @staticmethod
    def is_last_iter(runner):
        return runner.iter + 1 == runner.max_iters


class LoggerHook(Hook):
    """Base of the logger hooks (engine/logger_hooks.py): receives the records of the runner's
    TrainLogger, as mmcv's ``LoggerHook.log``."""

    priority = "VERY_LOW"

    def log_train(self, record):
        pass

    def log_val(self, iteration, summary):
        pass

    def close(self):
        pass
