"""Segment images and write colour masks and overlays.

  python tools/demo.py CONFIG CHECKPOINT IMG_OR_FOLDER [--out-dir DIR] [--opacity 0.5]
Writes <out-dir>/<name>_mask.png (dataset palette) and <name>_overlay.png for each image.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

import jseg_ret  # noqa: E402,F401
from jseg_ret.apis import (colorize, default_palette, inference_segmentor,  # noqa: E402
                           init_segmentor, overlay, save_png)
from jseg_ret.config import ConfigError  # noqa: E402
from jseg_ret.interop import CheckpointError  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def list_images(path):
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path)
                       if f.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise FileNotFoundError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such image or folder")
    return [path]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("checkpoint")
    p.add_argument("images", help="an image file or a folder of images")
    p.add_argument("--out-dir", default="demo_out")
    p.add_argument("--opacity", type=float, default=0.5)
    args = p.parse_args(argv)
    try:
        files = list_images(args.images)
        model = init_segmentor(args.config, args.checkpoint)
    except (ConfigError, CheckpointError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    palette = model.PALETTE or default_palette(model.num_classes)
    for path in tqdm(files, desc="demo", dynamic_ncols=True):
        image = np.asarray(Image.open(path).convert("RGB"))
        pred = inference_segmentor(model, path)
        stem = os.path.splitext(os.path.basename(path))[0]
        save_png(colorize(pred, palette), os.path.join(args.out_dir, f"{stem}_mask.png"))
        save_png(overlay(image, pred, palette, args.opacity),
                 os.path.join(args.out_dir, f"{stem}_overlay.png"))
    print(f"wrote {2 * len(files)} images to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
