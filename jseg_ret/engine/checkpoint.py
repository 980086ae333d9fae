"""Training checkpoints: model, optimizer state, iteration, schedule, RNG state and config.

Files are Jittor ``.pkl`` written to a temporary file and renamed (``interop.save_pkl``), so a
crash during a save never damages the previous checkpoint; a checkpoint whose weights or optimizer
state are not finite is never written. Optimizer state is stored by parameter name, so a resume
checks it belongs to the same model.

A training run records the checkpoints it wrote in ``<work_dir>/checkpoints.json``
(``RunCheckpoints``): pruning (``max_keep_ckpts``) deletes only those, and ``--resume auto`` picks
among them, so files of another run in the same folder are never deleted or mistaken for ours.
"""
import glob
import json
import os
import random
import re
import time
import uuid

import numpy as np

import jittor as jt

from ..interop import CheckpointError, load_checkpoint_into, load_pkl, save_pkl
from ..interop.pkl_io import is_jittor_pkl
from ..utils.fileio import TMP_INFIX, write_json, write_output
from ..utils.fileio import OutputWriteError as OutputWriteError  # re-exported: its old home

# Per-parameter optimizer slots of Jittor's optimizers (Adam/AdamW: m and values; SGD: values).
_SLOTS = ("m", "values")
_GROUP_SCALARS = ("lr", "initial_lr", "weight_decay", "lr_mult", "decay_mult")
MANIFEST = "checkpoints.json"


class NonFiniteCheckpoint(CheckpointError):
    """The weights or optimizer state to be saved hold NaN or infinite values."""

    def __init__(self, path, bad, total):
        self.path, self.bad, self.total = path, list(bad), total
        shown = ", ".join(self.bad[:3]) + (", ..." if len(self.bad) > 3 else "")
        super().__init__(f"{path}: not written: {len(self.bad)} of {total} tensors hold NaN or "
                         f"inf ({shown})")


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
    """Restore the optimizer's moments and step count.

    The group hyper-parameters (lr, weight decay, multipliers) stay as built from the current
    config: they equal the saved ones when the config is unchanged (exact resume), and a changed
    config is reported by the runner rather than silently replaced by the checkpoint's values.
    """
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


def non_finite_tensors(state_dict, opt_state=None):
    """Names of the float tensors holding NaN/inf, and the number of tensors checked."""
    arrays = list(state_dict.items())
    for g in (opt_state or {}).get("groups", []):
        for slot, values in g["state"].items():
            arrays += [(f"optimizer.{slot}[{name}]", a) for name, a in zip(g["params"], values)]
    bad = [k for k, a in arrays
           if np.issubdtype(np.asarray(a).dtype, np.floating) and not np.isfinite(a).all()]
    return bad, len(arrays)


def ensure_finite(model, optimizer=None, path="<checkpoint>"):
    """Raise ``NonFiniteCheckpoint`` when the model (or optimizer state) is not finite."""
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    opt = optimizer_state(optimizer, model) if optimizer is not None else None
    bad, total = non_finite_tensors(weights, opt)
    if bad:
        raise NonFiniteCheckpoint(path, bad, total)


def save_checkpoint(path, model, optimizer=None, iteration=0, meta=None, config=None,
                    schedule=None, extra=None):
    """Atomically write a training checkpoint; returns ``path``.

    Refuses (``NonFiniteCheckpoint``) weights or optimizer state holding NaN/inf, so a file
    written here is always usable; an OSError (disk full, permission) becomes
    ``OutputWriteError`` naming the path.
    """
    state = {
        "meta": dict(meta or {}, time=time.strftime("%Y-%m-%d %H:%M:%S"), iter=int(iteration)),
        "state_dict": {k: v.numpy() for k, v in model.state_dict().items()},
        "iter": int(iteration),
        "rng": rng_state(),
    }
    if optimizer is not None:
        state["optimizer"] = optimizer_state(optimizer, model)
    bad, total = non_finite_tensors(state["state_dict"], state.get("optimizer"))
    if bad:
        raise NonFiniteCheckpoint(path, bad, total)
    if schedule is not None:
        state["lr_schedule"] = schedule.state_dict()
    if config is not None:
        state["config"] = config
    if extra:
        state.update(extra)
    directory = os.path.dirname(os.path.abspath(path))
    write_output("the checkpoint folder", directory, lambda: os.makedirs(directory, exist_ok=True))
    return write_output("the checkpoint", path, lambda: save_pkl(state, path))


