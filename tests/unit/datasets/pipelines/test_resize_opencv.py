"""imresize reproduces mmcv's default backend (OpenCV INTER_LINEAR / INTER_NEAREST) without it.

References: values printed by OpenCV 5.0.0 (cv2.resize, written out below), and PyTorch's
interpolate (bilinear, align_corners=False, antialias=False: the same half-pixel taps; 'nearest':
floor(dst * in / out), OpenCV's INTER_NEAREST rule) for the sizes in between.
"""
import hashlib

import numpy as np
import pytest

from jseg_ret.datasets.pipelines import Compose, MultiScaleFlipAug, Resize
from jseg_ret.datasets.pipelines.geometric import AlignedResize, ResizeToMultiple
from jseg_ret.datasets.pipelines.image_ops import imrescale, imresize, imresize_region, rescale_size

# a 4×6 uint8 image and what cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR) returned
CV_IMG = np.array([[0, 11, 22, 33, 44, 55],
                   [66, 77, 250, 99, 110, 121],
                   [132, 143, 154, 165, 3, 187],
                   [198, 209, 220, 231, 242, 253]], np.uint8)
CV_LINEAR = {
    (4, 3): [[14, 50, 47, 63], [102, 179, 113, 130], [190, 206, 215, 232]],
    (9, 7): [[0, 5, 13, 20, 27, 35, 42, 49, 55],
             [24, 29, 46, 92, 80, 58, 66, 73, 78],
             [61, 67, 99, 207, 164, 96, 103, 111, 116],
             [99, 105, 125, 187, 167, 119, 69, 105, 154],
             [137, 142, 150, 157, 164, 145, 45, 106, 192],
             [174, 180, 187, 195, 202, 199, 165, 193, 229],
             [198, 203, 211, 218, 225, 233, 240, 247, 253]],
    (5, 2): [[34, 71, 101, 74, 87], [166, 179, 193, 145, 210]],
}
# labels 0..34 in a 7×5 map and cv2.resize(..., interpolation=cv2.INTER_NEAREST)
CV_LABELS = np.arange(35, dtype=np.uint8).reshape(7, 5)
CV_NEAREST = {
    (3, 4): [[0, 1, 3], [5, 6, 8], [15, 16, 18], [25, 26, 28]],
    (4, 6): [[0, 1, 2, 3], [5, 6, 7, 8], [10, 11, 12, 13], [15, 16, 17, 18], [20, 21, 22, 23],
             [25, 26, 27, 28]],
}
SIZES = [((37, 53), (20, 31)), ((37, 53), (80, 101)), ((64, 64), (32, 32)),
         ((100, 150), (67, 91)), ((5, 7), (13, 3)), ((1, 1), (4, 5)), ((33, 17), (33, 40))]


@pytest.mark.parametrize("size", sorted(CV_LINEAR))
def test_bilinear_uint8_equals_opencv_values(size):
    # OpenCV rounds its vertical pass two ways (SIMD body / scalar tail of each row, which one
    # depends on the row length and the CPU): we take the SIMD body's; within 1 of the tail's.
    diff = imresize(CV_IMG, size).astype(int) - np.array(CV_LINEAR[size])
    assert np.abs(diff).max() <= 1 and (diff != 0).mean() < 0.15


@pytest.mark.parametrize("size", sorted(CV_NEAREST))
def test_nearest_equals_opencv_values_and_not_pil(size):
    out = imresize(CV_LABELS, size, interpolation="nearest")
    np.testing.assert_array_equal(out, np.array(CV_NEAREST[size], np.uint8))
    # PIL samples pixel centres, floor((dst + 0.5) * scale): other rows/columns on these sizes
    pil = imresize(CV_LABELS, size, interpolation="nearest", backend="pillow")
    assert not np.array_equal(pil, out)


# sha256 (first 16 hex digits) of cv2.resize's output (OpenCV 5.0.0, x86-64) for seeded random
# images: INTER_LINEAR of the (h, w, 3) uint8 image, INTER_NEAREST of the (h, w) uint8 map, both
# drawn with np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
CV_DIGESTS = [((100, 150), (67, 91), 1, "0ed16efcb4973e3d", "8cf9c1dda2dae66d"),
              ((512, 683), (384, 512), 2, "c1d24c6531d7a844", "931bde3f151fdb3b"),
              ((480, 640), (455, 1001), 3, "61559c5354059e87", "146c5ed8e369b535")]


