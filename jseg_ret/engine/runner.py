"""Iteration-based runner: train / val / test from a config.

Exact resume: the optimizer state, iteration and RNG state are checkpointed; the learning rate is
a closed-form function of the iteration; the data order of epoch e is a permutation seeded by
(seed, e) and an interrupted epoch is re-entered at the right batch; augmentation randomness is
seeded per (seed, epoch, sample) and Jittor's own RNG (dropout, drop-path) per iteration. So N/2
iterations, a stop, and a resume for N/2 more give the same parameters as N straight.
"""
import math
import os
import time

import jittor as jt
import numpy as np

from ..datasets import build_dataloader, build_dataset
from ..models import build_segmentor
from .checkpoint import latest_checkpoint, load_checkpoint, prune_checkpoints, save_checkpoint
from .dist import (abort_job_on_error, broadcast_parameters, get_rank, get_world_size,
                   is_main_process, sync_replicas)
from .evaluator import evaluate_dataset
from .logger import TrainLogger, get_logger
from .lr_scheduler import build_lr_schedule
from .optimizer import build_optimizer


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def _seed_for(*parts):
    # A stable 31-bit seed from integers (hash() of tuples is salted per process for str only,
    # but keep it explicit and portable).
    h = 0x345678
    for p in parts:
        h = (h * 1000003) ^ int(p)
        h &= 0x7FFFFFFF
    return h


class SeededSamples:
    """Dataset view whose sample ``i`` is drawn with numpy seeded by (seed, epoch, i).

    Makes augmentation independent of worker scheduling and reproducible on resume.
    """

    def __init__(self, dataset, seed):
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        np.random.seed(_seed_for(self.seed, self.epoch, idx))
        return self.dataset[idx]

    def __getattr__(self, name):
        if name == "dataset":  # not yet set (e.g. while unpickling in a worker)
            raise AttributeError(name)
        return getattr(self.dataset, name)


