from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .dist import get_rank, get_world_size, is_main_process
from .evaluator import evaluate_dataset, predict_item, save_prediction_png
from .lr_scheduler import build_lr_schedule
from .optimizer import build_optimizer, param_multipliers
from .runner import Runner, TrainingDiverged

__all__ = ["latest_checkpoint", "load_checkpoint", "save_checkpoint", "get_rank",
           "get_world_size", "is_main_process", "evaluate_dataset", "predict_item",
           "save_prediction_png", "build_lr_schedule", "build_optimizer", "param_multipliers",
           "Runner", "TrainingDiverged"]
