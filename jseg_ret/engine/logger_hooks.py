"""Logger hooks named in ``log_config.hooks`` (mmseg's names), registered in ``HOOKS``.

The runner's TrainLogger (engine/logger.py) averages the logged values over ``log_config.interval``
iterations, writes train.log, log.jsonl and the progress bar, and hands each record to every
logger hook: ``log_train(record)`` and ``log_val(iteration, summary)``.
``TextLoggerHook`` is the built-in text and ``log.jsonl`` logging: always on (the runner adds it
when the config does not list it), it feeds the runner's outputs to the TrainLogger after each
iteration. ``TensorboardLoggerHook`` writes the training records (loss terms, lr, times) and the
validation metrics as TensorBoard scalars with tensorboardX, the optional ``[vis]`` extra.
Only rank 0 gets the configured hooks (the TrainLogger writes nothing on the other ranks).
"""
import os

from ..config import ConfigError
from ..registry import HOOKS
from .dist import is_main_process
from .hooks.hook import LoggerHook

try:  # optional: pip install "jseg_ret[vis]"
    from tensorboardX import SummaryWriter
except ImportError:
    SummaryWriter = None

VIS_EXTRA = 'the optional [vis] extra (pip install -e ".[vis]", or pip install tensorboardX)'
# record fields that are not scalars to plot
_NOT_SCALARS = ("iter", "mode", "eta_s")
# summary scalars of evaluate_dataset worth a curve (per-class lists are skipped)
VAL_SCALARS = ("aAcc", "mIoU", "mAcc", "mDice", "mFscore", "mPrecision", "mRecall")


@HOOKS.register_module()
class TextLoggerHook(LoggerHook):
    """mmseg's text logger: hands each iteration's outputs to ``runner.train_logger``, which
    writes train.log and log.jsonl every ``log_config.interval`` iterations. Called again in
    the same iteration (EvalHook flushes the loggers before validating) it does nothing."""

    def __init__(self, by_epoch=False, interval=None, ignore_last=True, reset_flag=False):
        self._logged_iter = None

    def after_train_iter(self, runner):
        if self._logged_iter == runner.iter:
            return
        self._logged_iter = runner.iter
        runner.train_logger.log(runner.iter + 1, runner.current_lr(),
                                runner.outputs["log_vars"], runner.timing["time"],
                                runner.timing["data_time"])


@HOOKS.register_module()
class TensorboardLoggerHook(LoggerHook):
    """Scalars ``train/<key>`` (loss terms, lr, time, data_time) at each log record and
    ``val/<metric>`` after each validation, stepped by iteration, under ``log_dir``
    (default ``<work_dir>/tf_logs``, as mmcv). The event file is opened at ``before_run`` (or
    the first record)."""

    def __init__(self, work_dir=None, log_dir=None, by_epoch=False, interval=None,
                 ignore_last=True, reset_flag=False):
        if SummaryWriter is None:
            raise ConfigError("log_config.hooks: TensorboardLoggerHook needs tensorboardX, "
                              f"which is in {VIS_EXTRA}")
        if log_dir is None:
            if work_dir is None:
                raise ConfigError("TensorboardLoggerHook: give log_dir or a work dir")
            log_dir = os.path.join(work_dir, "tf_logs")
        self.log_dir = log_dir
        self.writer = None

    def _writer(self):
        if self.writer is None:
            self.writer = SummaryWriter(self.log_dir)
        return self.writer

    def before_run(self, runner):
        self._writer()

    def log_train(self, record):
        step = int(record["iter"])
        for key, value in record.items():
            if key not in _NOT_SCALARS and isinstance(value, (int, float)):
                self._writer().add_scalar(f"train/{key}", value, step)
        self._writer().flush()

    def log_val(self, iteration, summary):
        for key in VAL_SCALARS:
            value = summary.get(key)
            if isinstance(value, (int, float)):
                self._writer().add_scalar(f"val/{key}", value, int(iteration))
        self._writer().flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()


def _is_logger_hook(obj):
    return isinstance(obj, type) and issubclass(obj, LoggerHook)


def build_logger_hooks(log_config, work_dir):
    """The hooks of ``log_config.hooks`` (a list of dicts with ``type``); [] off rank 0."""
    specs = list((log_config or {}).get("hooks") or [])
    known = [k for k in HOOKS.keys() if _is_logger_hook(HOOKS.get(k))]
    for spec in specs:
        if not isinstance(spec, dict) or spec.get("type") not in known:
            raise ConfigError(f"log_config.hooks: {spec!r} is not a known logger hook; "
                              f"expected dict(type=...) with type one of {known}")
    if not is_main_process():
        return []
    hooks = []
    for spec in specs:
        kwargs = {k: v for k, v in spec.items() if k != "type"}
        if spec["type"] == "TensorboardLoggerHook":
            kwargs.setdefault("work_dir", work_dir)
        try:
            hooks.append(HOOKS.get(spec["type"])(**kwargs))
        except TypeError as e:
            raise ConfigError(f"log_config.hooks: {spec['type']}: {e}") from e
    return hooks


__all__ = ["LoggerHook", "TextLoggerHook", "TensorboardLoggerHook", "build_logger_hooks",
           "VIS_EXTRA"]
