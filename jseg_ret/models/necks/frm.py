"""FRM: the Feature Refinement Module (Wang et al., "A feature refinement module for light-weight
semantic segmentation network", ICIP; docs/models.md#frm). The paper gives no code; each choice
it leaves open is an argument here.

Given backbone features F1..F4 (strides 4, 8, 16, 32, channels C1..C4):

    P_i  = pool^(k_i)(F_i)               k_i halvings: every map at the size of F4
    x    = reduce(concat[P1, P2, P3, F4])                1×1 ConvModule -> D channels
    x    = x + DNL(LN(x))                                LN over channels
    x    = x + FFN(LN(x))                                FFN = 1×1 (D->rD), GELU, 1×1 (rD->D)
    F4'  = F4 + proj(x)                                  1×1 ConvModule D -> C4 (norm, no act)
    out  = [F1, F2, F3, F4']

Polyphase pooling by 2 (adaptive polyphase sampling, Chaman & Dokmanić, CVPR 2021): split x into
its four polyphase components x[..., i::2, j::2] and keep, per sample, the one with the largest
L2 norm (over channels and positions). A one-pixel circular shift of the input permutes the
components and shifts one of them by a pixel without changing its norm, so the same component
wins: the pooled output is unchanged or shifted by one pixel (shift-equivariance that fixed
strided subsampling lacks). ``pooling='avg'`` averages the four components instead (2×2 average
pooling). Odd sizes are zero-padded at the bottom/right first, giving ceil(H/2) × ceil(W/2), the
size of the backbone's own stride-2 convs.

DNL (disentangled non-local, Yin et al., ECCV 2020) on x (N, D, H, W), L = H·W positions,
q, k, v = 1×1 convs of x (D -> D/2), s = √(D/2) when ``use_scale``:

    pairwise = softmax_j( (q_i − μ_q)·(k_j − μ_k) / (s·T) )      μ = mean over positions
    unary    = softmax_j( m(k_j) )                                m: 1×1 conv D/2 -> 1
    y        = out( (pairwise + 1·unaryᵀ) v )                     out: 1×1 conv D/2 -> D

Whitening (subtracting μ) makes the pairwise term invariant to a constant added to all queries
(plain non-local is not). ``attention='nl'`` is plain non-local: softmax_j(q_i·k_j / (s·T)),
no whitening, no unary term.
"""
import math

import jittor as jt
from jittor import nn

from ...bricks import GELU, ConvModule, LayerNorm2d, constant_init, normal_init, trunc_normal_init
from ...registry import NECKS


class PolyphasePool2d(nn.Module):
    """Stride-2 downsampling by polyphase components: 'aps' (max-norm component per sample) or
    'avg' (their mean)."""

    def __init__(self, mode="aps"):
        if mode not in ("aps", "avg"):
            raise ValueError(f"PolyphasePool2d: pooling {mode!r}: expected 'aps' or 'avg'")
        self.mode = mode

    @staticmethod
    def components(x):
        """The four polyphase components, order (0,0), (0,1), (1,0), (1,1), stacked on dim 1."""
        h, w = x.shape[2:]
        if h % 2 or w % 2:
            x = nn.pad(x, (0, w % 2, 0, h % 2))
        return jt.stack([x[:, :, i::2, j::2] for i in (0, 1) for j in (0, 1)], dim=1)

    @staticmethod
    def choose(comps):
        """Index (N,) of the component each sample keeps: the largest L2 norm."""
        norms = (comps * comps).sum(dims=[2, 3, 4])  # squared norm: same argmax
        return jt.argmax(norms, dim=1)[0]

    def execute(self, x):
        comps = self.components(x)
        if self.mode == "avg":
            return comps.mean(dim=1)
        idx = self.choose(comps)
        onehot = (jt.arange(4).reshape(1, 4) == idx.reshape(-1, 1)).float32()
        # gradient flows into the selected component only; the choice itself is discrete
        return (comps * onehot.reshape(-1, 4, 1, 1, 1)).sum(dim=1)


def pool_to(x, size, pool):
    """Halve ``x`` with ``pool`` until it reaches ``size`` (h, w); error if it cannot."""
    start = tuple(x.shape[2:])
    while x.shape[2] > size[0] or x.shape[3] > size[1]:
        x = pool(x)
    if tuple(x.shape[2:]) != tuple(size):
        raise ValueError(f"FRM: a {start} map does not halve to the last stage's size "
                         f"{tuple(size)} (reached {tuple(x.shape[2:])}); feature strides must "
                         "be powers of two apart")
    return x


