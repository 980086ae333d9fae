"""Backbone variant tables: every SegRet/SegNeXt/FRM config names its variant (``arch``) and
repeats none of the table's numbers, and the backbone it builds has the published variant's
architecture — measured on the built modules, not read back from the config. An unknown
``arch`` is an error naming the backbone and the valid variants."""
import glob
import json
import math
import os
import re

import numpy as np
import pytest

from jseg_ret import Config, build_segmentor
from jseg_ret.models.backbones.variants import resolve_backbone_cfg
from jseg_ret.registry import BACKBONES
from tests.helpers.paths import ROOT


def _rmt(dims, depths, heads, ranges, mlp, dpr, decomposed, layerscale):
    return dict(embed_dims=dims, depths=depths, num_heads=heads, init_values=[2, 2, 2, 2],
                heads_ranges=ranges, mlp_ratios=mlp, drop_path_rate=dpr,
                decomposed_stages=decomposed, layerscale_stages=layerscale)


TTFF, TTTF, FFFF, FFTT = ([True, True, False, False], [True, True, True, False],
                          [False, False, False, False], [False, False, True, True])
# What the published code builds. RMT: RMT's RMT_T/S/B/L constructors (the SegRet configs'
# backbones; layer scale initialized at 1e-6 where on). MSCAN: the SegNeXt configs. VAN: the VAN
# paper's B0..B3, with drop path 0.1 — the FRM configs' choice, not part of VAN's variants.
PUBLISHED = {
    "VisRetNet": {
        "t": _rmt([64, 128, 256, 512], [2, 2, 8, 2], [4, 4, 8, 16], [4, 4, 6, 6], [3, 3, 3, 3],
                  0.1, TTFF, FFFF),
        "s": _rmt([64, 128, 256, 512], [3, 4, 18, 4], [4, 4, 8, 16], [4, 4, 6, 6], [4, 4, 3, 3],
                  0.15, TTTF, FFFF),
        "b": dict(_rmt([80, 160, 320, 512], [4, 8, 25, 8], [5, 5, 10, 16], [5, 5, 6, 6],
                       [4, 4, 3, 3], 0.4, TTTF, FFTT), layer_init_values=1e-6),
        "l": dict(_rmt([112, 224, 448, 640], [4, 8, 25, 8], [7, 7, 14, 20], [6, 6, 6, 6],
                       [4, 4, 3, 3], 0.5, TTTF, FFTT), layer_init_values=1e-6),
    },
    "MSCAN": {
        "t": dict(embed_dims=[32, 64, 160, 256], depths=[3, 3, 5, 2], mlp_ratios=[8, 8, 4, 4],
                  drop_path_rate=0.1),
        "s": dict(embed_dims=[64, 128, 320, 512], depths=[2, 2, 4, 2], mlp_ratios=[8, 8, 4, 4],
                  drop_path_rate=0.1),
        "b": dict(embed_dims=[64, 128, 320, 512], depths=[3, 3, 12, 3], mlp_ratios=[8, 8, 4, 4],
                  drop_path_rate=0.1),
        "l": dict(embed_dims=[64, 128, 320, 512], depths=[3, 5, 27, 3], mlp_ratios=[8, 8, 4, 4],
                  drop_path_rate=0.3),
    },
    "VAN": {
        "b0": dict(embed_dims=[32, 64, 160, 256], depths=[3, 3, 5, 2], mlp_ratios=[8, 8, 4, 4]),
        "b1": dict(embed_dims=[64, 128, 320, 512], depths=[2, 2, 4, 2], mlp_ratios=[8, 8, 4, 4]),
        "b2": dict(embed_dims=[64, 128, 320, 512], depths=[3, 3, 12, 3],
                   mlp_ratios=[8, 8, 4, 4]),
        "b3": dict(embed_dims=[64, 128, 320, 512], depths=[3, 5, 27, 3],
                   mlp_ratios=[8, 8, 4, 4]),
    },
}
FRM_DROP_PATH = 0.1

