"""Reference state_dict tables (shared/reference) and parameter counts."""
import os

import numpy as np

from jseg_ret.interop.reference import read_reference_table


def read_reference(shared_dir, family, variant):
    """key -> shape of the reference ``{family}_{variant}`` ADE20K state_dict (segret, segnext)."""
    return read_reference_table(os.path.join(shared_dir, "reference",
                                             f"{family}_{variant}_ade20k_state_dict.tsv"))


def trainable_count(module):
    """Number of trainable parameters; train() first: Jittor's eval() marks every var stop_grad."""
    module.train()
    return sum(int(np.prod(p.shape)) for p in module.parameters() if not p.is_stop_grad())
