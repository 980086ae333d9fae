"""Training checkpoints: model, optimizer state, iteration, schedule, RNG state and config.

Files are Jittor ``.pkl`` written to a temporary file and renamed (``interop.save_pkl``), so a
crash during a save never damages the previous checkpoint. Optimizer state is stored by parameter
name, so a resume checks it belongs to the same model.
"""
import glob
import os
import random
import re
import time

import jittor as jt
import numpy as np

from ..interop import CheckpointError, load_checkpoint_into, load_pkl, save_pkl

# Per-parameter optimizer slots of Jittor's optimizers (Adam/AdamW: m and values; SGD: values).
_SLOTS = ("m", "values")
_GROUP_SCALARS = ("lr", "initial_lr", "weight_decay", "lr_mult", "decay_mult")


def optimizer_state(optimizer, model):
    names = {id(p): n for n, p in model.named_parameters()}
    groups = []
    for g in optimizer.param_groups:
        try:
            params = [names[id(p)] for p in g["params"]]
        except KeyError:
            raise ValueError("optimizer holds a parameter that is not in the model") from None
        entry = {k: g[k] for k in _GROUP_SCALARS if k in g}
        entry["params"] = params
        entry["state"] = {s: [v.numpy() for v in g[s]] for s in _SLOTS if s in g}
        groups.append(entry)
    return {"type": type(optimizer).__name__, "n_step": int(optimizer.n_step), "groups": groups}


def load_optimizer_state(optimizer, model, state, source="<checkpoint>"):
    names = {id(p): n for n, p in model.named_parameters()}
    if state.get("type") != type(optimizer).__name__:
        raise CheckpointError(f"{source}: optimizer state is for {state.get('type')}, the config "
                              f"builds {type(optimizer).__name__}")
    if len(state["groups"]) != len(optimizer.param_groups):
        raise CheckpointError(f"{source}: {len(state['groups'])} optimizer groups saved, "
                              f"{len(optimizer.param_groups)} built (paramwise_cfg changed?)")
    for i, (g, saved) in enumerate(zip(optimizer.param_groups, state["groups"])):
        current = [names[id(p)] for p in g["params"]]
        if current != saved["params"]:
            raise CheckpointError(f"{source}: optimizer group {i} holds other parameters than "
                                  "the model's (checkpoint of another model or config?)")
        for k in _GROUP_SCALARS:
            if k in saved:
                g[k] = saved[k]
        for slot, arrays in saved["state"].items():
            for var, arr in zip(g[slot], arrays):
                var.assign(jt.array(arr))
    optimizer.n_step = state["n_step"]


def rng_state():
    return {"numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state):
    np.random.set_state(tuple(state["numpy"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def save_checkpoint(path, model, optimizer=None, iteration=0, meta=None, config=None,
                    schedule=None, extra=None):
    """Atomically write a training checkpoint; returns ``path``."""
    state = {
        "meta": dict(meta or {}, time=time.strftime("%Y-%m-%d %H:%M:%S"), iter=int(iteration)),
        "state_dict": {k: v.numpy() for k, v in model.state_dict().items()},
        "iter": int(iteration),
        "rng": rng_state(),
    }
    if optimizer is not None:
        state["optimizer"] = optimizer_state(optimizer, model)
    if schedule is not None:
        state["lr_schedule"] = schedule.state_dict()
    if config is not None:
        state["config"] = config
    if extra:
        state.update(extra)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return save_pkl(state, path)


def load_checkpoint(path, model, optimizer=None, strict=True, restore_rng=False):
    """Load weights (and optimizer/RNG when given/asked); returns the checkpoint dict."""
    ckpt = load_pkl(path) if str(path).endswith(".pkl") else None
    load_checkpoint_into(model, ckpt if ckpt is not None else path, strict=strict, verbose=False)
    if ckpt is None:
        return {"iter": 0}
    if optimizer is not None:
        if "optimizer" not in ckpt:
            raise CheckpointError(f"{path}: has no optimizer state to resume from")
        load_optimizer_state(optimizer, model, ckpt["optimizer"], path)
    if restore_rng and "rng" in ckpt:
        set_rng_state(ckpt["rng"])
    return ckpt


_ITER_RE = re.compile(r"iter_(\d+)\.pkl$")


def latest_checkpoint(work_dir):
    """Path of the highest ``iter_N.pkl`` in ``work_dir`` (None if there is none)."""
    found = [(int(m.group(1)), p) for p in glob.glob(os.path.join(work_dir, "iter_*.pkl"))
             if (m := _ITER_RE.search(p))]
    return max(found)[1] if found else None


def prune_checkpoints(work_dir, keep):
    """Delete all but the newest ``keep`` ``iter_N.pkl`` files (keep <= 0: keep all)."""
    if keep is None or keep <= 0:
        return []
    found = sorted((int(m.group(1)), p) for p in glob.glob(os.path.join(work_dir, "iter_*.pkl"))
                   if (m := _ITER_RE.search(p)))
    removed = [p for _, p in found[:-keep]]
    for p in removed:
        os.remove(p)
    return removed
