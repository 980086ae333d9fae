"""LrUpdaterHook: set every optimizer group's learning rate before each iteration."""
from ...registry import HOOKS
from ..lr_scheduler import build_lr_schedule
from .hook import Hook


@HOOKS.register_module()
class LrUpdaterHook(Hook):
    """The closed-form schedule of ``lr_config`` (engine/lr_scheduler.py) at ``runner.iter``.

    The lr is a function of the iteration alone, so a resumed run sets the same values.
    """

    priority = "VERY_HIGH"

    def __init__(self, lr_config, max_iters):
        self.schedule = build_lr_schedule(lr_config, max_iters)

    def before_train_iter(self, runner):
        self.schedule.apply(runner.optimizer, runner.iter)
