"""Reference state_dict tables (shared/reference) and parameter counts."""
import os

import numpy as np

from jseg_ret import Config, build_segmentor
from jseg_ret.interop.reference import read_reference_table

# Jittor's BatchNorm keeps no step counter; the converter re-creates these on export.
JITTOR_ABSENT_SUFFIX = ".num_batches_tracked"


def build_from_config(path, **backbone):
    """The segmentor of the config file at path, with backbone settings overridden."""
    cfg = Config.fromfile(path)
    cfg.model.backbone.update(backbone)
    return build_segmentor(cfg.model)


def read_reference(shared_dir, family, variant):
    """key -> shape of the reference ``{family}_{variant}`` ADE20K state_dict (segret, segnext)."""
    return read_reference_table(os.path.join(shared_dir, "reference",
                                             f"{family}_{variant}_ade20k_state_dict.tsv"))


def assert_state_dict_matches(model, ref):
    """model's state_dict holds exactly the reference's keys (less the BN step counters) with the
    reference's shapes."""
    sd = model.state_dict()
    expected = {k for k in ref if not k.endswith(JITTOR_ABSENT_SUFFIX)}
    assert set(sd) == expected, (sorted(set(sd) - expected)[:5], sorted(expected - set(sd))[:5])
    mismatched = [(k, tuple(sd[k].shape), ref[k]) for k in expected if tuple(sd[k].shape) != ref[k]]
    assert not mismatched


def trainable_count(module):
    """Number of trainable parameters; train() first: Jittor's eval() marks every var stop_grad."""
    module.train()
    return sum(int(np.prod(p.shape)) for p in module.parameters() if not p.is_stop_grad())