def load_checkpoint(path, model, optimizer=None, strict=True, restore_rng=False):
    """Load weights (and optimizer/RNG when given/asked); returns the checkpoint dict."""
    ckpt = load_pkl(path) if str(path).endswith(".pkl") else None
    if optimizer is not None and "optimizer" not in (ckpt or {}):  # checked before any change
        raise CheckpointError(f"{path}: holds weights only, no optimizer state to restore")
    load_checkpoint_into(model, ckpt if ckpt is not None else path, strict=strict, verbose=False)
    if ckpt is None:
        return {"iter": 0}
    if optimizer is not None:
        load_optimizer_state(optimizer, model, ckpt["optimizer"], path)
    if restore_rng and "rng" in ckpt:
        set_rng_state(ckpt["rng"])
    return ckpt


def read_resume_checkpoint(path):
    """The dict of a training checkpoint to resume from; refuses weights-only files.

    A resume continues a run: it needs the optimizer state and the iteration, which only the
    ``iter_N.pkl``/``best_*.pkl`` files written by the runner hold. A weights-only file (a .pth, or
    a .pkl without optimizer state) would silently restart at iteration 0 with a fresh optimizer.
    """
    path = os.fspath(path)
    hint = (f"; to start a new training run from its weights use --cfg-options "
            f"load_from={path}")
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint to resume from")
    if not (path.endswith(".pkl") or is_jittor_pkl(path)):
        raise CheckpointError(f"{path}: holds weights only (not a training checkpoint of this "
                              f"runner: no optimizer state, no iteration){hint}")
    ckpt = load_pkl(path)
    if not isinstance(ckpt, dict) or "optimizer" not in ckpt or "iter" not in ckpt:
        raise CheckpointError(f"{path}: has no optimizer state or iteration to resume from "
                              f"(weights only){hint}")
    return ckpt


_ITER_RE = re.compile(r"iter_(\d+)\.pkl$")
_TMP_RE = re.compile(r"^(?:iter_\d+\.pkl|best_[\w.-]+\.pkl|" + re.escape(MANIFEST)
                     + ")" + re.escape(TMP_INFIX) + r"(\d+)(?:\.pkl)?$")


def _iter_files(work_dir):
    """``[(N, path)]`` of the ``iter_N.pkl`` files in ``work_dir``, in no order."""
    pattern = os.path.join(glob.escape(work_dir), "iter_*.pkl")
    return [(int(m.group(1)), p) for p in glob.glob(pattern)
            if (m := _ITER_RE.search(p))]


def checkpoint_files(work_dir):
    """The checkpoints (``iter_N.pkl``, ``best_*.pkl``) in ``work_dir``, sorted."""
    return sorted(p for pattern in ("iter_*.pkl", "best_*.pkl")
                  for p in glob.glob(os.path.join(glob.escape(work_dir), pattern))
                  if not _TMP_RE.match(os.path.basename(p)))


def resume_candidates(work_dir):
    """Checkpoints to resume from, newest first: the last run's (``checkpoints.json``) when the
    folder has that record, else every ``iter_N.pkl``."""
    run = RunCheckpoints.read(work_dir)
    if run is not None:
        found = [(n, os.path.join(work_dir, f)) for n, f in run.entries]
        found = [(n, p) for n, p in found if os.path.isfile(p)]
    else:
        found = _iter_files(work_dir)
    return [p for _, p in sorted(found, reverse=True)]


