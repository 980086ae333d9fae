"""EvalHook: validation every ``evaluation.interval`` iterations and at the end."""
import math
import os

from ...registry import HOOKS
from ..dist import is_main_process
from ..evaluator import evaluate_dataset
from .hook import Hook, LoggerHook


@HOOKS.register_module()
class EvalHook(Hook):
    """Evaluates ``dataset`` in after_train_iter (as mmcv's EvalHook for iteration-based runs),
    writes the ``{"mode": "val"}`` record, and with ``save_best='mIoU'`` (a summary key) keeps
    ``best_mIoU.pkl`` at the best score so far (``runner.best``).

    As mmcv, the logger hooks are flushed first, so the iteration's training record comes
    before its validation record in log.jsonl. Other mmseg keys (metric, pre_eval, ...) are
    accepted and unused: every metric is computed.
    """

    priority = "LOW"

    def __init__(self, dataset, interval, save_best=None, confusion_matrix=False, **unused):
        self.dataset = dataset
        self.interval = interval
        self.save_best = save_best
        self.confusion_matrix = bool(confusion_matrix)

    def after_train_iter(self, runner):
        if not (self.every_n_iters(runner, self.interval) or self.is_last_iter(runner)):
            return
        for hook in runner.hooks:
            if isinstance(hook, LoggerHook):
                hook.after_train_iter(runner)
        done = runner.iter + 1
        summary = evaluate_dataset(runner.model, self.dataset,
                                   show_progress=runner.show_progress, logger=runner.logger,
                                   work_dir=runner.work_dir,
                                   confusion_matrix=self.confusion_matrix)
        runner.train_logger.log_val(done, summary)
        metric = self.save_best
        if metric and metric in summary:
            value = float(summary[metric])
            if not runner.best or value > runner.best.get("value", -math.inf):
                runner.best = {"metric": metric, "value": value, "iter": done}
                path = os.path.join(runner.work_dir, f"best_{metric}.pkl")
                runner.write_checkpoint(path, meta=dict(runner.meta, best=runner.best))
                if is_main_process():
                    runner.logger.info(f"new best {metric} {value:.2f} at iteration {done}: "
                                       f"{path}")
        runner.model.train()
