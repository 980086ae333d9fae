"""Parameters and GFLOPs of a segmentor config, per module.

  python tools/get_flops.py CONFIG --shape H W [--depth 2] [--json OUT]

GFLOPs are multiply-accumulates (as SegNeXt / mmseg papers report them) of convolutions, linear
layers and every matrix product — retention and NMF included — for one forward of a 1×3×H×W
input through ``encode_decode`` (logits resized to the input), eval mode. The same pass also
gives the totals under torchprofile's convention (the counter behind SegNeXt's published
figures, which adds element-wise products, norms and 4 ops per bilinear-upsampled output
element) and mmcv's ``get_model_complexity_info`` convention (module hooks only: conv bias, norms
and ReLUs counted, functional matrix products not). See jseg_ret/analysis/flops.py.
Parameters are the trainable ones (buffers such as BN statistics and RMT's decay excluded).
Nothing is computed: the count runs on Jittor's lazy graph, so any config and size takes seconds.
"""
import argparse
import os
import sys

from bench.common import emit_json, parse_shape
from jseg_ret import Config, build_segmentor
from jseg_ret.analysis.flops import CONVENTIONS, count_flops

# Published figures: (config basename, H, W) -> (GFLOPs, source).
PUBLISHED = {
    ("segnext-t_512x512_ade20k", 512, 512): (6.6, "SegNeXt paper (torchprofile MACs)"),
    ("segnext-s_512x512_ade20k", 512, 512): (15.9, "SegNeXt paper (torchprofile MACs)"),
    ("segnext-b_512x512_ade20k", 512, 512): (34.9, "SegNeXt paper (torchprofile MACs)"),
    ("segnext-l_512x512_ade20k", 512, 512): (70.0, "SegNeXt paper (torchprofile MACs)"),
    ("frm-van-b1_1024x1024_cityscapes", 1024, 2048): (214.82, "FRM paper (method not stated)"),
}


def published(config, h, w):
    name = os.path.splitext(os.path.basename(config))[0]
    return PUBLISHED.get((name, h, w))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--shape", type=int, nargs="+", default=[512, 512],
                   help="input H W (one value: square)")
    p.add_argument("--depth", type=int, default=2, help="module levels in the table")
    p.add_argument("--json", metavar="OUT", help="also write the result as JSON")
    args = p.parse_args(argv)
    args.shape = parse_shape(p, args.shape)
    return args


def fmt_params(n):
    return f"{n / 1e6:.3f}M" if n >= 1e5 else f"{n / 1e3:.1f}K"


def print_table(report, depth):
    rows = report.rows(depth)
    name_w = max([len("module")] + [len("  " * (r["depth"] - 1) + r["module"]) for r in rows])
    type_w = max([len("type")] + [len(r["type"]) for r in rows])
    print(f"{'module'.ljust(name_w)}  {'type'.ljust(type_w)}  {'params':>10}  {'GFLOPs':>9}  "
          f"{'%':>6}")
    print("-" * (name_w + type_w + 35))
    for r in rows:
        name = "  " * (r["depth"] - 1) + r["module"]
        print(f"{name.ljust(name_w)}  {r['type'].ljust(type_w)}  {fmt_params(r['params']):>10}  "
              f"{r['gflops']:9.3f}  {r['percent']:6.2f}")
    print("-" * (name_w + type_w + 35))
    print(f"{'total'.ljust(name_w)}  {''.ljust(type_w)}  {fmt_params(report.total_params):>10}  "
          f"{report.gflops:9.3f}  {100.0:6.2f}")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    h, w = args.shape
    cfg = Config.fromfile(args.config)
    cfg.model.pretrained = None
    model = build_segmentor(cfg.model)
    report = count_flops(model, (1, 3, h, w))
    print(f"config: {args.config}\ninput: 1x3x{h}x{w}\n")
    print_table(report, args.depth)
    print(f"\nparameters (trainable): {report.total_params:,}")
    print(f"GFLOPs (MACs of conv + linear + all matrix products): {report.gflops:.3f}")
    print("by kind (GMACs; '(torchprofile only)' = extras that only that convention counts): "
          + ", ".join(f"{k} {v / 1e9:.3f}" for k, v in sorted(report.kinds.items())))
    print("totals by convention (G): "
          + ", ".join(f"{c} {report.totals[c] / 1e9:.3f}" for c in CONVENTIONS))
    record = {"config": args.config, "shape": [h, w], **report.to_dict(args.depth)}
    ref = published(args.config, h, w)
    if ref is not None:
        value, source = ref
        rel = {c: (report.totals[c] / 1e9 - value) / value for c in CONVENTIONS}
        print(f"published: {value} GFLOPs ({source}); difference: "
              + ", ".join(f"{c} {100 * r:+.1f}%" for c, r in rel.items()))
        record["published"] = {"gflops": value, "source": source,
                               "rel_diff": rel}
    if args.json:
        emit_json(record, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
