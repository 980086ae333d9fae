"""Train, validate or test a segmentor from a config (JSeg-style entry point).

  python tools/run_net.py --config-file CFG --task train [--resume PATH|auto] [--work-dir DIR]
  python tools/run_net.py --config-file CFG --task val  --checkpoint CKPT [--aug-test]
  python tools/run_net.py --config-file CFG --task test --checkpoint CKPT --save-dir DIR
  mpirun -np N python tools/run_net.py ...        (multi-process / multi-GPU through MPI)
Overrides: --cfg-options optimizer.lr=1e-3 model.decode_head.num_classes=19
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jseg_ret  # noqa: E402  (prepares Jittor)
from jseg_ret.config import Config, ConfigError, parse_cfg_options  # noqa: E402
from jseg_ret.engine import Runner, TrainingDiverged, latest_checkpoint  # noqa: E402
from jseg_ret.engine.dist import abort_job_on_error  # noqa: E402
from jseg_ret.interop import CheckpointError  # noqa: E402

AUG_TEST_RATIOS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, help="python or YAML config")
    p.add_argument("--task", choices=["train", "val", "test"], default="train")
    p.add_argument("--resume", help="train: checkpoint to resume, or 'auto' (latest in the "
                                    "work dir); val/test: same as --checkpoint")
    p.add_argument("--checkpoint", help="val/test: weights to evaluate (.pkl or .pth)")
    p.add_argument("--work-dir", help="default: work_dirs/<config name>")
    p.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    p.add_argument("--save-dir", help="val/test: write prediction PNGs here")
    p.add_argument("--aug-test", action="store_true", help="flip + multi-scale testing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def enable_aug_test(cfg):
    """Set every MultiScaleFlipAug of the val/test pipelines to mmseg's aug-test scales + flip."""
    found = False
    for split in ("val", "test"):
        for step in cfg.data[split].pipeline:
            if step.get("type") == "MultiScaleFlipAug":
                step["img_ratios"] = AUG_TEST_RATIOS
                step["flip"] = True
                found = True
    if not found:
        raise ConfigError("--aug-test: the val/test pipelines have no MultiScaleFlipAug step")


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = Config.fromfile(args.config_file)
        cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
        if args.aug_test:
            enable_aug_test(cfg)
        name = os.path.splitext(os.path.basename(args.config_file))[0]
        work_dir = args.work_dir or cfg.get("work_dir") or os.path.join("work_dirs", name)
        runner = Runner(cfg, work_dir, show_progress=not args.no_progress)
        if args.task == "train":
            cfg.dump(os.path.join(work_dir, os.path.basename(name) + ".yaml"))
            result = runner.train(resume=args.resume)
            print(f"training finished: {result['last_checkpoint']}")
            return 0
        checkpoint = args.checkpoint or args.resume or latest_checkpoint(work_dir)
        if checkpoint is None:
            raise CheckpointError(f"--task {args.task} needs --checkpoint (no iter_*.pkl in "
                                  f"{work_dir})")
        split = "val" if args.task == "val" else "test"
        save_dir = args.save_dir
        summary = runner.val(checkpoint, save_dir=save_dir, split=split)
        print(f"mIoU: {summary['mIoU']:.2f}  mAcc: {summary['mAcc']:.2f}  "
              f"aAcc: {summary['aAcc']:.2f}  (written to {work_dir}/eval_results.json)")
        return 0
    except (ConfigError, CheckpointError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    with abort_job_on_error():  # under MPI: any failure ends every rank, with its exit code
        sys.exit(main())
