"""Export a Jittor model to a PyTorch ``.pth`` in the mmseg layout."""
from collections import OrderedDict

from .keymaps import add_bn_counters
from .pth_writer import save_pth


def model_state_numpy(model):
    """``model.state_dict()`` as an OrderedDict name -> numpy array."""
    return OrderedDict((k, v.numpy()) for k, v in model.state_dict().items())


def to_mmseg_state(state):
    """Jittor layout -> mmseg layout: BN layers get their ``num_batches_tracked`` back."""
    return add_bn_counters(state)


def export_pth(model, path, meta=None):
    """Write ``{'meta': meta, 'state_dict': OrderedDict}`` as a zip ``.pth`` (no torch needed).

    The key set equals the reference PyTorch checkpoint's: every BatchNorm (recognized by its
    ``running_var``) gets ``num_batches_tracked`` as an int64 zero-dim zero, the one buffer
    Jittor does not keep. ``torch.load(path)`` opens it with the default weights_only=True.
    """
    from .. import __version__

    meta = dict(meta or {})
    meta.setdefault("exported_by", f"jseg_ret {__version__}")
    state = to_mmseg_state(model_state_numpy(model))
    return save_pth({"meta": meta, "state_dict": state}, path)
