"""The shape rules every retention entry point shares (a leaf: the naive and fused paths and the
kernels all check with it)."""


def check_qkv(q, k, v, decay, name):
    """q, k (B, N, L, d), v (B, N, L, e), decay (N,); errors name ``name``."""
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"{name}: q, k, v must be 4-D (B, N, L, d); got {q.shape}, {k.shape}, "
                         f"{v.shape}")
    if tuple(q.shape) != tuple(k.shape) or tuple(q.shape[:3]) != tuple(v.shape[:3]):
        raise ValueError(f"{name}: shape mismatch q {q.shape}, k {k.shape}, v {v.shape}")
    if tuple(decay.shape) != (q.shape[1],):
        raise ValueError(f"{name}: decay must have shape ({q.shape[1]},) (one per head), "
                         f"got {tuple(decay.shape)}")
