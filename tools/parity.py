"""Compare a model's outputs or training with reference PyTorch runs (shared/fixtures/official/*).

Forward:
    python tools/parity.py --config configs/segret/segret-t_512x512_ade20k.py \
        --checkpoint checkpoint.pth --input input.npy --reference outputs.npz [--tol 1e-4]
Training (one forward/backward in train mode, then the recipe's optimizer steps):
    python tools/parity.py --train --config CFG --checkpoint CKPT --input train_input.npy \
        --label train_label.npy --recipe train_recipe.json --reference train_reference.npz
    add --dump OUT.npz to write our own run in the same layout (the reference is then optional).

Runs, in eval mode without gradients: ``feats = model.backbone(img)`` (compared with
``backbone_out0..3``), ``logits = model.decode_head(feats)`` (``decode_head_logits``) and the
bilinear resize to the input size (``seg_logits``). If the reference has ``nmf_initial_bases``
and the decode head has ``set_initial_bases``, those bases are used (SegNeXt's NMF draws random
ones otherwise). Per tensor: shape, max abs error, relative error max|a-b|/max|b|, PASS/FAIL.

Training mode compares the loss, every gradient (g_head, g_norm), the BatchNorm running
statistics and the weights after the steps (w_head), each category with its own tolerance (see
jseg_ret/interop/train_compare.py); tensors whose reference gradient is mathematically zero are
checked to be near zero. The optimizer config comes from the recipe, not from the model config.

Exit status: 0 all pass, 1 some tensor exceeds its tolerance, 2 bad inputs (one ``error:``
line; --debug shows the traceback).
"""
import argparse
import math
import os
import sys
import traceback

import numpy as np

from jseg_ret import Config, build_segmentor
from jseg_ret.interop import CheckpointError, load_checkpoint_into
from jseg_ret.ops import resize
from jseg_ret.parity import train_compare, train_inputs, train_parity
from jseg_ret.registry import OPTIMIZERS
from jseg_ret.utils import fileio

import jittor as jt

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
OUTPUT_NAMES = ["backbone_out0", "backbone_out1", "backbone_out2", "backbone_out3",
                "decode_head_logits", "seg_logits"]
INPUT_NAMES = {"nmf_initial_bases"}  # reference arrays that feed the model instead of checking it
TRAIN_TOLERANCES = {  # option -> (Tolerances field, help)
    "--tol-loss": ("loss", "loss: |a-b|/|b|"),
    "--tol-grad": ("grad", "gradient heads: max|a-b|/max|b| (and g_norm relative error)"),
    "--tol-zero-grad": ("zero_grad", "zero-gradient tensors: our g_norm / median g_norm"),
    "--tol-bn": ("bn", "BN running stats: max|a-b|/max|b|"),
    "--tol-weight": ("weight", "weights per tensor: |a-b| / |update| (L2 over the head)"),
    "--tol-weight-all": ("weight_all", "weights over all tensors: |a-b| / |update|"),
    "--tol-zero-weight": ("zero_weight", "zero-gradient tensors' weights: max|a-b| / the most "
                                         "AdamW moves an element in the steps"),
}


class BadInput(Exception):
    """A problem with the command's inputs (exit status 2)."""


