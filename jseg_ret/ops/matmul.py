"""Batched matrix product that reaches oneDNN on the CPU.

On the CPU Jittor lowers ``nn.bmm`` / ``jt.matmul`` of 3-D tensors to a broadcast-multiply-reduce
kernel, while 2-D products go to oneDNN's GEMM, many times faster (NMF2D's products in SegNeXt;
docs/performance.md). ``bmm`` runs one 2-D product per batch entry instead (same result,
gradients through ``jt.matmul``); on CUDA it is ``nn.bmm`` (cuBLAS).
"""
import jittor as jt
from jittor import nn

MAX_UNROLLED_BATCH = 64  # beyond this, one graph node per entry costs more than it saves


def bmm(a, b):
    """(B, n, m) @ (B, m, p) -> (B, n, p)."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: expected (B, n, m) and (B, m, p), got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    batch = a.shape[0]
    if jt.flags.use_cuda or batch > MAX_UNROLLED_BATCH:
        return nn.bmm(a, b)
    if batch == 1:
        return jt.matmul(a[0], b[0]).unsqueeze(0)
    return jt.stack([jt.matmul(a[i], b[i]) for i in range(batch)], 0)
