"""Run by tests/unit/engine/test_mpi.py, once under ``mpirun -np 2`` and once as a single process:
train a few iterations with the same global batch, save each rank's parameters, then evaluate a
fixed checkpoint (per-rank accumulators merged) and write eval_results.json on rank 0."""
import os
import sys

import numpy as np

import jseg_ret  # noqa: F401  (first: prepares Jittor)
from jseg_ret.config import Config
from jseg_ret.datasets import build_dataset
from jseg_ret.engine import Runner, evaluate_dataset, load_checkpoint
from jseg_ret.engine.dist import get_rank, get_world_size

import jittor as jt


def main(cfg_path, out_dir, global_batch, eval_ckpt):
    cfg = Config.fromfile(cfg_path)
    # Both runs start from the same weights (Jittor draws different initial weights under MPI;
    # rank 0's are broadcast, but they need not equal a single process's).
    init = os.path.join(out_dir, "init.pkl")
    if not os.path.exists(init):
        from jseg_ret.engine import save_checkpoint
        from jseg_ret.models import build_segmentor
        save_checkpoint(init, build_segmentor(cfg.model))
    cfg.load_from = init
    world = get_world_size()
    cfg.data.samples_per_gpu = global_batch // world
    cfg.runner.max_iters = 3
    cfg.checkpoint_config.interval = 1000  # only the final one
    work = os.path.join(out_dir, f"work_w{world}")
    runner = Runner(cfg, work, show_progress=False)
    runner.train(overwrite=True)  # the single-process run is made twice in one work dir
    params = {k: v.numpy() for k, v in runner.model.state_dict().items()}
    np.savez(os.path.join(out_dir, f"params_w{world}_r{get_rank()}.npz"), **params)
    if eval_ckpt:
        load_checkpoint(eval_ckpt, runner.model)
        evaluate_dataset(runner.model, build_dataset(cfg.data.val), show_progress=False,
                         work_dir=os.path.join(out_dir, f"eval_w{world}"))
    jt.sync_all()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
