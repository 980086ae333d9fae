"""jt.Function around the fused kernels: forward writes O and the log-sum-exp, backward
recomputes probabilities from q, k and the LSE. Both are single ``jt.code`` ops whose
cpu_header / cuda_header is the kernel source file; the src strings only call its entry points."""
import os

import jittor as jt

from .sources import KERNEL_DIR, kernel_source

SOURCES = {"cpu": os.path.join(KERNEL_DIR, "retention_cpu.h"),
           "cuda": os.path.join(KERNEL_DIR, "retention_cuda.cu")}
CUDA_MAX_HEAD_DIM = 128

# in0..in3 = q, k, v, decay; shapes (B, N, L, d) / (B, N, L, e) / (N,). BN = B*N.
_DIMS = "in0_shape0 * in0_shape1, in0_shape1, in0_shape2, in0_shape3, in2_shape3"

_CPU_FWD = f"""
jseg_retention::forward<in0_type>(in0_p, in1_p, in2_p, in3_p, out0_p, out1_p,
    {_DIMS}, (int)data["w"]);
"""
# in4..in6 = o, lse, dout
_CPU_BWD = f"""
jseg_retention::backward<in0_type>(in0_p, in1_p, in2_p, in3_p, in4_p, in5_p, in6_p,
    out0_p, out1_p, out2_p, {_DIMS}, (int)data["w"]);
"""
_CUDA_FWD = f"""
cudaError_t err = jseg_retention_cuda::forward<in0_type>(in0_p, in1_p, in2_p, in3_p, out0_p,
    out1_p, {_DIMS}, (int)data["w"]);
if (err != cudaSuccess) LOGf << "fused retention forward:" << cudaGetErrorString(err);
"""
_CUDA_BWD = f"""
cudaError_t err = jseg_retention_cuda::backward<in0_type>(in0_p, in1_p, in2_p, in3_p, in4_p,
    in5_p, in6_p, out0_p, out1_p, out2_p, out3_p, {_DIMS}, (int)data["w"]);
if (err != cudaSuccess) LOGf << "fused retention backward:" << cudaGetErrorString(err);
"""


def source(device):
    """The retention kernel source for ``device`` ("cpu" or "cuda")."""
    return kernel_source(os.path.basename(SOURCES[device]))


def _code(shapes, dtypes, inputs, cpu_src, cuda_src, w):
    if jt.flags.use_cuda:
        return jt.code(shapes, dtypes, inputs, cuda_header=source("cuda"), cuda_src=cuda_src,
                       data={"w": w})
    return jt.code(shapes, dtypes, inputs, cpu_header=source("cpu"), cpu_src=cpu_src,
                   data={"w": w})


def _lse_dtype(q):
    # CPU keeps the LSE in the compute dtype (float64 for gradient checks); CUDA: float32.
    return "float32" if jt.flags.use_cuda else str(q.dtype)


class RetentionFunction(jt.Function):
    """O = softmax(q kᵀ + λ_n·(|Δh| + |Δw|)) v on a grid of width ``w``; grads for q, k, v."""

    def __init__(self, w):
        self.w = int(w)
        self.saved = None

    def execute(self, q, k, v, decay):
        B, N, L, _ = q.shape
        o, lse = _code([v.shape, (B, N, L)], [q.dtype, _lse_dtype(q)], [q, k, v, decay],
                       _CPU_FWD, _CUDA_FWD, self.w)
        self.saved = (q, k, v, decay, o, lse)
        return o

    def grad(self, dout):
        q, k, v, decay, o, lse = self.saved
        if dout is None:
            return None, None, None, None
        dout = dout.astype(q.dtype)
        B, N, L, _ = q.shape
        shapes = [q.shape, k.shape, v.shape]
        dtypes = [q.dtype] * 3
        if jt.flags.use_cuda:  # D_i = rowsum(dO_i * O_i) scratch, allocated by Jittor
            shapes.append((B, N, L))
            dtypes.append("float32")
        outs = _code(shapes, dtypes, [q, k, v, decay, o, lse, dout], _CPU_BWD, _CUDA_BWD, self.w)
        return outs[0], outs[1], outs[2], None
