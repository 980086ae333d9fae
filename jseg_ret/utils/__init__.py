"""Jittor kernel-compilation counting (``CompileCounter``).

``fast_path``/``fast_path_enabled`` are re-exported from their home, ``jseg_ret.fast_path``; the
FLOPs counter lives in ``jseg_ret.analysis.flops``.

``CompileCounter`` counts the kernels Jittor JIT-compiles (or loads from its disk cache) while
the ``with`` block runs. Jittor keeps compiled kernels in an in-memory map keyed by the op's jit
key (op types, dtypes, ranks and, for some ops, shapes); every miss goes through
``jit_compiler::compile``, which logs "Compile op <jit key>" at verbosity 10. The counter turns
that one log line on (``jt.flags.log_vprefix``), captures file descriptor 2 while the block runs,
counts the lines and passes everything else it captured on to the original stderr. A miss whose
library is already in the disk cache (``~/.cache/jittor``) is counted too: it still costs a
lookup and a ``dlopen`` and means the loop is not shape-stable.
"""
import os
import re
import sys
import tempfile

import jittor as jt

from .. import runtime  # noqa: F401  (prepares Jittor before its import)
from ..fast_path import fast_path, fast_path_enabled

_PREFIX = "jit_compiler.cc=10"
_LINE = re.compile(r"jit_compiler\.cc:\d+\] Compile op (.*?)(?:\x1b\[m)?$")


class CompileCounter:
    """``with CompileCounter() as cc: ...`` then ``cc.count`` (and ``cc.keys``, the jit keys).

    Only what the block *executes* counts: Jittor is lazy, so sync (``.sync()``, ``.numpy()``,
    ``jt.sync_all()``) inside the block. Nesting is not supported.
    """

    def __init__(self, echo=True):
        self.echo = echo  # pass the captured non-compile output on to stderr
        self.count = 0
        self.keys = []
        self._saved = None

    def __enter__(self):
        jt.sync_all()  # what is pending belongs to before the block
        sys.stderr.flush()
        self._old_prefix = jt.flags.log_vprefix
        jt.flags.log_vprefix = f"{self._old_prefix},{_PREFIX}" if self._old_prefix else _PREFIX
        self._tmp = tempfile.TemporaryFile(mode="w+b")
        self._saved = os.dup(2)
        os.dup2(self._tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        try:
            jt.sync_all()
            sys.stderr.flush()
        finally:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            jt.flags.log_vprefix = self._old_prefix
        self._tmp.seek(0)
        text = self._tmp.read().decode("utf-8", "replace")
        self._tmp.close()
        rest = []
        for line in text.splitlines(keepends=True):
            m = _LINE.search(line.rstrip("\r\n"))
            if m:
                self.keys.append(m.group(1))
            else:
                rest.append(line)
        self.count = len(self.keys)
        if self.echo and rest:
            sys.stderr.write("".join(rest))
            sys.stderr.flush()
        return False


__all__ = ["CompileCounter", "fast_path", "fast_path_enabled"]
