"""Train, validate or test a segmentor from a config (JSeg-style entry point).

  python tools/run_net.py --config-file CFG --task train [--resume PATH|auto] [--work-dir DIR]
  python tools/run_net.py --config-file CFG --task val  --checkpoint CKPT [--aug-test]
  python tools/run_net.py --config-file CFG --task test --checkpoint CKPT --save-dir DIR
  python tools/run_net.py --config-file CFG --task test --checkpoint CKPT --format-only \
      --save-dir DIR [--overwrite]      (benchmark submission files, no scoring)
  mpirun -np N python tools/run_net.py ...        (multi-process / multi-GPU through MPI)
Overrides: --cfg-options optimizer.lr=1e-3 model.decode_head.num_classes=19

A new training run refuses a work dir that already holds checkpoints (iter_N.pkl, best_*.pkl):
continue that run with --resume auto, or start anew there with --overwrite (same-named files are
replaced; max_keep_ckpts prunes only this run's own checkpoints, listed in checkpoints.json).
--resume restores weights, optimizer state, iteration, RNG and best score; every setting comes
from the current config, and where it differs from the checkpoint's config each difference is
logged as a warning. A weights-only file (.pth) is refused as a resume point: use
--cfg-options load_from=FILE to start training from its weights. --resume auto takes the newest
readable checkpoint of the last run (an unreadable newest one is reported and skipped). On start,
temporaries of a killed checkpoint save (iter_N.pkl.tmp-PID.pkl) are removed and log.jsonl keeps
only its records up to the starting iteration.

Exit status: 0 done; 1 is reserved for "a check failed" (not used by this tool);
2 bad input: config, override, checkpoint, data file, or a work dir holding another run;
3 training diverged (loss, weights or optimizer state NaN/inf; the last good checkpoint is named);
4 an output could not be written (disk full, no permission: the path is named); 130 interrupted.
Errors end in one "error: ..." line naming the file, key or value; --debug shows the traceback.
"""
import argparse
import errno
import os
import sys

from jseg_ret.config import Config, ConfigError, parse_cfg_options
from jseg_ret.datasets import BadSampleError
from jseg_ret.engine import Runner, TrainingDiverged, is_main_process, latest_checkpoint
from jseg_ret.engine.checkpoint import OutputWriteError, write_output
from jseg_ret.engine.dist import abort_job_on_error, get_rank, get_world_size
from jseg_ret.engine.format_only import format_only, label_dir_problem
from jseg_ret.interop import CheckpointError

AUG_TEST_RATIOS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_WRITE_FAILED, EXIT_INTERRUPTED = 2, 3, 4, 130
# User errors: one line, no traceback. Exceptions of other types are bugs and keep theirs.
BAD_INPUT = (ConfigError, CheckpointError, BadSampleError, OSError, KeyError, TypeError,
             ValueError)
