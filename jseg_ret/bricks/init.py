"""Weight initialisation helpers (in place on a module's Vars), as mmcv/timm define them."""
import math

import numpy as np

import jittor as jt


def _set(var, array):
    var.assign(jt.array(np.asarray(array, dtype=np.float32)).reshape(var.shape))


def trunc_normal_(var, std=0.02, mean=0.0, a=-2.0, b=2.0):
    """Normal(mean, std) truncated to [a, b] (absolute bounds, as timm)."""
    n = int(np.prod(var.shape))
    out = np.empty(0, dtype=np.float64)
    while out.size < n:  # rejection sampling: cheap since the bounds are wide
        draw = np.random.normal(mean, std, size=max(n, 16) * 2)
        out = np.concatenate([out, draw[(draw >= a) & (draw <= b)]])
    _set(var, out[:n])


def constant_(var, value):
    _set(var, np.full(var.shape, value, dtype=np.float32))


def normal_(var, mean=0.0, std=1.0):
    _set(var, np.random.normal(mean, std, size=var.shape))


def _fans(shape):
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def kaiming_normal_(var, a=0.0, mode="fan_out", nonlinearity="relu"):
    fan_in, fan_out = _fans(var.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    gain = math.sqrt(2.0 / (1 + a ** 2)) if nonlinearity in ("relu", "leaky_relu") else 1.0
    normal_(var, 0.0, gain / math.sqrt(fan))


def constant_init(module, val, bias=0.0):
    if getattr(module, "weight", None) is not None:
        constant_(module.weight, val)
    if getattr(module, "bias", None) is not None:
        constant_(module.bias, bias)


def normal_init(module, mean=0.0, std=1.0, bias=0.0):
    if getattr(module, "weight", None) is not None:
        normal_(module.weight, mean, std)
    if getattr(module, "bias", None) is not None:
        constant_(module.bias, bias)


def trunc_normal_init(module, std=0.02, bias=0.0):
    trunc_normal_(module.weight, std=std)
    if getattr(module, "bias", None) is not None:
        constant_(module.bias, bias)


def kaiming_init(module, a=0.0, mode="fan_out", nonlinearity="relu", bias=0.0):
    kaiming_normal_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    if getattr(module, "bias", None) is not None:
        constant_(module.bias, bias)
