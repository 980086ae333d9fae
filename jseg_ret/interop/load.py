"""Load PyTorch (.pth) or Jittor (.pkl) checkpoints into a Jittor model, with a key report."""
from __future__ import annotations

import os
from collections import OrderedDict, namedtuple
from typing import Any, Mapping, Union

import numpy as np

import jittor as jt

from .errors import CheckpointError
from .keymaps import (
    FAMILIES,
    REASON_SKIP_CLASSIFIER,
    detect_family,
    evidence,
    get_family,
    is_classifier_key,
    map_checkpoint_keys,
)
from .pkl_io import is_jittor_pkl, load_pkl
from .pth_reader import load_pth
from .report import LoadReport
from .unwrap import locate_state_dict, weight_candidates

PathOrState = Union[str, "os.PathLike[str]", Mapping[str, Any]]

# state: OrderedDict name -> array; path: the keys leading to it (e.g. ['model']); candidates:
# every top-level key holding weights (e.g. ['model', 'model_ema'])
Weights = namedtuple("Weights", "state meta source path candidates")


def read_checkpoint(path_or_state: PathOrState
                    ) -> tuple[OrderedDict[str, np.ndarray], dict[str, Any], str]:
    """The weights, meta and source name of a checkpoint.

    Args:
        path_or_state: A path (.pth/.pt/.bin or Jittor .pkl) or an already loaded dict.

    Returns:
        ``(state_dict, meta, source)``: ``state_dict`` is an OrderedDict name -> numpy array,
        unwrapped from ``state_dict``/``model`` and stripped of a ``module.`` prefix; ``meta``
        the checkpoint's ``meta`` dict ({} without one); ``source`` the path or
        ``"<state dict>"``.

    Raises:
        CheckpointError: An unreadable or unsafe file, or no state dict in it.
    """
    weights = read_weights(path_or_state)
    return weights.state, weights.meta, weights.source


def read_weights(path_or_state: PathOrState, key: str | None = None) -> Weights:
    """The ``Weights`` of a checkpoint.

    Args:
        path_or_state: A path (.pth/.pt/.bin or Jittor .pkl) or an already loaded dict.
        key: The top-level entry to take (e.g. ``'model_ema'``); None follows
            ``state_dict``/``model`` (see ``unwrap.locate_state_dict``).

    Returns:
        ``Weights(state, meta, source, path, candidates)``.

    Raises:
        CheckpointError: An unreadable or unsafe file, no such ``key``, or no state dict.
    """
    if isinstance(path_or_state, (str, os.PathLike)):
        source = os.fspath(path_or_state)
        if source.endswith(".pkl") or is_jittor_pkl(source):
            obj = load_pkl(source)
        else:
            obj = load_pth(source)
    elif isinstance(path_or_state, dict):
        source, obj = "<state dict>", path_or_state
    else:
        raise CheckpointError(f"expected a checkpoint path or a dict, got "
                              f"{type(path_or_state).__name__}")
    meta = obj.get("meta") if isinstance(obj, dict) and isinstance(obj.get("meta"), dict) else {}
    state, path = locate_state_dict(obj, source, key)
    state = OrderedDict((k, _to_numpy(v, source, k)) for k, v in state.items())
    return Weights(state, meta, source, path, weight_candidates(obj))


def _to_numpy(value, source, key):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # a torch tensor handed in directly
        value = value.detach().cpu()
    if hasattr(value, "numpy"):   # jt.Var, torch.Tensor
        return np.asarray(value.numpy())
    raise CheckpointError(f"{source}: value of '{key}' is a {type(value).__name__}, "
                          "expected an array")


