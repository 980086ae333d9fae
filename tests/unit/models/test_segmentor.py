"""EncoderDecoder inference modes on a tiny stand-in backbone/head (fast to compile)."""
import numpy as np
import pytest

from jseg_ret.models import build_segmentor
from jseg_ret.models.decode_heads import BaseDecodeHead
from jseg_ret.registry import BACKBONES, HEADS

import jittor as jt
from jittor import nn


@BACKBONES.register_module(force=True)
class _TinyBackbone(nn.Module):
    """Stride-4 features that are a pure function of local pixels: translation-equivariant."""

    def __init__(self):
        self.conv = nn.Conv2d(3, 8, 4, stride=4)

    def execute(self, x):
        return [self.conv(x)]


@HEADS.register_module(force=True)
class _TinyHead(BaseDecodeHead):
    def execute(self, inputs):
        return self.cls_seg(self._transform_inputs(inputs))


def tiny_model(**test_cfg):
    return build_segmentor(dict(
        type="EncoderDecoder", backbone=dict(type="_TinyBackbone"),
        decode_head=dict(type="_TinyHead", in_channels=8, channels=8, num_classes=3,
                         dropout_ratio=0.0),
        test_cfg=test_cfg or dict(mode="whole")))


def test_whole_inference_rescales_to_original_and_sums_to_one():
    model = tiny_model()
    model.eval()
    img = jt.randn(1, 3, 32, 48)
    meta = dict(ori_shape=(64, 96, 3), img_shape=(32, 48, 3), flip=False)
    probs = model.inference(img, meta).numpy()
    assert probs.shape == (1, 3, 64, 96)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_slide_inference_equals_whole_when_windows_align():
    model = tiny_model(mode="slide", crop_size=(16, 16), stride=(16, 16))
    model.eval()
    img = jt.randn(1, 3, 32, 48)
    slide = model.slide_inference(img).numpy()
    # each 16x16 window maps to its own 4x4 feature tile, so windows that tile the image
    # reproduce the whole-image logits up to border effects of the bilinear resize
    whole = model.whole_inference(img).numpy()
    inner = (slice(None), slice(None), slice(2, 14), slice(2, 14))
    np.testing.assert_allclose(slide[inner], whole[inner], atol=1e-4)
    assert slide.shape == (1, 3, 32, 48)


def test_overlapping_slide_divides_by_count():
    model = tiny_model(mode="slide", crop_size=(16, 16), stride=(8, 8))
    model.eval()
    img = jt.randn(1, 3, 24, 24)
    out = model.slide_inference(img).numpy()
    crops = [model.encode_decode(img[:, :, y:y + 16, x:x + 16]).numpy()
             for y in (0, 8) for x in (0, 8)]
    # the centre pixel (12, 12) is covered by all four windows
    want = np.mean([c[0, :, 12 - y, 12 - x] for c, (y, x) in
                    zip(crops, [(0, 0), (0, 8), (8, 0), (8, 8)])], axis=0)
    np.testing.assert_allclose(out[0, :, 12, 12], want, atol=1e-5)


def test_flip_is_undone_and_aug_test_averages():
    model = tiny_model()
    model.eval()
    img = jt.randn(1, 3, 32, 32)
    meta = dict(ori_shape=(32, 32, 3), img_shape=(32, 32, 3), flip=False)
    fmeta = dict(meta, flip=True, flip_direction="horizontal")
    p = model.inference(img, meta).numpy()
    pf = model.inference(img.flip(3), fmeta).numpy()
    assert pf.shape == p.shape
    preds = model.aug_test([img, img.flip(3)], [meta, fmeta])
    np.testing.assert_array_equal(preds[0], ((p + pf) / 2).argmax(1)[0])


def test_bad_test_cfg():
    with pytest.raises(ValueError, match="crop_size and stride"):
        tiny_model(mode="slide")
    with pytest.raises(ValueError, match="whole"):
        tiny_model(mode="tiles")
