"""Checkpoint key maps per model family.

The Jittor modules of this project use exactly the parameter names of the reference PyTorch
(mmseg ``EncoderDecoder``) checkpoints (``shared/reference/*.tsv``), so a full-model map is the
identity with one exception:

- ``*.num_batches_tracked`` is dropped: Jittor's BatchNorm keeps no such buffer (it only counts
  steps for ``momentum=None``, which mmseg configs never use). ``export_state_dict`` re-adds it
  as an int64 zero so an exported ``.pth`` has exactly the reference key set.

Backbone-only (ImageNet classification) checkpoints hold the ``backbone.*`` keys without the
prefix plus a classifier whose *top-level* keys are dropped and reported (``proj.*``, ``norm.*``,
``head.*`` for RMT -- ``layers.0.downsample.norm.*`` is not top-level and is kept; ``head.*`` for
MSCAN and VAN, whose ``norm1..4`` are backbone norms and are kept).

Families are entries of ``FAMILIES``; ``register_family`` adds one (FRM's head, later).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import CheckpointError

BN_COUNTER = "num_batches_tracked"
REASON_BN = "num_batches_tracked: Jittor's BatchNorm has no such buffer"
REASON_IMAGENET_HEAD = "ImageNet classifier, not part of the segmentation backbone"
REASON_NOT_BACKBONE = "not a backbone key (backbone-only load)"
REASON_SKIP_CLASSIFIER = "classifier left as initialized (skip_classifier=True)"


@dataclass(frozen=True)
class Family:
    """What the loader needs to know about one model family."""

    name: str
    backbone: str
    # backbone-relative key patterns (regex, re.search) that identify this family
    signature: tuple
    # top-level key prefixes of ImageNet classification checkpoints that are not backbone
    imagenet_classifier: tuple = ("head.",)
    # full-model key prefixes whose shapes depend on the number of classes
    classifier: tuple = ("decode_head.conv_seg.", "auxiliary_head.conv_seg.")
    # full-model key prefix -> why the model may lack it (dropped instead of 'unexpected')
    unused: dict = field(default_factory=dict)
    # model key prefix -> why a checkpoint may lack the whole module (left as initialized): the
    # layers a family adds on top of a base architecture whose checkpoints it starts from
    new_layers: dict = field(default_factory=dict)

    def matches(self, backbone_keys):
        return all(any(re.search(p, k) for k in backbone_keys) for p in self.signature)


FAMILIES = OrderedDict()


def register_family(family: Family) -> Family:
    """Add (or replace) a family; ``detect_family`` tries families in registration order.

    Returns:
        ``family`` (so it can be used as an expression).
    """
    FAMILIES[family.name] = family
    return family


register_family(Family(
    name="segret", backbone="RMT (VisRetNet)",
    signature=(r"^layers\.\d+\.Relpos\.",),
    imagenet_classifier=("proj.", "norm.", "head."),
    classifier=("decode_head.linear_pred.", "decode_head.conv_seg.", "auxiliary_head.conv_seg."),
    unused={"decode_head.conv_seg.": "SegRet's decoder does not use conv_seg (it predicts with "
                                     "linear_pred); the reference checkpoints still carry it"}))
register_family(Family(
    name="segnext", backbone="MSCAN",
    signature=(r"^patch_embed1\.", r"^block1\.\d+\.attn\.spatial_gating_unit\.conv0_1\.")))
register_family(Family(
    name="frm", backbone="VAN",
    signature=(r"^block1\.\d+\.attn\.spatial_gating_unit\.conv_spatial\.",),
    new_layers={
        "neck.refine.": "the feature refinement module is new in FRM; a VAN + semantic-FPN "
                        "checkpoint has none, so it starts from its initialization",
        "decode_head.proj_head.": "the contrastive projection head is new in FRM (training "
                                  "only); starts from its initialization"}))

_GENERIC = Family(name="unknown", backbone="unknown", signature=())


def get_family(name: str | None) -> Family:
    """The registered family ``name`` (a generic one for None).

    Raises:
        CheckpointError: An unknown name (listing the known ones).
    """
    if name is None:
        return _GENERIC
    if name not in FAMILIES:
        raise CheckpointError(f"unknown model family '{name}'; known: {list(FAMILIES)}")
    return FAMILIES[name]


def backbone_keys(keys):
    """Backbone-relative keys: ``backbone.x`` -> ``x`` when any key has the prefix, else as is."""
    keys = list(keys)
    if any(k.startswith("backbone.") for k in keys):
        return [k[len("backbone."):] for k in keys if k.startswith("backbone.")]
    return keys


def detect_family(keys: Iterable[str]) -> str | None:
    """Name of the family whose signature the keys (full-model or backbone-only) show, or None."""
    bkeys = backbone_keys(keys)
    for family in FAMILIES.values():
        if family.signature and family.matches(bkeys):
            return family.name
    return None


def evidence(family_name, keys):
    """One key that made ``detect_family`` choose this family (for error messages)."""
    family = FAMILIES[family_name]
    bkeys = backbone_keys(keys)
    for p in reversed(family.signature):  # the last pattern is the most telling
        for k in bkeys:
            if re.search(p, k):
                return k
    return None


def is_classifier_key(family, key):
    return any(key.startswith(p) for p in family.classifier)


def map_checkpoint_keys(state: Mapping[str, Any], family: str | None = None,
                        backbone_only: bool = False
                        ) -> tuple[OrderedDict[str, tuple[str, Any]], list[tuple[str, str]]]:
    """Map checkpoint keys to model keys (the conversion ``load_checkpoint_into`` applies).

    Args:
        state: The checkpoint's state dict.
        family: A registered family name; None maps with no family rules.
        backbone_only: The model keys get the ``backbone.`` prefix (a full segmentation
            checkpoint given for a backbone-only load keeps only its ``backbone.*`` keys);
            the family's ImageNet classifier keys are dropped.

    Returns:
        ``(mapped, dropped)``: ``mapped`` an OrderedDict model_key -> (checkpoint_key, array),
        ``dropped`` a list of (checkpoint_key, reason).

    Raises:
        CheckpointError: An unknown family.
    """
    fam = get_family(family)
    mapped, dropped = OrderedDict(), []
    full_input = backbone_only and any(k.startswith("backbone.") for k in state)
    for key, value in state.items():
        if key.endswith("." + BN_COUNTER) or key == BN_COUNTER:
            dropped.append((key, REASON_BN))
            continue
        if backbone_only:
            if full_input:
                if not key.startswith("backbone."):
                    dropped.append((key, REASON_NOT_BACKBONE))
                    continue
                target = key
            elif any(key.startswith(p) for p in fam.imagenet_classifier):
                dropped.append((key, REASON_IMAGENET_HEAD))
                continue
            else:
                target = "backbone." + key
        else:
            target = key
        mapped[target] = (key, value)
    return mapped, dropped


def add_bn_counters(state: Mapping[str, Any]) -> OrderedDict[str, Any]:
    """mmseg layout from Jittor layout: after every ``X.running_var`` insert
    ``X.num_batches_tracked`` (int64 zero-dim zero) unless it is already there."""
    out = OrderedDict()
    for key, value in state.items():
        out[key] = value
        if key.endswith(".running_var"):
            counter = key[:-len("running_var")] + BN_COUNTER
            if counter not in state:
                out[counter] = np.zeros((), dtype=np.int64)
    return out
