"""Softmax cross-entropy for segmentation with mmseg's reduction rules."""
import jittor as jt
from jittor import nn

from ...ops import cross_entropy as ce_kernel
from ...registry import LOSSES


def cross_entropy(pred, label, class_weight=None, ignore_index=255, avg_non_ignore=False):
    """Mean pixel CE; ``pred`` (N, C, H, W) logits, ``label`` (N, H, W) ints.

    As mmseg: per-pixel loss = w[y]·(−log p_y), ignored pixels contribute 0, and the mean is over
    all pixels — or over the non-ignored ones with ``avg_non_ignore``.
    """
    if pred.ndim != 4 or label.ndim != 3 or tuple(pred.shape[-2:]) != tuple(label.shape[-2:]) \
            or pred.shape[0] != label.shape[0]:
        raise ValueError(f"cross_entropy: logits {tuple(pred.shape)} and labels "
                         f"{tuple(label.shape)} must be (N, C, H, W) and (N, H, W)")
    label = label.int32()
    valid = (label != ignore_index)
    if ce_kernel.applies(pred):  # the CPU kernel: one pass each way over blocks of pixels
        weight = (jt.array(class_weight).float32() if class_weight is not None
                  else jt.ones((pred.shape[1],), "float32"))
        nll = ce_kernel.pixel_nll(pred, label, weight, ignore_index)
    else:
        nll = _pixel_nll_formula(pred, label, valid, class_weight)
    if avg_non_ignore:
        return nll.sum() / valid.float32().sum().maximum(1.0)
    return nll.mean()


def _pixel_nll_formula(pred, label, valid, class_weight):
    safe = jt.where(valid, label, jt.zeros_like(label))
    logp = pred - pred.max(dim=1, keepdims=True)
    logp = logp - jt.log(jt.exp(logp).sum(dim=1, keepdims=True))
    nll = -logp.gather(1, safe.unsqueeze(1)).squeeze(1)
    if class_weight is not None:
        nll = nll * jt.array(class_weight).float32()[safe]
    return nll * valid.float32()


@LOSSES.register_module()
class CrossEntropyLoss(nn.Module):
    def __init__(self, use_sigmoid=False, use_mask=False, reduction="mean", class_weight=None,
                 loss_weight=1.0, loss_name="loss_ce", avg_non_ignore=False):
        if use_sigmoid or use_mask:
            raise ValueError("CrossEntropyLoss: only softmax cross-entropy is supported "
                             "(use_sigmoid/use_mask must be False)")
        if reduction != "mean":
            raise ValueError(f"CrossEntropyLoss: reduction {reduction!r} unsupported; "
                             "segmentation losses are averaged ('mean')")
        self.class_weight = list(class_weight) if class_weight is not None else None
        self.loss_weight = loss_weight
        self.avg_non_ignore = avg_non_ignore
        self._loss_name = loss_name

    @property
    def loss_name(self):
        return self._loss_name

    def execute(self, cls_score, label, ignore_index=255):
        return self.loss_weight * cross_entropy(cls_score, label, self.class_weight, ignore_index,
                                                self.avg_non_ignore)
