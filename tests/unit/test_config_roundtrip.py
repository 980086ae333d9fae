"""The YAML config training dumps loads back equal for every shipped config, and its val/test
pipelines build (issue 17, item 16: tuples used to come back as lists)."""
import glob
import os

import pytest

from jseg_ret.config import Config
from jseg_ret.datasets.pipelines import Compose

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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
