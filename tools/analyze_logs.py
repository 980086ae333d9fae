"""Plot loss / lr / mIoU curves of one or more training logs and summarize them (as mmseg's
analyze_logs.py).

  python tools/analyze_logs.py work_dirs/a/log.jsonl [work_dirs/b/log.jsonl ...] \
      [--keys loss lr mIoU] [--legend a b] [--out curves.png] [--dpi 100]

Reads the ``log.jsonl`` the runner writes: training records (iter, lr, loss terms, time,
data_time) and validation records (``"mode": "val"``, iter, mIoU, mAcc, aAcc). One subplot per
key, one curve per log; the figure is 8 x 3 inches per key at ``--dpi``. Prints, per log, the
best mIoU and its iteration and the average iteration time. Needs matplotlib (the [vis] extra).
"""
import json
import math
import os
import sys

from jseg_ret.analysis.plotting import figure_parser, plt, require_matplotlib, save_figure

FIG_WIDTH_IN, FIG_HEIGHT_PER_KEY_IN = 8.0, 3.0


class LogError(ValueError):
    """A log file that cannot be read; the message names the file and line."""


def load_log(path):
    """(train records, val records) of one log.jsonl, each sorted by iteration."""
    if not os.path.isfile(path):
        raise LogError(f"log file {path} not found")
    train, val = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise LogError(f"{path}:{n}: not a JSON record ({e})") from e
            if not isinstance(record, dict) or "iter" not in record:
                raise LogError(f"{path}:{n}: a record needs an 'iter' field")
            (val if record.get("mode") == "val" else train).append(record)
    train.sort(key=lambda r: r["iter"])
    val.sort(key=lambda r: r["iter"])
    return train, val


def series(log, key):
    """(iterations, values) of ``key`` from the train records, else from the val records."""
    for records in log:
        points = [(r["iter"], r[key]) for r in records
                  if isinstance(r.get(key), (int, float))]
        if points:
            return [p[0] for p in points], [p[1] for p in points]
    return [], []


def summarize(train, val):
    """Best mIoU and its iteration (None without val records) and the average iteration time,
    each record's mean time weighted by the iterations it covers."""
    best = max((r for r in val if isinstance(r.get("mIoU"), (int, float))),
               key=lambda r: r["mIoU"], default=None)
    total, iters, prev = 0.0, 0, 0
    for r in train:
        if isinstance(r.get("time"), (int, float)):
            span = max(int(r["iter"]) - prev, 1)
            total += r["time"] * span
            iters += span
        prev = int(r["iter"])
    return {"best_mIoU": best["mIoU"] if best else None,
            "best_iter": best["iter"] if best else None,
            "avg_iter_time": total / iters if iters else None,
            "last_iter": train[-1]["iter"] if train else None}


def plot(logs, keys, legend, out, dpi, title=None):
    fig, axes = plt.subplots(len(keys), 1, squeeze=False,
                             figsize=(FIG_WIDTH_IN, FIG_HEIGHT_PER_KEY_IN * len(keys)))
    for ax, key in zip(axes[:, 0], keys):
        for log, name in zip(logs, legend):
            xs, ys = series(log, key)
            ax.plot(xs, ys, marker="o" if len(xs) < 20 else None, markersize=3, label=name)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if key == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        ax.legend(fontsize="small")
    axes[-1, 0].set_xlabel("iteration")
    if title:
        axes[0, 0].set_title(title)
    save_figure(fig, out, dpi)


def parse_args(argv=None):
    p = figure_parser(__doc__, out_default="curves.png")
    p.add_argument("logs", nargs="+", help="log.jsonl files")
    p.add_argument("--keys", nargs="+", default=["loss", "lr", "mIoU"],
                   help="record fields to plot (default: loss lr mIoU)")
    p.add_argument("--legend", nargs="+", help="one name per log (default: the log paths)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not require_matplotlib("analyze_logs.py"):
        return 2
    legend = args.legend or args.logs
    if len(legend) != len(args.logs):
        print(f"error: --legend has {len(legend)} names for {len(args.logs)} logs",
              file=sys.stderr)
        return 2
    try:
        logs = [load_log(p) for p in args.logs]
    except LogError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    missing = [k for k in args.keys if not any(series(log, k)[0] for log in logs)]
    if missing:
        available = sorted({k for log in logs for recs in log for r in recs for k in r
                            if isinstance(r[k], (int, float))} - {"iter"})
        print(f"error: --keys {missing} are in none of the logs; available: {available}",
              file=sys.stderr)
        return 2
    for (train, val), name in zip(logs, legend):
        s = summarize(train, val)
        best = ("no validation records" if s["best_mIoU"] is None else
                f"best mIoU {s['best_mIoU']:.2f} at iter {s['best_iter']}")
        avg = ("n/a" if s["avg_iter_time"] is None or math.isnan(s["avg_iter_time"])
               else f"{s['avg_iter_time']:.3f} s")
        print(f"{name}: {best}; average iteration time {avg} over {s['last_iter']} iterations")
    plot(logs, args.keys, legend, args.out, args.dpi, args.title)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
