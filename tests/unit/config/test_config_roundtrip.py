"""The YAML config training dumps loads back equal for every shipped config, and its val/test
pipelines build (issue 17, item 16: tuples used to come back as lists)."""
import glob
import os

import pytest

from jseg_ret.config import Config
from jseg_ret.datasets.pipelines import Compose, MultiScaleFlipAug
from tests.helpers.paths import ROOT

CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, "configs", "**", "*.py"), recursive=True)
                 if "_base_" not in p.split(os.sep))


def test_all_configs_found():
    assert len(CONFIGS) >= 50


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
@pytest.mark.parametrize("suffix", [".yaml", ".py"])
def test_dump_loads_back_equal_and_builds(path, suffix, tmp_path):
    cfg = Config.fromfile(path)
    out = str(tmp_path / ("dumped" + suffix))
    cfg.dump(out)
    again = Config.fromfile(out)
    assert again._cfg == cfg._cfg  # tuples stay tuples, lists stay lists
    for split in ("val", "test"):
        if split in again.get("data", {}):
            Compose(again.data[split].pipeline)


def test_untagged_dump_scale_list_still_builds():
    """A YAML dump made before tuples were tagged holds img_scale as [w, h]."""
    inner = [dict(type="Resize", keep_ratio=True), dict(type="ImageToTensor", keys=["img"])]
    aug = MultiScaleFlipAug(inner, img_scale=[2048, 512], img_ratios=[0.5, 1.0])
    assert aug.img_scale == [(1024, 256), (2048, 512)]
    assert MultiScaleFlipAug(inner, img_scale=[[64, 32], (32, 16)]).img_scale == [(64, 32),
                                                                                   (32, 16)]
    with pytest.raises(ValueError, match="pairs"):
        MultiScaleFlipAug(inner, img_scale=[(1, 2, 3)])