def latest_checkpoint(work_dir):
    """Path of the newest ``iter_N.pkl`` of the last run in ``work_dir`` (None if there is none)."""
    found = resume_candidates(work_dir)
    return found[0] if found else None


def prune_checkpoints(work_dir, keep):
    """Delete all but the newest ``keep`` ``iter_N.pkl`` files (keep <= 0: keep all)."""
    if keep is None or keep <= 0:
        return []
    found = sorted(_iter_files(work_dir))
    removed = [p for _, p in found[:-keep]]
    for p in removed:
        os.remove(p)
    return removed


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_stale_temporaries(work_dir):
    """Delete the temporaries a killed save left in ``work_dir`` (``iter_N.pkl.tmp-PID.pkl``,
    ``best_*.pkl.tmp-PID.pkl``, ``checkpoints.json.tmp-PID``) whose process is gone; returns them.

    Only files of exactly these names, directly in ``work_dir``: nothing else is touched.
    """
    removed = []
    for name in sorted(os.listdir(work_dir)) if os.path.isdir(work_dir) else []:
        m = _TMP_RE.match(name)
        path = os.path.join(work_dir, name)
        if m and os.path.isfile(path) and not _pid_alive(int(m.group(1))):
            os.remove(path)
            removed.append(path)
    return removed


class RunCheckpoints:
    """The ``iter_N.pkl`` files one training run wrote, recorded in ``<work_dir>/checkpoints.json``.

    ``run_id`` is also stored in each checkpoint's meta, so a resumed run recognises its own
    record. Pruning deletes only files listed here: a run never deletes a file it did not write.
    """

    def __init__(self, work_dir, run_id=None, entries=()):
        self.work_dir = work_dir
        self.run_id = run_id or uuid.uuid4().hex
        self.entries = sorted((int(n), str(f)) for n, f in entries)  # (iteration, file name)

    @property
    def path(self):
        return os.path.join(self.work_dir, MANIFEST)

    @classmethod
    def read(cls, work_dir):
        """The record in ``work_dir``, or None when there is none (or it is unreadable)."""
        path = os.path.join(work_dir, MANIFEST)
        try:
            with open(path) as f:
                data = json.load(f)
            return cls(work_dir, data["run_id"], [(e["iter"], e["file"])
                                                  for e in data["checkpoints"]])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @classmethod
    def resumed(cls, work_dir, run_id, start_iter, resumed_path):
        """The record of a run resumed at ``start_iter``: its files up to that iteration."""
        run = cls.read(work_dir)
        if run is not None and run_id and run.run_id == run_id:
            return cls(work_dir, run_id, [(n, f) for n, f in run.entries if n <= start_iter])
        mine = []  # no record of this run here: only the file resumed from is provably ours
        if os.path.dirname(os.path.abspath(resumed_path)) == os.path.abspath(work_dir):
            m = _ITER_RE.search(resumed_path)
            if m and int(m.group(1)) == start_iter:
                mine.append((start_iter, os.path.basename(resumed_path)))
        return cls(work_dir, run_id, mine)

    def add(self, iteration, path):
        name = os.path.basename(path)
        self.entries = sorted([e for e in self.entries if e[1] != name] + [(int(iteration), name)])
        self.write()

    def prune(self, keep):
        """Delete all but this run's newest ``keep`` checkpoints (keep <= 0: keep all)."""
        if keep is None or keep <= 0 or len(self.entries) <= keep:
            return []
        removed, self.entries = self.entries[:-keep], self.entries[-keep:]
        self.write()
        paths = [os.path.join(self.work_dir, f) for _, f in removed]
        for p in paths:
            if os.path.isfile(p):
                os.remove(p)
        return paths

    def write(self):
        data = {"run_id": self.run_id,
                "checkpoints": [{"iter": n, "file": f} for n, f in self.entries]}
        write_json(self.path, data, "the run's checkpoint list", indent=1)
