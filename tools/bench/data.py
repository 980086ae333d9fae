"""Data-pipeline throughput: the ADE20K training pipeline on generated ADE-like images.

  python tools/benchmark.py --data [--workers N] [--num-images K] [--batch B] [--json PATH]

Generates K image/label pairs shaped like ADE20K (512x683 JPEG, PNG labels with values 0..150),
runs configs/_base_/datasets/ade20k.py's train_pipeline (LoadImageFromFile ->
LoadAnnotations(reduce_zero_label) -> Resize((2048, 512), ratio_range=(0.5, 2.0)) ->
RandomCrop(512x512, cat_max_ratio=0.75) -> RandomFlip -> PhotoMetricDistortion -> Normalize ->
Pad -> DefaultFormatBundle -> Collect) and reports images/s: single process (dataset[i] in a loop),
per transform, and through build_dataloader with N worker processes (batches as Jittor vars).
"""
import argparse
import os
import shutil
import tempfile
import time

import numpy as np

from jseg_ret.config import Config
from jseg_ret.datasets import build_dataloader, build_dataset

from .common import emit_json, machine_info, print_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADE_CONFIG = os.path.join(ROOT, "configs", "_base_", "datasets", "ade20k.py")


def make_ade_like(root, num_images, seed=0, height=512, width=683):
    """ADE-like pairs: a smooth textured JPEG and a blocky label PNG with values 0..150."""
    from PIL import Image
    img_dir, ann_dir = os.path.join(root, "images"), os.path.join(root, "annotations")
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(num_images):
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC), np.int16)
        img = np.clip(img + rng.integers(-25, 26, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(img_dir, f"ADE_bench_{i:05d}.jpg"), quality=90)
        lab = rng.integers(0, 151, (10, 14), dtype=np.uint8)
        lab = Image.fromarray(lab).resize((width, height), Image.NEAREST)
        lab.save(os.path.join(ann_dir, f"ADE_bench_{i:05d}.png"))
    return img_dir, ann_dir


def build_bench_dataset(img_dir, ann_dir):
    cfg = Config.fromfile(ADE_CONFIG)
    return build_dataset(dict(type="ADE20KDataset", img_dir=img_dir, ann_dir=ann_dir,
                              pipeline=cfg.train_pipeline))


def bench_single(ds, num_images, warmup=4):
    np.random.seed(0)
    for i in range(warmup):
        ds[i % len(ds)]
    t0 = time.perf_counter()
    for i in range(num_images):
        ds[i % len(ds)]
    return num_images / (time.perf_counter() - t0)


def bench_per_transform(ds, num_images):
    """Mean milliseconds per image spent in each transform (single process)."""
    totals = {}
    transforms = ds.pipeline.steps
    np.random.seed(0)
    for i in range(num_images):
        results = dict(img_info=ds.img_infos[i % len(ds)], ann_info=ds.get_ann_info(i % len(ds)))
        ds.pre_pipeline(results)
        for t in transforms:
            t0 = time.perf_counter()
            results = t(results)
            name = type(t).__name__
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - t0
    return {name: total / num_images * 1000 for name, total in totals.items()}


def bench_loader(ds, workers, batch, epochs=2):
    """Images/s through build_dataloader once the workers are running (first batch excluded)."""
    loader = build_dataloader(ds, batch, workers, shuffle=True, seed=0, drop_last=True)
    try:
        count, t0 = 0, None
        for _ in range(epochs):
            for b in loader:
                b["img"].sync()
                if t0 is None:  # workers started and delivered: start the clock
                    t0 = time.perf_counter()
                    continue
                count += int(b["img"].shape[0])
        return count / (time.perf_counter() - t0)
    finally:
        loader.terminate()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="benchmark.py --data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="loader worker processes (N)")
    parser.add_argument("--num-images", type=int, default=64, help="images generated and timed")
    parser.add_argument("--batch", type=int, default=4, help="samples_per_gpu for the loader run")
    parser.add_argument("--json", default=None, help="also write the JSON record here")
    parser.add_argument("--data-dir", default=None, help="generate the images here (kept)")
    args = parser.parse_args(argv)
    if args.num_images < 2 * args.batch:
        parser.error("--num-images must be at least twice --batch")

    tmp = args.data_dir or tempfile.mkdtemp(prefix="jseg_ret_databench_")
    try:
        t0 = time.perf_counter()
        img_dir, ann_dir = make_ade_like(tmp, args.num_images)
        print(f"generated {args.num_images} ADE-like 512x683 pairs in "
              f"{time.perf_counter() - t0:.1f} s under {tmp}")
        ds = build_bench_dataset(img_dir, ann_dir)
        per_transform = bench_per_transform(ds, min(args.num_images, 32))
        single = bench_single(ds, args.num_images)
        multi = bench_loader(ds, args.workers, args.batch) if args.workers > 0 else None
    finally:
        if args.data_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)

    print("\nper transform (single process, ms per image):")
    print_table([dict(transform=k, ms=v) for k, v in per_transform.items()],
                ["transform", "ms"])
    rows = [dict(mode="single process (dataset[i])", workers=0, images_per_s=single,
                 per_worker=single)]
    if multi is not None:
        rows.append(dict(mode=f"build_dataloader, batch {args.batch}", workers=args.workers,
                         images_per_s=multi, per_worker=multi / args.workers))
    print("\nthroughput (512x512 crops):")
    print_table(rows, ["mode", "workers", "images_per_s", "per_worker"])
    record = dict(benchmark="data", pipeline="ade20k train_pipeline", image_size=[512, 683],
                  crop=[512, 512], num_images=args.num_images, batch=args.batch,
                  workers=args.workers, single_process_images_per_s=single,
                  loader_images_per_s=multi,
                  loader_images_per_s_per_worker=(multi / args.workers) if multi else None,
                  per_transform_ms=per_transform, target_images_per_s_per_worker=25,
                  machine=machine_info())
    emit_json(record, args.json)
    return 0
