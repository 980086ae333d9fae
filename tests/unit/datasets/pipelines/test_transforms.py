"""Pipeline transforms with hand-checked expectations."""
import colorsys

import numpy as np
import pytest
from PIL import Image

from jseg_ret.datasets.pipelines import (
    AlignedResize,
    Collect,
    Compose,
    DefaultFormatBundle,
    ImageToTensor,
    LoadAnnotations,
    LoadImageFromFile,
    MultiScaleFlipAug,
    Normalize,
    Pad,
    PhotoMetricDistortion,
    RandomCrop,
    RandomFlip,
    Resize,
)
from jseg_ret.datasets.pipelines.image_ops import rescale_size


def coord_image(h, w):
    """uint8 (h, w, 3): channel 0 = column, channel 1 = row, channel 2 = 7."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.arange(w)[None, :]
    img[..., 1] = np.arange(h)[:, None]
    img[..., 2] = 7
    return img


def results_for(img, seg=None):
    r = dict(img=img, img_shape=img.shape, ori_shape=img.shape, pad_shape=img.shape,
             seg_fields=[])
    if seg is not None:
        r["gt_semantic_seg"] = seg
        r["seg_fields"].append("gt_semantic_seg")
    return r


# ---- Resize ------------------------------------------------------------------------------------
@pytest.mark.parametrize("hw, expected_hw", [
    ((512, 683), (512, 683)),    # ADE-like: short edge already 512, long edge fits 2048
    ((400, 1000), (512, 1280)),  # factor min(2048/1000, 512/400) = 1.28
    ((1000, 400), (1280, 512)),  # tall: same rule on long/short edges, not w/h
    ((300, 3000), (205, 2048)),  # long edge limits: 2048/3000 -> h = int(300*0.6827+0.5)
])
def test_resize_keep_ratio_fits_long_and_short_edge(hw, expected_hw):
    img = np.zeros(hw + (3,), np.uint8)
    seg = np.zeros(hw, np.uint8)
    out = Resize(img_scale=(2048, 512), keep_ratio=True)(results_for(img, seg))
    assert out["img"].shape[:2] == expected_hw
    assert out["gt_semantic_seg"].shape == expected_hw
    h, w = hw
    np.testing.assert_allclose(out["scale_factor"],
                               [expected_hw[1] / w, expected_hw[0] / h] * 2, rtol=1e-6)


def test_resize_without_keep_ratio_is_exact_w_h():
    out = Resize(img_scale=(2048, 512), keep_ratio=False)(
        results_for(np.zeros((100, 100, 3), np.uint8)))
    assert out["img"].shape == (512, 2048, 3)


def test_resize_ratio_range_draws_ratio_from_global_rng():
    img = np.zeros((100, 200, 3), np.uint8)
    np.random.seed(3)
    r = np.random.random_sample() * 1.5 + 0.5   # what Resize will draw after the same seed
    scale = (int(2048 * r), int(512 * r))
    (w, h), _ = rescale_size((200, 100), scale, return_scale=True)
    np.random.seed(3)
    out = Resize(img_scale=(2048, 512), ratio_range=(0.5, 2.0))(results_for(img))
    assert out["scale"] == scale
    assert out["img"].shape[:2] == (h, w)
    # hand check of the rule itself: factor = min(2048r/200, 512r/100) = 5.12r
    assert (w, h) == (int(200 * 5.12 * r + 0.5), int(100 * 5.12 * r + 0.5))


def test_resize_ratio_range_without_img_scale_uses_image_size():
    np.random.seed(0)
    r = np.random.random_sample() * 0.5 + 1.0
    np.random.seed(0)
    img = np.zeros((40, 60, 3), np.uint8)
    out = Resize(img_scale=None, ratio_range=(1.0, 1.5))(results_for(img))
    assert out["scale"] == (int(60 * r), int(40 * r))


def test_resize_label_is_nearest_image_bilinear():
    img = np.zeros((2, 2, 3), np.uint8)
    img[:, 1] = 200
    seg = np.array([[1, 3], [1, 3]], np.uint8)
    out = Resize(img_scale=(4, 4), keep_ratio=False)(results_for(img, seg))
    assert set(np.unique(out["gt_semantic_seg"]).tolist()) == {1, 3}  # no blended labels
    assert len(np.unique(out["img"][..., 0])) > 2  # interpolated intensities


# ---- RandomCrop ---------------------------------------------------------------------------------
def test_random_crop_takes_region_of_image_and_label():
    img = coord_image(10, 12)
    seg = np.tile(np.arange(12, dtype=np.uint8), (10, 1))
    np.random.seed(0)
    out = RandomCrop(crop_size=(4, 5))(results_for(img, seg))
    assert out["img"].shape == (4, 5, 3) and out["img_shape"] == (4, 5, 3)
    x0, y0 = out["img"][0, 0, 0], out["img"][0, 0, 1]
    np.testing.assert_array_equal(out["gt_semantic_seg"], seg[y0:y0 + 4, x0:x0 + 5])


def test_random_crop_keeps_small_images_whole():
    img = coord_image(3, 4)
    out = RandomCrop(crop_size=(8, 8))(results_for(img, np.zeros((3, 4), np.uint8)))
    assert out["img"].shape == (3, 4, 3)


def test_random_crop_cat_max_ratio_redraws(monkeypatch):
    # Label: columns 0-3 class 0, columns 4-7 class 1, column 2 is ignore in rows 0-1.
    seg = np.zeros((4, 8), np.uint8)
    seg[:, 4:] = 1
    img = coord_image(4, 8)
    crop = RandomCrop(crop_size=(4, 4), cat_max_ratio=0.75)
    boxes = iter([(0, 4, 0, 4),    # all class 0: ratio 1.0 -> redraw
                  (0, 4, 1, 5),    # 12 x class 0, 4 x class 1: ratio 0.75, not < 0.75 -> redraw
                  (0, 4, 2, 6)])   # 8 / 8: ratio 0.5 -> accepted
    monkeypatch.setattr(crop, "get_crop_bbox", lambda _img: next(boxes))
    out = crop(results_for(img, seg))
    assert out["img"][0, 0, 0] == 2  # starts at column 2


def test_random_crop_cat_max_ratio_ignores_ignore_pixels(monkeypatch):
    seg = np.array([[0, 0, 0, 255],
                    [255, 255, 255, 1]], np.uint8)  # 3 x class 0, 1 x class 1, 4 ignore
    crop = RandomCrop(crop_size=(2, 4), cat_max_ratio=0.76)
    calls = []
    monkeypatch.setattr(crop, "get_crop_bbox", lambda _img: calls.append(1) or (0, 2, 0, 4))
    crop(results_for(coord_image(2, 4), seg))
    assert len(calls) == 1  # 3/4 = 0.75 < 0.76 at the first draw (ignore pixels not counted)


def test_random_crop_gives_up_after_ten_redraws(monkeypatch):
    crop = RandomCrop(crop_size=(2, 2), cat_max_ratio=0.5)
    calls = []
    monkeypatch.setattr(crop, "get_crop_bbox", lambda _img: calls.append(1) or (0, 2, 0, 2))
    out = crop(results_for(coord_image(2, 2), np.zeros((2, 2), np.uint8)))
    assert len(calls) == 11 and out["img"].shape == (2, 2, 3)  # as mmseg: 1 + 10 draws


# ---- RandomFlip ---------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_flip_moves_image_and_label_together(direction):
    img = coord_image(5, 6)
    seg = (img[..., 0] * 10 + img[..., 1]).astype(np.uint8)  # label = f(original position)
    out = RandomFlip(prob=1.0, direction=direction)(results_for(img.copy(), seg.copy()))
    assert out["flip"] is True and out["flip_direction"] == direction
    expect = img[:, ::-1] if direction == "horizontal" else img[::-1]
    np.testing.assert_array_equal(out["img"], expect)
    # every pixel's label still matches the position encoded in its image pixel
    np.testing.assert_array_equal(out["gt_semantic_seg"],
                                  out["img"][..., 0] * 10 + out["img"][..., 1])


def test_flip_prob_zero_and_test_mode_flag():
    img = coord_image(2, 3)
    assert RandomFlip(prob=0.0)(results_for(img))["flip"] is False
    r = results_for(img.copy())
    r["flip"] = True  # as MultiScaleFlipAug sets it
    np.testing.assert_array_equal(RandomFlip()(r)["img"], img[:, ::-1])


# ---- Pad / Normalize / formatting -------------------------------------------------------------
def test_pad_values_image_0_label_255():
    img = np.full((3, 5, 3), 9, np.uint8)
    seg = np.full((3, 5), 4, np.uint8)
    out = Pad(size=(4, 6))(results_for(img, seg))
    assert out["img"].shape == (4, 6, 3) and out["pad_shape"] == (4, 6, 3)
    assert (out["img"][:3, :5] == 9).all() and (out["img"][3:] == 0).all() and \
        (out["img"][:, 5:] == 0).all()
    assert (out["gt_semantic_seg"][:3, :5] == 4).all() and \
        (out["gt_semantic_seg"][3:] == 255).all() and (out["gt_semantic_seg"][:, 5:] == 255).all()
    out = Pad(size_divisor=4, pad_val=1, seg_pad_val=7)(results_for(img, seg))
    assert out["img"].shape == (4, 8, 3) and out["img"][3, 7, 0] == 1
    assert out["gt_semantic_seg"][3, 7] == 7


def test_normalize_to_rgb_and_format_bundle():
    img = np.zeros((2, 3, 3), np.uint8)
    img[...] = (10, 20, 30)  # BGR, as loaded
    norm = Normalize(mean=[1, 2, 3], std=[2, 4, 6], to_rgb=True)
    out = norm(results_for(img))
    np.testing.assert_allclose(out["img"][0, 0], [(30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 6],
                               rtol=1e-6)
    assert out["img"].dtype == np.float32 and out["img"].shape == (2, 3, 3)
    assert out["img_norm_cfg"]["to_rgb"] is True
    plain = Normalize(mean=[1, 2, 3], std=[2, 4, 6], to_rgb=False)(results_for(img))
    np.testing.assert_allclose(plain["img"][1, 2], [(10 - 1) / 2, (20 - 2) / 4, (30 - 3) / 6],
                               rtol=1e-6)
    out["gt_semantic_seg"] = np.ones((2, 3), np.uint8)
    fmt = DefaultFormatBundle()(out)
    assert fmt["img"].shape == (3, 2, 3) and fmt["img"].flags.c_contiguous
    np.testing.assert_allclose(fmt["img"][:, 0, 0], [(30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 6],
                               rtol=1e-6)
    assert fmt["gt_semantic_seg"].dtype == np.int64 and fmt["gt_semantic_seg"].shape == (2, 3)


def test_normalize_then_pad_keeps_values():
    img = np.full((2, 2, 3), 100, np.uint8)
    r = Normalize(mean=[100, 100, 100], std=[1, 1, 1])(results_for(img))
    r = Pad(size=(3, 3), pad_val=5)(r)
    chw = ImageToTensor(keys=["img"])(r)["img"]
    assert chw.shape == (3, 3, 3)
    assert (chw[:, :2, :2] == 0).all() and (chw[:, 2, :] == 5).all()


def test_collect_meta_keys():
    r = results_for(np.zeros((2, 2, 3), np.float32))
    r.update(filename="a/b.jpg", ori_filename="b.jpg", scale_factor=1.0,
             img_norm_cfg=dict(mean=0, std=1, to_rgb=False))
    out = Collect(keys=["img"])(r)
    assert set(out) == {"img", "img_metas"}
    assert out["img_metas"]["flip"] is False and out["img_metas"]["filename"] == "a/b.jpg"
    with pytest.raises(KeyError, match="gt_semantic_seg"):
        Collect(keys=["img", "gt_semantic_seg"])(r)


# ---- PhotoMetricDistortion --------------------------------------------------------------------
def reference_photometric(img, seed, bd=32, cr=(0.5, 1.5), sr=(0.5, 1.5), hd=18):
    """mmseg's algorithm written pixel by pixel with colorsys (BGR uint8 in and out)."""
    rs = np.random.RandomState(seed)
    img = img.astype(np.float32)

    def convert(x, alpha=1.0, beta=0.0):
        return np.clip(x * np.float32(alpha) + np.float32(beta), 0, 255).astype(np.uint8).astype(
            np.float32)

    def hsv_edit(x, sat=None, hue_deg=None):
        out = np.empty_like(x)
        for idx in np.ndindex(x.shape[:2]):
            b, g, r = x[idx] / 255.0
            h, s, v = colorsys.rgb_to_hsv(r, g, b)
            if sat is not None:
                s = min(s * sat, 1.0)
            if hue_deg is not None:
                h = (h + hue_deg / 360.0) % 1.0
            r, g, b = colorsys.hsv_to_rgb(h, s, v)
            out[idx] = np.floor(np.array([b, g, r]) * 255 + 0.5)
        return out

    if rs.randint(2):
        img = convert(img, beta=rs.uniform(-bd, bd))
    mode = rs.randint(2)
    if mode == 1 and rs.randint(2):
        img = convert(img, alpha=rs.uniform(*cr))
    if rs.randint(2):
        img = hsv_edit(img, sat=rs.uniform(*sr))
    if rs.randint(2):
        img = hsv_edit(img, hue_deg=2.0 * rs.randint(-hd, hd))
    if mode == 0 and rs.randint(2):
        img = convert(img, alpha=rs.uniform(*cr))
    return img.astype(np.uint8)


