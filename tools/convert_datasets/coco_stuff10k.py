"""COCO-Stuff10k: .mat annotations (1-based ids, 0 unlabeled) -> *_labelTrainIds.png.

  python tools/convert_datasets/coco_stuff10k.py data/coco_stuff10k [--nproc 8] [-o OUT] [--move]

Reads ``imageLists/{train,test}.txt``, ``images/<name>.jpg`` and ``annotations/<name>.mat``
(key ``S``), and writes OUT/images/{train2014,test2014}/<name>.jpg (copied; ``--move`` moves them
as mmseg does) and OUT/annotations/{train2014,test2014}/<name>_labelTrainIds.png with train ids
1..171 and 0 = unlabeled (mmseg's convention: the 10k configs use reduce_zero_label=True).
Needs scipy (``pip install scipy``) to read the .mat files.
"""
import argparse
import os
import os.path as osp
import shutil
import sys
from functools import partial

if __package__:  # imported as tools.convert_datasets.<name> (as the tests do)
    from . import convert_common as common
else:  # run as a script, python tools/convert_datasets/<name>.py: its folder is sys.path[0]
    import convert_common as common

SPLITS = (("train", "train2014"), ("test", "test2014"))
LUT = common.label_maps.coco_stuff10k_lut()


def load_mat_labels(path):
    try:
        from scipy.io import loadmat
    except ImportError:
        raise SystemExit("error: reading COCO-Stuff10k .mat annotations needs scipy: "
                         "pip install scipy") from None
    try:
        return loadmat(path)["S"]
    except NotImplementedError as e:  # MATLAB v7.3 files are HDF5
        raise ValueError(f"{path}: {e}") from e
    except KeyError:
        raise ValueError(f"{path}: no 'S' (segmentation) array in the .mat file") from None


def convert_one(name, in_dir, out_dir, split_dir, move):
    src_img = osp.join(in_dir, "images", name + ".jpg")
    dst_img = osp.join(out_dir, "images", split_dir, name + ".jpg")
    os.makedirs(osp.dirname(dst_img), exist_ok=True)
    if osp.abspath(src_img) != osp.abspath(dst_img):
        (shutil.move if move else shutil.copyfile)(src_img, dst_img)
    labels = common.apply_lut(load_mat_labels(osp.join(in_dir, "annotations", name + ".mat")), LUT)
    dst = osp.join(out_dir, "annotations", split_dir, name + "_labelTrainIds.png")
    common.save_label(labels, dst)
    return dst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("coco_path", help="the unpacked cocostuff-10k folder")
    parser.add_argument("-o", "--out-dir", help="output folder (default: coco_path)")
    parser.add_argument("--move", action="store_true", help="move the images instead of copying")
    common.add_nproc_arg(parser)
    args = parser.parse_args(argv)
    try:  # fail before any work when scipy is missing
        import scipy.io  # noqa: F401
    except ImportError:
        raise SystemExit("error: reading COCO-Stuff10k .mat annotations needs scipy: "
                         "pip install scipy") from None
    out_dir = args.out_dir or args.coco_path
    for list_name, split_dir in SPLITS:
        names = common.read_list(
            osp.join(args.coco_path, "imageLists", f"{list_name}.txt"), "image list")
        common.track_parallel_progress(
            partial(convert_one, in_dir=args.coco_path, out_dir=out_dir, split_dir=split_dir,
                    move=args.move), names, args.nproc, desc=split_dir, chunksize=8)
        print(f"{split_dir}: {len(names)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
