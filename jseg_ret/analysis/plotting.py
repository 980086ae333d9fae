"""What the plotting tools share (tools/analyze_logs.py, tools/confusion_matrix.py).

matplotlib is optional (the ``[vis]`` extra): ``plt`` is None without it and
``require_matplotlib`` prints the tool's one-line error. Figures are written atomically at exactly
figsize x dpi; the common options (--out, --dpi, --title) come from ``figure_parser``.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..utils.fileio import PathLike, atomic_path

try:  # optional: pip install "jseg_ret[vis]"
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

VIS_EXTRA = 'the optional [vis] extra (pip install -e ".[vis]", or pip install matplotlib)'


def require_matplotlib(tool: str) -> bool:
    """True when matplotlib is installed; else prints ``tool``'s error line to stderr.

    Args:
        tool: The tool's file name, for the message ("analyze_logs.py").

    Returns:
        Whether the tool can draw.
    """
    if plt is None:
        print(f"error: {tool} needs matplotlib, which is in {VIS_EXTRA}", file=sys.stderr)
    return plt is not None


def figure_parser(doc: str, out_default: str) -> argparse.ArgumentParser:
    """An argument parser showing ``doc`` (the tool's docstring) with --out, --dpi and --title.

    Args:
        doc: The tool's module docstring, shown as is by --help.
        out_default: The default of --out (a PNG file name).

    Returns:
        The parser; the tool adds its own arguments.
    """
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=out_default, help="PNG to write")
    p.add_argument("--dpi", type=int, default=100)
    p.add_argument("--title")
    return p


def save_figure(fig: Any, out: PathLike, dpi: int) -> None:
    """Lay ``fig`` out, write it to ``out`` atomically (folder made if needed) and close it.

    No ``bbox_inches="tight"``: the image is exactly figsize x dpi pixels. The format comes from
    ``out``'s extension (PNG without one).

    Raises:
        OutputWriteError: The file could not be written.
    """
    fig.tight_layout()
    ext = os.path.splitext(os.fspath(out))[1]
    fmt = ext[1:].lower() or "png"
    try:
        with atomic_path(out, "the figure", suffix=ext, makedirs=True) as tmp:
            fig.savefig(tmp, dpi=dpi, format=fmt)
    finally:
        plt.close(fig)


__all__ = ["VIS_EXTRA", "figure_parser", "require_matplotlib", "plt", "save_figure"]
