"""Generate the synthetic segmentation dataset (the embedded default; no download).

  python tools/generate_synthetic.py --out data/synthetic [--num-train 400] [--num-val 80]
      [--seed 0] [--num-classes 6] [--min-size 96] [--max-size 192] [--nproc 2]

Writes img_dir/{train,val}/*.png and ann_dir/{train,val}/*.png (+ meta.json) for
configs/_base_/datasets/synthetic.py: textured shapes (one colour family, texture and shape per
class) on textured noisy backgrounds, sizes 96..192 px. Same seed -> byte-identical files.
"""
import argparse
import os
import sys
import time


def _load_generator():
    # The generator needs only numpy and PIL; load it by path so that Jittor is not started.
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "jseg_ret", "datasets", "synthetic_gen.py")
    name = "jseg_ret_synthetic_gen"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # worker processes find its functions by this name
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    gen = _load_generator()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/synthetic", help="output folder")
    parser.add_argument("--num-train", type=int, default=400)
    parser.add_argument("--num-val", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-classes", type=int, default=gen.DEFAULT_NUM_CLASSES,
                        help=f"including background, 2..{gen.MAX_CLASSES}")
    parser.add_argument("--min-size", type=int, default=96)
    parser.add_argument("--max-size", type=int, default=192)
    parser.add_argument("--nproc", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        meta = gen.generate_synthetic_dataset(
            args.out, num_train=args.num_train, num_val=args.num_val, seed=args.seed,
            num_classes=args.num_classes, min_size=args.min_size, max_size=args.max_size,
            nproc=args.nproc, progress=True)
    except ValueError as e:
        parser.error(str(e))
    print(f"wrote {meta['num_train']} train + {meta['num_val']} val images "
          f"({len(meta['classes'])} classes: {', '.join(meta['classes'])}) to {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")
    if args.num_classes != gen.DEFAULT_NUM_CLASSES:
        print(f"note: set classes={tuple(meta['classes'])} on the datasets in your config")
    return 0


if __name__ == "__main__":
    sys.exit(main())
