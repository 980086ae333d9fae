"""An mmseg VAN + semantic-FPN checkpoint loads strictly into FRM: the FRM-only modules are
reported as left initialized; a checkpoint holding part of such a module is still an error."""
import os

import numpy as np
import pytest

from jseg_ret import Config, build_segmentor
from jseg_ret.interop import CheckpointError, load_checkpoint_into
from tests.helpers.paths import ROOT

NEW = ("neck.refine.", "decode_head.proj_head.")


@pytest.fixture(scope="module")
def frm_model():
    cfg = Config.fromfile(os.path.join(ROOT, "configs/frm/frm-van-b1_1024x1024_cityscapes.py"))
    return build_segmentor(cfg.model)


def test_semantic_fpn_checkpoint_loads_into_frm(frm_model):
    full = {k: v.numpy() for k, v in frm_model.state_dict().items()}
    fpn_only = {k: v + 1 for k, v in full.items() if not k.startswith(NEW)}
    before = {k: full[k] for k in full if k.startswith(NEW)}
    report = load_checkpoint_into(frm_model, {"state_dict": fpn_only}, verbose=False)
    assert not report.missing and not report.unexpected
    assert {k for k, _ in report.skipped} == set(before)
    sd = frm_model.state_dict()
    for k, v in before.items():  # new modules untouched, the rest loaded
        np.testing.assert_array_equal(sd[k].numpy(), v)
    k = next(iter(fpn_only))
    np.testing.assert_array_equal(sd[k].numpy(), fpn_only[k])


def test_partial_new_module_is_missing(frm_model):
    full = {k: v.numpy() for k, v in frm_model.state_dict().items()}
    dropped = sorted(k for k in full if k.startswith("neck.refine."))[0]
    partial = {k: v for k, v in full.items() if k != dropped}
    with pytest.raises(CheckpointError, match="1 missing"):
        load_checkpoint_into(frm_model, {"state_dict": partial}, verbose=False)
