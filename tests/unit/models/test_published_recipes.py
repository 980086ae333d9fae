"""Every SegRet/SegNeXt config is its published recipe (shared/reference/published_recipes.json).

The JSON gives each published config's values as the published code resolves them (mmseg 0.x
inheritance applied). ``ours()`` reads the same values from our resolved config, naming where each
lives in our layout; every field of every entry is compared, dicts and pipelines as whole
structures (every custom key, every transform and argument).
"""
import json
import os

import numpy as np
import pytest

from jseg_ret import Config, build_segmentor
from jseg_ret.engine.optimizer import param_multipliers
from jseg_ret.models.backbones.variants import resolve_backbone_cfg
from tests.helpers.models import trainable_count
from tests.helpers.paths import ROOT, SHARED

RECIPES_PATH = os.path.join(SHARED, "reference", "published_recipes.json")


def _load_recipes():
    if not os.path.isfile(RECIPES_PATH):
        return {}
    with open(RECIPES_PATH, encoding="utf-8") as f:
        return json.load(f)


RECIPES = _load_recipes()

# The published backbone constructors (RMT's RMT_T/S/B/L = VisRetNet with these arguments; our
# names: decomposed_stages = chunkwise_recurrents, layerscale_stages = layerscales; RMT-T/S
# use no layer scale) and SegNeXt's MSCAN.
RMT_COMMON = dict(type="VisRetNet", init_values=[2, 2, 2, 2])
PUBLISHED_BACKBONES = {
    "RMT_T": dict(RMT_COMMON, embed_dims=[64, 128, 256, 512], depths=[2, 2, 8, 2],
                  num_heads=[4, 4, 8, 16], heads_ranges=[4, 4, 6, 6], mlp_ratios=[3, 3, 3, 3],
                  drop_path_rate=0.1, decomposed_stages=[True, True, False, False],
                  layerscale_stages=[False, False, False, False]),
    "RMT_S": dict(RMT_COMMON, embed_dims=[64, 128, 256, 512], depths=[3, 4, 18, 4],
                  num_heads=[4, 4, 8, 16], heads_ranges=[4, 4, 6, 6], mlp_ratios=[4, 4, 3, 3],
                  drop_path_rate=0.15, decomposed_stages=[True, True, True, False],
                  layerscale_stages=[False, False, False, False]),
    "RMT_B": dict(RMT_COMMON, embed_dims=[80, 160, 320, 512], depths=[4, 8, 25, 8],
                  num_heads=[5, 5, 10, 16], heads_ranges=[5, 5, 6, 6], mlp_ratios=[4, 4, 3, 3],
                  drop_path_rate=0.4, decomposed_stages=[True, True, True, False],
                  layerscale_stages=[False, False, True, True], layer_init_values=1e-6),
    "RMT_L": dict(RMT_COMMON, embed_dims=[112, 224, 448, 640], depths=[4, 8, 25, 8],
                  num_heads=[7, 7, 14, 20], heads_ranges=[6, 6, 6, 6], mlp_ratios=[4, 4, 3, 3],
                  drop_path_rate=0.5, decomposed_stages=[True, True, True, False],
                  layerscale_stages=[False, False, True, True], layer_init_values=1e-6),
    "MSCAN": dict(type="MSCAN"),
}


def _plain(obj):
    """Config values as JSON has them: tuples as lists, ConfigDicts as dicts."""
    return json.loads(json.dumps(obj))


def _backbone_name(backbone):
    """The published constructor our backbone config stands for (its architecture fields, resolved
    through the backbone's variant table, match that constructor's; None when none does)."""
    backbone = resolve_backbone_cfg(backbone)
    for name, arch in PUBLISHED_BACKBONES.items():
        if all(_plain(backbone.get(k)) == v for k, v in arch.items()):
            return name
    return None


def _one(values, what):
    """The single value that all our places for one published field hold."""
    first = values[0]
    for v in values[1:]:
        assert v == first, f"{what}: our config holds different values in different places"
    return first


def ours(cfg):
    """Our resolved config's values under the JSON's field names (where each lives here)."""
    model, data = cfg.model, cfg.data
    return {
        "optimizer": _plain(cfg.optimizer),
        "lr_config": _plain(cfg.lr_config),
        "max_iters": cfg.runner.max_iters,                   # runner.max_iters
        "samples_per_gpu": data.samples_per_gpu,             # data.samples_per_gpu
        "crop_size": _plain(cfg.crop_size),                  # top-level, as mmseg configs
        "test_cfg": _plain(model.test_cfg),                  # model.test_cfg
        "decoder_params": _plain(model.decode_head.get("decoder_params")),
        "backbone": _backbone_name(model.backbone),
        "decode_head_norm_cfg": _plain(model.decode_head.norm_cfg),
        # the pipeline variables and the dataset sections that use them must agree
        "train_pipeline": _one([_plain(cfg.train_pipeline), _plain(data.train.pipeline)],
                               "train_pipeline"),
        "test_pipeline": _one([_plain(cfg.test_pipeline), _plain(data.val.pipeline),
                               _plain(data.test.pipeline)], "test_pipeline"),
    }


def test_the_reference_covers_the_29_configs():
    if not RECIPES:
        pytest.fail(f"{RECIPES_PATH} not found (set JSEG_RET_SHARED)")
    names = sorted(RECIPES)
    assert len(names) == 29
    assert sum(n.startswith("segret/") for n in names) == 17
    for name in names:
        assert os.path.isfile(os.path.join(ROOT, "configs", name)), name


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_config_is_its_published_recipe(name):
    published = dict(RECIPES[name])
    published.pop("published_config")
    cfg = Config.fromfile(os.path.join(ROOT, "configs", name))
    mine = ours(cfg)
    # every published field is translated: none is skipped silently
    assert set(mine) == set(published), sorted(set(mine) ^ set(published))
    diffs = [field for field in published if mine[field] != published[field]]
    detail = {f: dict(ours=mine[f], published=published[f]) for f in diffs}
    assert not diffs, json.dumps(detail, indent=1)[:4000]


