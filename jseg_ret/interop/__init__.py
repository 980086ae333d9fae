"""PyTorch interop: read ``.pth`` without PyTorch, map keys per model family, export back.

- ``load_pth`` / ``save_pth``: the checkpoint files (zip and legacy formats; zip written).
- ``load_checkpoint_into``: weights into a Jittor model with a ``LoadReport``.
- ``export_pth``: a Jittor model as an mmseg-layout ``.pth`` that ``torch.load`` opens.
"""
from .errors import CheckpointError
from .export import export_pth, model_state_numpy, to_mmseg_state
from .keymaps import FAMILIES, Family, detect_family, map_checkpoint_keys, register_family
from .load import Weights, load_checkpoint_into, read_checkpoint, read_weights
from .pkl_io import load_pkl, save_pkl
from .pth_reader import load_pth
from .pth_writer import save_pth
from .report import LoadReport
from .unwrap import locate_state_dict, unwrap_state_dict

__all__ = [
    "CheckpointError", "FAMILIES", "Family", "LoadReport", "Weights", "detect_family", "export_pth",
    "load_checkpoint_into", "load_pkl", "load_pth", "map_checkpoint_keys", "model_state_numpy",
    "read_checkpoint", "read_weights", "register_family", "save_pkl", "save_pth", "to_mmseg_state",
    "locate_state_dict", "unwrap_state_dict",
]
