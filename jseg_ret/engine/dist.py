"""Multi-process helpers over Jittor's MPI (``mpirun -np N python tools/run_net.py ...``).

Jittor itself averages gradients across ranks in ``Optimizer.backward`` and broadcasts parameters
on the first step; SyncBN averages batch statistics (bricks.norm). These helpers cover the rest:
who logs and saves, and summing evaluation counts.
"""
import jittor as jt
import numpy as np


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
