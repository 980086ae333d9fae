"""LightHamHead: SegNeXt's decoder, a light Hamburger on stride-8 features (docs/models.md#segnext).

Geng et al., "Is Attention Better Than Matrix Decomposition?" (ICLR 2021), as SegNeXt uses it:

    x   = squeeze(concat_i resize(F_i, stride 8)),   i = stages 1..3    (1×1 conv, GN, ReLU)
    z   = ReLU(ham_in(x))                                              (1×1 conv with bias)
    x   = ReLU(x + ham_out(NMF(z)))                                    (1×1 conv, GN)
    out = conv_seg(dropout(align(x)))                                  (1×1 conv, GN, ReLU)

NMF2D factorizes each sample's non-negative map X ∈ R^{D×N} (D = C/S channels, N = H·W
positions, S groups) as X ≈ B Cᵀ with bases B ∈ R^{D×R} and coefficients C ∈ R^{N×R}:

    B₀ ~ U[0,1)^{D×R}, columns L2-normalized       (drawn afresh every forward, also in eval)
    C₀ = softmax_R(inv_t · XᵀB₀),  inv_t = 1
    K multiplicative updates (K = 6 in training, 7 in eval):
        C ← C ⊙ (XᵀB) / (C BᵀB + 1e-6)
        B ← B ⊙ (X C) / (B CᵀC + 1e-6)
    one more coefficient update C ← C ⊙ (XᵀB) / (C BᵀB + 1e-6), then NMF(X) = B Cᵀ.

Gradients flow through every update by plain autograd: the published SegNeXt code (and mmseg's
port) have the Hamburger paper's one-step-gradient ``@torch.no_grad()`` commented out / absent.
"""
import numpy as np

import jittor as jt
from jittor import nn

from ...bricks import ConvModule
from ...ops import bmm, resize
from ...registry import HEADS
from .decode_head import BaseDecodeHead

# ham_kwargs spellings: the SegNeXt repo's upper-case keys and mmseg 1.x's arguments.
_HAM_KEYS = {"MD_S": "S", "MD_R": "R", "MD_D": None, "TRAIN_STEPS": "train_steps",
             "EVAL_STEPS": "eval_steps", "INV_T": None, "ETA": None, "RAND_INIT": "rand_init",
             "SPATIAL": "spatial"}


class NMF2D(nn.Module):
    """Non-negative matrix factorization by multiplicative updates, on (B, C, H, W) maps.

    ``MD_D`` is ignored (D = C / S from the input) and so are ``INV_T`` (NMF2D fixes inv_t = 1,
    overriding the configured value, as the published code does) and ``ETA`` (unused by NMF):
    they are accepted so that published configs load unchanged.
    """

    def __init__(self, ham_kwargs=None):
        args = dict(S=1, R=64, train_steps=6, eval_steps=7, rand_init=True, spatial=True)
        for key, value in dict(ham_kwargs or {}).items():
            if key.upper() not in _HAM_KEYS:
                raise KeyError(f"ham_kwargs: unknown key {key!r}; expected one of "
                               f"{sorted(_HAM_KEYS)} (or their lower-case forms)")
            target = _HAM_KEYS[key.upper()]
            if target is not None:
                args[target] = value
        if not args["rand_init"]:
            raise ValueError("ham_kwargs RAND_INIT=False (fixed learned bases) is not supported; "
                             "expected True, the published SegNeXt setting")
        if not args["spatial"]:
            raise ValueError("ham_kwargs SPATIAL=False is not supported; expected True, the "
                             "published SegNeXt setting")
        self.S, self.R = int(args["S"]), int(args["R"])
        self.train_steps, self.eval_steps = int(args["train_steps"]), int(args["eval_steps"])
        self.inv_t = 1
        self._initial_bases = None  # numpy, not a Var: never saved, never trained

    def set_initial_bases(self, bases):
        """Use ``bases`` (B·S, D, R) — or (S, D, R), shared by the batch — as B₀ instead of
        random ones in every later forward; ``None`` goes back to random bases."""
        if bases is None:
            self._initial_bases = None
            return
        bases = np.asarray(bases.numpy() if hasattr(bases, "numpy") else bases, np.float32)
        if bases.ndim != 3 or bases.shape[2] != self.R:
            raise ValueError(f"NMF2D initial bases: shape {bases.shape}, expected (B*S, D, R) "
                             f"with R = {self.R}")
        self._initial_bases = bases

    def initial_bases(self, batch, D):
        """B₀ of shape (batch·S, D, R): the injected bases, or uniform draws L2-normalized
        along D."""
        shape = (batch * self.S, D, self.R)
        if self._initial_bases is None:
            bases = jt.rand(shape)
            norm = jt.sqrt((bases * bases).sum(1, keepdims=True)).maximum(1e-12)
            return bases / norm
        bases = self._initial_bases
        if bases.shape == (self.S, D, self.R) and batch > 1:
            bases = np.tile(bases, (batch, 1, 1))
        if bases.shape != shape:
            raise ValueError(f"NMF2D initial bases: shape {self._initial_bases.shape}, expected "
                             f"{shape} (batch {batch} × S {self.S}, D {D}, R {self.R})")
        return jt.array(bases)

    @staticmethod
    def update_coef(xt, bases, coef):
        """C ← C ⊙ (XᵀB) / (C BᵀB + 1e-6); ``xt`` = Xᵀ (transposed once per forward)."""
        numerator = bmm(xt, bases)
        denominator = bmm(coef, bmm(bases.transpose(0, 2, 1), bases))
        return coef * numerator / (denominator + 1e-6)

    @staticmethod
    def update_bases(x, bases, coef):
        """B ← B ⊙ (X C) / (B CᵀC + 1e-6)."""
        numerator = bmm(x, coef)
        denominator = bmm(bases, bmm(coef.transpose(0, 2, 1), coef))
        return bases * numerator / (denominator + 1e-6)

    def execute(self, x):
        b, c, h, w = x.shape
        if c % self.S:
            raise ValueError(f"NMF2D: {c} channels are not divisible into S = {self.S} groups")
        d = c // self.S
        x = x.reshape(b * self.S, d, h * w)
        xt = x.transpose(0, 2, 1)
        bases = self.initial_bases(b, d)
        coef = nn.softmax(self.inv_t * bmm(xt, bases), dim=-1)
        for _ in range(self.train_steps if self.is_training() else self.eval_steps):
            coef = self.update_coef(xt, bases, coef)
            bases = self.update_bases(x, bases, coef)
        coef = self.update_coef(xt, bases, coef)
        return bmm(bases, coef.transpose(0, 2, 1)).reshape(b, c, h, w)


