"""Generate the synthetic segmentation dataset: textured shapes on textured noisy backgrounds.

Layout (custom): ``<root>/img_dir/{train,val}/NNNNN.png`` (RGB) and
``<root>/ann_dir/{train,val}/NNNNN.png`` (uint8 class ids, 0 = background), plus ``meta.json``.

Each class has its own shape, colour family and texture, so colour alone separates most pixels and
a small model learns it in minutes on a CPU; shape and texture help at the borders. Every image is
drawn from its own RNG seeded by (seed, split, index), so the output is byte-identical for a seed
whatever the number of processes.
"""
import colorsys
import glob
import json
import math
import multiprocessing as mp
import os
import os.path as osp
from functools import partial

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

# name, hue (degrees), texture — class 0 is the background (desaturated, no shape).
SHAPE_CLASSES = (
    ("background", None, "field"),
    ("circle", 0.0, "rings"),
    ("rectangle", 120.0, "stripes"),
    ("triangle", 225.0, "checker"),
    ("ellipse", 55.0, "dots"),
    ("star", 295.0, "diagonal"),
    ("hexagon", 175.0, "rings"),
    ("cross", 30.0, "checker"),
)
MAX_CLASSES = len(SHAPE_CLASSES)
DEFAULT_NUM_CLASSES = 6
SPLITS = {"train": 0, "val": 1}


def class_names(num_classes=DEFAULT_NUM_CLASSES):
    return tuple(name for name, _, _ in SHAPE_CLASSES[:num_classes])


def class_palette(num_classes=DEFAULT_NUM_CLASSES):
    """Display colours: grey for background, the class's pure hue otherwise."""
    pal = [[128, 128, 128]]
    for _, hue, _ in SHAPE_CLASSES[1:num_classes]:
        pal.append([int(round(c * 255)) for c in colorsys.hsv_to_rgb(hue / 360.0, 0.8, 0.9)])
    return pal


# ---- geometry --------------------------------------------------------------------------------
def _regular_polygon(cx, cy, r, n, rot):
    angles = [rot + 2 * math.pi * k / n for k in range(n)]
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]


def _shape_polygon(name, cx, cy, r, rng):
    rot = rng.uniform(0, 2 * math.pi)
    if name == "circle":
        return _regular_polygon(cx, cy, r, 48, 0.0)
    if name == "rectangle":
        aspect = rng.uniform(0.5, 1.0)
        hw, hh = r, r * aspect
        corners = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
        c, s = math.cos(rot), math.sin(rot)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in corners]
    if name == "triangle":
        return _regular_polygon(cx, cy, r * 1.15, 3, rot)
    if name == "ellipse":
        ratio = rng.uniform(0.45, 0.7)
        c, s = math.cos(rot), math.sin(rot)
        pts = []
        for k in range(48):
            t = 2 * math.pi * k / 48
            x, y = r * math.cos(t), r * ratio * math.sin(t)
            pts.append((cx + x * c - y * s, cy + x * s + y * c))
        return pts
    if name == "star":
        pts = []
        for k in range(10):
            rr = r if k % 2 == 0 else r * 0.5
            a = rot + math.pi * k / 5
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        return pts
    if name == "hexagon":
        return _regular_polygon(cx, cy, r, 6, rot)
    if name == "cross":
        a, b = r, r * 0.38
        arms = [(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b),
                (-a, b), (-a, -b), (-b, -b)]
        c, s = math.cos(rot), math.sin(rot)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in arms]
    raise ValueError(f"unknown shape {name!r}")


def _texture(kind, yy, xx, cx, cy, rng):
    """A pattern in [-1, 1] over the image grid."""
    period = rng.uniform(5.0, 11.0)
    if kind == "rings":
        return np.sin(2 * np.pi * np.hypot(yy - cy, xx - cx) / period)
    if kind == "stripes":
        theta = rng.choice([0.0, np.pi / 2]) + rng.uniform(-0.2, 0.2)
        return np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
    if kind == "diagonal":
        theta = rng.choice([np.pi / 4, 3 * np.pi / 4])
        return np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
    if kind == "checker":
        return np.sign(np.sin(np.pi * xx / period) * np.sin(np.pi * yy / period))
    if kind == "dots":
        return np.where(np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period) > 0.4,
                        1.0, -0.4)
    raise ValueError(f"unknown texture {kind!r}")


def _smooth_field(rng, h, w, cells):
    """Low-frequency noise in [0, 1]: random grid values, bicubic-upsampled."""
    grid = (rng.random((cells, cells)) * 255).astype(np.uint8)
    up = Image.fromarray(grid, "L").resize((w, h), Image.BICUBIC)
    return np.asarray(up, dtype=np.float32) / 255.0


