"""Convert checkpoints between PyTorch (.pth) and Jittor (.pkl), without PyTorch.

    python tools/convert_checkpoint.py SRC.pth DST.pkl [--config CFG] [--backbone-only] [--family F]
    python tools/convert_checkpoint.py SRC.pkl DST.pth [--config CFG] [--backbone-only]

.pth -> .pkl: reads the zip or legacy format, unwraps ``state_dict``/``model``, drops
``*.num_batches_tracked`` (Jittor's BatchNorm has none) and, with ``--backbone-only``, the
ImageNet classifier (RMT: ``proj.* norm.* head.*``; MSCAN/VAN: ``head.*``); writes
``{'meta', 'state_dict'}`` with ``jt.save`` (atomically). Backbone-only output keeps the backbone's
own key names (no ``backbone.`` prefix), like the ImageNet checkpoint it came from.
.pkl -> .pth: adds ``num_batches_tracked`` back to every BatchNorm and writes a zip .pth that
``torch.load`` opens with weights_only=True.
``--config``: build the model and check that the converted weights load strictly (nothing is
written if they do not). Exit status: 0 ok, 1 the check failed, 2 unreadable input/bad arguments.
"""
import argparse
import os
import sys
from collections import OrderedDict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

PTH_EXTS = (".pth", ".pt", ".bin")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="source checkpoint (.pth/.pt/.bin or .pkl)")
    p.add_argument("dst", help="destination (.pkl for a .pth source, .pth for a .pkl source)")
    p.add_argument("--config", default=None, help="model config: verify a strict load")
    p.add_argument("--backbone-only", action="store_true",
                   help="ImageNet backbone checkpoint (drop and report its classifier)")
    p.add_argument("--family", default=None, help="segret | segnext | frm (default: detect)")
    return p.parse_args(argv)


def _progress(items, desc):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency, but a missing one should not stop a conversion
        return items
    return tqdm(items, desc=desc, unit="key", leave=False)


def _print_summary(n_written, dropped, report=None):
    print(f"mapped: {n_written} keys written")
    by_reason = OrderedDict()
    for key, reason in dropped:
        by_reason.setdefault(reason, []).append(key)
    print(f"dropped: {len(dropped)} keys")
    for reason, keys in by_reason.items():
        print(f"  {len(keys)} x {reason}:")
        for k in keys:
            print(f"    {k}")
    if report is not None:
        print(f"missing (model keys without a value): {len(report.missing)}")
        for k in report.missing:
            print(f"    {k}")
        if report.skipped:
            print(f"skipped: {len(report.skipped)}")


def pth_to_pkl(args, interop):
    import numpy as np

    state, meta, source = interop.read_checkpoint(args.src)
    family = args.family or interop.detect_family(list(state))
    mapped, dropped = interop.map_checkpoint_keys(state, family, args.backbone_only)
    out = OrderedDict()
    for target, (_src, arr) in _progress(list(mapped.items()), "convert"):
        key = target[len("backbone."):] if args.backbone_only else target
        out[key] = np.ascontiguousarray(arr)
    meta = dict(meta)
    meta.update(converted_from=os.path.basename(source), family=family,
                backbone_only=bool(args.backbone_only))
    return {"meta": meta, "state_dict": out}, dropped, family


def pkl_to_pth(args, interop):
    state, meta, source = interop.read_checkpoint(args.src)
    family = args.family or interop.detect_family(list(state))
    out = OrderedDict((k, v) for k, v in _progress(list(state.items()), "convert"))
    out = interop.to_mmseg_state(out)
    meta = dict(meta)
    meta.update(converted_from=os.path.basename(source))
    return {"meta": meta, "state_dict": out}, [], family


def verify(args, converted, interop):
    from jseg_ret import Config, build_segmentor

    model = build_segmentor(Config.fromfile(args.config).model)
    # family=None unless the user named one: the loader then compares the checkpoint's family
    # with the model's and names both if they differ
    return interop.load_checkpoint_into(model, converted, family=args.family,
                                        backbone_only=args.backbone_only, strict=True,
                                        verbose=False)


def main(argv=None):
    args = parse_args(argv)
    src_ext = os.path.splitext(args.src)[1].lower()
    dst_ext = os.path.splitext(args.dst)[1].lower()
    if src_ext in PTH_EXTS and dst_ext == ".pkl":
        direction = "pth2pkl"
    elif src_ext == ".pkl" and dst_ext in PTH_EXTS:
        direction = "pkl2pth"
    else:
        print(f"convert_checkpoint: error: convert .pth -> .pkl or .pkl -> .pth; got "
              f"{args.src} -> {args.dst}", file=sys.stderr)
        return 2
    if args.config is not None and not os.path.isfile(args.config):
        print(f"convert_checkpoint: error: --config {args.config}: no such file", file=sys.stderr)
        return 2

    import jseg_ret.interop as interop

    try:
        convert = pth_to_pkl if direction == "pth2pkl" else pkl_to_pth
        converted, dropped, family = convert(args, interop)
    except interop.CheckpointError as e:
        print(f"convert_checkpoint: error: {e}", file=sys.stderr)
        return 2
    report = None
    if args.config is not None:
        try:
            report = verify(args, converted, interop)
        except interop.CheckpointError as e:
            _print_summary(len(converted["state_dict"]), dropped)
            print(f"convert_checkpoint: verification against {args.config} failed, nothing "
                  f"written:\n{e}", file=sys.stderr)
            return 1
    try:
        if direction == "pth2pkl":
            interop.save_pkl(converted, args.dst)
        else:
            interop.save_pth(converted, args.dst)
    except interop.CheckpointError as e:
        print(f"convert_checkpoint: error: {e}", file=sys.stderr)
        return 2
    _print_summary(len(converted["state_dict"]), dropped, report)
    if report is not None:
        print(f"verified: loads strictly into {args.config} "
              f"({len(report.mapped)} model keys set)")
    print(f"wrote {args.dst} (family {family or 'unknown'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