class DisentangledNonLocal(nn.Module):
    """DNL (or plain non-local with ``whiten=False, unary=False``) without its own residual."""

    def __init__(self, channels, reduction=2, temperature=0.05, use_scale=True, whiten=True,
                 unary=True):
        inter = max(channels // reduction, 1)
        self.inter_channels = inter
        self.temperature = float(temperature)
        self.scale = math.sqrt(inter) if use_scale else 1.0
        self.whiten = whiten
        self.query = nn.Conv2d(channels, inter, 1)
        self.key = nn.Conv2d(channels, inter, 1)
        self.value = nn.Conv2d(channels, inter, 1)
        self.conv_mask = nn.Conv2d(inter, 1, 1) if unary else None
        self.conv_out = nn.Conv2d(inter, channels, 1)
        # small init, as mmcv's NonLocal2d: the attention starts near uniform
        for m in (self.query, self.key, self.value, self.conv_mask, self.conv_out):
            if m is not None:
                normal_init(m, std=0.01)

    def pairwise(self, q, k):
        """(N, L, L) attention from queries and keys (N, C', L)."""
        if self.whiten:
            q = q - q.mean(dim=2, keepdims=True)
            k = k - k.mean(dim=2, keepdims=True)
        logits = jt.matmul(q.transpose(0, 2, 1), k) / (self.scale * self.temperature)
        return nn.softmax(logits, dim=2)

    def unary(self, k, size):
        """(N, 1, L) position weights: softmax over positions of a 1×1 conv of the keys."""
        n = k.shape[0]
        logits = self.conv_mask(k.reshape(n, -1, *size)).reshape(n, 1, -1)
        return nn.softmax(logits, dim=2)

    def attention(self, x):
        """(pairwise (N, L, L), unary (N, 1, L) or None) for an input map x."""
        n, _, h, w = x.shape
        q = self.query(x).reshape(n, self.inter_channels, h * w)
        k = self.key(x).reshape(n, self.inter_channels, h * w)
        unary = self.unary(k, (h, w)) if self.conv_mask is not None else None
        return self.pairwise(q, k), unary

    def execute(self, x):
        n, _, h, w = x.shape
        pairwise, unary = self.attention(x)
        v = self.value(x).reshape(n, self.inter_channels, h * w).transpose(0, 2, 1)  # (N, L, C')
        y = jt.matmul(pairwise, v)
        if unary is not None:
            y = y + jt.matmul(unary, v)  # the same global context added at every position
        return self.conv_out(y.transpose(0, 2, 1).reshape(n, self.inter_channels, h, w))


class FFN(nn.Module):
    """1×1 conv D -> rD, GELU, 1×1 conv rD -> D."""

    def __init__(self, channels, ratio=4):
        hidden = int(channels * ratio)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = GELU()
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        for m in (self.fc1, self.fc2):
            trunc_normal_init(m, std=0.02)

    def execute(self, x):
        return self.fc2(self.act(self.fc1(x)))


@NECKS.register_module()
class FRM(nn.Module):
    """Feature Refinement Module; see the module docstring.

    Args:
        in_channels: C1..C4 of the backbone stages (the last one is refined).
        channels: D, the width of the refinement block.
        pooling: 'aps' (adaptive polyphase sampling) or 'avg'.
        attention: 'dnl' (disentangled non-local) or 'nl' (plain non-local).
        temperature: T of the pairwise softmax; ``use_scale`` also divides by √(D/2).
        ffn_ratio: r, the FFN's hidden width D·r.
        zero_init: start the projection's norm at zero, so F4' = F4 at initialization and a
            pretrained backbone's features pass through untouched until the module learns.
        use_frm: False makes the module the identity (ablation).
    """

    def __init__(self, in_channels, channels=256, pooling="aps", attention="dnl",
                 temperature=0.05, use_scale=True, reduction=2, ffn_ratio=4,
                 norm_cfg=dict(type="BN", requires_grad=True), act_cfg=dict(type="ReLU"),
                 zero_init=True, use_frm=True):
        if attention not in ("dnl", "nl"):
            raise ValueError(f"FRM: attention {attention!r}: expected 'dnl' or 'nl'")
        if temperature <= 0:
            raise ValueError(f"FRM: temperature must be > 0, got {temperature}")
        self.in_channels = list(in_channels)
        self.use_frm = use_frm
        if not use_frm:
            return
        self.pool = PolyphasePool2d(pooling)
        self.reduce = ConvModule(sum(in_channels), channels, 1, norm_cfg=norm_cfg,
                                 act_cfg=act_cfg)
        self.norm1 = LayerNorm2d(channels)
        dnl = attention == "dnl"
        self.attn = DisentangledNonLocal(channels, reduction, temperature, use_scale,
                                         whiten=dnl, unary=dnl)
        self.norm2 = LayerNorm2d(channels)
        self.ffn = FFN(channels, ffn_ratio)
        self.proj = ConvModule(channels, in_channels[-1], 1, norm_cfg=norm_cfg, act_cfg=None)
        for m in (self.norm1, self.norm2):
            constant_init(m, 1.0, bias=0.0)
        if zero_init:  # the last affine map of the branch starts at zero
            constant_init(self.proj.norm if self.proj.with_norm else self.proj.conv, 0.0, 0.0)

    def execute(self, inputs):
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"FRM: got {len(inputs)} feature maps, expected "
                             f"{len(self.in_channels)} (in_channels {self.in_channels})")
        if not self.use_frm:
            return list(inputs)
        last = inputs[-1]
        size = tuple(last.shape[2:])
        pooled = [pool_to(f, size, self.pool) for f in inputs[:-1]] + [last]
        x = self.reduce(jt.concat(pooled, dim=1))
        x = x + self.attn(self.norm1(x))
        x = x + self.ffn(self.norm2(x))
        return list(inputs[:-1]) + [last + self.proj(x)]
