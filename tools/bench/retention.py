"""Retention operator benchmark: fused kernel vs naive Jittor vs PyTorch eager.

  python tools/benchmark.py --op retention [--cases stage3,stress] [--batch 2] [--repeats 5]
                                           [--impls fused,naive,torch] [--json OUT]

Cases are the shapes SegRet runs (CASES below); batch 8 unless ``--batch``.
Each (case, impl) runs in a fresh subprocess so its memory can be measured:
- time: median of ``--repeats`` after ``--warmup`` calls; "fwd" is inference (no autograd graph),
  "fwd+bwd" is forward plus the gradients of q, k, v;
- rss_peak_mb: process RSS high-water mark (VmHWM, reset through /proc/self/clear_refs; else
  getrusage ru_maxrss) over the first fwd+bwd step minus the RSS before it (inputs already
  allocated); counts everything the step allocated (plus Jittor's loaded kernels, a few MB); same
  method for Jittor and PyTorch;
- var_peak_mb (Jittor only): Jittor's memory profiler (flags.profile_memory_enable), bytes of live
  Vars at the step's peak.
PyTorch eager is the published formulation: q @ kᵀ + mask, softmax, @ v, with the (N, L, L) decay
mask built once outside the timed region (as RMT builds it once per stage). Naive Jittor rebuilds
its bias each call (jseg_ret.ops.retention.naive_retention). Naive/torch are skipped when their
L×L tensors would not fit (``--mem-limit-gb``).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# name: (form, sequences per batch item, H, W, heads, head dim, description)
CASES = {
    "stage1": ("1d", 128, 1, 128, 4, 16, "RMT-T stage 1 @512²: 1-D, B·128 rows of 128"),
    "stage3": ("2d", 1, 32, 32, 8, 32, "RMT-T stage 3 @512²: 2-D 32×32 (L=1024)"),
    "stage4": ("2d", 1, 32, 64, 16, 32, "RMT-T stage 4 @1024×2048: 2-D 32×64 (L=2048)"),
    "stress": ("2d", 1, 64, 64, 8, 32, "stress: 2-D 64×64 (L=4096)"),
}
IMPLS = ("fused", "naive", "torch")
# naive / torch fwd+bwd hold about this many L×L float tensors at their peak (measured: ~5.8)
L2_TENSORS_AT_PEAK = 6


def shapes(case, batch):
    form, seqs, h, w, heads, d, _ = CASES[case]
    return form, (batch * seqs, heads, h * w, d), (h, w)


def total_ram_gb():
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) / 2 ** 20
    except OSError:
        return 16.0


# ------------------------------------------------------------------------------------------------
# Worker: one (case, impl) in this process.
def _inputs(np, shape, seed=0):
    rng = np.random.default_rng(seed)
    B, N, L, d = shape
    q = rng.standard_normal(shape).astype(np.float32)
    k = (rng.standard_normal(shape) / np.sqrt(d)).astype(np.float32)
    v = rng.standard_normal(shape).astype(np.float32)
    decay = np.log(1 - 2.0 ** (-2 - 4 * np.arange(N) / N)).astype(np.float32)
    return q, k, v, decay


def _distance(form, hw):
    from jseg_ret.ops.retention import line_distance, manhattan_distance
    return line_distance(hw[1]) if form == "1d" else manhattan_distance(*hw)


def _jittor_steps(spec):
    import numpy as np

    from jseg_ret.ops import retention_1d, retention_2d

    import jittor as jt
    form, shape, hw = spec["form"], tuple(spec["shape"]), tuple(spec["hw"])
    q, k, v, decay = (jt.array(x) for x in _inputs(np, shape))
    jt.sync_all(True)

    def forward():
        if form == "1d":
            return retention_1d(q, k, v, decay, impl=spec["impl"])
        return retention_2d(q, k, v, decay, hw, impl=spec["impl"])

    def fwd():
        with jt.no_grad():
            forward().sync()
        jt.sync_all(True)

    def fwd_bwd():
        out = forward()
        jt.sync(jt.grad((out * out).sum(), [q, k, v]))
        jt.sync_all(True)

    def measure_memory():
        jt.flags.profile_memory_enable = 1
        fwd_bwd()
        var_peak = int(jt.get_max_memory_info().split("[!@#div1!@#]")[0]) / 2 ** 20
        jt.flags.profile_memory_enable = 0
        return var_peak

    return fwd, fwd_bwd, measure_memory


def _torch_steps(spec):
    import numpy as np
    import torch
    form, shape, hw = spec["form"], tuple(spec["shape"]), tuple(spec["hw"])
    q, k, v, decay = (torch.from_numpy(x) for x in _inputs(np, shape))
    for t in (q, k, v):
        t.requires_grad_(True)
    mask = decay[:, None, None] * torch.from_numpy(_distance(form, hw))  # (N, L, L), once

    def forward():
        attn = torch.softmax(q @ k.transpose(-1, -2) + mask, dim=-1)
        return attn @ v

    def fwd():
        with torch.no_grad():
            forward()

    def fwd_bwd():
        out = forward()
        torch.autograd.grad((out * out).sum(), [q, k, v])

    return fwd, fwd_bwd, lambda: None


def worker(spec):
    # The worker runs this file as a script (see run_case): its folder, not tools/, is sys.path[0].
    from common import peak_rss_mb, reset_peak_rss, rss_mb, time_fn
    fwd, fwd_bwd, measure_memory = (_torch_steps if spec["impl"] == "torch"
                                    else _jittor_steps)(spec)
    # Memory first, before anything has been allocated (Jittor's allocator keeps what it frees):
    # this step also compiles (in g++ subprocesses, which RUSAGE_SELF does not count).
    rss0 = rss_mb()
    reset = reset_peak_rss()
    var_peak = measure_memory()
    if var_peak is None:
        fwd_bwd()
    rss_peak = max(0.0, peak_rss_mb() - rss0)
    t_fwd, _ = time_fn(fwd, warmup=spec["warmup"], repeats=spec["repeats"])
    t_fb, _ = time_fn(fwd_bwd, warmup=spec["warmup"], repeats=spec["repeats"])
    result = {"fwd_ms": t_fwd * 1e3, "fwd_bwd_ms": t_fb * 1e3, "rss_peak_mb": rss_peak,
              "var_peak_mb": var_peak, "rss_peak_method": "VmHWM after clear_refs" if reset
              else "ru_maxrss (lifetime peak: may include imports)"}
    if spec["impl"] == "torch":
        import torch
        result["torch_threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------------------
def run_case(case, impl, args):
    form, shape, hw = shapes(case, args.batch)
    B, N, L, d = shape
    row = {"case": case, "impl": impl, "form": form, "shape": "x".join(map(str, shape)),
           "fwd_gflop": 4 * B * N * L * L * d / 1e9}
    l2_gb = B * N * L * L * 4 / 2 ** 30
    if impl != "fused" and L2_TENSORS_AT_PEAK * l2_gb > args.mem_limit_gb:
        row["note"] = (f"skipped: ~{L2_TENSORS_AT_PEAK}×{l2_gb:.1f} GB of L×L tensors > "
                       f"--mem-limit-gb {args.mem_limit_gb:.0f}")
        return row
    if impl == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:
            row["note"] = "skipped: torch not installed"
            return row
    spec = {"impl": impl, "form": form, "shape": shape, "hw": hw, "warmup": args.warmup,
            "repeats": args.repeats}
    t0 = time.time()
    res = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
                         capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
    lines = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
    if res.returncode != 0 or not lines:
        row["note"] = f"failed (rc {res.returncode}): {res.stderr.strip().splitlines()[-1:]}"
        return row
    row.update(json.loads(lines[-1][len("RESULT "):]))
    row["fwd_gflops"] = row["fwd_gflop"] / (row["fwd_ms"] / 1e3)
    row["wall_s"] = time.time() - t0
    return row


def main(argv=None):
    from .common import emit_json, machine_info, print_table  # imported as bench.retention
    p = argparse.ArgumentParser(prog="benchmark.py --op retention", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES),
                   help=f"comma-separated subset of {','.join(CASES)}")
    p.add_argument("--impls", default=",".join(IMPLS), help="comma-separated subset of "
                   f"{','.join(IMPLS)}")
    p.add_argument("--batch", type=int, default=8, help="batch size (8 = the design's cases)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--mem-limit-gb", type=float, default=0.6 * total_ram_gb(),
                   help="skip naive/torch when their L×L tensors would exceed this")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per (case, impl)")
    p.add_argument("--json", metavar="OUT", help="also write the JSON record here")
    args = p.parse_args(argv)
    cases, impls = args.cases.split(","), args.impls.split(",")
    for name, allowed in ((cases, CASES), (impls, IMPLS)):
        bad = [x for x in name if x not in allowed]
        if bad:
            p.error(f"unknown {bad}; expected from {list(allowed)}")

    load_before = os.getloadavg()  # other processes share the CPU: timings depend on it
    rows = []
    for case in cases:
        for impl in impls:
            rows.append(run_case(case, impl, args))
            print(f"# {case} {impl}: {rows[-1].get('note') or 'done'}", file=sys.stderr,
                  flush=True)
        base = next((r for r in rows if r["case"] == case and r["impl"] == "naive"
                     and "fwd_ms" in r), None)
        for r in rows:
            if r["case"] == case and base and "fwd_ms" in r:
                r["fwd_speedup_vs_naive"] = base["fwd_ms"] / r["fwd_ms"]
                r["fwd_bwd_speedup_vs_naive"] = base["fwd_bwd_ms"] / r["fwd_bwd_ms"]
    print_table(rows, ["case", "impl", "shape", "fwd_ms", "fwd_bwd_ms", "fwd_gflops",
                       "fwd_speedup_vs_naive", "fwd_bwd_speedup_vs_naive", "var_peak_mb",
                       "rss_peak_mb", "note"])
    info = machine_info()
    emit_json({"benchmark": "retention", "machine": info,
               "settings": {"batch": args.batch, "repeats": args.repeats, "warmup": args.warmup,
                            "dtype": "float32"},
               "loadavg_1_5_15": {"before": load_before, "after": os.getloadavg()},
               "cases": {c: CASES[c][-1] for c in cases},
               "memory_method": "rss_peak_mb: RSS high-water mark (VmHWM reset via clear_refs) "
                                "over the first fwd+bwd step in a fresh subprocess minus RSS "
                                "before it; var_peak_mb: Jittor memory profiler, live Var bytes "
                                "at the peak (Jittor only)",
               "results": rows}, args.json)
    return 0


if __name__ == "__main__":  # the worker of run_case; the benchmark itself: tools/benchmark.py
    if len(sys.argv) != 3 or sys.argv[1] != "--worker":
        sys.exit("usage: python tools/benchmark.py --op retention [options] (this file runs "
                 "directly only as its worker: --worker SPEC)")
    worker(json.loads(sys.argv[2]))
