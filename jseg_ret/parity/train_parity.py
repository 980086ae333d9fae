"""Run the training-parity procedure of shared/fixtures/README.md on a Jittor model.

One training forward/backward in train mode (dropout and stochastic depth off, BatchNorm on
batch statistics) gives the loss, every parameter's gradient and the BatchNorm running
statistics; then ``steps`` optimizer steps on the same batch (the first one with that
gradient), through ``engine.build_optimizer`` with the recipe's optimizer config, give the
weights. The result is a dict in the ``train_reference.npz`` layout, so it can be compared
with a PyTorch reference (``train_compare``) or written as one (``save_train_reference``).
"""
import os
from dataclasses import dataclass, field

import numpy as np

import jittor as jt
from jittor import nn

from ..bricks.drop import Dropout2d, DropPath
from ..engine import optimizer as optimizer_mod
from ..utils.fileio import atomic_open
from .train_inputs import HEAD, TrainInputError

BN_STATS = ("running_mean", "running_var")


@dataclass
class TrainRun:
    """What one parity run produced: ``arrays`` in the reference layout, the weights' heads
    before the first step (to measure each update), and the optimizer multipliers used."""

    arrays: dict
    initial_heads: dict
    multipliers: dict                      # name -> (lr_mult, decay_mult)
    no_gradient: list = field(default_factory=list)  # parameters the loss does not reach


def disable_stochastic_layers(model):
    """Dropout and stochastic depth off (p = 0); returns {'dropout': n, 'drop_path': m}, the
    number of layers that had a non-zero probability."""
    counts = {"dropout": 0, "drop_path": 0}
    for _name, module in model.named_modules():
        if isinstance(module, DropPath) and module.drop_prob > 0:
            module.drop_prob = 0.0
            counts["drop_path"] += 1
        elif isinstance(module, (Dropout2d, nn.Dropout)) and getattr(module, "p", 0) > 0:
            module.p = 0.0
            counts["dropout"] += 1
    return counts


def set_train_mode(model):
    """Train mode for every module (BatchNorm on batch statistics), as the reference ran."""
    model.train()


def input_channels(model):
    """Channels the model's first convolution expects (None if it has none)."""
    for _name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return int(module.in_channels)
    return None


def nmf_modules(model):
    """The modules that accept fixed NMF initial bases (SegNeXt's decode head)."""
    head = getattr(model, "decode_head", None)
    return [head] if head is not None and hasattr(head, "set_initial_bases") else []


def draw_nmf_bases(model, batch, seed=0):
    """Seeded initial bases (B·S, D, R), uniform and L2-normalized along D as NMF2D draws them,
    for a dump without given bases; None if the model has no NMF."""
    if not nmf_modules(model):
        return None
    head = model.decode_head
    ham = head.hamburger.ham
    shape = (batch * ham.S, head.ham_channels // ham.S, ham.R)
    bases = np.random.RandomState(seed).rand(*shape).astype(np.float32)
    return bases / np.linalg.norm(bases, axis=1, keepdims=True)


def snapshot(model):
    """{key: ndarray copy} of every parameter and buffer (to rerun from the same start)."""
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def restore(model, state):
    for key, var in model.state_dict().items():
        var.update(jt.array(state[key]))
        var.sync(False, False)


def _head(arr):
    return np.ascontiguousarray(np.asarray(arr).reshape(-1)[:HEAD])


def check_reference_names(model, reference, source):
    """Every ``kind:NAME`` key of a reference must name a parameter (or a BN buffer) of the
    model with a matching size: a reference from another model or config is refused."""
    params = {k: int(np.prod(p.shape)) for k, p in model.named_parameters()}
    buffers = {k: int(np.prod(v.shape)) for k, v in model.state_dict().items()}
    for key, arr in reference.items():
        if ":" not in key:
            continue
        kind, name = key.split(":", 1)
        known = buffers if kind == "bn" else params
        if name not in known:
            what = "BatchNorm buffer" if kind == "bn" else "parameter"
            raise TrainInputError(
                f"reference {source}: key '{key}' names no {what} of the model ({len(params)} "
                "parameters); is it the reference of another model family or config?")
        if kind == "g_norm":
            continue
        size = known[name] if kind == "bn" else min(known[name], HEAD)
        if arr.size != size:
            raise TrainInputError(f"reference {source}: key '{key}' has {arr.size} elements, "
                                  f"expected {size} (the model's '{name}' has "
                                  f"{known[name]})")


def run_training(model, img, label, optimizer_cfg, steps, nmf_bases=None):
    """The parity procedure on ``model`` (weights already loaded); returns a ``TrainRun``.

    ``nmf_bases`` (B·S, D, R) are used as NMF's initial bases at every forward when the model
    has NMF (None: random bases, as NMF2D draws them).
    """
    set_train_mode(model)
    for module in nmf_modules(model):
        module.set_initial_bases(nmf_bases)
    params = [(k, p) for k, p in model.named_parameters() if not p.is_stop_grad()]
    initial = {k: _head(p.numpy()) for k, p in params}
    multipliers = optimizer_mod.param_multipliers(model, optimizer_cfg.get("paramwise_cfg"))
    optimizer = optimizer_mod.build_optimizer(model, optimizer_cfg)
    x, y = jt.array(img), jt.array(label)

    loss, _ = model.train_step(x, y)
    optimizer.backward(loss)
    grads = {id(p): g for group in optimizer.param_groups
             for p, g in zip(group["params"], group["grads"])}
    arrays = {"loss": np.array(float(loss.item()), np.float64)}
    no_gradient = []
    for name, p in params:
        g = grads[id(p)].numpy()
        if not g.any():  # Jittor zero-fills what the loss does not reach; PyTorch has no grad
            no_gradient.append(name)
            continue
        arrays[f"g_norm:{name}"] = np.array(np.linalg.norm(g.astype(np.float64)), np.float64)
        arrays[f"g_head:{name}"] = _head(g).astype(np.float32)
    for key, var in model.state_dict().items():
        if key.rsplit(".", 1)[-1] in BN_STATS:
            arrays[f"bn:{key}"] = var.numpy().astype(np.float32).copy()
    optimizer.step()
    for _ in range(steps - 1):
        loss, _ = model.train_step(x, y)
        optimizer.step(loss)
    for name, p in params:
        arrays[f"w_head:{name}"] = _head(p.numpy()).astype(np.float32)
    if nmf_bases is not None and nmf_modules(model):
        arrays["nmf_initial_bases"] = np.asarray(nmf_bases, np.float32)
    return TrainRun(arrays, initial, multipliers, no_gradient)


def save_train_reference(path, arrays, overwrite=False):
    """Write ``arrays`` as a .npz atomically; refuses to overwrite an existing file."""
    if os.path.exists(path) and not overwrite:
        raise TrainInputError(f"dump {path}: file exists; refusing to overwrite it")
    with atomic_open(path, "wb", "the training reference") as f:
        np.savez(f, **arrays)
