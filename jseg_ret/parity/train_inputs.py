"""Read and validate the inputs of a training-parity check (fixtures/README.md layout).

- ``load_recipe``: ``train_recipe.json`` — the optimizer config (mmcv ``paramwise_cfg`` rules),
  the number of steps and, optionally, the multipliers each parameter got (``param_groups``).
- ``load_train_reference``: ``train_reference.npz`` — ``loss``, ``g_norm:NAME``, ``g_head:NAME``,
  ``bn:NAME``, ``w_head:NAME`` (and ``nmf_initial_bases`` for SegNeXt).
- ``load_batch``: ``train_input.npy`` (N, C, H, W) float and ``train_label.npy`` (N, H, W) ints.

Every problem raises ``TrainInputError`` naming the file and the key or shape at fault.
"""
import json
import math
import os

import numpy as np

from ..interop.errors import CheckpointError

HEAD = 4096  # elements of each tensor stored as g_head / w_head (first ones, flat C order)
REFERENCE_PREFIXES = ("g_norm:", "g_head:", "bn:", "w_head:")
REFERENCE_INPUTS = ("nmf_initial_bases",)  # arrays that feed the model instead of checking it
OPTIMIZER_KEYS = {"type", "lr", "betas", "eps", "weight_decay", "amsgrad", "momentum",
                  "dampening", "nesterov", "paramwise_cfg"}
PARAMWISE_KEYS = {"custom_keys", "norm_decay_mult", "bias_lr_mult", "bias_decay_mult"}
CUSTOM_KEY_FIELDS = {"lr_mult", "decay_mult"}


class TrainInputError(CheckpointError):
    """A training-parity input (recipe, reference, batch) is missing or malformed."""


def _require_file(path, what):
    if not os.path.isfile(path):
        raise TrainInputError(f"{what} {path}: no such file")