@pytest.mark.parametrize("src_hw, dst_hw, seed, linear, nearest", CV_DIGESTS)
def test_bit_identical_to_opencv_on_larger_images(src_hw, dst_hw, seed, linear, nearest):
    def digest(a):
        return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]
    img = np.random.default_rng(seed).integers(0, 256, src_hw + (3,), dtype=np.uint8)
    lab = np.random.default_rng(seed).integers(0, 256, src_hw, dtype=np.uint8)
    assert digest(imresize(img, dst_hw[::-1])) == linear
    assert digest(imresize(lab, dst_hw[::-1], interpolation="nearest")) == nearest


def _torch_resize(arr_hwc, h, w, mode):
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(np.ascontiguousarray(arr_hwc, dtype=np.float64)).permute(2, 0, 1)[None]
    kw = dict(align_corners=False, antialias=False) if mode == "bilinear" else {}
    out = torch.nn.functional.interpolate(t, size=(h, w), mode=mode, **kw)
    return out[0].permute(1, 2, 0).numpy()


@pytest.mark.torch
@pytest.mark.parametrize("src_hw, dst_hw", SIZES)
def test_bilinear_matches_torch_without_antialias(src_hw, dst_hw):
    rng = np.random.default_rng(sum(src_hw + dst_hw))
    img = rng.integers(0, 256, src_hw + (3,), dtype=np.uint8)
    ref = _torch_resize(img, *dst_hw, "bilinear")
    out = imresize(img, dst_hw[::-1])
    assert out.dtype == np.uint8 and out.shape == dst_hw + (3,)
    # OpenCV's 11-bit fixed point: within 1 grey level of the exact value, rounded
    assert np.abs(out.astype(np.float64) - np.rint(ref)).max() <= 1
    assert np.abs(out.astype(np.float64) - ref).mean() < 0.3
    f = imresize(img.astype(np.float32), dst_hw[::-1])
    assert f.dtype == np.float32
    np.testing.assert_allclose(f, ref, atol=2e-3)


@pytest.mark.torch
@pytest.mark.parametrize("src_hw, dst_hw", SIZES + [((7, 5), (4, 3)), ((9, 10), (4, 4))])
def test_nearest_matches_torch_floor_rule(src_hw, dst_hw):
    rng = np.random.default_rng(3)
    lab = rng.integers(0, 200, src_hw, dtype=np.uint8)
    ref = _torch_resize(lab[..., None], *dst_hw, "nearest")[..., 0]
    np.testing.assert_array_equal(imresize(lab, dst_hw[::-1], interpolation="nearest"), ref)


def test_shrinking_does_not_low_pass_filter():
    # columns 0, 255, 255, 0 repeated, shrunk 4×: output x samples source x = 4x + 1.5, between
    # the two 255 columns (OpenCV: 255); PIL's antialiasing BILINEAR averages a 4-pixel window.
    img = np.tile(np.array([0, 255, 255, 0], np.uint8), (8, 16))[..., None].repeat(3, 2)
    out = imresize(img, (16, 8))
    assert (out == 255).all()
    pil = imresize(img, (16, 8), backend="pillow")
    assert pil.max() < 200


def test_region_is_the_crop_of_the_full_resize():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
    for size, box in [((100, 70), (10, 50, 3, 90)), ((30, 20), (0, 20, 0, 30)),
                      ((61, 45), (5, 6, 7, 60))]:
        full = imresize(img, size)
        y1, y2, x1, x2 = box
        np.testing.assert_array_equal(imresize_region(img, size, box), full[y1:y2, x1:x2])
    with pytest.raises(ValueError, match="box"):
        imresize_region(img, (30, 20), (0, 21, 0, 30))


def test_bad_backend_or_interpolation_is_named():
    img = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="backend 'opencv'"):
        imresize(img, (2, 2), backend="opencv")
    with pytest.raises(ValueError, match="'bicubic' with backend 'cv2'"):
        imresize(img, (2, 2), interpolation="bicubic")
    assert imresize(img, (2, 2), interpolation="bicubic", backend="pillow").shape == (2, 2)


