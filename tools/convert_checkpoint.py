"""Convert checkpoints between PyTorch (.pth) and Jittor (.pkl), without PyTorch.

    python tools/convert_checkpoint.py SRC.pth DST.pkl [--config CFG] [--backbone-only] [--family F]
                                       [--weights-key KEY] [--skip-classifier] [--overwrite]
    python tools/convert_checkpoint.py SRC.pkl DST.pth [--config CFG] [--backbone-only] ...

.pth -> .pkl: reads the zip or legacy format through the restricted reader (a file that names code
to run, or that would expand beyond its size, is refused), takes the weights (``--weights-key``),
drops ``*.num_batches_tracked`` (Jittor's BatchNorm has none) and, with ``--backbone-only``, the
ImageNet classifier (RMT: ``proj.* norm.* head.*``; MSCAN/VAN: ``head.*``); writes
``{'meta', 'state_dict'}`` with ``jt.save``. Backbone-only output keeps the backbone's own key
names (no ``backbone.`` prefix), like the ImageNet checkpoint it came from.
.pkl -> .pth: adds ``num_batches_tracked`` back to every BatchNorm and writes a zip .pth that
``torch.load`` opens with weights_only=True.

``--weights-key``: where the weights are. ``auto`` (default) takes ``state_dict``, else ``model``
(mmseg/mmcv, DeiT/RMT ``main.py``); any other top-level key is taken as given, e.g. ``model_ema``
for the EMA weights a training checkpoint keeps next to ``model``. The report names the key used.
``--skip-classifier``: leave out the class-count-dependent layers (``decode_head.conv_seg``,
SegRet's ``decode_head.linear_pred``), to fine-tune on a dataset with another number of classes
(``load_from`` then keeps the model's classifier as initialized).
``--config``: build the model and check that the converted weights load strictly (nothing is
written if they do not). The destination is written to a temporary file and renamed; an existing
destination is only replaced with ``--overwrite``.

Exit status: 0 ok; 1 the --config check failed (nothing written); 2 bad arguments, or an
unreadable, unsafe or mismatched input; 3 the destination could not be written; 4 internal error
(a bug: the traceback is printed). Errors end in one line ``convert_checkpoint: error: ...``;
``--debug`` prints the traceback of any error.
"""
import argparse
import os
import sys
import traceback
from collections import OrderedDict

import numpy as np

import jseg_ret.interop as interop
from jseg_ret import Config, build_segmentor
from jseg_ret.config import ConfigError
from jseg_ret.interop.keymaps import get_family, is_classifier_key
from jseg_ret.utils.fileio import OutputWriteError

PTH_EXTS = (".pth", ".pt", ".bin")
EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_WRITE_FAILED, EXIT_BUG = 0, 1, 2, 3, 4
REASON_SKIPPED = "classifier left out (--skip-classifier)"


