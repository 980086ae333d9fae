"""Draw the confusion matrix of an evaluation as a normalized heatmap with class names (as
mmseg's tools/analysis_tools/confusion_matrix.py).

  python tools/run_net.py --config-file CFG --task val --checkpoint CKPT --confusion-matrix
  python tools/confusion_matrix.py work_dirs/x/eval_results.json --out confusion.png

Reads ``confusion_matrix`` (rows = label class, columns = predicted class, pixel counts) and
``class_names`` from eval_results.json. Each row is normalized to percent of the label class's
pixels (``--counts``: raw counts); classes absent from the labels are grey rows. The figure is
``--figsize`` inches (default 0.5 x classes + 2.5 a side, at least 5) at ``--dpi``.
Needs matplotlib (the [vis] extra).
"""
import json
import sys

import numpy as np

from jseg_ret.analysis.plotting import figure_parser, plt, require_matplotlib, save_figure

ANNOTATE_MAX_CLASSES = 30  # cell values are written up to this many classes


def load_confusion(path):
    """(counts (C, C) int64, class names) from an eval_results.json."""
    with open(path) as f:
        results = json.load(f)
    if "confusion_matrix" not in results:
        raise ValueError(f"{path} has no confusion_matrix: evaluate with --confusion-matrix "
                         "(or evaluation.confusion_matrix=True in the config)")
    counts = np.asarray(results["confusion_matrix"], dtype=np.int64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"{path}: confusion_matrix must be square, got shape {counts.shape}")
    names = results.get("class_names") or [str(i) for i in range(len(counts))]
    if len(names) != len(counts):
        raise ValueError(f"{path}: {len(names)} class names for a {len(counts)}-class matrix")
    return counts, list(names)


def row_percent(counts):
    counts = np.asarray(counts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * counts / counts.sum(axis=1, keepdims=True)


def default_figsize(num_classes):
    side = max(5.0, 0.5 * num_classes + 2.5)
    return side, side


def draw(counts, names, out, normalize=True, figsize=None, dpi=100, title=None, cmap="viridis"):
    values = row_percent(counts) if normalize else np.asarray(counts, dtype=np.float64)
    n = len(names)
    fig, ax = plt.subplots(figsize=figsize or default_figsize(n))
    cm = plt.get_cmap(cmap).with_extremes(bad="lightgrey")  # absent label classes
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cm, interpolation="nearest",
                   vmin=0, vmax=100 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                 label="% of the label class" if normalize else "pixels")
    ax.set_xticks(range(n), labels=names, rotation=45, ha="right")
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel("prediction")
    ax.set_ylabel("label")
    ax.set_title(title or ("Normalized confusion matrix" if normalize else "Confusion matrix"))
    if n <= ANNOTATE_MAX_CLASSES:
        top = np.nanmax(values) if np.isfinite(values).any() else 0
        for i in range(n):
            for j in range(n):
                v = values[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.1f}" if normalize else f"{int(v)}", ha="center",
                            va="center", fontsize=7, color="white" if v < top / 2 else "black")
    save_figure(fig, out, dpi)


def parse_args(argv=None):
    p = figure_parser(__doc__, out_default="confusion_matrix.png")
    p.add_argument("results", help="eval_results.json holding confusion_matrix")
    p.add_argument("--counts", action="store_true", help="raw pixel counts, not row percent")
    p.add_argument("--figsize", nargs=2, type=float, metavar=("W", "H"), help="inches")
    p.add_argument("--cmap", default="viridis", help="a matplotlib colour map")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not require_matplotlib("confusion_matrix.py"):
        return 2
    try:
        counts, names = load_confusion(args.results)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    draw(counts, names, args.out, normalize=not args.counts, figsize=args.figsize,
         dpi=args.dpi, title=args.title, cmap=args.cmap)
    print(f"wrote {args.out} ({len(names)} classes, {int(counts.sum())} pixels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
