"""Which samples were skipped as bad, shared between the loader's worker processes.

Jittor's loader forks its workers; a flag per sample in shared memory (inherited by the fork)
lets the main process report how many distinct samples the workers skipped.
"""
import multiprocessing as mp

import numpy as np


class SkipRegistry:
    def __init__(self, num_samples):
        self._flags = mp.RawArray("b", max(int(num_samples), 1))
        self._n = int(num_samples)

    def mark(self, idx):
        self._flags[idx] = 1

    @property
    def count(self):
        return int(np.frombuffer(self._flags, dtype=np.int8)[:self._n].sum())

    def indices(self):
        return np.nonzero(np.frombuffer(self._flags, dtype=np.int8)[:self._n])[0].tolist()

    # Shared ctypes arrays cannot be pickled; a copy (deepcopy, spawn) gets its own flags.
    def __getstate__(self):
        return {"n": self._n, "flags": bytes(np.frombuffer(self._flags, dtype=np.int8)[:self._n])}

    def __setstate__(self, state):
        self._n = state["n"]
        self._flags = mp.RawArray("b", max(self._n, 1))
        np.frombuffer(self._flags, dtype=np.int8)[:self._n] = np.frombuffer(state["flags"],
                                                                          dtype=np.int8)