class Hamburger(nn.Module):
    """ReLU(x + ham_out(NMF(ReLU(ham_in(x))))): the "bread" 1×1 convs around the "ham"."""

    def __init__(self, ham_channels=512, ham_kwargs=None, norm_cfg=None):
        self.ham_in = ConvModule(ham_channels, ham_channels, 1, norm_cfg=None, act_cfg=None)
        self.ham = NMF2D(ham_kwargs)
        self.ham_out = ConvModule(ham_channels, ham_channels, 1, norm_cfg=norm_cfg, act_cfg=None)

    def execute(self, x):
        enjoy = nn.relu(self.ham_in(x))  # NMF needs a non-negative input
        enjoy = self.ham_out(self.ham(enjoy))
        return nn.relu(x + enjoy)


@HEADS.register_module()
class LightHamHead(BaseDecodeHead):
    """Concatenate the selected stages at the first one's size (stride 8), squeeze, Hamburger,
    align, classify. ``ham_kwargs``: MD_S, MD_R, train/eval steps (see ``NMF2D``)."""

    def __init__(self, ham_channels=512, ham_kwargs=None, **kwargs):
        transform = kwargs.pop("input_transform", "multiple_select")
        if transform != "multiple_select":
            raise ValueError(f"LightHamHead: input_transform {transform!r}, expected "
                             "'multiple_select' (it resizes and concatenates itself)")
        super().__init__(input_transform="multiple_select", **kwargs)
        self.ham_channels = ham_channels
        self.squeeze = ConvModule(sum(self.in_channels), ham_channels, 1, conv_cfg=self.conv_cfg,
                                  norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.hamburger = Hamburger(ham_channels, ham_kwargs, norm_cfg=self.norm_cfg)
        self.align = ConvModule(ham_channels, self.channels, 1, conv_cfg=self.conv_cfg,
                                norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def set_initial_bases(self, bases):
        """Fix NMF2D's initial bases (B·S, D, R) for reproducible outputs; ``None`` = random."""
        self.hamburger.ham.set_initial_bases(bases)

    def execute(self, inputs):
        feats = self._transform_inputs(inputs)
        size = feats[0].shape[2:]
        feats = [resize(f, size=size, mode="bilinear", align_corners=self.align_corners)
                 for f in feats]
        x = self.hamburger(self.squeeze(jt.concat(feats, dim=1)))
        return self.cls_seg(self.align(x))


__all__ = ["LightHamHead", "Hamburger", "NMF2D"]
