"""CheckpointHook: ``iter_N.pkl`` every ``checkpoint_config.interval`` iterations and at the end."""
import os

from ...registry import HOOKS
from ..dist import is_main_process
from .hook import Hook


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Saves through ``runner.write_checkpoint`` (every rank syncs, a NaN/inf state is refused),
    records the file in the run's ``checkpoints.json`` and prunes that run's own checkpoints to
    the newest ``max_keep_ckpts`` (<= 0 keeps all). Iteration-based only, as the runner."""

    priority = "NORMAL"

    def __init__(self, interval, max_keep_ckpts=-1):
        self.interval = interval
        self.max_keep_ckpts = max_keep_ckpts

    def after_train_iter(self, runner):
        if not (self.every_n_iters(runner, self.interval) or self.is_last_iter(runner)):
            return
        done = runner.iter + 1
        path = os.path.join(runner.work_dir, f"iter_{done}.pkl")
        runner.write_checkpoint(path)
        if is_main_process():
            runner.run.add(done, path)
            runner.run.prune(self.max_keep_ckpts)  # only this run's own checkpoints
            runner.logger.info(f"saved checkpoint {path}")
        runner.last_good = path
