"""OptimizerHook: backward and the optimizer step after each iteration's forward."""
from ...registry import HOOKS
from .hook import Hook


@HOOKS.register_module()
class OptimizerHook(Hook):
    """``optimizer.step(loss)``, or backward, ``clip_grad_norm(**grad_clip)`` and step when
    ``optimizer_config.grad_clip`` is set.

    Then it reads ``runner.outputs['log_vars']`` as floats: Jittor evaluates lazily, and the
    point where those values are fetched decides how it groups the pending work into kernels,
    so it stays where it always was (right after the step) to keep training bit-identical.
    """

    priority = "ABOVE_NORMAL"

    def __init__(self, grad_clip=None):
        self.grad_clip = grad_clip

    def after_train_iter(self, runner):
        optimizer, loss = runner.optimizer, runner.outputs["loss"]
        if self.grad_clip:
            optimizer.backward(loss)
            optimizer.clip_grad_norm(**self.grad_clip)
            optimizer.step()
        else:
            optimizer.step(loss)
        runner.outputs["log_vars"] = {k: float(v.item())
                                      for k, v in runner.outputs["log_vars"].items()}