def tolerance(text):
    """argparse type: a finite number >= 0 (nan, inf and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a tolerance must be finite and >= 0")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="model config (.py)")
    p.add_argument("--checkpoint", required=True, help=".pth (zip or legacy) or Jittor .pkl")
    p.add_argument("--input", required=True, help="input batch .npy (float32 NCHW, normalized)")
    p.add_argument("--reference", default=None,
                   help="reference outputs .npz (forward) or train_reference.npz (--train)")
    p.add_argument("--tol", type=tolerance, default=1e-4,
                   help="forward: max relative error (default 1e-4)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--debug", action="store_true", help="show tracebacks of input errors")
    t = p.add_argument_group("training parity (--train)")
    t.add_argument("--train", action="store_true", help="compare training, not the forward")
    t.add_argument("--label", help="train_label.npy (N, H, W) ints, 255 = ignore")
    t.add_argument("--recipe", help="train_recipe.json (optimizer, paramwise_cfg, steps)")
    t.add_argument("--dump", default=None,
                   help="write our run as a train_reference.npz (refuses to overwrite)")
    t.add_argument("--worst", type=int, default=10, help="rows of the worst-tensor table")
    defaults = train_compare.Tolerances()
    for opt, (field, text) in TRAIN_TOLERANCES.items():
        t.add_argument(opt, type=tolerance, default=getattr(defaults, field),
                       help=f"{text} (default {getattr(defaults, field):g})")
    args = p.parse_args(argv)
    if args.train:
        missing = [o for o in ("label", "recipe") if getattr(args, o) is None]
        if args.reference is None and args.dump is None:
            missing.append("reference (or --dump)")
        if missing:
            p.error(f"--train needs --{', --'.join(missing)}")
    elif args.reference is None:
        p.error("the following arguments are required: --reference")
    elif args.dump or args.label or args.recipe:
        p.error("--label, --recipe and --dump belong to --train")
    return args


def _require_files(pairs):
    for label, path in pairs:
        if path is not None and not os.path.isfile(path):
            raise BadInput(f"--{label} {path}: no such file")


def build_model(args):
    """The config's model with the checkpoint loaded (strict), or BadInput."""
    try:
        cfg = Config.fromfile(args.config)
    except Exception as e:  # a broken config is a bad input, not a parity failure
        raise BadInput(f"--config {args.config}: {e}") from e
    model = build_segmentor(cfg.model)
    try:
        load_checkpoint_into(model, args.checkpoint, strict=True,  # float16 -> float32
                             verbose=False)
    except CheckpointError as e:
        raise BadInput(str(e)) from e
    return model


def check_channels(model, shape, path):
    channels = train_parity.input_channels(model)
    if channels is not None and shape[1] != channels:
        raise BadInput(f"--input {path}: {shape[1]} channels (shape {tuple(shape)}), but the "
                       f"model expects {channels}")


# ---------------------------------------------------------------------------- forward mode
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
    _require_files((("config", args.config), ("checkpoint", args.checkpoint),
                    ("input", args.input), ("reference", args.reference)))
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
    model = build_model(args)
    check_channels(model, img.shape, args.input)
    model.eval()
    used = []
    if "nmf_initial_bases" in ref and hasattr(model.decode_head, "set_initial_bases"):
        try:
            model.decode_head.set_initial_bases(ref["nmf_initial_bases"])
        except ValueError as e:
            raise BadInput(f"--reference {args.reference}: 'nmf_initial_bases': {e}") from e
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


def forward_main(args):
    img, ref = _load_inputs(args)
    outputs, used = run_model(args, img, ref)
    rows = [compare(name, outputs[name], ref[name], args.tol)
            for name in OUTPUT_NAMES if name in ref and name in outputs]
    skipped = [k for k in ref if k not in outputs and k not in used]
    if not rows:
        raise BadInput(f"--reference {args.reference} has none of {OUTPUT_NAMES}")
    report(rows, skipped, used, args.tol)
    if args.json:
        write_json(args.json, {"config": args.config, "checkpoint": args.checkpoint,
                               "tol": args.tol, "results": rows, "skipped": skipped,
                               "used_as_inputs": used})
    return EXIT_OK if all(r["pass"] for r in rows) else EXIT_FAIL


# ---------------------------------------------------------------------------- training mode
def train_tolerances(args):
    return train_compare.Tolerances(**{field: getattr(args, opt[2:].replace("-", "_"))
                                       for opt, (field, _) in TRAIN_TOLERANCES.items()})