class Runner:
    def __init__(self, cfg, work_dir, model=None, logger=None, show_progress=True):
        self.cfg = cfg
        self.work_dir = work_dir
        if is_main_process():
            os.makedirs(work_dir, exist_ok=True)
        self.logger = logger or get_logger(work_dir)
        self.show_progress = show_progress
        self.seed = int(cfg.get("seed", 0) or 0)
        jt.set_global_seed(self.seed, different_seed_for_mpi=False)
        self.model = model if model is not None else build_segmentor(cfg.model)
        self.rank, self.world_size = get_rank(), get_world_size()

    # ------------------------------------------------------------------ helpers
    def _config_dict(self):
        return self.cfg.to_dict() if hasattr(self.cfg, "to_dict") else dict(self.cfg)

    def _meta(self, dataset=None):
        meta = {"config_file": getattr(self.cfg, "filename", None),
                "model": self.cfg.model.get("backbone", {}).get("type")}
        if dataset is not None:
            meta.update(CLASSES=list(dataset.CLASSES),
                        PALETTE=[list(map(int, c)) for c in getattr(dataset, "PALETTE", [])])
        return meta

    def _train_loader(self, dataset, epoch):
        data = self.cfg.data
        return build_dataloader(dataset, samples_per_gpu=data.samples_per_gpu,
                                workers_per_gpu=data.get("workers_per_gpu", 0), shuffle=True,
                                seed=_seed_for(self.seed, epoch), drop_last=True,
                                rank=self.rank, world_size=self.world_size)

    def _batches(self, dataset, start_iter):
        """Endless (epoch, batch) stream positioned at ``start_iter``."""
        per_epoch = len(self._train_loader(dataset, 0))
        if per_epoch == 0:
            raise ValueError(f"training set of {len(dataset)} images gives no full batch of "
                             f"{self.cfg.data.samples_per_gpu} per rank × {self.world_size}")
        epoch, skip = divmod(start_iter, per_epoch)
        while True:
            dataset.epoch = epoch
            for i, batch in enumerate(self._train_loader(dataset, epoch)):
                if i < skip:
                    continue
                yield batch
            skip = 0
            epoch += 1

    @staticmethod
    def _batch_arrays(batch):
        img, gt = batch["img"], batch["gt_semantic_seg"]
        img = img if isinstance(img, jt.Var) else jt.array(np.asarray(img, np.float32))
        gt = gt if isinstance(gt, jt.Var) else jt.array(np.asarray(gt).astype(np.int32))
        if gt.ndim == 4:
            gt = gt.squeeze(1)
        return img, gt

    # ------------------------------------------------------------------ training
    @abort_job_on_error()  # under MPI: a failing rank must not leave the others in a collective
    def train(self, resume=None):
        cfg = self.cfg
        max_iters = int(cfg.runner["max_iters"])
        train_set = SeededSamples(build_dataset(cfg.data.train), self.seed)
        val_cfg = cfg.get("evaluation") or {}
        val_set = build_dataset(cfg.data.val) if val_cfg.get("interval") else None
        optimizer = build_optimizer(self.model, cfg.optimizer)
        schedule = build_lr_schedule(cfg.lr_config, max_iters)
        opt_cfg = cfg.get("optimizer_config") or {}
        grad_clip = opt_cfg.get("grad_clip")
        self._setup_mixed_precision(cfg.get("fp16"))

        start_iter, best = 0, {}
        if resume == "auto":
            resume = latest_checkpoint(self.work_dir)
            if resume is None:
                self.logger.info(f"--resume auto: no checkpoint in {self.work_dir}; starting anew")
        if resume:
            ckpt = load_checkpoint(resume, self.model, optimizer, restore_rng=True)
            start_iter = int(ckpt["iter"])
            best = ckpt.get("best", {})
            self.logger.info(f"resumed from {resume} at iteration {start_iter}")
        elif cfg.get("load_from"):
            load_checkpoint(cfg.load_from, self.model, strict=False)  # as mmseg: fine-tuning
            self.logger.info(f"loaded weights from {cfg.load_from}")
        broadcast_parameters(self.model)

        ckpt_cfg = cfg.get("checkpoint_config") or {}
        ckpt_interval = int(ckpt_cfg.get("interval", max_iters))
        keep = ckpt_cfg.get("max_keep_ckpts", -1)
        log_interval = int((cfg.get("log_config") or {}).get("interval", 50))
        meta = self._meta(train_set)
        tlog = TrainLogger(self.work_dir, start_iter, max_iters, log_interval,
                           show_bar=self.show_progress)
        last_good = latest_checkpoint(self.work_dir)
        self.model.train()
        batches = self._batches(train_set, start_iter)
        try:
            for it in range(start_iter, max_iters):
                t0 = time.time()
                batch = next(batches)
                img, gt = self._batch_arrays(batch)
                t_data = time.time() - t0
                lr = schedule.apply(optimizer, it)
                jt.set_seed(_seed_for(self.seed, it, self.rank))  # dropout/drop-path RNG
                loss, log_vars = self.model.train_step(img, gt)
                loss_value = float(loss.item())
                if not math.isfinite(loss_value):
                    where = last_good or "none saved yet"
                    raise TrainingDiverged(
                        f"loss is {loss_value} at iteration {it + 1}; training stopped. "
                        f"Last good checkpoint: {where}")
                if grad_clip:
                    optimizer.backward(loss)
                    optimizer.clip_grad_norm(**grad_clip)
                    optimizer.step()
                else:
                    optimizer.step(loss)
                logged = {k: float(v.item()) for k, v in log_vars.items()}
                tlog.log(it + 1, lr, logged, time.time() - t0, t_data)
                done = it + 1
                if done % ckpt_interval == 0 or done == max_iters:
                    last_good = self._save(done, optimizer, schedule, meta, best, keep)
                if val_set is not None and (done % int(val_cfg["interval"]) == 0
                                            or done == max_iters):
                    best = self._validate(val_set, done, optimizer, schedule, meta, best,
                                          val_cfg)
        finally:
            tlog.close()
        return {"iter": max_iters, "best": best, "last_checkpoint": last_good}

    def _save(self, done, optimizer, schedule, meta, best, keep):
        path = os.path.join(self.work_dir, f"iter_{done}.pkl")
        sync_replicas()
        if is_main_process():
            save_checkpoint(path, self.model, optimizer, done, meta, self._config_dict(),
                            schedule, extra={"best": best})
            prune_checkpoints(self.work_dir, keep)
            self.logger.info(f"saved checkpoint {path}")
        return path

    def _validate(self, val_set, done, optimizer, schedule, meta, best, val_cfg):
        summary = evaluate_dataset(self.model, val_set, show_progress=self.show_progress,
                                   logger=self.logger, work_dir=self.work_dir)
        metric = val_cfg.get("save_best")
        if metric and metric in summary:
            value = float(summary[metric])
            if not best or value > best.get("value", -math.inf):
                best = {"metric": metric, "value": value, "iter": done}
                sync_replicas()
                if is_main_process():
                    path = os.path.join(self.work_dir, f"best_{metric}.pkl")
                    save_checkpoint(path, self.model, optimizer, done, dict(meta, best=best),
                                    self._config_dict(), schedule, extra={"best": best})
                    self.logger.info(f"new best {metric} {value:.2f} at iteration {done}: {path}")
        self.model.train()
        return best

    def _setup_mixed_precision(self, fp16_cfg):
        if not fp16_cfg:
            return
        if not jt.flags.use_cuda:
            self.logger.warning("fp16 (mixed precision) is configured but Jittor runs on the "
                                "CPU, where it is not supported; training in float32")
            return
        jt.flags.auto_mixed_precision_level = int(fp16_cfg.get("level", 5))

    # ------------------------------------------------------------------ evaluation
    @abort_job_on_error()
    def val(self, checkpoint=None, save_dir=None, split="val"):
        if checkpoint:
            load_checkpoint(checkpoint, self.model)
        dataset = build_dataset(self.cfg.data[split])
        return evaluate_dataset(self.model, dataset, save_dir=save_dir,
                                show_progress=self.show_progress, logger=self.logger,
                                work_dir=self.work_dir)