def _finite_number(value, path, key, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value < minimum:
        raise TrainInputError(f"recipe {path}: '{key}' is {value!r}, expected a finite number "
                              f">= {minimum:g}")
    return float(value)


def validate_optimizer_cfg(opt, path):
    """Check an optimizer dict (mmcv layout) key by key; returns a copy."""
    if not isinstance(opt, dict):
        raise TrainInputError(f"recipe {path}: 'optimizer' must be a dict, got "
                              f"{type(opt).__name__}")
    unknown = sorted(set(opt) - OPTIMIZER_KEYS)
    if unknown:
        raise TrainInputError(f"recipe {path}: unknown optimizer key 'optimizer.{unknown[0]}'; "
                              f"expected some of {sorted(OPTIMIZER_KEYS)}")
    if "type" not in opt or "lr" not in opt:
        missing = "type" if "type" not in opt else "lr"
        raise TrainInputError(f"recipe {path}: 'optimizer.{missing}' is missing")
    _finite_number(opt["lr"], path, "optimizer.lr")
    for key in ("eps", "weight_decay"):
        if key in opt:
            _finite_number(opt[key], path, f"optimizer.{key}")
    pw = opt.get("paramwise_cfg") or {}
    if not isinstance(pw, dict):
        raise TrainInputError(f"recipe {path}: 'optimizer.paramwise_cfg' must be a dict")
    unknown = sorted(set(pw) - PARAMWISE_KEYS)
    if unknown:
        raise TrainInputError(f"recipe {path}: unknown paramwise_cfg key "
                              f"'optimizer.paramwise_cfg.{unknown[0]}'; expected some of "
                              f"{sorted(PARAMWISE_KEYS)}")
    for key in ("norm_decay_mult", "bias_lr_mult", "bias_decay_mult"):
        if key in pw:
            _finite_number(pw[key], path, f"optimizer.paramwise_cfg.{key}")
    custom = pw.get("custom_keys") or {}
    if not isinstance(custom, dict):
        raise TrainInputError(f"recipe {path}: 'optimizer.paramwise_cfg.custom_keys' must be a "
                              "dict {substring: {lr_mult, decay_mult}}")
    for sub, rule in custom.items():
        where = f"optimizer.paramwise_cfg.custom_keys.{sub}"
        if not isinstance(rule, dict):
            raise TrainInputError(f"recipe {path}: '{where}' must be a dict")
        bad = sorted(set(rule) - CUSTOM_KEY_FIELDS)
        if bad:
            raise TrainInputError(f"recipe {path}: unknown key '{where}.{bad[0]}'; expected "
                                  f"some of {sorted(CUSTOM_KEY_FIELDS)}")
        for field in rule:
            _finite_number(rule[field], path, f"{where}.{field}")
    return json.loads(json.dumps(opt))


def load_recipe(path):
    """The recipe dict: ``optimizer`` (validated), ``steps`` (int >= 1), ``param_groups``
    ({name: {lr_mult, decay_mult, rule}}, may be empty)."""
    _require_file(path, "recipe")
    try:
        with open(path) as f:
            recipe = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise TrainInputError(f"recipe {path}: not a JSON file ({e})") from e
    if not isinstance(recipe, dict) or "optimizer" not in recipe:
        raise TrainInputError(f"recipe {path}: expected a JSON object with an 'optimizer' key")
    recipe["optimizer"] = validate_optimizer_cfg(recipe["optimizer"], path)
    steps = recipe.get("steps", 1)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise TrainInputError(f"recipe {path}: 'steps' is {steps!r}, expected an int >= 1")
    groups = recipe.get("param_groups") or {}
    if not isinstance(groups, dict):
        raise TrainInputError(f"recipe {path}: 'param_groups' must be a dict name -> "
                              "{lr_mult, decay_mult}")
    for name, g in groups.items():
        if not isinstance(g, dict) or not {"lr_mult", "decay_mult"} <= set(g):
            raise TrainInputError(f"recipe {path}: 'param_groups.{name}' needs lr_mult and "
                                  "decay_mult")
    recipe["param_groups"] = groups
    return recipe


def load_train_reference(path):
    """{key: ndarray} of a train_reference.npz, its keys checked against the layout."""
    _require_file(path, "reference")
    try:
        with np.load(path, allow_pickle=False) as z:
            ref = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile/pickle/format errors all mean "not our npz"
        raise TrainInputError(f"reference {path}: not a .npz archive ({e})") from e
    if "loss" not in ref:
        raise TrainInputError(f"reference {path}: no 'loss' array; expected the "
                              "train_reference.npz layout (loss, g_norm:*, g_head:*, bn:*, "
                              "w_head:*)")
    for key, arr in ref.items():
        if key == "loss" or key in REFERENCE_INPUTS:
            continue
        if not key.startswith(REFERENCE_PREFIXES):
            raise TrainInputError(f"reference {path}: unexpected key '{key}'; expected loss, "
                                  f"{', '.join(p + 'NAME' for p in REFERENCE_PREFIXES)}")
        if key.startswith("g_norm:") and arr.shape != ():
            raise TrainInputError(f"reference {path}: '{key}' has shape {arr.shape}, "
                                  "expected a scalar")
        if key.startswith(("g_head:", "w_head:", "bn:")) and arr.ndim != 1:
            raise TrainInputError(f"reference {path}: '{key}' has shape {arr.shape}, "
                                  "expected 1-D")
    if ref["loss"].shape != ():
        raise TrainInputError(f"reference {path}: 'loss' has shape {ref['loss'].shape}, "
                              "expected a scalar")
    return ref


def load_batch(input_path, label_path, channels=None, ignore_index=255, num_classes=None):
    """(img float32 NCHW, label int32 NHW), shapes checked against each other and the model."""
    _require_file(input_path, "input")
    _require_file(label_path, "label")
    arrays = []
    for what, path in (("input", input_path), ("label", label_path)):
        try:
            arrays.append(np.load(path, allow_pickle=False))
        except Exception as e:
            raise TrainInputError(f"{what} {path}: not a .npy array ({e})") from e
    img, label = arrays
    if img.ndim != 4:
        raise TrainInputError(f"input {input_path}: shape {img.shape}, expected (N, C, H, W)")
    if channels is not None and img.shape[1] != channels:
        raise TrainInputError(f"input {input_path}: {img.shape[1]} channels (shape {img.shape}),"
                              f" but the model expects {channels}")
    if not np.issubdtype(img.dtype, np.floating):
        raise TrainInputError(f"input {input_path}: dtype {img.dtype}, expected a float "
                              "(normalized) batch")
    if label.ndim == 4 and label.shape[1] == 1:
        label = label[:, 0]
    if label.ndim != 3 or label.shape[0] != img.shape[0] or label.shape[1:] != img.shape[2:]:
        raise TrainInputError(f"label {label_path}: shape {label.shape}, expected (N, H, W) = "
                              f"{(img.shape[0],) + img.shape[2:]} to match input "
                              f"{input_path} {img.shape}")
    if not np.issubdtype(label.dtype, np.integer):
        raise TrainInputError(f"label {label_path}: dtype {label.dtype}, expected integers")
    if num_classes is not None:
        bad = (label != ignore_index) & ((label < 0) | (label >= num_classes))
        if bad.any():
            raise TrainInputError(f"label {label_path}: value {int(label[bad][0])} is neither "
                                  f"a class (0..{num_classes - 1}) nor ignore_index "
                                  f"{ignore_index}")
    if not np.isfinite(img).all():
        raise TrainInputError(f"input {input_path}: non-finite values")
    return np.ascontiguousarray(img, np.float32), np.ascontiguousarray(label, np.int32)
