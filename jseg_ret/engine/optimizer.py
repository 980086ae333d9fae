"""Optimizers with mmcv-style parameter groups (``paramwise_cfg``).

paramwise_cfg keys:
- custom_keys: {substring: dict(lr_mult=..., decay_mult=...)} — a parameter takes the multipliers
  of the longest key contained in its name (ties: alphabetical), as mmcv's
  DefaultOptimizerConstructor;
- norm_decay_mult: weight-decay multiplier for normalization layers' weight and bias;
- bias_lr_mult, bias_decay_mult: multipliers for other biases (never a norm layer's bias).
Each resulting group stores ``initial_lr``, ``lr_mult`` and ``decay_mult`` so the lr schedule can
scale it.
"""
from __future__ import annotations

from typing import Any, Mapping

import jittor as jt
from jittor import nn

from ..bricks.norm import BatchNorm2d, GroupNorm, LayerNorm2d
from ..registry import OPTIMIZERS

OPTIMIZERS.register_module(name="AdamW", module=jt.optim.AdamW)
OPTIMIZERS.register_module(name="Adam", module=jt.optim.Adam)
OPTIMIZERS.register_module(name="SGD", module=jt.optim.SGD)

_NORM_TYPES = (BatchNorm2d, GroupNorm, LayerNorm2d, nn.LayerNorm, nn.BatchNorm, nn.GroupNorm)


def _norm_param_names(model):
    names = set()
    for mod_name, module in model.named_modules():
        if isinstance(module, _NORM_TYPES):
            prefix = f"{mod_name}." if mod_name else ""
            names.update({prefix + "weight", prefix + "bias"})
    return names


def param_multipliers(model, paramwise_cfg):
    """{param name: (lr_mult, decay_mult)} for every trainable parameter."""
    cfg = dict(paramwise_cfg or {})
    custom = dict(cfg.pop("custom_keys", {}) or {})
    norm_decay = cfg.pop("norm_decay_mult", None)
    bias_lr = cfg.pop("bias_lr_mult", None)
    bias_decay = cfg.pop("bias_decay_mult", None)
    if cfg:
        raise KeyError(f"paramwise_cfg: unknown keys {sorted(cfg)}; expected custom_keys, "
                       "norm_decay_mult, bias_lr_mult, bias_decay_mult")
    keys = sorted(sorted(custom), key=len, reverse=True)
    # mmcv: a norm layer's bias is never a "bias" for bias_lr_mult/bias_decay_mult, whether or
    # not norm_decay_mult is given (its default is 1)
    norm_names = _norm_param_names(model)
    out = {}
    for name, p in model.named_parameters():
        if p.is_stop_grad():
            continue
        lr_mult, decay_mult = 1.0, 1.0
        matched = next((k for k in keys if k in name), None)
        if matched is not None:
            lr_mult = custom[matched].get("lr_mult", 1.0)
            decay_mult = custom[matched].get("decay_mult", 1.0)
        else:
            if name in norm_names:
                decay_mult = norm_decay if norm_decay is not None else decay_mult
            elif name.endswith(".bias"):
                lr_mult = bias_lr if bias_lr is not None else lr_mult
                decay_mult = bias_decay if bias_decay is not None else decay_mult
        out[name] = (float(lr_mult), float(decay_mult))
    return out


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> jt.optim.Optimizer:
    """A Jittor optimizer over the model's trainable parameters, grouped by multipliers.

    Args:
        model: The model whose trainable parameters are optimized.
        cfg: ``type`` (an ``OPTIMIZERS`` entry: SGD, AdamW...), ``lr``, optional
            ``weight_decay`` and ``paramwise_cfg`` (lr/decay multipliers per parameter kind,
            as mmseg's), and the optimizer's other arguments.

    Returns:
        The optimizer; each group holds ``lr``, ``initial_lr``, ``weight_decay``, ``lr_mult``
        and ``decay_mult``.

    Raises:
        KeyError: No ``type`` or ``lr``, or an unknown ``type``.
        ValueError: The model has no trainable parameters.
    """
    cfg = dict(cfg)
    paramwise = cfg.pop("paramwise_cfg", None)
    opt_type = cfg.pop("type", None)
    if opt_type is None:
        raise KeyError(f"optimizer config has no 'type': {cfg!r}")
    base_lr = cfg.get("lr")
    if base_lr is None:
        raise KeyError(f"optimizer config {opt_type!r} has no 'lr'")
    base_wd = cfg.get("weight_decay", 0.0)
    mults = param_multipliers(model, paramwise)
    params = dict(model.named_parameters())
    groups = {}
    for name, (lr_mult, decay_mult) in mults.items():
        groups.setdefault((lr_mult, decay_mult), []).append(params[name])
    param_groups = []
    for (lr_mult, decay_mult), plist in groups.items():
        param_groups.append(dict(params=plist, lr=base_lr * lr_mult, initial_lr=base_lr * lr_mult,
                                 weight_decay=base_wd * decay_mult, lr_mult=lr_mult,
                                 decay_mult=decay_mult))
    if not param_groups:
        raise ValueError("build_optimizer: the model has no trainable parameters")
    return OPTIMIZERS.lookup(opt_type)(param_groups, **cfg)


def group_of(optimizer, param):
    """The param group dict holding ``param`` (identity match)."""
    for g in optimizer.param_groups:
        if any(p is param for p in g["params"]):
            return g
    raise KeyError("parameter not in any optimizer group")
