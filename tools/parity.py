"""Compare a model's outputs with reference PyTorch outputs (shared/fixtures/official/*).

    python tools/parity.py --config configs/segret/segret-t_512x512_ade20k.py \
        --checkpoint checkpoint.pth --input input.npy --reference outputs.npz [--tol 1e-4]

Runs, in eval mode without gradients: ``feats = model.backbone(img)`` (compared with
``backbone_out0..3``), ``logits = model.decode_head(feats)`` (``decode_head_logits``) and the
bilinear resize to the input size (``seg_logits``). If the reference has ``nmf_initial_bases``
and the decode head has ``set_initial_bases``, those bases are used (SegNeXt's NMF draws random
ones otherwise). Per tensor: shape, max abs error, relative error max|a-b|/max|b|, PASS/FAIL.

Exit status: 0 all pass, 1 some tensor exceeds --tol (relative error), 2 bad inputs.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
OUTPUT_NAMES = ["backbone_out0", "backbone_out1", "backbone_out2", "backbone_out3",
                "decode_head_logits", "seg_logits"]
INPUT_NAMES = {"nmf_initial_bases"}  # reference arrays that feed the model instead of checking it


class BadInput(Exception):
    """A problem with the command's inputs (exit status 2)."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="model config (.py)")
    p.add_argument("--checkpoint", required=True, help=".pth (zip or legacy) or Jittor .pkl")
    p.add_argument("--input", required=True, help="input batch .npy (float32 NCHW, normalized)")
    p.add_argument("--reference", required=True, help="reference outputs .npz")
    p.add_argument("--tol", type=float, default=1e-4, help="max relative error (default 1e-4)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    return p.parse_args(argv)


def compare(name, out, ref, tol):
    """One result row: shape, max abs error, relative error, pass."""
    row = {"name": name, "shape": list(ref.shape), "max_abs_err": None, "rel_err": None,
           "pass": False, "note": ""}
    if tuple(out.shape) != tuple(ref.shape):
        row["note"] = f"output shape {tuple(out.shape)} != reference {tuple(ref.shape)}"
        return row
    diff = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    rel = max_abs / scale if scale > 0 else max_abs
    row.update(max_abs_err=max_abs, rel_err=rel,
               **{"pass": bool(np.isfinite(rel) and rel <= tol)})
    if not np.isfinite(max_abs):
        row["note"] = "non-finite values in the output"
    return row


def _load_inputs(args):
    for label, path in (("config", args.config), ("checkpoint", args.checkpoint),
                        ("input", args.input), ("reference", args.reference)):
        if not os.path.isfile(path):
            raise BadInput(f"--{label} {path}: no such file")
    try:
        img = np.load(args.input)
    except Exception as e:
        raise BadInput(f"--input {args.input}: not a .npy array ({e})") from e
    try:
        with np.load(args.reference) as z:
            ref = {k: z[k] for k in z.files}
    except Exception as e:
        raise BadInput(f"--reference {args.reference}: not a .npz archive ({e})") from e
    if img.ndim != 4:
        raise BadInput(f"--input {args.input}: shape {img.shape}, expected NCHW (4 dims)")
    seg = ref.get("seg_logits")
    if seg is not None and (seg.ndim != 4 or seg.shape[0] != img.shape[0]
                            or seg.shape[2:] != img.shape[2:]):
        raise BadInput(f"--input {args.input}: shape {img.shape} does not match the reference "
                       f"seg_logits {seg.shape} (expected batch {seg.shape[0]} and size "
                       f"{seg.shape[2:]})")
    return img.astype(np.float32), ref


def run_model(args, img, ref):
    """(outputs dict name -> ndarray, names of reference arrays used as inputs)."""
    import jseg_ret  # noqa: F401  (prepares Jittor before its import)
    import jittor as jt
    from jseg_ret import Config, build_segmentor
    from jseg_ret.interop import CheckpointError, load_checkpoint_into
    from jseg_ret.ops import resize

    try:
        cfg = Config.fromfile(args.config)
    except Exception as e:  # a broken config is a bad input, not a parity failure
        raise BadInput(f"--config {args.config}: {e}") from e
    model = build_segmentor(cfg.model)
    try:
        load_checkpoint_into(model, args.checkpoint, strict=True)  # float16 -> model's float32
    except CheckpointError as e:
        raise BadInput(str(e)) from e
    model.eval()
    used = []
    if "nmf_initial_bases" in ref and hasattr(model.decode_head, "set_initial_bases"):
        model.decode_head.set_initial_bases(ref["nmf_initial_bases"])
        used.append("nmf_initial_bases")
    with jt.no_grad():
        x = jt.array(img)
        feats = model.backbone(x)
        logits = model.decode_head(feats)
        seg = resize(logits, size=img.shape[2:], mode="bilinear", align_corners=False)
        outputs = {f"backbone_out{i}": f.numpy() for i, f in enumerate(feats)}
        outputs["decode_head_logits"] = logits.numpy()
        outputs["seg_logits"] = seg.numpy()
    return outputs, used


def report(rows, skipped, used, tol):
    print(f"{'tensor':<20} {'shape':<22} {'max abs err':>12} {'rel err':>12}  result")
    for r in rows:
        abs_s = "-" if r["max_abs_err"] is None else f"{r['max_abs_err']:.3e}"
        rel_s = "-" if r["rel_err"] is None else f"{r['rel_err']:.3e}"
        verdict = "PASS" if r["pass"] else "FAIL"
        note = f"  ({r['note']})" if r["note"] else ""
        print(f"{r['name']:<20} {str(tuple(r['shape'])):<22} {abs_s:>12} {rel_s:>12}  "
              f"{verdict}{note}")
    if used:
        print(f"used as model inputs: {', '.join(used)}")
    if skipped:
        print(f"skipped (not produced by this tool): {', '.join(skipped)}")
    n_fail = sum(not r["pass"] for r in rows)
    print(f"{len(rows) - n_fail}/{len(rows)} tensors within relative tolerance {tol:g}")


def main(argv=None):
    args = parse_args(argv)
    try:
        img, ref = _load_inputs(args)
        outputs, used = run_model(args, img, ref)
    except BadInput as e:
        print(f"parity: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    rows = [compare(name, outputs[name], ref[name], args.tol)
            for name in OUTPUT_NAMES if name in ref and name in outputs]
    skipped = [k for k in ref if k not in outputs and k not in used]
    if not rows:
        print(f"parity: error: {args.reference} has none of {OUTPUT_NAMES}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report(rows, skipped, used, args.tol)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": args.config, "checkpoint": args.checkpoint, "tol": args.tol,
                       "results": rows, "skipped": skipped, "used_as_inputs": used}, f, indent=2)
    return EXIT_OK if all(r["pass"] for r in rows) else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