def load_checkpoint_into(model: Any, path_or_state: PathOrState, family: str | None = None,
                         backbone_only: bool = False, strict: bool = True,
                         skip_classifier: bool = False, verbose: bool = True) -> LoadReport:
    """Copy checkpoint weights into ``model`` (a Jittor module).

    ``*.num_batches_tracked`` is always dropped (Jittor's BatchNorm has no such buffer). float16
    and bfloat16 weights are cast to the model's dtype.

    Args:
        model: The Jittor module to fill.
        path_or_state: A checkpoint path or an already loaded dict (as ``read_checkpoint``).
        family: 'segret' | 'segnext' | 'frm' | a registered one; detected from the keys if
            None.
        backbone_only: The checkpoint is an ImageNet backbone (keys without ``backbone.``): its
            classifier keys are dropped and reported; only ``model.backbone`` is loaded.
        strict: Missing, unexpected or shape-mismatched keys raise (before anything is
            copied); a non-strict load skips and reports them.
        skip_classifier: Leave the class-count-dependent layers (``decode_head.conv_seg``,
            SegRet's ``decode_head.linear_pred``) as initialized, e.g. to fine-tune on another
            dataset.
        verbose: Print the report's summary.

    Returns:
        The ``LoadReport`` (mapped, missing, unexpected, mismatched, dropped, skipped keys).

    Raises:
        CheckpointError: An unreadable checkpoint, one of another family (naming the family it
            looks like), or, with ``strict``, any key problem.
    """
    state, _meta, source = read_checkpoint(path_or_state)
    model_vars = model.state_dict()
    fam_name = _resolve_family(family, list(model_vars), list(state), source)
    fam = get_family(fam_name)
    mapped, dropped = map_checkpoint_keys(state, fam_name, backbone_only)
    scope = [k for k in model_vars if not backbone_only or k.startswith("backbone.")]
    report = LoadReport(source, fam_name, backbone_only, dropped=list(dropped))

    to_load, classifier_problems = [], []
    for target, (src, arr) in mapped.items():
        if target not in model_vars or (backbone_only and not target.startswith("backbone.")):
            reason = next((r for p, r in fam.unused.items() if target.startswith(p)), None)
            if reason is not None:
                report.dropped.append((src, reason))
            else:
                report.unexpected.append(src)
            continue
        if skip_classifier and is_classifier_key(fam, target):
            report.skipped.append((target, REASON_SKIP_CLASSIFIER))
            continue
        model_shape = tuple(int(n) for n in model_vars[target].shape)
        if tuple(arr.shape) != model_shape:
            report.mismatched.append((target, tuple(arr.shape), model_shape))
            if is_classifier_key(fam, target):
                classifier_problems.append((target, tuple(arr.shape), model_shape))
            continue
        to_load.append((src, target, arr))
    skipped = {k for k, _ in report.skipped}
    for key in scope:
        if key in mapped or key in skipped:
            continue
        if skip_classifier and is_classifier_key(fam, key):
            report.skipped.append((key, REASON_SKIP_CLASSIFIER))
        elif (reason := _new_layer_reason(fam, key, mapped)) is not None:
            report.skipped.append((key, reason))
        else:
            report.missing.append(key)

    if strict and not report.ok:
        raise CheckpointError(_strict_message(report, classifier_problems))
    _assign(model_vars, to_load)
    report.mapped = [(src, target) for src, target, _ in to_load]
    if verbose:
        print(report.summary())
    return report


def _new_layer_reason(fam, key, mapped):
    """Why ``key`` may be absent: its module is new in this family and the checkpoint has none
    of it (a checkpoint holding part of such a module is still incomplete)."""
    for prefix, reason in fam.new_layers.items():
        if key.startswith(prefix) and not any(k.startswith(prefix) for k in mapped):
            return reason
    return None


def _resolve_family(family, model_keys, ckpt_keys, source):
    model_family = detect_family(model_keys)
    ckpt_family = detect_family(ckpt_keys)
    if family is not None:
        get_family(family)  # validates the name
        if model_family is not None and model_family != family:
            raise CheckpointError(f"family='{family}' was given, but the model looks like "
                                  f"'{model_family}' ({FAMILIES[model_family].backbone} backbone)")
    expected = family or model_family
    if ckpt_family is not None and expected is not None and ckpt_family != expected:
        fam = FAMILIES[ckpt_family]
        raise CheckpointError(
            f"{source}: this checkpoint looks like family '{ckpt_family}' ({fam.backbone} "
            f"backbone; e.g. key '{evidence(ckpt_family, ckpt_keys)}'), but the model is "
            f"'{expected}' ({FAMILIES[expected].backbone} backbone). Use the matching config "
            "or checkpoint")
    return expected or ckpt_family


def _strict_message(report, classifier_problems, limit=20):
    lines = [f"{report.source}: checkpoint does not match the model "
             f"({len(report.missing)} missing, {len(report.unexpected)} unexpected, "
             f"{len(report.mismatched)} shape mismatches; pass strict=False to load the rest)"]
    for key, ckpt_shape, model_shape in classifier_problems:
        lines.append(f"  classifier {key}: checkpoint shape {ckpt_shape} vs model shape "
                     f"{model_shape} (trained for {ckpt_shape[0]} classes, the model has "
                     f"{model_shape[0]}); pass skip_classifier=True (convert_checkpoint.py: "
                     "--skip-classifier) to keep the model's classifier as initialized")
    others = [m for m in report.mismatched if m[0] not in {c[0] for c in classifier_problems}]
    for key, ckpt_shape, model_shape in others[:limit]:
        lines.append(f"  shape mismatch {key}: checkpoint {ckpt_shape} vs model {model_shape}")
    for title, keys in (("missing in checkpoint", report.missing),
                        ("not in the model", report.unexpected)):
        if keys:
            more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
            lines.append(f"  {title}: {', '.join(keys[:limit])}{more}")
    return "\n".join(lines)


def _assign(model_vars, to_load):
    for _src, target, arr in to_load:
        var = model_vars[target]
        value = np.ascontiguousarray(arr.astype(np.dtype(str(var.dtype)), copy=False))
        var.update(jt.array(value))  # in place: the module keeps the same Var object
        var.sync(False, False)
