"""IterTimerHook: the data and iteration times that the logger records."""
import time

from ...registry import HOOKS
from .hook import Hook


@HOOKS.register_module()
class IterTimerHook(Hook):
    """``runner.timing``: ``data_time`` from the start of the batch fetch (``runner.iter_start``)
    to before_train_iter, ``time`` from there to this hook's after_train_iter (forward, step
    and any checkpoint save; a validation, later, is not counted)."""

    priority = "LOW"

    def before_train_iter(self, runner):
        runner.timing = {"data_time": time.time() - runner.iter_start}

    def after_train_iter(self, runner):
        runner.timing["time"] = time.time() - runner.iter_start