def test_comparison_sees_a_changed_custom_key_and_transform():
    name = "segret/segret-t_512x512_ade20k.py"
    published = RECIPES[name]
    cfg = Config.fromfile(os.path.join(ROOT, "configs", name))
    cfg.optimizer.paramwise_cfg.custom_keys["backbone.layers.2.blocks.24.final_layer_norm"][
        "lr_mult"] = 1.0
    for pipeline in (cfg.test_pipeline, cfg.data.val.pipeline, cfg.data.test.pipeline):
        pipeline[1]["transforms"][0]["size_divisor"] = 16
    mine = ours(cfg)
    assert mine["optimizer"] != published["optimizer"]
    assert mine["test_pipeline"] != published["test_pipeline"]


# ---- parameter counts ---------------------------------------------------------------------------
NUM_CLASSES = {"ade20k": 150, "cityscapes": 19, "coco-stuff10k": 171}


def _reference_params(shared_dir, variant):
    """(backbone parameters, in_channels of the decoder) from the reference SegRet ADE20K
    state_dict (buffers — BN statistics, RMT's decay/angle tables — excluded)."""
    path = os.path.join(shared_dir, "reference", f"segret_{variant}_ade20k_state_dict.tsv")
    backbone, in_channels = 0, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            key, shape = line.rstrip("\n").split("\t")
            dims = [int(s) for s in shape.strip("()").split(",") if s.strip()]
            leaf = key.rsplit(".", 1)[1]
            if leaf in ("running_mean", "running_var", "num_batches_tracked", "decay", "angle"):
                continue
            if key.startswith("backbone."):
                backbone += int(np.prod(dims))
            elif key.endswith(".proj.weight") and key.startswith("decode_head.linear_c"):
                in_channels[int(key.split(".")[1][len("linear_c"):])] = dims[1]
    return backbone, [in_channels[i] for i in sorted(in_channels)]


def decoder_params(in_channels, embed_dim, num_classes, channels=128):
    """SegFormerHeadWithRes's parameters, counted by hand: per stage a Linear C→E and the
    zero-initialized 1×1 conv C→E (both with bias) + BN (2E); linear_fuse 4E→E without bias + BN;
    linear_pred E→K; BaseDecodeHead's unused conv_seg channels→K."""
    e = embed_dim
    stages = sum(2 * (c * e + e) + 2 * e for c in in_channels)
    fuse = len(in_channels) * e * e + 2 * e
    return stages + fuse + (e * num_classes + num_classes) + (channels * num_classes + num_classes)


def test_hand_count_agrees_with_the_reference_decoders(shared_dir):
    # the ADE20K references: T/S decoders E=256, B 768, L 512 (published sizes in the tsv header)
    headers = {"t": (13_494_348, 256), "s": (26_003_212, 256), "b": (56_330_068, 768),
               "l": (95_814_500, 512)}
    for variant, (total, e) in headers.items():
        backbone, in_channels = _reference_params(shared_dir, variant)
        assert backbone + decoder_params(in_channels, e, 150) == total, variant


# the three configs whose decoder width changed (issue 18), and two unchanged ones per dataset
COUNTED = ["segret/segret-b_512x1024_cityscapes.py", "segret/segret-b_512x512_coco-stuff10k.py",
           "segret/segret-l_1024x1024_cityscapes.py", "segret/segret-t_512x1024_cityscapes.py",
           "segret/segret-t_512x512_coco-stuff10k.py"]


@pytest.mark.parametrize("name", COUNTED)
def test_model_builds_with_its_decoder_width(name, shared_dir):
    published = RECIPES[name]
    variant = published["backbone"].split("_")[1].lower()
    dataset = os.path.basename(name)[:-3].split("_")[-1]
    backbone, in_channels = _reference_params(shared_dir, variant)
    expected = backbone + decoder_params(in_channels, published["decoder_params"]["embed_dim"],
                                         NUM_CLASSES[dataset])
    cfg = Config.fromfile(os.path.join(ROOT, "configs", name))
    model = build_segmentor(cfg.model)  # built only: no forward
    assert trainable_count(model) == expected


def test_segret_recipe_groups_every_backbone_norm():
    """The per-block keys (generated for depths 4, 8, 25, 8) reach every block of the shallower
    SegRet-T under mmcv's rules: its backbone norms lr ×0.1 without decay, the decoder's BNs
    only without decay (norm_decay_mult), everything else untouched."""
    cfg = Config.fromfile(os.path.join(ROOT, "configs", "segret/segret-t_512x512_ade20k.py"))
    model = build_segmentor(cfg.model)
    mults = param_multipliers(model, cfg.optimizer.paramwise_cfg)
    for name, (lr_mult, decay_mult) in mults.items():
        backbone_norm = name.startswith("backbone.") and (
            "layer_norm" in name or ".downsample.norm." in name
            or any(name.startswith(f"backbone.patch_embed.proj.{k}.") for k in (1, 4, 7, 10)))
        head_norm = name.startswith("decode_head.") and (".bn." in name or ".norm." in name)
        if backbone_norm:
            assert (lr_mult, decay_mult) == (0.1, 0.0), name
        elif head_norm:
            assert (lr_mult, decay_mult) == (1.0, 0.0), name
        else:
            assert (lr_mult, decay_mult) == (1.0, 1.0), name
    assert sum(1 for n in mults if "retention_layer_norm" in n) == 2 * sum([2, 2, 8, 2])
