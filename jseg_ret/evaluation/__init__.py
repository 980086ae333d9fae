"""Evaluation: streaming IoU metrics, reports, Cityscapes export."""
from ..datasets.cityscapes_export import (
    cityscapes_export,
    cityscapes_result_path,
    trainid_to_labelid,
)
from .metrics import (
    ALLOWED_METRICS,
    IoUAccumulator,
    f_score,
    intersect_and_union,
    total_area_to_metrics,
)
from .report import format_table, save_summary_json

__all__ = ["IoUAccumulator", "intersect_and_union", "total_area_to_metrics", "f_score",
           "ALLOWED_METRICS", "format_table", "save_summary_json", "cityscapes_export",
           "cityscapes_result_path", "trainid_to_labelid"]
