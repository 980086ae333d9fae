"""The runner's training hooks (mmcv's names and priorities), registered in ``HOOKS``.

Registered by the runner, in this order per event (priority, smaller first):
LrUpdaterHook (VERY_HIGH), OptimizerHook (ABOVE_NORMAL), CheckpointHook (NORMAL),
IterTimerHook (LOW), EvalHook (LOW), the logger hooks of ``log_config.hooks`` (VERY_LOW,
engine/logger_hooks.py), and the config's ``custom_hooks`` at their own priority.
"""
from .builder import build_custom_hooks
from .checkpoint import CheckpointHook
from .evaluation import EvalHook
from .hook import Hook, LoggerHook, Priority, get_priority
from .iter_timer import IterTimerHook
from .lr_updater import LrUpdaterHook
from .optimizer import OptimizerHook

__all__ = ["Hook", "LoggerHook", "Priority", "get_priority", "build_custom_hooks",
           "LrUpdaterHook", "OptimizerHook", "CheckpointHook", "IterTimerHook", "EvalHook"]
