"""Training progress: a tqdm bar (loss, lr, ETA, data time), a text log and a JSON-lines log.

Only rank 0 writes. Every ``interval`` iterations one JSON record (iter, lr, losses, times) is
appended to ``<work_dir>/log.jsonl`` and one human-readable line to ``<work_dir>/train.log``.
When training starts (or resumes) at iteration N, ``log.jsonl`` keeps only its records up to N,
so an interrupted-and-resumed run has each iteration once.
"""
import json
import logging
import os
import sys
import time

from tqdm import tqdm

from ..utils.fileio import write_text
from .dist import is_main_process


def get_logger(work_dir=None, name="jseg_ret"):
    logger = logging.getLogger(name)
    if not logger.handlers:
        h = logging.StreamHandler(sys.stdout)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        logger.addHandler(h)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    if work_dir and is_main_process():
        path = os.path.abspath(os.path.join(work_dir, "train.log"))
        if not any(getattr(h, "baseFilename", None) == path for h in logger.handlers):
            os.makedirs(work_dir, exist_ok=True)
            fh = logging.FileHandler(path)
            fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(fh)
    if not is_main_process():
        logger.setLevel(logging.WARNING)
    return logger


class TrainLogger:
    def __init__(self, work_dir, start_iter, max_iters, interval=50, show_bar=True, hooks=()):
        self.main = is_main_process()
        self.hooks = list(hooks)  # logger_hooks (e.g. TensorBoard), fed the same records
        self.interval = max(1, int(interval))
        self.start_iter = start_iter
        self.max_iters = max_iters
        self.jsonl = os.path.join(work_dir, "log.jsonl") if work_dir else None
        if self.main and self.jsonl:
            truncate_jsonl(self.jsonl, start_iter)
        self.logger = get_logger(work_dir)
        self.bar = tqdm(total=max_iters, initial=start_iter, disable=not (self.main and show_bar),
                        dynamic_ncols=True, desc="train", file=sys.stdout)
        self.t0 = time.time()
        self.window = []  # (log_vars, iter_time, data_time) since the last record

    def log(self, iteration, lr, log_vars, iter_time, data_time):
        """Called after iteration ``iteration`` (1-based count of completed iterations)."""
        self.window.append((log_vars, iter_time, data_time))
        done = iteration - self.start_iter
        eta = (time.time() - self.t0) / max(done, 1) * (self.max_iters - iteration)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{log_vars['loss']:.4f}", lr=f"{lr:.2e}",
                             data=f"{data_time:.2f}s", eta=_fmt_eta(eta), refresh=False)
        if iteration % self.interval and iteration != self.max_iters:
            return
        n = len(self.window)
        keys = self.window[0][0].keys()
        record = {"iter": iteration, "lr": lr,
                  **{k: sum(w[0][k] for w in self.window) / n for k in keys},
                  "time": sum(w[1] for w in self.window) / n,
                  "data_time": sum(w[2] for w in self.window) / n, "eta_s": round(eta, 1)}
        self.window = []
        if not self.main:
            return
        if self.jsonl:
            with open(self.jsonl, "a") as f:
                f.write(json.dumps(record) + "\n")
        for hook in self.hooks:
            hook.log_train(record)
        losses = ", ".join(f"{k}: {v:.4f}" for k, v in record.items()
                           if k not in ("iter", "lr", "time", "data_time", "eta_s"))
        self.bar.clear()
        self.logger.info(f"Iter [{iteration}/{self.max_iters}] lr: {lr:.3e}, eta: "
                         f"{_fmt_eta(eta)}, time: {record['time']:.3f}, data_time: "
                         f"{record['data_time']:.3f}, {losses}")

    def log_val(self, iteration, summary):
        """A ``{"mode": "val", "iter", aAcc, mIoU, ...}`` record (for tools/analyze_logs.py)."""
        if not self.main:
            return
        if self.jsonl:
            record = {"mode": "val", "iter": iteration,
                      **{k: (v if v == v else None) for k, v in summary.items()  # NaN -> null
                         if isinstance(v, (int, float))}}
            with open(self.jsonl, "a") as f:
                f.write(json.dumps(record) + "\n")
        for hook in self.hooks:
            hook.log_val(iteration, summary)

    def close(self):
        self.bar.close()
        for hook in self.hooks:
            hook.close()


def truncate_jsonl(path, last_iter):
    """Drop the records of ``path`` after iteration ``last_iter`` (and any torn last line)."""
    if not os.path.isfile(path):
        return
    with open(path) as f:
        lines = f.read().splitlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if isinstance(record, dict) and isinstance(record.get("iter"), int) \
                and record["iter"] <= last_iter:
            kept.append(line)
    if len(kept) == len(lines):
        return
    write_text(path, "".join(line + "\n" for line in kept), "the training log")


def _fmt_eta(seconds):
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"