def test_photometric_matches_pixelwise_reference():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    for seed in range(24):
        np.random.seed(seed)
        ours = PhotoMetricDistortion()(results_for(img.copy()))["img"]
        ref = reference_photometric(img, seed)
        assert ours.dtype == np.uint8 and ours.shape == img.shape
        # mmseg rounds H and S to 8 bits between steps; we do not: allow a few levels
        assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 3, seed


def test_photometric_identity_when_ranges_are_neutral():
    img = np.random.default_rng(1).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    t = PhotoMetricDistortion(brightness_delta=0, contrast_range=(1, 1),
                              saturation_range=(1, 1), hue_delta=0)
    for seed in range(8):
        np.random.seed(seed)
        np.testing.assert_array_equal(t(results_for(img.copy()))["img"], img)


# ---- loading ------------------------------------------------------------------------------------
def test_load_image_is_bgr_and_annotations_reduce_zero_label(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[...] = (10, 20, 30)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(np.array([[0, 1, 150], [255, 2, 0]], np.uint8)).save(tmp_path / "a_seg.png")
    r = LoadImageFromFile()(dict(img_info=dict(filename="a.png"), img_prefix=str(tmp_path)))
    assert r["img"][0, 0].tolist() == [30, 20, 10]
    assert r["ori_shape"] == (2, 3, 3) and r["ori_filename"] == "a.png"
    r.update(ann_info=dict(seg_map="a_seg.png"), seg_prefix=str(tmp_path), seg_fields=[])
    r = LoadAnnotations(reduce_zero_label=True)(r)
    assert r["gt_semantic_seg"].tolist() == [[255, 0, 149], [255, 1, 255]]


# ---- test-time augmentation ------------------------------------------------------------------
def test_multi_scale_flip_aug_lists_per_augmentation():
    img = np.zeros((100, 200, 3), np.uint8)
    aug = MultiScaleFlipAug(img_scale=(400, 100), img_ratios=[0.5, 1.0], flip=True,
                            transforms=[dict(type="Resize", keep_ratio=True),
                                        dict(type="RandomFlip"),
                                        dict(type="ImageToTensor", keys=["img"]),
                                        dict(type="Collect", keys=["img"])])
    r = results_for(img)
    r.update(filename="x", ori_filename="x", scale_factor=1.0, img_norm_cfg={})
    out = aug(r)
    assert set(out) == {"img", "img_metas"} and len(out["img"]) == 4
    assert [m["flip"] for m in out["img_metas"]] == [False, True, False, True]
    assert [tuple(i.shape[1:]) for i in out["img"]] == [(50, 100), (50, 100), (100, 200),
                                                        (100, 200)]


def test_aligned_resize_in_tta_gives_multiples_of_divisor():
    aug = MultiScaleFlipAug(img_scale=None, img_ratios=[1.0],
                            transforms=[dict(type="AlignedResize", keep_ratio=True,
                                             size_divisor=32)])
    out = aug(results_for(np.zeros((100, 150, 3), np.uint8)))
    assert out["img"][0].shape == (128, 160, 3)
    r = results_for(np.zeros((70, 90, 3), np.uint8), np.zeros((70, 90), np.uint8))
    r["scale"] = (90, 70)
    out = AlignedResize(keep_ratio=True, size_divisor=32)(r)
    assert out["img"].shape[:2] == (96, 96) and out["gt_semantic_seg"].shape == (96, 96)


def test_training_pipeline_is_reproducible_with_numpy_seed():
    img = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    seg = np.random.default_rng(1).integers(0, 5, (60, 80), dtype=np.uint8)
    pipe = Compose([dict(type="Resize", img_scale=(80, 60), ratio_range=(0.5, 2.0)),
                    dict(type="RandomCrop", crop_size=(32, 32), cat_max_ratio=0.75),
                    dict(type="RandomFlip", prob=0.5), dict(type="PhotoMetricDistortion"),
                    dict(type="Normalize", mean=[0, 0, 0], std=[1, 1, 1]),
                    dict(type="Pad", size=(32, 32)), dict(type="DefaultFormatBundle")])
    outs = []
    for _ in range(2):
        np.random.seed(5)
        outs.append(pipe(results_for(img.copy(), seg.copy())))
    np.testing.assert_array_equal(outs[0]["img"], outs[1]["img"])
    np.testing.assert_array_equal(outs[0]["gt_semantic_seg"], outs[1]["gt_semantic_seg"])
    assert outs[0]["img"].shape == (3, 32, 32)


@pytest.mark.parametrize("resize_cfg", [
    dict(img_scale=(2048, 512), ratio_range=(0.5, 2.0)),
    dict(img_scale=(120, 40), keep_ratio=False),
    dict(img_scale=None, ratio_range=(0.3, 0.6)),  # resized image smaller than the crop
])
@pytest.mark.parametrize("channels", [3, 1])
def test_fused_resize_crop_equals_resize_then_crop(resize_cfg, channels):
    img = np.random.default_rng(0).integers(0, 256, (90, 120, channels), dtype=np.uint8)
    seg = np.random.default_rng(1).integers(0, 4, (90, 120), dtype=np.uint8)
    cfgs = [dict(type="Resize", **resize_cfg),
            dict(type="RandomCrop", crop_size=(48, 64), cat_max_ratio=0.75)]
    fused, plain = Compose(cfgs), Compose(cfgs, fuse=False)
    assert type(fused.steps[0]).__name__ == "ResizeThenCrop" and len(plain.steps) == 2
    for seed in range(6):
        outs = []
        for pipe in (fused, plain):
            np.random.seed(seed)
            outs.append(pipe(results_for(img.copy(), seg.copy())))
        a, b = outs
        assert set(a) == set(b)
        np.testing.assert_array_equal(a["gt_semantic_seg"], b["gt_semantic_seg"])
        np.testing.assert_array_equal(a["img"], b["img"])  # same taps: the very same pixels
        for key in ("img_shape", "pad_shape", "scale", "keep_ratio"):
            assert a[key] == b[key], key
        np.testing.assert_allclose(a["scale_factor"], b["scale_factor"])
    # both consumed the same random draws
    np.random.seed(9)
    fused(results_for(img.copy(), seg.copy()))
    after_fused = np.random.random_sample()
    np.random.seed(9)
    plain(results_for(img.copy(), seg.copy()))
    assert np.random.random_sample() == after_fused


def test_load_image_applies_exif_orientation(tmp_path):
    arr = np.zeros((2, 3, 3), np.uint8)
    arr[0, 0] = 255
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    im.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=100)
    r = LoadImageFromFile()(dict(img_info=dict(filename=str(tmp_path / "r.jpg"))))
    assert r["img"].shape == (3, 2, 3)  # as mmcv: the displayed orientation
