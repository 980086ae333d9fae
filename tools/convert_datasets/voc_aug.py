"""Pascal VOC 2012 + SBD: SBD's .mat class labels -> SegmentationClassAug PNGs, and aug lists.

  python tools/convert_datasets/voc_aug.py data/VOCdevkit data/VOCdevkit/VOCaug [--nproc 8] [-o OUT]

As mmseg's voc_aug.py: converts ``VOCaug/dataset/cls/*.mat`` (``GTcls.Segmentation``) into
OUT (default VOC2012/SegmentationClassAug), and writes into VOC2012/ImageSets/Segmentation:
- ``trainaug.txt``: VOC train + SBD train/val, minus VOC val (10582 names on the full data);
- ``aug.txt``: SBD train/val minus VOC train and val (the second split of pascal_voc12_aug.py,
  whose labels are the SegmentationClassAug PNGs).
Lists are sorted (mmseg's come from a set, in arbitrary order). Needs scipy.
"""
import argparse
import os.path as osp
import sys
from functools import partial

import numpy as np

if __package__:  # imported as tools.convert_datasets.<name> (as the tests do)
    from . import convert_common as common
else:  # run as a script, python tools/convert_datasets/<name>.py: its folder is sys.path[0]
    import convert_common as common

AUG_LEN = 10582  # names in trainaug.txt for the complete datasets


def load_sbd_segmentation(path):
    try:
        from scipy.io import loadmat
    except ImportError:
        raise SystemExit("error: reading SBD .mat files needs scipy: pip install scipy") from None
    data = loadmat(path)
    try:
        return data["GTcls"][0]["Segmentation"][0]
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"{path}: expected a GTcls struct with a Segmentation field ({e})") from e


def convert_mat(mat_file, in_dir, out_dir):
    mask = np.asarray(load_sbd_segmentation(osp.join(in_dir, mat_file))).astype(np.uint8)
    dst = osp.join(out_dir, mat_file.replace(".mat", ".png"))
    common.save_label(mask, dst)
    return dst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("devkit_path", help="VOCdevkit folder (holding VOC2012/)")
    parser.add_argument("aug_path", help="SBD folder (holding dataset/cls/*.mat)")
    parser.add_argument("-o", "--out-dir", help="output folder for the SBD PNGs")
    common.add_nproc_arg(parser)
    args = parser.parse_args(argv)
    voc = osp.join(args.devkit_path, "VOC2012")
    sets = common.require_dir(osp.join(voc, "ImageSets", "Segmentation"), "VOC split folder")
    in_dir = common.require_dir(osp.join(args.aug_path, "dataset", "cls"), "SBD class labels")
    out_dir = args.out_dir or osp.join(voc, "SegmentationClassAug")

    mats = common.scandir(in_dir, ".mat", recursive=False)
    common.track_parallel_progress(partial(convert_mat, in_dir=in_dir, out_dir=out_dir), mats,
                                   args.nproc, desc="SBD", chunksize=16)

    sbd = common.read_list(osp.join(args.aug_path, "dataset", "train.txt")) + \
        common.read_list(osp.join(args.aug_path, "dataset", "val.txt"))
    voc_train = common.read_list(osp.join(sets, "train.txt"))
    voc_val = common.read_list(osp.join(sets, "val.txt"))
    trainaug = sorted(set(voc_train + sbd) - set(voc_val))
    aug = sorted(set(sbd) - set(voc_train + voc_val))
    if len(trainaug) != AUG_LEN:
        print(f"note: trainaug has {len(trainaug)} names ({AUG_LEN} with the complete VOC + SBD)")
    common.write_list(osp.join(sets, "trainaug.txt"), trainaug)
    common.write_list(osp.join(sets, "aug.txt"), aug)
    print(f"converted {len(mats)} SBD labels into {out_dir}; trainaug.txt: {len(trainaug)}, "
          f"aug.txt: {len(aug)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