BASE_MODELS = {"configs/_base_/models/segret.py": ("VisRetNet", "t"),
               "configs/_base_/models/segnext.py": ("MSCAN", "t"),
               "configs/_base_/models/frm.py": ("VAN", "b1")}
CONFIGS = sorted(BASE_MODELS) + sorted(
    os.path.relpath(p, ROOT) for family in ("segret", "segnext", "frm", "quickstart")
    for p in glob.glob(os.path.join(ROOT, "configs", family, "*.py")))
# the one config that departs from its variant on purpose (from scratch on tiny data)
OVERRIDES = {"configs/quickstart/segret-t_synthetic.py": dict(drop_path_rate=0.0)}


def variant_of(name):
    """(backbone type, arch) that a config's file name states."""
    if name in BASE_MODELS:
        return BASE_MODELS[name]
    base = os.path.basename(name)
    m = re.match(r"(segret|segnext)-([tsbl])_", base) or re.match(r"(frm)-van-(b\d)_", base)
    assert m, f"{name}: the file name names no variant"
    return {"segret": "VisRetNet", "segnext": "MSCAN", "frm": "VAN"}[m.group(1)], m.group(2)


def expected_numbers(name):
    typ, arch = variant_of(name)
    expected = dict(PUBLISHED[typ][arch])
    if typ == "VAN":
        expected["drop_path_rate"] = FRM_DROP_PATH
    return dict(expected, **OVERRIDES.get(name, {}))


def _plain(obj):
    return json.loads(json.dumps(obj))


# ---- what a built backbone measures to ----------------------------------------------------------
def _last_drop_prob(blocks):
    return float(getattr(blocks[-1].drop_path, "drop_prob", 0.0))  # Identity where the rate is 0


def measure_rmt(net):
    """Architecture of a built VisRetNet, read from its modules and buffers."""
    out = {k: [] for k in ("embed_dims", "depths", "num_heads", "init_values", "heads_ranges",
                           "mlp_ratios", "decomposed_stages", "layerscale_stages")}
    gammas = set()
    for layer in net.layers:
        block = layer.blocks[0]
        dim = block.ffn.fc1.weight.shape[1]
        heads = layer.Relpos.decay.shape[0]
        assert block.retention.num_heads == heads
        # decay_n = log(1 - 2^-(init + range·n/heads))  =>  -log2(1 - e^decay_n) = init + range·n/N
        exponent = -np.log2(1 - np.exp(layer.Relpos.decay.numpy().astype(np.float64)))
        out["embed_dims"].append(dim)
        out["depths"].append(len(layer.blocks))
        out["num_heads"].append(heads)
        out["init_values"].append(round(float(exponent[0]), 3))
        out["heads_ranges"].append(round(float(exponent[1] - exponent[0]) * heads, 3))
        out["mlp_ratios"].append(block.ffn.fc1.weight.shape[0] / dim)
        out["decomposed_stages"].append(bool(layer.decomposed))
        out["layerscale_stages"].append(bool(block.layerscale))
        for b in layer.blocks if block.layerscale else ():
            gammas |= set(np.unique(b.gamma_1.numpy())) | set(np.unique(b.gamma_2.numpy()))
    out["drop_path_rate"] = _last_drop_prob(net.layers[-1].blocks)
    if gammas:
        out["layer_init_values"] = float(gammas.pop())
        assert not gammas, "layer scales start at one value"
    return out


def measure_conv_attention(net):
    """Architecture of a built MSCAN/VAN, read from its modules."""
    stages = [getattr(net, f"block{i + 1}") for i in range(net.num_stages)]
    fc1 = [blocks[0].mlp.fc1.weight.shape for blocks in stages]  # (hidden, dim, 1, 1)
    return dict(embed_dims=[shape[1] for shape in fc1], depths=[len(b) for b in stages],
                mlp_ratios=[shape[0] / shape[1] for shape in fc1],
                drop_path_rate=_last_drop_prob(stages[-1]))


MEASURE = {"VisRetNet": measure_rmt, "MSCAN": measure_conv_attention,
           "VAN": measure_conv_attention}
