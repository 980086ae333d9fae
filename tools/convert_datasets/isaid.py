"""iSAID: cut the large aerial images and colour masks into 896x896 class-id patches.

  python tools/convert_datasets/isaid.py data/iSAID_raw -o data/iSAID [--nproc 8]
      [--patch-width 896] [--patch-height 896] [--overlap-area 384] [--tmp-dir DIR]

Input, per split (train, val, test): ``<split>/images/*.zip`` (or already unpacked PNGs under
``<split>/images``) and, for train/val, ``<split>/Semantic_masks/*.zip`` (or PNGs) holding
``<name>_instance_color_RGB.png``. Output (mmseg's layout and names):
``img_dir/<split>/<name>_<y1>_<y2>_<x1>_<x2>.png`` and
``ann_dir/<split>/<name>_<y1>_<y2>_<x1>_<x2>_instance_color_RGB.png`` (class ids 0..15, colours
not in the iSAID palette -> 0, padding -> 255).
Windows start every (patch - overlap) pixels and the last one is moved back inside the image,
as mmseg's converter; images smaller than a patch are padded (image 0, label 255).
"""
import argparse
import glob
import os
import os.path as osp
import sys
import tempfile
import zipfile
from functools import partial

import numpy as np
from PIL import Image

if __package__:  # imported as tools.convert_datasets.<name> (as the tests do)
    from . import convert_common as common
else:  # run as a script, python tools/convert_datasets/<name>.py: its folder is sys.path[0]
    import convert_common as common

Image.MAX_IMAGE_PIXELS = None  # iSAID images are up to ~13000 px a side
MASK_SUFFIX = "_instance_color_RGB"
PALETTE = common.label_maps.ISAID_PALETTE
FLAT_PALETTE = [v for c in PALETTE for v in c]


def window_starts(size, patch, overlap):
    """[(start, end)] along one axis of length ``size`` >= patch (mmseg's loop, deduplicated)."""
    if size < patch:
        raise ValueError(f"axis of {size} px is smaller than the patch ({patch}); pad first")
    stride = patch - overlap
    if stride <= 0:
        raise ValueError(f"overlap {overlap} must be smaller than the patch {patch}")
    out = []
    for start in range(0, size, stride):
        end = start + patch
        if end > size:
            start, end = size - patch, size
        if (start, end) not in out:
            out.append((start, end))
    return out


def patch_windows(height, width, patch_h=896, patch_w=896, overlap=384):
    """(y1, y2, x1, x2) of every patch of an image padded to at least one patch per side."""
    height, width = max(height, patch_h), max(width, patch_w)
    return [(y1, y2, x1, x2) for x1, x2 in window_starts(width, patch_w, overlap)
            for y1, y2 in window_starts(height, patch_h, overlap)]


def pad_to_patch(arr, patch_h, patch_w, value):
    h, w = arr.shape[:2]
    th, tw = max(h, patch_h), max(w, patch_w)
    if (th, tw) == (h, w):
        return arr
    out = np.full((th, tw) + arr.shape[2:], value, dtype=arr.dtype)
    out[:h, :w] = arr
    return out


def crop_image(path, out_dir, split, patch_h, patch_w, overlap):
    img = np.array(Image.open(path).convert("RGB"))
    img = pad_to_patch(img, patch_h, patch_w, 0)
    name = osp.basename(path).split(".")[0]
    for y1, y2, x1, x2 in patch_windows(*img.shape[:2], patch_h, patch_w, overlap):
        Image.fromarray(img[y1:y2, x1:x2]).save(
            osp.join(out_dir, "img_dir", split, f"{name}_{y1}_{y2}_{x1}_{x2}.png"))
    return path


def crop_label(path, out_dir, split, patch_h, patch_w, overlap):
    rgb = np.array(Image.open(path).convert("RGB"))
    label = pad_to_patch(common.label_maps.rgb_to_class_ids(rgb, PALETTE), patch_h, patch_w, 255)
    name = osp.basename(path).split(".")[0].split("_")[0]
    for y1, y2, x1, x2 in patch_windows(*label.shape, patch_h, patch_w, overlap):
        common.save_label(label[y1:y2, x1:x2], osp.join(
            out_dir, "ann_dir", split, f"{name}_{y1}_{y2}_{x1}_{x2}{MASK_SUFFIX}.png"),
            palette=FLAT_PALETTE)
    return path


def find_pngs(folder, tmp_dir, want_masks):
    """PNGs under ``folder``, after unpacking its zips into tmp_dir."""
    if not osp.isdir(folder):
        return []
    roots = [folder]
    for k, zpath in enumerate(sorted(glob.glob(osp.join(folder, "*.zip")))):
        dest = osp.join(tmp_dir, f"{osp.basename(folder)}_{k}")
        with zipfile.ZipFile(zpath) as zf:
            zf.extractall(dest)
        roots.append(dest)
    found = []
    for root in roots:
        for rel in common.scandir(root, ".png"):
            if (MASK_SUFFIX in rel) == want_masks:
                found.append(osp.join(root, rel))
    return sorted(found)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset_path", help="iSAID folder with train/ val/ test/")
    parser.add_argument("-o", "--out-dir", required=True, help="output folder (data/iSAID)")
    parser.add_argument("--tmp-dir", help="where zips are unpacked (default: system temp)")
    parser.add_argument("--patch-width", type=int, default=896)
    parser.add_argument("--patch-height", type=int, default=896)
    parser.add_argument("--overlap-area", type=int, default=384)
    common.add_nproc_arg(parser)
    args = parser.parse_args(argv)
    if not osp.isdir(osp.join(args.dataset_path, "train")):
        raise SystemExit(f"error: {osp.join(args.dataset_path, 'train')} not found")
    geom = dict(out_dir=args.out_dir, patch_h=args.patch_height, patch_w=args.patch_width,
                overlap=args.overlap_area)
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        for split in ("train", "val", "test"):
            for sub in ("img_dir", "ann_dir"):
                os.makedirs(osp.join(args.out_dir, sub, split), exist_ok=True)
            images = find_pngs(osp.join(args.dataset_path, split, "images"), tmp, False)
            common.track_parallel_progress(partial(crop_image, split=split, **geom), images,
                                           args.nproc, desc=f"{split} images")
            masks = []
            if split != "test":
                masks = find_pngs(osp.join(args.dataset_path, split, "Semantic_masks"), tmp, True)
                common.track_parallel_progress(partial(crop_label, split=split, **geom), masks,
                                               args.nproc, desc=f"{split} masks")
            print(f"{split}: {len(images)} images, {len(masks)} masks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
