"""Run by tests/unit/engine/test_mpi_reliability.py under ``mpirun -np 2``: train the tiny config
through ``Runner.train`` (the guarded entry point), optionally resuming, killed or failing on
purpose.

  mpi_train_worker.py CFG WORK OUT [--resume] [--kill-in-iter N] [--fail-save]

- ``--kill-in-iter N``: rank 0 SIGKILLs itself when iteration N starts (a crash, no cleanup).
- ``--fail-save``: rank 0's checkpoint write raises OSError (a full disk) while rank 1 goes on;
  the time of the raise is written to OUT/raised_at.txt.
At the end each rank writes its parameters to OUT/params_r<rank>.npz.
"""
import argparse
import errno
import os
import signal
import time

import numpy as np

import jseg_ret  # noqa: F401  (first: prepares Jittor)
from jseg_ret.config import Config
from jseg_ret.engine import Runner
from jseg_ret.engine import runner as runner_module
from jseg_ret.engine.dist import get_rank


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cfg")
    p.add_argument("work")
    p.add_argument("out")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--kill-in-iter", type=int)
    p.add_argument("--fail-save", action="store_true")
    args = p.parse_args()
    rank = get_rank()
    os.makedirs(args.out, exist_ok=True)
    runner = Runner(Config.fromfile(args.cfg), args.work, show_progress=False)

    if args.kill_in_iter and rank == 0:
        real_step, calls = runner.model.train_step, []

        def step(*a, **k):
            calls.append(1)
            if len(calls) == args.kill_in_iter:  # counted from this run's start
                os.kill(os.getpid(), signal.SIGKILL)
            return real_step(*a, **k)
        runner.model.train_step = step

    if args.fail_save and rank == 0:
        def disk_full(path, *a, **k):
            with open(os.path.join(args.out, "raised_at.txt"), "w") as f:
                f.write(repr(time.time()))
            raise OSError(errno.ENOSPC, "No space left on device", path)
        runner_module.save_checkpoint = disk_full

    runner.train(resume="auto" if args.resume else None)
    params = {k: v.numpy() for k, v in runner.model.state_dict().items()}
    np.savez(os.path.join(args.out, f"params_r{rank}.npz"), **params)


if __name__ == "__main__":
    main()
