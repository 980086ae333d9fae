"""Multi-process helpers over Jittor's MPI (``mpirun -np N python tools/run_net.py ...``).

Jittor itself averages gradients across ranks in ``Optimizer.backward`` and broadcasts parameters
on the first step; SyncBN averages batch statistics (bricks.norm). These helpers cover the rest:
who logs and saves, summing evaluation counts, keeping the replicas bit-identical, and ending
the whole job when one rank fails (``abort_job_on_error``).
"""
import contextlib
import logging
import multiprocessing
import os
import sys
import time
import traceback

import numpy as np

import jittor as jt

# A rank other than 0 waits this long before reporting its error: when every rank fails the
# same way (a bad config, an unreadable checkpoint), rank 0's abort ends the job first and the
# message is shown once. mpirun ends the job soon after a rank's exit, well within this grace
# (measured: docs/performance.md#multi-process-jobs).
ABORT_GRACE_S = 3.0


def get_rank():
    return int(jt.rank) if jt.in_mpi else 0


def get_world_size():
    return int(jt.world_size) if jt.in_mpi else 1


def is_main_process():
    return get_rank() == 0


def all_reduce_sum(array):
    """Element-wise sum of a numpy array over ranks (identity in one process)."""
    array = np.asarray(array)
    if not jt.in_mpi:
        return array
    out = jt.array(array.astype(np.float64)).mpi_all_reduce("add").numpy()
    return out.astype(array.dtype) if np.issubdtype(array.dtype, np.floating) else out


def barrier():
    if jt.in_mpi:
        jt.array([0.0]).mpi_all_reduce("add").sync()


def broadcast_parameters(model):
    """Make every rank start from rank 0's weights."""
    if not jt.in_mpi:
        return
    for v in model.state_dict().values():
        v.assign(v.mpi_broadcast(0))
    jt.sync_all()


def sync_replicas():
    """Compute every pending update on every rank, before rank 0 alone reads the state to save.

    Jittor runs lazily and fuses what is pending when a value is read: if only rank 0 reads the
    parameters and optimizer state (``.numpy()`` in a checkpoint save), rank 0 evaluates the
    update in another fused grouping than the other ranks, whose last float bits can differ. The
    replicas then drift apart (99 of 171 tensors after 6 iterations of a tiny SegRet) and a
    resume, which gives every rank rank 0's state, departs from the uninterrupted run.
    """
    jt.sync_all()


_guards_entered = 0  # nesting depth: only the outermost guard reports and aborts


@contextlib.contextmanager
def abort_job_on_error():
    """Under MPI, an exception escaping this block ends the whole job promptly.

    Without it, the failing rank unwinds (and waits in ``MPI_Finalize`` at exit) while the other
    ranks spin forever in their next collective (gradient all-reduce, SyncBN, evaluation sums).
    The outermost guard prints the error once, prefixed with the rank, and leaves with
    ``os._exit`` (no ``MPI_Finalize``); OpenMPI's mpirun then kills the other ranks and exits
    non-zero. ``SystemExit(code)`` leaves with ``code`` without a traceback (the caller has
    printed its message). One process: a no-op, exceptions propagate unchanged. Also a decorator.
    """
    global _guards_entered
    if get_world_size() == 1 or _guards_entered:
        yield
        return
    _guards_entered += 1
    try:
        yield
    except SystemExit as e:
        if e.code in (None, 0):
            raise
        if not isinstance(e.code, int):  # sys.exit("message")
            sys.stderr.write(f"{e.code}\n")
        _abort(e.code if isinstance(e.code, int) else 1, None)
    except BaseException as e:  # noqa: B902 - KeyboardInterrupt and the like end the job too
        _abort(1, e)
    finally:
        _guards_entered -= 1


def _abort(code, exc):
    rank, world = get_rank(), get_world_size()
    if rank != 0:
        time.sleep(ABORT_GRACE_S)
    if exc is not None:
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        sys.stderr.write(f"[rank {rank} of {world}] aborting the MPI job after this error:\n"
                         + "".join(lines))
    _stop_and_exit(code)


def _stop_and_exit(code):
    for handler in logging.getLogger("jseg_ret").handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    # data-loader workers are daemons that only an orderly exit would stop
    for child in multiprocessing.active_children():
        with contextlib.suppress(Exception):
            child.kill()
    os._exit(code)
