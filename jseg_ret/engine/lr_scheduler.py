"""Iteration-based learning-rate schedules in closed form (mmcv's formulas).

lr(t) = regular(t) for t ≥ warmup_iters, else warmup(t):
  poly:   (base − min) · (1 − t/T)^power + min
  step:   base · gamma^(number of milestones ≤ t), floored at min_lr
  cosine: min + (base − min) · (1 + cos(π t / T)) / 2
  warmup linear:   regular(t) · (1 − (1 − t/W)(1 − ratio))
  warmup constant: regular(t) · ratio
  warmup exp:      regular(t) · ratio^(1 − t/W)
Each optimizer group's lr is its ``initial_lr`` (base lr × lr_mult) put through the same formula;
min_lr is not scaled by lr_mult (as mmcv).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from ..registry import SCHEDULERS


class LrSchedule:
    def __init__(self, max_iters, warmup=None, warmup_iters=0, warmup_ratio=0.1, min_lr=0.0,
                 min_lr_ratio=None, by_epoch=False):
        if by_epoch:
            raise ValueError("lr_config.by_epoch=True: only iteration-based schedules exist here")
        if warmup not in (None, "linear", "constant", "exp"):
            raise ValueError(f"lr_config.warmup {warmup!r}: expected None, 'linear', 'constant' "
                             "or 'exp'")
        if warmup is not None and warmup_iters <= 0:
            raise ValueError("lr_config.warmup_iters must be > 0 when warmup is set")
        if not 0 < warmup_ratio <= 1:
            raise ValueError(f"lr_config.warmup_ratio {warmup_ratio} must be in (0, 1]")
        self.max_iters = int(max_iters)
        self.warmup = warmup
        self.warmup_iters = int(warmup_iters)
        self.warmup_ratio = float(warmup_ratio)
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio

    def _target(self, base_lr):
        return base_lr * self.min_lr_ratio if self.min_lr_ratio is not None else self.min_lr

    def regular_lr(self, t, base_lr):
        raise NotImplementedError

    def get_lr(self, t, base_lr):
        lr = self.regular_lr(t, base_lr)
        if self.warmup is None or t >= self.warmup_iters:
            return lr
        if self.warmup == "linear":
            return lr * (1 - (1 - t / self.warmup_iters) * (1 - self.warmup_ratio))
        if self.warmup == "constant":
            return lr * self.warmup_ratio
        return lr * self.warmup_ratio ** (1 - t / self.warmup_iters)

    def apply(self, optimizer, t):
        """Set every group's lr for iteration ``t`` (0-based); returns the first group's lr."""
        for g in optimizer.param_groups:
            g["lr"] = self.get_lr(t, g["initial_lr"])
        return optimizer.param_groups[0]["lr"]

    def state_dict(self):
        return dict(vars(self))


@SCHEDULERS.register_module(name="poly")
class PolyLr(LrSchedule):
    def __init__(self, max_iters, power=1.0, **kwargs):
        super().__init__(max_iters, **kwargs)
        self.power = power

    def regular_lr(self, t, base_lr):
        target = self._target(base_lr)
        return (base_lr - target) * (1 - min(t, self.max_iters) / self.max_iters) ** self.power \
            + target


@SCHEDULERS.register_module(name="step")
class StepLr(LrSchedule):
    def __init__(self, max_iters, step, gamma=0.1, **kwargs):
        super().__init__(max_iters, **kwargs)
        self.steps = sorted(step) if isinstance(step, (list, tuple)) else None
        self.every = step if isinstance(step, int) else None
        if self.steps is None and (self.every is None or self.every <= 0):
            raise ValueError(f"lr_config.step {step!r}: expected a positive int or a list")
        self.gamma = gamma

    def regular_lr(self, t, base_lr):
        n = t // self.every if self.every else sum(1 for s in self.steps if t >= s)
        return max(base_lr * self.gamma ** n, self.min_lr or 0.0)


@SCHEDULERS.register_module(name="cosine")
class CosineLr(LrSchedule):
    def regular_lr(self, t, base_lr):
        target = self._target(base_lr)
        return target + (base_lr - target) * (1 + math.cos(math.pi * min(t, self.max_iters)
                                                           / self.max_iters)) / 2


SCHEDULERS.register_module(name="CosineAnnealing", module=CosineLr)


def build_lr_schedule(lr_config: Mapping[str, Any], max_iters: int) -> LrSchedule:
    """The learning-rate schedule of a config's ``lr_config``.

    Args:
        lr_config: ``policy`` (a ``SCHEDULERS`` entry: poly, step, CosineAnnealing...) and its
            arguments (warmup, power, min_lr...).
        max_iters: The run's length.

    Returns:
        The schedule (an ``LrSchedule``: ``get_lr(t, base_lr)``, ``state_dict()``).

    Raises:
        KeyError: No ``policy``, or an unknown one.
        TypeError: Arguments the policy does not take.
    """
    cfg = dict(lr_config)
    policy = cfg.pop("policy", None)
    if policy is None:
        raise KeyError(f"lr_config has no 'policy': {lr_config!r}")
    return SCHEDULERS.lookup(policy)(max_iters=max_iters, **cfg)