def _background(rng, h, w):
    base = 0.3 + 0.45 * _smooth_field(rng, h, w, int(rng.integers(3, 7)))
    detail = _smooth_field(rng, h, w, int(rng.integers(12, 24))) - 0.5
    lum = np.clip(base + 0.2 * detail, 0, 1)
    tint = rng.uniform(-0.06, 0.06, size=3).astype(np.float32)  # a faint colour cast
    return np.clip(lum[..., None] * (1.0 + tint) * 255.0, 0, 255)


# ---- one image -------------------------------------------------------------------------------
def draw_sample(rng, num_classes, min_size, max_size):
    """(image uint8 (h, w, 3) RGB, label uint8 (h, w)) for one RNG state."""
    h = int(rng.integers(min_size, max_size + 1))
    w = int(rng.integers(min_size, max_size + 1))
    img = _background(rng, h, w)
    label = np.zeros((h, w), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    num_objects = int(rng.integers(3, 8))
    first_class = int(rng.integers(1, num_classes))
    for k in range(num_objects):
        cls = first_class if k == 0 else int(rng.integers(1, num_classes))
        name, hue, kind = SHAPE_CLASSES[cls]
        r = rng.uniform(0.14, 0.36) * min(h, w)
        cx = rng.uniform(-0.1 * w, 1.1 * w)
        cy = rng.uniform(-0.1 * h, 1.1 * h)
        mask_img = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask_img).polygon(_shape_polygon(name, cx, cy, r, rng), fill=1)
        mask = np.asarray(mask_img, dtype=bool)
        if not mask.any():
            continue
        colour = np.array(colorsys.hsv_to_rgb(((hue + rng.uniform(-12, 12)) % 360) / 360.0,
                                              rng.uniform(0.55, 0.9), rng.uniform(0.55, 0.95)),
                          dtype=np.float32) * 255.0
        pattern = _texture(kind, yy[mask], xx[mask], cy=cy, cx=cx, rng=rng)
        amp = rng.uniform(0.12, 0.22)
        img[mask] = colour * (1.0 + amp * pattern.astype(np.float32))[:, None]
        label[mask] = cls
    sigma = rng.uniform(4.0, 12.0)
    img = img + rng.normal(0.0, sigma, size=img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), label


def _write_sample(index, root, split, seed, num_classes, min_size, max_size):
    rng = np.random.default_rng([seed, SPLITS[split], index])
    img, label = draw_sample(rng, num_classes, min_size, max_size)
    name = f"{index:05d}.png"
    Image.fromarray(img, "RGB").save(osp.join(root, "img_dir", split, name), compress_level=1)
    Image.fromarray(label, "L").save(osp.join(root, "ann_dir", split, name), compress_level=1)
    return np.bincount(label.ravel(), minlength=num_classes)[:num_classes]


def generate_synthetic_dataset(root, num_train=400, num_val=80, seed=0,
                               num_classes=DEFAULT_NUM_CLASSES, min_size=96, max_size=192,
                               nproc=1, progress=False):
    """Write the dataset under ``root``; returns a summary dict (also saved as meta.json).

    Previously generated ``*.png`` files in the four split folders are removed first, so the
    folder always holds exactly this dataset.
    """
    if not 2 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"num_classes={num_classes}: expected 2..{MAX_CLASSES} "
                         "(background + up to 7 shape classes)")
    if not 16 <= min_size <= max_size:
        raise ValueError(f"image sizes: need 16 <= min_size <= max_size, got {min_size}, "
                         f"{max_size}")
    counts = {"train": int(num_train), "val": int(num_val)}
    for split in counts:
        for sub in ("img_dir", "ann_dir"):
            d = osp.join(root, sub, split)
            os.makedirs(d, exist_ok=True)
            for old in glob.glob(osp.join(d, "*.png")):
                os.remove(old)
    pixels = {}
    for split, n in counts.items():
        work = partial(_write_sample, root=root, split=split, seed=seed, num_classes=num_classes,
                       min_size=min_size, max_size=max_size)
        pixels[split] = _run(work, range(n), nproc, progress, f"synthetic {split}")
    meta = dict(classes=list(class_names(num_classes)), palette=class_palette(num_classes),
                seed=seed, num_train=counts["train"], num_val=counts["val"],
                min_size=min_size, max_size=max_size,
                pixels_per_class={s: np.sum(p, axis=0).astype(int).tolist() if p else
                                  [0] * num_classes for s, p in pixels.items()})
    with open(osp.join(root, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def _run(fn, items, nproc, progress, desc):
    items = list(items)
    if nproc > 1 and len(items) > 1:
        with mp.get_context("fork").Pool(nproc) as pool:
            it = pool.imap(fn, items, chunksize=8)
            return list(_maybe_tqdm(it, len(items), progress, desc))
    return [fn(i) for i in _maybe_tqdm(items, len(items), progress, desc)]


def _maybe_tqdm(it, total, progress, desc):
    if not progress:
        return it
    return tqdm(it, total=total, desc=desc)
