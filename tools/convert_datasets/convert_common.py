"""Shared pieces of the dataset converters: label tables, the parallel progress loop, file helpers.

The id tables live in jseg_ret/datasets/label_maps.py (the datasets and the evaluation export use
them too) and the atomic writes in jseg_ret/utils/fileio.py. Both modules import nothing of the
package and are loaded here by their paths: importing the jseg_ret package would start Jittor,
which a converter has no use for.
"""
import importlib.util
import os
import os.path as osp
import sys

import numpy as np
from PIL import Image

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_leaf_module(name, *relpath):
    """A module of the package that imports nothing of it, loaded by path as ``name``."""
    if name in sys.modules:
        return sys.modules[name]
    path = osp.join(REPO_ROOT, "jseg_ret", *relpath)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


label_maps = _load_leaf_module("jseg_ret_label_maps", "datasets", "label_maps.py")
fileio = _load_leaf_module("jseg_ret_fileio", "utils", "fileio.py")


def track_parallel_progress(func, items, nproc=1, desc=None, chunksize=1):
    """``[func(item) for item in items]`` with a tqdm bar, in a Pool of ``nproc`` processes."""
    from tqdm import tqdm
    items = list(items)
    if nproc > 1 and len(items) > 1:
        import multiprocessing as mp
        with mp.Pool(min(nproc, len(items))) as pool:
            return list(tqdm(pool.imap(func, items, chunksize=chunksize), total=len(items),
                             desc=desc))
    return [func(item) for item in tqdm(items, desc=desc)]


def scandir(root, suffix, recursive=True):
    """Sorted paths relative to ``root`` of the files ending in ``suffix``."""
    found = []
    if recursive:
        for dirpath, _, files in os.walk(root, followlinks=True):
            found += [osp.relpath(osp.join(dirpath, f), root) for f in files if f.endswith(suffix)]
    elif osp.isdir(root):
        found = [f for f in os.listdir(root) if f.endswith(suffix)
                 and osp.isfile(osp.join(root, f))]
    return sorted(found)


def apply_lut(label, lut):
    """Map a uint8 label through a 256-entry table."""
    label = np.asarray(label)
    if label.dtype != np.uint8:
        if label.size and (label.min() < 0 or label.max() > 255):
            raise ValueError(f"label values span [{label.min()}, {label.max()}]; expected 0..255")
        label = label.astype(np.uint8)
    return np.take(lut, label)


def save_label(label, path, palette=None):
    """Write a uint8 class-id PNG (palette PNG when a flat palette is given), atomically."""
    img = Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8), "L")
    if palette is not None:
        img = Image.frombytes("P", img.size, img.tobytes())
        img.putpalette(palette)
    with fileio.atomic_path(path, "the label", suffix=".png", makedirs=True) as tmp:
        img.save(tmp, format="PNG")


def require_dir(path, what):
    if not osp.isdir(path):
        raise SystemExit(f"error: {what} {path} not found")
    return path


def add_nproc_arg(parser, default=1):
    parser.add_argument("--nproc", type=int, default=default,
                        help=f"worker processes (default {default})")


def read_list(path, what="list"):
    """Non-empty stripped lines of a text file; exits with a message naming a missing file."""
    if not osp.isfile(path):
        raise SystemExit(f"error: {what} {path} not found")
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def write_list(path, names):
    fileio.write_text(path, "".join(n + "\n" for n in names), "the list", makedirs=True)