class Failure(Exception):
    """A user-facing error: one message line and an exit status."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="source checkpoint (.pth/.pt/.bin or .pkl)")
    p.add_argument("dst", help="destination (.pkl for a .pth source, .pth for a .pkl source)")
    p.add_argument("--config", default=None, help="model config: verify a strict load")
    p.add_argument("--backbone-only", action="store_true",
                   help="ImageNet backbone checkpoint (drop and report its classifier)")
    p.add_argument("--family", default=None, help="segret | segnext | frm (default: detect)")
    p.add_argument("--weights-key", default="auto", metavar="KEY",
                   help="where the weights are: auto (default: 'state_dict', else 'model'), "
                        "model, model_ema, state_dict, or another top-level key")
    p.add_argument("--skip-classifier", action="store_true",
                   help="leave out the class-count-dependent layers (decode_head.conv_seg, "
                        "decode_head.linear_pred) to fine-tune with another class count")
    p.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    p.add_argument("--debug", action="store_true", help="print the traceback of any error")
    return p.parse_args(argv)


def _progress(items, desc):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency, but a missing one should not stop a conversion
        return items
    return tqdm(items, desc=desc, unit="key", leave=False, disable=None)  # None: only on a tty


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


def _describe_weights(weights, asked):
    where = "".join(f"[{k!r}]" for k in weights.path) or "the top level"
    others = [k for k in weights.candidates if k not in weights.path[:1]]
    also = f"; the file also holds weights under {others}" if others else ""
    return f"weights: {where} of {weights.source} (--weights-key {asked}{also})"


def _read(args):
    key = None if args.weights_key == "auto" else args.weights_key
    weights = interop.read_weights(args.src, key)
    return weights, args.family or interop.detect_family(list(weights.state))


def _skip_classifier(state, family, dropped):
    """Leave out the classifier keys (model layout) and report them as dropped."""
    fam = get_family(family)
    out = OrderedDict()
    for key, value in state.items():
        if is_classifier_key(fam, key):
            dropped.append((key, REASON_SKIPPED))
        else:
            out[key] = value
    return out


def pth_to_pkl(args):
    weights, family = _read(args)
    mapped, dropped = interop.map_checkpoint_keys(weights.state, family, args.backbone_only)
    state = OrderedDict((target, arr) for target, (_src, arr) in mapped.items())
    if args.skip_classifier:
        state = _skip_classifier(state, family, dropped)
    out = OrderedDict()
    for target, arr in _progress(list(state.items()), "convert"):
        key = target[len("backbone."):] if args.backbone_only else target
        out[key] = np.ascontiguousarray(arr)
    meta = dict(weights.meta)
    meta.update(converted_from=os.path.basename(weights.source), family=family,
                backbone_only=bool(args.backbone_only), weights_key="/".join(weights.path))
    return {"meta": meta, "state_dict": out}, dropped, family, weights


def pkl_to_pth(args):
    weights, family = _read(args)
    dropped = []
    state = OrderedDict((k, v) for k, v in _progress(list(weights.state.items()), "convert"))
    if args.skip_classifier:
        state = _skip_classifier(state, family, dropped)
    meta = dict(weights.meta)
    meta.update(converted_from=os.path.basename(weights.source))
    return {"meta": meta, "state_dict": interop.to_mmseg_state(state)}, dropped, family, weights


def verify(args, converted):
    try:
        model = build_segmentor(Config.fromfile(args.config).model)
    except (ConfigError, KeyError, TypeError, ValueError) as e:  # the config, not the weights
        raise Failure(EXIT_BAD_INPUT, f"--config {args.config}: cannot build the model "
                                      f"({type(e).__name__}: {e})") from e
    # family=None unless the user named one: the loader then compares the checkpoint's family
    # with the model's and names both if they differ
    return interop.load_checkpoint_into(model, converted, family=args.family,
                                        backbone_only=args.backbone_only, strict=True,
                                        skip_classifier=args.skip_classifier, verbose=False)


def _check_paths(args):
    src_ext = os.path.splitext(args.src)[1].lower()
    dst_ext = os.path.splitext(args.dst)[1].lower()
    if src_ext in PTH_EXTS and dst_ext == ".pkl":
        direction = "pth2pkl"
    elif src_ext == ".pkl" and dst_ext in PTH_EXTS:
        direction = "pkl2pth"
    else:
        raise Failure(EXIT_BAD_INPUT, f"convert .pth -> .pkl or .pkl -> .pth; got "
                                      f"{args.src} -> {args.dst}")
    if args.config is not None and not os.path.isfile(args.config):
        raise Failure(EXIT_BAD_INPUT, f"--config {args.config}: no such file")
    if os.path.lexists(args.dst) and not args.overwrite:
        raise Failure(EXIT_BAD_INPUT, f"{args.dst} exists; pass --overwrite to replace it "
                                      "(nothing was written)")
    directory = os.path.dirname(os.path.abspath(args.dst))
    if not os.path.isdir(directory):
        raise Failure(EXIT_WRITE_FAILED, f"cannot write {args.dst}: directory {directory} does "
                                         "not exist")
    if os.path.isdir(args.dst):
        raise Failure(EXIT_WRITE_FAILED, f"cannot write {args.dst}: it is a directory")
    return direction


def run(args):
    direction = _check_paths(args)
    try:
        convert = pth_to_pkl if direction == "pth2pkl" else pkl_to_pth
        converted, dropped, family, weights = convert(args)
    except interop.CheckpointError as e:
        raise Failure(EXIT_BAD_INPUT, str(e)) from e
    print(_describe_weights(weights, args.weights_key))
    report = None
    if args.config is not None:
        try:
            report = verify(args, converted)
        except interop.CheckpointError as e:
            _print_summary(len(converted["state_dict"]), dropped)
            print(str(e), file=sys.stderr)  # the key-by-key details, then the one-line error
            raise Failure(EXIT_CHECK_FAILED, f"the converted weights do not load strictly into "
                                             f"{args.config}; nothing written") from e
    try:
        if direction == "pth2pkl":
            interop.save_pkl(converted, args.dst)
        else:
            interop.save_pth(converted, args.dst)
    except OutputWriteError as e:  # its message names the path already
        raise Failure(EXIT_WRITE_FAILED, str(e)) from e
    except (interop.CheckpointError, OSError) as e:
        raise Failure(EXIT_WRITE_FAILED, f"cannot write {args.dst}: {e}") from e
    _print_summary(len(converted["state_dict"]), dropped, report)
    if report is not None:
        print(f"verified: loads strictly into {args.config} "
              f"({len(report.mapped)} model keys set)")
    print(f"wrote {args.dst} (family {family or 'unknown'})")
    return EXIT_OK


def main(argv=None):
    args = parse_args(argv)
    try:
        return run(args)
    except Failure as e:
        if args.debug:
            traceback.print_exc()
        print(f"convert_checkpoint: error: {e}", file=sys.stderr)
        return e.code
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception:  # a bug, not a user error: show where
        traceback.print_exc()
        print("convert_checkpoint: internal error (a bug; the traceback is above)",
              file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
