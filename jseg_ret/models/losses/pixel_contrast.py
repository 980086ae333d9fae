"""Supervised pixel-contrastive loss and its projection head (FRM's auxiliary loss,
docs/models.md#frm).

Wang et al., "Exploring Cross-Image Pixel Contrast for Semantic Segmentation" (ICCV 2021), as the
FRM paper adds it to cross-entropy:  L = L_CE + λ · L_contrast.

A projection head maps decoder features to embeddings e (two 1×1 convs, ReLU between, dim 128);
the loss L2-normalizes them, z = e / ‖e‖. Labels are brought to the embedding size (nearest).
Anchors are sampled per class present in the batch, ignore label excluded, at most ``max_views``
per class and ``max_samples`` in total — the cost is bounded whatever the image size:

    n_view = min(max_views, max_samples // #classes present)

For an anchor i with positives P(i) (other anchors of its class) and negatives N(i) (anchors of
other classes), with s_ij = z_i·z_j / τ:

    L_i = −1/|P(i)| Σ_{p∈P(i)} log( exp(s_ip) / (exp(s_ip) + Σ_{n∈N(i)} exp(s_in)) )

averaged over the anchors that have a positive. (The pixel-contrast paper's form: every positive
is contrasted against all negatives, the other positives are not in the denominator.)
"""
import numpy as np

import jittor as jt
from jittor import nn

from ...bricks import kaiming_init
from ...registry import LOSSES


class ProjectionHead(nn.Module):
    """e = conv1×1(ReLU(conv1×1(x))): decoder features -> contrastive embeddings (not normalized;
    the loss normalizes the sampled anchors only)."""

    def __init__(self, in_channels, proj_channels=128, hidden_channels=None):
        hidden = hidden_channels or in_channels
        self.proj = nn.Sequential(nn.Conv2d(in_channels, hidden, 1), nn.ReLU(),
                                  nn.Conv2d(hidden, proj_channels, 1))
        for m in (self.proj[0], self.proj[2]):
            kaiming_init(m, a=0, nonlinearity="relu")

    def execute(self, x):
        return self.proj(x)


def nearest_labels(labels, size):
    """(N, H, W) int labels resized to ``size`` by nearest neighbour (torch's legacy rule:
    source index floor(i · H / h))."""
    n, h, w = labels.shape
    oh, ow = size
    rows = np.floor(np.arange(oh) * (h / oh)).astype(np.int64)
    cols = np.floor(np.arange(ow) * (w / ow)).astype(np.int64)
    return labels[:, rows][:, :, cols]


def sample_anchors(labels, ignore_index=255, max_samples=1024, max_views=100, rng=None):
    """Flat indices into ``labels`` (any shape) and their classes, sampled per class present.

    Each class present (ignore excluded) with at least two pixels gets up to
    n_view = min(max_views, max_samples // #classes) pixels, drawn uniformly without replacement,
    so the total never exceeds ``max_samples``. Returns (indices int64, classes int64).
    """
    if max_samples < 2 or max_views < 2:
        raise ValueError(f"sample_anchors: max_samples ({max_samples}) and max_views "
                         f"({max_views}) must be at least 2 (an anchor needs a positive)")
    rng = rng if rng is not None else np.random
    flat = np.asarray(labels).reshape(-1)
    classes, counts = np.unique(flat, return_counts=True)
    keep = (classes != ignore_index) & (counts >= 2)
    classes = classes[keep]
    if len(classes) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # more classes than pairs fit in the budget: keep the most frequent ones
    max_classes = max_samples // 2
    if len(classes) > max_classes:
        classes = classes[np.argsort(-counts[keep], kind="stable")[:max_classes]]
    n_view = min(max_views, max_samples // len(classes))
    idx, cls = [], []
    for c in classes:
        where = np.flatnonzero(flat == c)
        take = where if len(where) <= n_view else rng.choice(where, n_view, replace=False)
        idx.append(take)
        cls.append(np.full(len(take), c, np.int64))
    return np.concatenate(idx).astype(np.int64), np.concatenate(cls)


def pixel_contrast(embeddings, classes, temperature=0.1):
    """The loss above on sampled anchors: ``embeddings`` (M, D) Var, ``classes`` (M,) numpy."""
    m = len(classes)
    z = embeddings / jt.sqrt((embeddings * embeddings).sum(1, keepdims=True) + 1e-12)
    logits = jt.matmul(z, z.transpose(1, 0)) / temperature
    logits = logits - logits.max(1, keepdims=True).detach()  # stability; cancels in the ratio
    same = classes[:, None] == classes[None, :]
    pos = same & ~np.eye(m, dtype=bool)
    n_pos = pos.sum(1)
    if not n_pos.any():
        return embeddings.sum() * 0.0
    pos_mask = jt.array(pos.astype(np.float32))
    neg_mask = jt.array((~same).astype(np.float32))
    exp = jt.exp(logits)
    neg_sum = (exp * neg_mask).sum(1, keepdims=True)
    log_prob = logits - jt.log(exp + neg_sum)
    per_anchor = -(log_prob * pos_mask).sum(1) / jt.array(np.maximum(n_pos, 1).astype(np.float32))
    has_pos = (n_pos > 0).astype(np.float32)  # anchors without a positive contribute nothing
    return (per_anchor * jt.array(has_pos)).sum() / float(has_pos.sum())


@LOSSES.register_module()
class PixelContrastLoss(nn.Module):
    """λ · pixel-contrastive loss of embeddings (N, D, h, w) against labels (N, H, W).

    ``last_num_anchors`` records how many anchors the last call used (for tests and logs).
    """

    def __init__(self, temperature=0.1, max_samples=1024, max_views=100, ignore_index=255,
                 loss_weight=0.1, loss_name="loss_contrast"):
        if temperature <= 0:
            raise ValueError(f"PixelContrastLoss: temperature must be > 0, got {temperature}")
        if max_samples < 2 or max_views < 2:
            raise ValueError(f"PixelContrastLoss: max_samples ({max_samples}) and max_views "
                             f"({max_views}) must be at least 2")
        self.temperature = float(temperature)
        self.max_samples = int(max_samples)
        self.max_views = int(max_views)
        self.ignore_index = ignore_index
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name
        self.last_num_anchors = 0

    @property
    def loss_name(self):
        return self._loss_name

    def execute(self, embeddings, labels, ignore_index=None):
        ignore = self.ignore_index if ignore_index is None else ignore_index
        if embeddings.ndim != 4:
            raise ValueError(f"PixelContrastLoss: embeddings must be (N, D, h, w), got "
                             f"{tuple(embeddings.shape)}")
        labels = labels.numpy() if isinstance(labels, jt.Var) else np.asarray(labels)
        if labels.ndim == 4:
            labels = labels[:, 0]
        n, d, h, w = embeddings.shape
        if labels.ndim != 3 or labels.shape[0] != n:
            raise ValueError(f"PixelContrastLoss: labels {labels.shape} must be (N, H, W) with "
                             f"N = {n} (embeddings {tuple(embeddings.shape)})")
        labels = nearest_labels(labels, (h, w))
        idx, classes = sample_anchors(labels, ignore, self.max_samples, self.max_views)
        self.last_num_anchors = len(idx)
        if len(idx) < 2:
            return embeddings.sum() * 0.0
        flat = embeddings.transpose(0, 2, 3, 1).reshape(n * h * w, d)
        anchors = flat[jt.array(idx)]
        return self.loss_weight * pixel_contrast(anchors, classes, self.temperature)
