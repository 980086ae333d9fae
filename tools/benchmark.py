"""Benchmarks: print a table and a JSON record.

  python tools/benchmark.py --op retention      fused retention vs naive Jittor vs PyTorch eager
  python tools/benchmark.py --data              data-pipeline throughput (images/s)
  python tools/benchmark.py --model CONFIG      model inference / training step latency

Each mode lives in tools/bench/<mode>.py with a ``main(argv)`` that parses its own options.
"""
import argparse
import importlib
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    # allow_abbrev=False: the modes' own options (``--mode``) must not match ``--model``
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--op", choices=["retention"], help="benchmark an operator")
    mode.add_argument("--data", action="store_true", help="benchmark the data pipeline")
    mode.add_argument("--model", metavar="CONFIG", help="benchmark a model config")
    args, rest = parser.parse_known_args(argv)
    if args.op:
        name = args.op
    elif args.data:
        name = "data"
    else:
        name, rest = "model", ["--config", args.model] + rest
    return importlib.import_module(f"bench.{name}").main(rest)


if __name__ == "__main__":
    sys.exit(main())