# ---- sizes never round to 0 (issue 17: 1×1 images crashed training) -----------------------------
def test_rescale_never_gives_a_zero_side():
    assert rescale_size((1, 1), 0.3) == (1, 1)
    # a 3000×1 strip fitted into (2048, 512): factor 0.68, height 0.68 -> at least 1
    assert rescale_size((3000, 1), (2048, 512)) == (2048, 1)
    assert imrescale(np.zeros((1, 3000), np.uint8), (2048, 512)).shape == (1, 2048)


def test_one_pixel_image_through_ratio_range_resize():
    # img_scale=None: the ratio multiplies the image's own 1×1 size (the synthetic config does)
    pipe = Compose([dict(type="Resize", img_scale=None, ratio_range=(0.5, 0.9)),
                    dict(type="RandomCrop", crop_size=(4, 4))])
    for seed in range(3):
        np.random.seed(seed)
        r = dict(img=np.full((1, 1, 3), 9, np.uint8), gt_semantic_seg=np.ones((1, 1), np.uint8),
                 seg_fields=["gt_semantic_seg"])
        out = pipe(r)
        assert out["img"].shape == (1, 1, 3) and out["gt_semantic_seg"].shape == (1, 1)
        assert out["scale"] == (1, 1)
    r = dict(img=np.full((1, 1, 3), 9, np.uint8), seg_fields=[])
    np.random.seed(0)
    assert Resize(img_scale=None, ratio_range=(0.5, 0.9), keep_ratio=False)(r)["img"].shape \
        == (1, 1, 3)


def test_one_pixel_image_in_multi_scale_test():
    aug = MultiScaleFlipAug(img_scale=None, img_ratios=[0.5, 1.0],
                            transforms=[dict(type="Resize", keep_ratio=True)])
    out = aug(dict(img=np.zeros((1, 1, 3), np.uint8), seg_fields=[]))
    assert [i.shape for i in out["img"]] == [(1, 1, 3), (1, 1, 3)]


# ---- AlignedResize / ResizeToMultiple: mmseg 0.x rounding ---------------------------------------
def test_aligned_resize_rounds_each_side_up_to_the_divisor():
    # (w, h) = (500, 375) at img_scale (2048, 512): rescale factor min(2048/500, 512/375) = 1.365
    # -> (683, 512) -> ceil to multiples of 32: (704, 512)
    r = dict(img=np.zeros((375, 500, 3), np.uint8), gt_semantic_seg=np.zeros((375, 500), np.uint8),
             seg_fields=["gt_semantic_seg"], scale=(2048, 512))
    out = AlignedResize(keep_ratio=True, size_divisor=32)(r)
    assert out["img"].shape == (512, 704, 3) and out["gt_semantic_seg"].shape == (512, 704)
    np.testing.assert_allclose(out["scale_factor"], [704 / 500, 512 / 375] * 2, rtol=1e-6)


def test_resize_to_multiple_ceils_and_keeps_scale_factor():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
    seg = rng.integers(0, 9, (375, 500), dtype=np.uint8)
    r = dict(img=img, gt_semantic_seg=seg, seg_fields=["gt_semantic_seg"], scale=(2048, 512))
    r = Resize(keep_ratio=True)(r)
    assert r["img"].shape == (512, 683, 3)
    factor = r["scale_factor"].copy()
    out = ResizeToMultiple(size_divisor=32)(r)
    assert out["img"].shape == (512, 704, 3) and out["img_shape"] == (512, 704, 3)
    assert out["pad_shape"] == (512, 704, 3) and out["gt_semantic_seg"].shape == (512, 704)
    np.testing.assert_array_equal(out["scale_factor"], factor)  # mmseg leaves it as Resize set it
    assert set(np.unique(out["gt_semantic_seg"])) <= set(np.unique(seg))  # nearest: no new labels
    # already a multiple: unchanged
    same = ResizeToMultiple(size_divisor=32)(dict(img=img[:64, :96].copy(), seg_fields=[]))
    np.testing.assert_array_equal(same["img"], img[:64, :96])
