"""Logger hooks named in ``log_config.hooks`` (mmseg's names), fed by the runner.

``TextLoggerHook`` is the built-in text and ``log.jsonl`` logging (always on; accepted so mmseg
configs load). ``TensorboardLoggerHook`` writes the training records (loss terms, lr, times) and
the validation metrics as TensorBoard scalars with tensorboardX, the optional ``[vis]`` extra.
Only rank 0 gets hooks: the other ranks log nothing.
"""
import os

from ..config import ConfigError
from .dist import is_main_process

try:  # optional: pip install "jseg_ret[vis]"
    from tensorboardX import SummaryWriter
except ImportError:
    SummaryWriter = None

VIS_EXTRA = 'the optional [vis] extra (pip install -e ".[vis]", or pip install tensorboardX)'
# record fields that are not scalars to plot
_NOT_SCALARS = ("iter", "mode", "eta_s")
# summary scalars of evaluate_dataset worth a curve (per-class lists are skipped)
VAL_SCALARS = ("aAcc", "mIoU", "mAcc", "mDice", "mFscore", "mPrecision", "mRecall")


class TextLoggerHook:
    """mmseg's text logger: jseg_ret's TrainLogger already writes train.log and log.jsonl."""

    def __init__(self, by_epoch=False, interval=None, ignore_last=True, reset_flag=False):
        pass

    def log_train(self, record):
        pass

    def log_val(self, iteration, summary):
        pass

    def close(self):
        pass


class TensorboardLoggerHook:
    """Scalars ``train/<key>`` (loss terms, lr, time, data_time) at each log record and
    ``val/<metric>`` after each validation, stepped by iteration, under ``log_dir``
    (default ``<work_dir>/tf_logs``, as mmcv)."""

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
        self.writer = SummaryWriter(log_dir)

    def log_train(self, record):
        step = int(record["iter"])
        for key, value in record.items():
            if key not in _NOT_SCALARS and isinstance(value, (int, float)):
                self.writer.add_scalar(f"train/{key}", value, step)
        self.writer.flush()

    def log_val(self, iteration, summary):
        for key in VAL_SCALARS:
            value = summary.get(key)
            if isinstance(value, (int, float)):
                self.writer.add_scalar(f"val/{key}", value, int(iteration))
        self.writer.flush()

    def close(self):
        self.writer.close()


LOGGER_HOOKS = {"TextLoggerHook": TextLoggerHook, "TensorboardLoggerHook": TensorboardLoggerHook}


def build_logger_hooks(log_config, work_dir):
    """The hooks of ``log_config.hooks`` (a list of dicts with ``type``); [] off rank 0."""
    specs = list((log_config or {}).get("hooks") or [])
    for spec in specs:
        if not isinstance(spec, dict) or spec.get("type") not in LOGGER_HOOKS:
            raise ConfigError(f"log_config.hooks: {spec!r} is not a known logger hook; "
                              f"expected dict(type=...) with type one of {sorted(LOGGER_HOOKS)}")
    if not is_main_process():
        return []
    hooks = []
    for spec in specs:
        kwargs = {k: v for k, v in spec.items() if k != "type"}
        if spec["type"] == "TensorboardLoggerHook":
            kwargs.setdefault("work_dir", work_dir)
        try:
            hooks.append(LOGGER_HOOKS[spec["type"]](**kwargs))
        except TypeError as e:
            raise ConfigError(f"log_config.hooks: {spec['type']}: {e}") from e
    return hooks


__all__ = ["TextLoggerHook", "TensorboardLoggerHook", "build_logger_hooks", "VIS_EXTRA"]