_BUILT = {}  # measured architecture per distinct backbone config (many configs share one)


def built_numbers(backbone_cfg):
    key = json.dumps(_plain(backbone_cfg), sort_keys=True)
    if key not in _BUILT:
        _BUILT[key] = MEASURE[backbone_cfg["type"]](BACKBONES.build(backbone_cfg))
    return _BUILT[key]


def _close(measured, expected):
    if isinstance(expected, list):
        return len(measured) == len(expected) and all(map(_close, measured, expected))
    if isinstance(expected, bool):
        return measured is expected
    return math.isclose(measured, expected, rel_tol=1e-6, abs_tol=1e-9)


# ---- tests -------------------------------------------------------------------------------------
def test_the_configs_cover_every_family():
    families = {variant_of(n)[0] for n in CONFIGS}
    assert families == set(PUBLISHED)
    assert len(CONFIGS) >= 50


@pytest.mark.parametrize("typ", sorted(PUBLISHED))
def test_tables_hold_the_published_variants(typ):
    table = BACKBONES.lookup(typ).arch_settings
    assert sorted(table) == sorted(PUBLISHED[typ])
    for arch, numbers in PUBLISHED[typ].items():
        row = _plain(table[arch])
        assert {k: row.get(k) for k in numbers} == numbers, (typ, arch)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_names_its_variant_and_repeats_none_of_its_numbers(name):
    backbone = Config.fromfile(os.path.join(ROOT, name)).model.backbone
    typ, arch = variant_of(name)
    assert (backbone.type, backbone.get("arch")) == (typ, arch)
    table_fields = set(BACKBONES.lookup(typ).arch_settings[arch])
    repeated = (set(backbone) & table_fields) - set(OVERRIDES.get(name, {}))
    assert not repeated, f"{name}: {sorted(repeated)} belong to {typ}'s table (arch={arch!r})"


@pytest.mark.parametrize("name", CONFIGS)
def test_built_backbone_has_the_published_numbers(name):
    backbone = Config.fromfile(os.path.join(ROOT, name)).model.backbone
    expected = expected_numbers(name)
    resolved = _plain(resolve_backbone_cfg(backbone))
    assert {k: resolved.get(k) for k in expected} == expected
    measured = built_numbers(backbone)
    assert set(measured) <= set(expected)
    wrong = {k: (measured[k], expected[k]) for k in measured
             if not _close(measured[k], expected[k])}
    assert not wrong, f"{name}: built (measured, published): {wrong}"


def test_explicit_arguments_override_the_variant():
    net = BACKBONES.build(dict(type="VisRetNet", arch="b", depths=[1, 1, 1, 1],
                               drop_path_rate=0.0))
    measured = measure_rmt(net)
    assert measured["depths"] == [1, 1, 1, 1] and measured["drop_path_rate"] == 0.0
    assert measured["embed_dims"] == PUBLISHED["VisRetNet"]["b"]["embed_dims"]
    assert measured["layerscale_stages"] == FFTT
    assert resolve_backbone_cfg(dict(type="VisRetNet"))["arch"] == "t"  # the default variant


@pytest.mark.parametrize("typ", sorted(PUBLISHED))
def test_unknown_arch_names_the_backbone_and_the_valid_variants(typ):
    with pytest.raises(KeyError) as error:
        BACKBONES.build(dict(type=typ, arch="xl"))
    message = str(error.value)
    assert typ in message and "'xl'" in message
    assert all(repr(arch) in message for arch in PUBLISHED[typ]), message


def test_unknown_arch_in_a_config_fails_the_build():
    cfg = Config.fromfile(os.path.join(ROOT, "configs/segret/segret-t_512x512_ade20k.py"))
    cfg.model.backbone.arch = "T"  # the variants are lower-case
    with pytest.raises(KeyError, match=r"VisRetNet: unknown arch 'T'; expected one of "
                                       r"\['b', 'l', 's', 't'\]"):
        build_segmentor(cfg.model)
    with pytest.raises(KeyError, match="unknown arch 'T'"):
        resolve_backbone_cfg(cfg.model.backbone)