def load_train_inputs(args):
    """(recipe, reference or None): everything checked before the model runs."""
    _require_files((("config", args.config), ("checkpoint", args.checkpoint),
                    ("input", args.input), ("label", args.label), ("recipe", args.recipe),
                    ("reference", args.reference)))
    if args.dump is not None and os.path.exists(args.dump):
        raise BadInput(f"--dump {args.dump}: file exists; refusing to overwrite it")
    recipe = train_inputs.load_recipe(args.recipe)
    opt_type = recipe["optimizer"]["type"]
    if opt_type not in OPTIMIZERS:
        raise BadInput(f"recipe {args.recipe}: 'optimizer.type' {opt_type!r} is not a known "
                       f"optimizer ({', '.join(OPTIMIZERS.keys())})")
    ref = train_inputs.load_train_reference(args.reference) if args.reference else None
    return recipe, ref


def nmf_bases_for(args, model, ref, batch):
    """The NMF initial bases to use: the reference's, else (dump) seeded draws; None without
    NMF. Their shape is checked before the model runs."""
    if not train_parity.nmf_modules(model):
        return None
    expected = train_parity.draw_nmf_bases(model, batch)
    if ref is None or "nmf_initial_bases" not in ref:
        if ref is not None:
            raise BadInput(f"reference {args.reference}: no 'nmf_initial_bases', which this "
                           "model's NMF needs (its initial bases are random otherwise)")
        return expected
    bases = ref["nmf_initial_bases"]
    if bases.shape != expected.shape:
        raise BadInput(f"reference {args.reference}: 'nmf_initial_bases' has shape "
                       f"{bases.shape}, expected {expected.shape} (batch x S, D, R)")
    return bases


def train_main(args):
    recipe, ref = load_train_inputs(args)
    model = build_model(args)
    head = model.decode_head
    img, label = train_inputs.load_batch(args.input, args.label,
                                         train_parity.input_channels(model),
                                         head.ignore_index, model.num_classes)
    if ref is not None:
        train_parity.check_reference_names(model, ref, args.reference)
    bases = nmf_bases_for(args, model, ref, img.shape[0])
    off = train_parity.disable_stochastic_layers(model)
    print(f"dropout off ({off['dropout']} layers set to p=0), stochastic depth off "
          f"({off['drop_path']} layers set to p=0); BatchNorm in train mode")
    if bases is not None:
        source = "the reference's" if ref is not None else "seeded (seed 0)"
        print(f"NMF initial bases: {source} nmf_initial_bases {bases.shape}, at every forward")
    opt = recipe["optimizer"]
    print(f"optimizer from {args.recipe}: {opt['type']} lr {opt['lr']:g}, "
          f"{recipe['steps']} steps")
    run = train_parity.run_training(model, img, label, opt, recipe["steps"], bases)
    if run.no_gradient:
        print(f"no gradient (the loss does not reach them): {', '.join(run.no_gradient)}")
    if args.dump:
        train_parity.save_train_reference(args.dump, run.arrays)
        print(f"wrote {args.dump} ({len(run.arrays)} arrays)")
        if ref is None:
            return EXIT_OK
    result = train_compare.compare_training(
        run.arrays, ref, run.initial_heads, run.multipliers, opt, recipe["steps"],
        recipe["param_groups"], train_tolerances(args))
    for line in result.summary_lines():
        print(line)
    print()
    print("\n".join(result.worst_table(args.worst)))
    if args.json:
        payload = {"config": args.config, "checkpoint": args.checkpoint,
                   "reference": args.reference, "recipe": args.recipe,
                   "tolerances": vars(train_tolerances(args)), "stochastic_layers_off": off,
                   "no_gradient": run.no_gradient}
        payload.update(result.as_json())
        write_json(args.json, payload)
    return EXIT_OK if result.ok else EXIT_FAIL


def write_json(path, payload):
    try:
        fileio.write_json(path, payload, "the parity report")
    except fileio.OutputWriteError as e:
        raise BadInput(f"--json {e}") from e


def main(argv=None):
    args = parse_args(argv)
    try:
        return train_main(args) if args.train else forward_main(args)
    except (BadInput, CheckpointError) as e:
        if args.debug:
            traceback.print_exc()
        print(f"parity: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
