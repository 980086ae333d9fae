"""build_* entry points over the registries."""
from ..registry import BACKBONES, HEADS, LOSSES, MODELS, NECKS


def build_backbone(cfg):
    return BACKBONES.build(cfg)


def build_neck(cfg):
    return NECKS.build(cfg)


def build_head(cfg):
    return HEADS.build(cfg)


def build_loss(cfg):
    return LOSSES.build(cfg)


def build_segmentor(cfg, train_cfg=None, test_cfg=None):
    """Build a segmentor from ``cfg.model`` (train/test cfgs may also live inside it)."""
    defaults = {}
    if train_cfg is not None:
        defaults["train_cfg"] = train_cfg
    if test_cfg is not None:
        defaults["test_cfg"] = test_cfg
    return MODELS.build(cfg, **defaults)
