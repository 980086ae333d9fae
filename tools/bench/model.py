"""Model benchmark: inference latency/throughput and training-step time of a config.

  python tools/benchmark.py --model CONFIG [--shape H W] [--batch N] [--mode infer|train|both]
                            [--repeats R] [--warmup W] [--fp16] [--impl auto|fused|naive]
                            [--reference] [--json OUT]

- inference: ``model.encode_decode(img)`` in eval mode under ``jt.no_grad()`` — logits resized to
  the input, i.e. including the final bilinear resize — synced; latency = median of ``--repeats``
  timed calls after ``--warmup`` calls; throughput = batch / latency.
- training: one ``model.train_step(img, gt)`` + ``optimizer.step(loss)`` (the config's optimizer,
  backward and update included), synced with ``jt.sync_all()``; median step time, images/s.
- memory: ``rss_peak_mb`` — the process RSS high-water mark (VmHWM, reset through
  /proc/self/clear_refs before the timed loop) minus the RSS before the loop, i.e. what the loop
  allocates on top of the model and inputs (CPU memory only; includes Jittor's allocator caches);
  ``var_peak_mb`` — Jittor's memory profiler (``flags.profile_memory_enable``): bytes of live
  Vars at the peak of one extra, untimed iteration (CPU and GPU).
- recompilations: kernels Jittor compiled or loaded during the timed loop
  (``jseg_ret.utils.CompileCounter``: its "Compile op" log lines); a fixed-shape loop must show 0.
- ``--fp16``: ``jt.flags.auto_mixed_precision_level = 5`` (GPU only; refused on the CPU, where
  Jittor's float16 is emulated).
- inference runs the model fused for inference (``jseg_ret.models.fuse_for_inference``), as
  ``init_segmentor`` and the evaluator do; training the model itself.
- ``--reference``: the plain formulation (built and run under
  ``jseg_ret.fast_path.fast_path(False)``: NCHW layout, Jittor's generic kernels, no fusing), for
  before/after.
The machine load (``os.getloadavg``) before and after and the hypervisor's CPU steal during the
timed loop (``steal_%``, /proc/stat) are recorded: on a shared VM a timing is meaningful only when
both are low.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

import jseg_ret
from jseg_ret.fast_path import fast_path
from jseg_ret.models import fuse_for_inference

import jittor as jt

from .common import (
    StealMeter,
    emit_json,
    machine_info,
    parse_shape,
    peak_rss_mb,
    print_table,
    reset_peak_rss,
    rss_mb,
)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="benchmark.py --model", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", "--model", dest="config", required=True)
    p.add_argument("--shape", type=int, nargs="+", default=[512, 512],
                   help="input H W (one value: square); default 512 512")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--mode", choices=["infer", "train", "both"], default="infer")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--fp16", action="store_true", help="mixed precision (GPU only)")
    p.add_argument("--impl", choices=["auto", "fused", "naive"],
                   help="override the backbone's retention_impl (SegRet)")
    p.add_argument("--reference", action="store_true",
                   help="run the direct translation (fast paths off)")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the extra profiled iteration for var_peak_mb")
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args(argv)
    args.shape = parse_shape(p, args.shape)
    return args


# ------------------------------------------------------------------------------ memory
def _var_peak_mb(step):
    """Peak bytes of live Vars during one ``step()`` (Jittor's memory profiler)."""
    jt.sync_all()
    jt.flags.profile_memory_enable = 1
    try:
        step()
        jt.sync_all()
        return int(jt.get_max_memory_info().split("[!@#div1!@#]")[0]) / 2 ** 20
    except Exception:  # the profiler's report format is Jittor-version specific
        return None
    finally:
        jt.flags.profile_memory_enable = 0


# ------------------------------------------------------------------------------ timing
def _timed(step, warmup, repeats, name):
    """Warm up, then time ``repeats`` calls; recompilations and RSS peak over the timed loop."""
    from jseg_ret.utils import CompileCounter

    for _ in range(warmup):
        step()
    jt.sync_all()
    rss0 = rss_mb()
    reset = reset_peak_rss()
    times = []
    with CompileCounter() as cc, StealMeter() as steal:
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    rss_peak = max(0.0, peak_rss_mb() - rss0) if reset else None
    med = statistics.median(times)
    return {"phase": name, "median_s": med, "min_s": min(times), "times_s": times,
            "recompiles": cc.count, "recompiled_keys": [k[:160] for k in cc.keys[:5]],
            "cpu_steal_pct": steal.percent,
            "rss_peak_mb": rss_peak, "rss_before_mb": rss0}


def build(args):
    from jseg_ret import Config, build_segmentor

    cfg = Config.fromfile(args.config)
    cfg.model.pretrained = None
    if args.impl:
        if "retention_impl" not in cfg.model.backbone and cfg.model.backbone.get("type") != \
                "VisRetNet":
            raise SystemExit(f"--impl: {args.config} has no retention backbone")
        cfg.model.backbone.retention_impl = args.impl
    jt.set_global_seed(0)
    return cfg, build_segmentor(cfg.model)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    if args.fp16:
        if not jt.flags.use_cuda:
            raise SystemExit("--fp16: mixed precision is benchmarked on the GPU only (Jittor's CPU "
                             "float16 is emulated); no GPU is in use here")
        jt.flags.auto_mixed_precision_level = 5
    load_before = os.getloadavg()
    with fast_path(not args.reference):  # the layout is chosen when the model is built
        cfg, model = build(args)
    h, w = args.shape
    n = args.batch
    rng = np.random.RandomState(0)
    img = jt.array(rng.randn(n, 3, h, w).astype(np.float32))
    num_classes = int(model.num_classes)
    gt = jt.array(rng.randint(0, num_classes, size=(n, h, w)).astype(np.int32))
    jt.sync_all()  # materialize parameters and inputs: the warm-up then sees the steady graph
    results = []
    with fast_path(not args.reference):
        if args.mode in ("infer", "both"):
            model.eval()
            infer_model = model if args.reference else fuse_for_inference(model)

            def infer():
                with jt.no_grad():
                    infer_model.encode_decode(img).sync()

            r = _timed(infer, args.warmup, args.repeats, "inference")
            r["throughput_img_s"] = n / r["median_s"]
            r["var_peak_mb"] = None if args.no_memory else _var_peak_mb(infer)
            results.append(r)
        if args.mode in ("train", "both"):
            from jseg_ret.engine import build_optimizer

            model.train()
            optimizer = build_optimizer(model, cfg.optimizer)

            def train():
                loss, _ = model.train_step(img, gt)
                optimizer.step(loss)
                jt.sync_all()

            r = _timed(train, args.warmup, args.repeats, "train step")
            r["throughput_img_s"] = n / r["median_s"]
            r["var_peak_mb"] = None if args.no_memory else _var_peak_mb(train)
            results.append(r)
    load_after = os.getloadavg()

    rows = [{"phase": r["phase"], "median_ms": r["median_s"] * 1e3, "min_ms": r["min_s"] * 1e3,
             "img/s": r["throughput_img_s"], "recompiles": r["recompiles"],
             "rss_peak_mb": r["rss_peak_mb"], "var_peak_mb": r["var_peak_mb"],
             "steal_%": r["cpu_steal_pct"]} for r in results]
    device = "cuda" if jt.flags.use_cuda else "cpu"
    impl = cfg.model.backbone.get("retention_impl")
    print(f"\n{args.config}  input {n}x3x{h}x{w}  device {device}  "
          f"{'fp16 (amp level 5)' if args.fp16 else 'float32'}  "
          f"{'reference path' if args.reference else 'fast path'}"
          + (f"  retention_impl {impl}" if impl else ""))
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"({os.cpu_count()} CPUs)\n")
    print_table(rows, ["phase", "median_ms", "min_ms", "img/s", "recompiles", "rss_peak_mb",
                       "var_peak_mb", "steal_%"])
    info = machine_info()
    info["device"] = device
    info["omp_threads"] = os.environ.get("OMP_NUM_THREADS")
    info["jseg_ret"] = jseg_ret.__version__
    info["onednn"] = jseg_ret.runtime.state.get("onednn")
    emit_json({"benchmark": "model", "machine": info, "config": args.config,
               "settings": {"shape": [h, w], "batch": n, "mode": args.mode,
                            "repeats": args.repeats, "warmup": args.warmup,
                            "precision": "amp5" if args.fp16 else "float32",
                            "retention_impl": impl, "fast_path": not args.reference},
               "loadavg_1_5_15": {"before": load_before, "after": load_after},
               "methods": {"latency": "median wall time of synced calls after warm-up",
                           "rss_peak_mb": "VmHWM (reset via clear_refs) minus RSS before the "
                                          "timed loop",
                           "var_peak_mb": "Jittor memory profiler: live Var bytes at the peak "
                                          "of one extra iteration",
                           "recompiles": "Jittor 'Compile op' log lines during the timed loop",
                           "cpu_steal_pct": "hypervisor steal share of CPU time during the "
                                            "timed loop (/proc/stat); high = noisy timing"},
               "results": results}, args.json)
    return 0