# OSErrors that can only come from writing (an unreadable input is a bad input).
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, help="python or YAML config")
    p.add_argument("--task", choices=["train", "val", "test"], default="train")
    p.add_argument("--resume", help="train: checkpoint to resume (iter_N.pkl), or 'auto' (the "
                                    "newest readable one of the work dir's last run); val/test: "
                                    "same as --checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="train: start a new run in a work dir that holds another run's "
                        "checkpoints (same-named files are replaced, no other is deleted); "
                        "--format-only: allow a non-empty --save-dir")
    p.add_argument("--checkpoint", help="val/test: weights to evaluate (.pkl or .pth)")
    p.add_argument("--work-dir", help="default: work_dirs/<config name>")
    p.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    p.add_argument("--save-dir", help="val/test: write prediction PNGs here")
    p.add_argument("--aug-test", action="store_true", help="flip + multi-scale testing")
    p.add_argument("--format-only", action="store_true",
                   help="val/test: no scoring; write the benchmark's submission files to "
                        "--save-dir (automatic when the split has no label files)")
    p.add_argument("--confusion-matrix", action="store_true",
                   help="val/test: also accumulate a confusion matrix into eval_results.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="show the traceback of any error")
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


def run(args):
    cfg = Config.fromfile(args.config_file)
    cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
    if args.aug_test:
        enable_aug_test(cfg)
    name = os.path.splitext(os.path.basename(args.config_file))[0]
    work_dir = args.work_dir or cfg.get("work_dir") or os.path.join("work_dirs", name)
    if args.task != "train":  # format-only output writes nothing but --save-dir: no Runner
        unscorable = None if args.format_only else label_dir_problem(cfg.data[args.task])
        if args.format_only or unscorable:
            return _format_only(args, cfg, work_dir, unscorable)
    write_output("the work dir", work_dir, lambda: os.makedirs(work_dir, exist_ok=True))
    runner = Runner(cfg, work_dir, show_progress=not args.no_progress)
    if args.task == "train":
        dump = os.path.join(work_dir, os.path.basename(name) + ".yaml")
        result = runner.train(resume=args.resume, overwrite=args.overwrite, config_dump=dump)
        print(f"training finished: {result['last_checkpoint']}")
        return 0
    checkpoint = args.checkpoint or args.resume or latest_checkpoint(work_dir)
    if checkpoint is None:
        raise CheckpointError(f"--task {args.task} needs --checkpoint (no iter_*.pkl in "
                              f"{work_dir})")
    split = "val" if args.task == "val" else "test"
    summary = runner.val(checkpoint, save_dir=args.save_dir, split=split,
                         confusion_matrix=args.confusion_matrix or None)
    print(f"mIoU: {summary['mIoU']:.2f}  mAcc: {summary['mAcc']:.2f}  "
          f"aAcc: {summary['aAcc']:.2f}  (written to {work_dir}/eval_results.json)")
    return 0


def describe(error):
    """One line for a user error: our own errors name what is wrong; built-in ones get their
    type, since their text alone ("'x'", "unsupported operand") can be cryptic."""
    if isinstance(error, (ConfigError, CheckpointError, BadSampleError, TrainingDiverged)):
        text = str(error)
    elif isinstance(error, OSError) and error.filename is not None:
        text = f"{error.filename}: {error.strerror or error}"
    elif isinstance(error, KeyError) and len(error.args) == 1:
        text = f"KeyError: {error.args[0]}"
    else:
        text = f"{type(error).__name__}: {error}"
    return "error: " + " ".join(text.split())  # one line


def main(argv=None):
    args = parse_args(argv)
    if args.debug:
        return run(args)
    try:
        return run(args)
    except TrainingDiverged as e:
        code = EXIT_DIVERGED
        message = describe(e)
    except OutputWriteError as e:
        code = EXIT_WRITE_FAILED
        message = describe(e)
    except BAD_INPUT as e:
        write = isinstance(e, OSError) and e.errno in WRITE_ERRNOS
        code = EXIT_WRITE_FAILED if write else EXIT_BAD_INPUT
        message = describe(e)
    except KeyboardInterrupt:
        code, message = EXIT_INTERRUPTED, "error: interrupted"
    if get_world_size() > 1:  # say which rank failed (the others are stopped by the abort)
        message = f"[rank {get_rank()} of {get_world_size()}] {message}"
    print(message, file=sys.stderr)
    return code


def _format_only(args, cfg, work_dir, unscorable):
    if unscorable:
        print(f"note: the {args.task} split cannot be scored ({unscorable}); writing its "
              "predictions in the benchmark's submission format instead (--format-only)")
    if not args.save_dir:
        raise ConfigError("--format-only writes prediction files: give --save-dir DIR")
    checkpoint = args.checkpoint or args.resume or latest_checkpoint(work_dir)
    if checkpoint is None:
        raise CheckpointError(f"--task {args.task} needs --checkpoint (no iter_*.pkl in "
                              f"{work_dir})")
    out = format_only(cfg, checkpoint, args.task, args.save_dir, overwrite=args.overwrite,
                      show_progress=not args.no_progress)
    archive = f"; upload {out['archive']}" if out["archive"] else ""
    if is_main_process():
        print(f"wrote {len(out['files'])} {out['format']} prediction PNGs to "
              f"{args.save_dir}{archive}")
    return 0


if __name__ == "__main__":
    with abort_job_on_error():  # under MPI: any failure ends every rank, with its exit code
        sys.exit(main())
