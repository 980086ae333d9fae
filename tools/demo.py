"""Segment images and write colour masks and overlays.

  python tools/demo.py CONFIG CHECKPOINT IMG_OR_FOLDER [--out-dir DIR] [--opacity 0.5] [--debug]
Writes <out-dir>/<file name>_mask.png (dataset palette) and <file name>_overlay.png for each image;
the file name keeps its suffix (x.jpg -> x.jpg_mask.png), so x.jpg and x.png do not collide.
Only regular files are read (a FIFO or device named *.png is left alone). Images are read as in
training (16-bit reduced to 8 bits, EXIF orientation applied; see datasets/pipelines/loading.py).

A bad image is reported (one 'error:' line naming it) and the others are still written.
Exit status: 0 all written; 2 bad arguments, config, checkpoint or input images (the count of
failed images is printed); 3 an output could not be written. Errors are one line on stderr;
--debug shows tracebacks instead.
"""
import argparse
import os
import stat
import sys

from tqdm import tqdm

from jseg_ret.apis import (
    colorize,
    default_palette,
    inference_segmentor,
    init_segmentor,
    overlay,
    save_png,
)
from jseg_ret.config import ConfigError
from jseg_ret.datasets import BadSampleError
from jseg_ret.datasets.pipelines.loading import read_image
from jseg_ret.interop import CheckpointError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
EXIT_BAD_INPUT = 2
EXIT_WRITE_FAILED = 3
# What a user's mistake raises (a bad config, checkpoint, path or image): shown as one line.
USER_ERRORS = (ConfigError, CheckpointError, BadSampleError, OSError, KeyError, TypeError,
               ValueError, AttributeError)


class InputError(Exception):
    """A problem with the command's inputs (exit status 2)."""


def is_regular_file(path):
    """True for a regular file (or a link to one); False for FIFOs, devices, folders, nothing."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def list_images(path):
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path)
                       if f.lower().endswith(IMAGE_SUFFIXES)
                       and is_regular_file(os.path.join(path, f)))
        if not files:
            raise InputError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if not os.path.exists(path):
        raise InputError(f"{path}: no such image or folder")
    if not is_regular_file(path):
        raise InputError(f"{path}: not a regular file (a FIFO, device or socket is not read)")
    return [path]


def output_paths(files, out_dir):
    """{image: (mask path, overlay path)}; names keep the image's suffix, and names that would
    still meet on a case-insensitive file system are refused."""
    out, seen = {}, {}
    for path in files:
        name = os.path.basename(path)
        other = seen.setdefault(name.lower(), path)
        if other != path:
            raise InputError(f"{other} and {path} would write the same outputs "
                             f"({name}_mask.png) on a case-insensitive file system; rename one")
        out[path] = (os.path.join(out_dir, f"{name}_mask.png"),
                     os.path.join(out_dir, f"{name}_overlay.png"))
    return out


def segment_one(model, path, targets, palette, opacity):
    """Read, segment and write one image (BadSampleError/ValueError for a bad image)."""
    image = read_image(path, "color", "rgb")  # the rules training uses
    pred = inference_segmentor(model, image)
    mask_path, overlay_path = targets
    for array, out_path in ((colorize(pred, palette), mask_path),
                            (overlay(image, pred, palette, opacity), overlay_path)):
        try:
            save_png(array, out_path)
        except OSError as e:
            raise WriteError(str(e)) from e  # an OutputWriteError: names the path


class WriteError(Exception):
    """An output could not be written (exit status 3)."""


def run(args):
    if not 0.0 <= args.opacity <= 1.0:
        raise InputError(f"--opacity {args.opacity}: expected a value in [0, 1]")
    files = list_images(args.images)
    targets = output_paths(files, args.out_dir)
    try:
        model = init_segmentor(args.config, args.checkpoint)
    except USER_ERRORS as e:
        if args.debug:
            raise
        raise InputError(f"cannot build the model from {args.config} and {args.checkpoint}: "
                         f"{e}") from e
    palette = model.PALETTE or default_palette(model.num_classes)
    failed = 0
    for path in tqdm(files, desc="demo", dynamic_ncols=True, disable=len(files) < 2):
        try:
            segment_one(model, path, targets[path], palette, args.opacity)
        except (BadSampleError, ValueError) as e:  # a bad image: say so and go on
            if args.debug:
                raise
            failed += 1
            message = str(e) if str(e).startswith(path) else f"{path}: {e}"
            print(f"error: {message}", file=sys.stderr)
    written = len(files) - failed
    print(f"wrote {2 * written} images to {args.out_dir}")
    if failed:
        print(f"error: {failed} of {len(files)} images failed (see above)", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("checkpoint")
    p.add_argument("images", help="an image file or a folder of images")
    p.add_argument("--out-dir", default="demo_out")
    p.add_argument("--opacity", type=float, default=0.5)
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one line")
    args = p.parse_args(argv)
    try:
        return run(args)
    except InputError as e:
        if args.debug and e.__cause__ is not None:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except WriteError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_WRITE_FAILED


if __name__ == "__main__":
    sys.exit(main())
