"""Iteration-based runner: train / val / test from a config.

Exact resume: the optimizer state, iteration and RNG state are checkpointed; the learning rate is
a closed-form function of the iteration; the data order of epoch e is a permutation seeded by
(seed, e) and an interrupted epoch is re-entered at the right batch; augmentation randomness is
seeded per (seed, epoch, sample) and Jittor's own RNG (dropout, drop-path) per iteration. So N/2
iterations, a stop, and a resume for N/2 more give the same parameters as N straight.

Resume restores the weights, the optimizer's moments and step count, the iteration, the RNG state
and the best score; every setting (lr, schedule, max_iters, intervals...) comes from the current
config. Where that config differs from the one the checkpoint was trained with, the differences
are logged as a warning, key by key (the run then is no longer an exact continuation). A
weights-only file is refused as a resume point (it would restart at iteration 0): use
``load_from`` for it.

A new run refuses a work dir that holds checkpoints (``iter_N.pkl``, ``best_*.pkl``) unless it
resumes or ``overwrite=True``; it records what it writes in ``checkpoints.json`` and deletes only
those files when pruning (``max_keep_ckpts``).

The training loop is mmcv's: per iteration the runner fetches the batch, calls the hooks'
``before_train_iter``, runs the forward (``runner.outputs``: loss, log_vars) and calls
``after_train_iter``; the hooks (engine/hooks/, in priority order) set the lr, step the
optimizer, save checkpoints, time, validate and log. ``custom_hooks`` adds the user's.
"""
import math
import os
import time

import numpy as np

import jittor as jt
from jittor import nn

from ..config import ConfigError
from ..datasets import build_dataloader, build_dataset
from ..interop import CheckpointError, load_checkpoint_into
from ..models import build_segmentor
from .checkpoint import (
    NonFiniteCheckpoint,
    RunCheckpoints,
    checkpoint_files,
    ensure_finite,
    load_checkpoint,
    load_optimizer_state,
    read_resume_checkpoint,
    remove_stale_temporaries,
    resume_candidates,
    save_checkpoint,
    set_rng_state,
    write_output,
)
from .dist import (
    abort_job_on_error,
    broadcast_parameters,
    get_rank,
    get_world_size,
    is_main_process,
    sync_replicas,
)
from .evaluator import evaluate_dataset
from .hooks import (
    CheckpointHook,
    EvalHook,
    IterTimerHook,
    LoggerHook,
    LrUpdaterHook,
    OptimizerHook,
    build_custom_hooks,
    get_priority,
)
from .logger import TrainLogger, get_logger
from .logger_hooks import TextLoggerHook, build_logger_hooks
from .optimizer import build_optimizer

# Config sections that do not change what training computes: not compared on resume.
_RESUME_NEUTRAL = ("work_dir", "load_from", "resume_from", "log_config", "log_level",
                   "checkpoint_config", "evaluation", "workflow", "gpu_ids")


class TrainingDiverged(RuntimeError):
    """The loss, the weights or the optimizer state became NaN or infinite."""


def _positive_int(key, value):
    """``value`` as an int > 0, else a ConfigError naming ``key`` (no ZeroDivisionError later)."""
    whole = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if not whole or value <= 0:
        raise ConfigError(f"{key}={value!r}: expected a positive whole number of iterations")
    return int(value)


def run_intervals(cfg, max_iters):
    """(checkpoint interval, max_keep_ckpts, evaluation interval or None, log interval), checked.

    ``evaluation.interval`` None (or no ``evaluation``) turns validation off; 0 or a negative
    value is an error, like any other non-positive interval.
    """
    ckpt_cfg = cfg.get("checkpoint_config") or {}
    ckpt = _positive_int("checkpoint_config.interval", ckpt_cfg.get("interval", max_iters))
    keep = ckpt_cfg.get("max_keep_ckpts", -1)
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int)):
        raise ConfigError(f"checkpoint_config.max_keep_ckpts={keep!r}: expected a whole number "
                          "(<= 0 keeps every checkpoint)")
    val = (cfg.get("evaluation") or {}).get("interval")
    val = None if val is None else _positive_int("evaluation.interval", val)
    log = _positive_int("log_config.interval", (cfg.get("log_config") or {}).get("interval", 50))
    return ckpt, keep, val, log


def check_num_classes(model, dataset, split):
    """Each head's ``num_classes`` must equal the dataset's class count (else labels fall outside
    the logits, or absent classes are scored as errors); a ConfigError names both numbers."""
    classes = getattr(dataset, "CLASSES", None)
    if classes is None:
        return
    heads = [("model.decode_head", getattr(model, "decode_head", None))]
    aux = getattr(model, "auxiliary_head", None)
    if aux is not None:
        aux = list(aux) if isinstance(aux, nn.ModuleList) else [aux]
        heads += [(f"model.auxiliary_head[{i}]" if len(aux) > 1 else "model.auxiliary_head", h)
                  for i, h in enumerate(aux)]
    where = os.path.join(getattr(dataset, "data_root", None) or "",
                         getattr(dataset, "img_dir", None) or "")
    for key, head in heads:
        n = getattr(head, "num_classes", None)
        if n is not None and n != len(classes):
            shown = ", ".join(map(str, classes[:8])) + (", ..." if len(classes) > 8 else "")
            raise ConfigError(
                f"{key}.num_classes is {n}, but the {split} dataset {type(dataset).__name__} "
                f"({where}) has {len(classes)} classes ({shown}); set {key}.num_classes="
                f"{len(classes)}, or data.{split}.classes to the {n} classes to train on")


def _plain(value):
    """Lists for tuples, recursively, so a config and its saved copy compare equal."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _flatten(value, prefix=""):
    """``{'a.b.c': leaf}`` of nested dicts (lists are leaves)."""
    if not isinstance(value, dict) or not value:
        return {prefix[:-1]: _plain(value)}
    out = {}
    for k, v in value.items():
        out.update(_flatten(v, f"{prefix}{k}."))
    return out


def config_differences(saved, current):
    """``[(key, saved value, current value)]`` for the training settings that differ."""
    if not isinstance(saved, dict):
        return []
    a = _flatten({k: v for k, v in saved.items() if k not in _RESUME_NEUTRAL})
    b = _flatten({k: v for k, v in current.items() if k not in _RESUME_NEUTRAL})
    return [(k, a.get(k, "(absent)"), b.get(k, "(absent)")) for k in sorted(set(a) | set(b))
            if a.get(k, "(absent)") != b.get(k, "(absent)")]


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
        self.run = None        # RunCheckpoints of the current training run
        self.last_good = None  # its newest checkpoint (finite by construction)
        # training state the hooks read and set (mmcv's names)
        self.hooks = []        # in the order they run (priority)
        self.iter = 0          # during an iteration's hooks: its 0-based index
        self.max_iters = None
        self.optimizer = None
        self.iter_start = None  # time.time() when the iteration's batch fetch began
        self.data_batch = None  # (img, gt) of the iteration
        self.outputs = {}      # of run_iter: loss, log_vars (floats once OptimizerHook stepped)
        self.timing = {}       # IterTimerHook's data_time, time
        self.best = {}         # EvalHook's best score: metric, value, iter
        self.meta = {}         # saved in each checkpoint: classes, palette, run_id
        self.train_logger = None  # TrainLogger: train.log, log.jsonl, bar; feeds logger hooks

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
    def train(self, resume=None, overwrite=False, config_dump=None):
        """Train to ``runner.max_iters``.

        ``resume``: a checkpoint path, or 'auto' (the newest readable checkpoint of the last run
        in the work dir; an unreadable newest one falls back to the one before, with a warning).
        ``overwrite``: start a new run although the work dir holds another run's checkpoints
        (same-named files are replaced; nothing else is deleted).
        ``config_dump``: write the config there (YAML) once the work dir is known to be ours.
        """
        cfg = self.cfg
        self.max_iters = max_iters = _positive_int("runner.max_iters", cfg.runner["max_iters"])
        ckpt_interval, keep, val_interval, log_interval = run_intervals(cfg, max_iters)
        train_set = SeededSamples(build_dataset(cfg.data.train), self.seed)
        check_num_classes(self.model, train_set.dataset, "train")
        val_set = build_dataset(cfg.data.val) if val_interval else None
        if val_set is not None:
            check_num_classes(self.model, val_set, "val")
        self.optimizer = build_optimizer(self.model, cfg.optimizer)
        self.register_training_hooks(cfg, ckpt_interval, keep, val_set, val_interval)
        self._setup_mixed_precision(cfg.get("fp16"))
        if is_main_process():
            for path in remove_stale_temporaries(self.work_dir):
                self.logger.info(f"removed {path}, left by an interrupted checkpoint save")

        ckpt, resumed_from = self._resume(resume, self.optimizer) if resume else (None, None)
        if ckpt is not None:
            start_iter, self.best = int(ckpt["iter"]), ckpt.get("best", {})
            run_id = (ckpt.get("meta") or {}).get("run_id")
            self.run = RunCheckpoints.resumed(self.work_dir, run_id, start_iter, resumed_from)
        else:
            start_iter, self.best = 0, {}
            self._claim_work_dir(overwrite)
            self.run = RunCheckpoints(self.work_dir)
            if cfg.get("load_from"):
                load_checkpoint(cfg.load_from, self.model, strict=False)  # as mmseg: fine-tuning
                self.logger.info(f"loaded weights from {cfg.load_from}")
        if config_dump and is_main_process():
            write_output("the config", config_dump, lambda: cfg.dump(config_dump))
        broadcast_parameters(self.model)

        self.meta = dict(self._meta(train_set), run_id=self.run.run_id)
        self.train_logger = TrainLogger(
            self.work_dir, start_iter, max_iters, log_interval, show_bar=self.show_progress,
            hooks=[h for h in self.hooks if isinstance(h, LoggerHook)])
        self.last_good = resumed_from  # a checkpoint of this run, known finite
        self.model.train()
        batches = self._batches(train_set, start_iter)
        self.iter = start_iter
        try:
            self.call_hook("before_run")
            for self.iter in range(start_iter, max_iters):
                self.iter_start = time.time()
                self.data_batch = self._batch_arrays(next(batches))
                self.call_hook("before_train_iter")
                self.outputs = self.run_iter(*self.data_batch)
                self.call_hook("after_train_iter")
            self.iter = max_iters
            self.call_hook("after_run")
        finally:
            self.train_logger.close()
        return {"iter": max_iters, "best": self.best, "last_checkpoint": self.last_good}

    def run_iter(self, img, gt):
        """The forward of iteration ``self.iter``: ``{'loss', 'log_vars'}`` (Jittor Vars), the
        loss checked finite. The optimizer step is OptimizerHook's."""
        jt.set_seed(_seed_for(self.seed, self.iter, self.rank))  # dropout/drop-path RNG
        loss, log_vars = self.model.train_step(img, gt)
        loss_value = float(loss.item())
        if not math.isfinite(loss_value):
            where = self.last_good or "none saved yet"
            raise TrainingDiverged(
                f"loss is {loss_value} at iteration {self.iter + 1}; training stopped. "
                f"Last good checkpoint: {where}")
        return {"loss": loss, "log_vars": log_vars}

    # ------------------------------------------------------------------ hooks
    def register_hook(self, hook, priority=None):
        """Insert ``hook`` after the hooks of equal or higher priority (mmcv's order);
        ``priority`` defaults to the hook class's own."""
        priority = get_priority(hook.priority if priority is None else priority)
        hook.priority = priority
        at = next((i for i in range(len(self.hooks), 0, -1)
                   if priority >= self.hooks[i - 1].priority), 0)
        self.hooks.insert(at, hook)

    def call_hook(self, event):
        for hook in self.hooks:
            getattr(hook, event)(self)

    def register_training_hooks(self, cfg, ckpt_interval, keep, val_set, val_interval):
        """The hooks of the config: lr_config, optimizer_config, checkpoint_config, the timer,
        log_config.hooks (TextLoggerHook always), evaluation, custom_hooks."""
        self.hooks = []
        self.register_hook(LrUpdaterHook(cfg.lr_config, self.max_iters))
        self.register_hook(OptimizerHook((cfg.get("optimizer_config") or {}).get("grad_clip")))
        self.register_hook(CheckpointHook(ckpt_interval, keep))
        self.register_hook(IterTimerHook())
        loggers = build_logger_hooks(cfg.get("log_config"), self.work_dir)
        if not any(isinstance(h, TextLoggerHook) for h in loggers):
            loggers.insert(0, TextLoggerHook())  # the built-in train.log / log.jsonl, always on
        for hook in loggers:
            self.register_hook(hook)
        if val_set is not None:
            val_cfg = {k: v for k, v in cfg.evaluation.items() if k != "interval"}
            self.register_hook(EvalHook(val_set, val_interval, **val_cfg))
        for hook, priority in build_custom_hooks(cfg.get("custom_hooks")):
            self.register_hook(hook, priority)

    def current_lr(self):
        """The first optimizer group's learning rate."""
        return self.optimizer.param_groups[0]["lr"]

    @property
    def lr_schedule(self):
        """The LrUpdaterHook's schedule (saved in checkpoints)."""
        return next(h.schedule for h in self.hooks if isinstance(h, LrUpdaterHook))

    def _claim_work_dir(self, overwrite):
        """A new run: refuse a work dir holding another run's checkpoints unless ``overwrite``."""
        existing = checkpoint_files(self.work_dir)
        if not existing:
            return
        names = ", ".join(os.path.basename(p) for p in existing[:6])
        names += f", ... ({len(existing)} files)" if len(existing) > 6 else ""
        if not overwrite:
            raise CheckpointError(
                f"work dir {self.work_dir} already holds checkpoints of another run ({names}); "
                "pass --resume auto to continue that run, --overwrite to start a new run there "
                "(its files replace same-named ones, nothing else is deleted), or another "
                "--work-dir")
        self.logger.warning(f"--overwrite: new run in {self.work_dir}, which holds another "
                            f"run's checkpoints ({names}); same-named ones will be replaced, "
                            "the others are kept and never pruned")

    def _resume(self, resume, optimizer):
        """Restore weights, optimizer state and RNG; returns (checkpoint dict, path) or
        (None, None) when 'auto' finds no checkpoint."""
        if resume == "auto":
            candidates = resume_candidates(self.work_dir)
            if not candidates:
                self.logger.info(f"--resume auto: no checkpoint in {self.work_dir}; starting anew")
                return None, None
            ckpt, path = self._newest_readable(candidates)
        else:
            path, ckpt = os.fspath(resume), read_resume_checkpoint(resume)
        try:
            load_checkpoint_into(self.model, ckpt, strict=True, verbose=False)
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {e}") from e
        load_optimizer_state(optimizer, self.model, ckpt["optimizer"], path)
        if "rng" in ckpt:
            set_rng_state(ckpt["rng"])
        self._report_resume(path, ckpt)
        return ckpt, path

    def _newest_readable(self, candidates):
        errors = []
        for path in candidates:
            try:
                ckpt = read_resume_checkpoint(path)
            except CheckpointError as e:
                errors.append(str(e))
                self.logger.warning(f"--resume auto: cannot resume from {e}")
                continue
            if errors:
                self.logger.warning(f"--resume auto: falling back to {path}, the newest readable "
                                    f"checkpoint ({candidates[0]} is unreadable)")
            return ckpt, path
        raise CheckpointError(f"--resume auto: no readable checkpoint in {self.work_dir}: "
                              + "; ".join(errors))

    def _report_resume(self, path, ckpt):
        """Say what was restored, and which settings now differ from the checkpoint's config."""
        opt = ckpt["optimizer"]
        restored = ["the weights", f"the {opt['type']} state (step {opt['n_step']})"]
        if "rng" in ckpt:
            restored.append("the RNG state")
        if ckpt.get("best"):
            restored.append(f"best {ckpt['best'].get('metric')} {ckpt['best'].get('value')}")
        self.logger.info(f"resumed from {path} at iteration {int(ckpt['iter'])}: restored "
                         f"{', '.join(restored)}; lr, schedule, max_iters and all other settings "
                         "come from the current config")
        diffs = config_differences(ckpt.get("config"), self._config_dict())
        if diffs:
            shown = "\n".join(f"  {k}: {old!r} in the checkpoint -> {new!r} now (used)"
                               for k, old, new in diffs[:20])
            more = f"\n  ... and {len(diffs) - 20} more" if len(diffs) > 20 else ""
            self.logger.warning(f"--resume: the config differs from the one {path} was trained "
                                "with; the current values are used, so this run is not an "
                                f"exact continuation:\n{shown}{more}")

    def write_checkpoint(self, path, meta=None):
        """Save the state after iteration ``self.iter`` (with ``self.best``) on the main process.
        A NaN/inf state is never written nor named last good: the main process's save refuses
        it, and the other ranks check the same (identical) state so that every rank stops
        together."""
        done = self.iter + 1
        # every rank computes its pending updates now: were only rank 0 to read them (to save),
        # Jittor would fuse them differently there and the replicas would drift apart
        sync_replicas()
        try:
            if is_main_process():
                save_checkpoint(path, self.model, self.optimizer, done, meta or self.meta,
                                self._config_dict(), self.lr_schedule, extra={"best": self.best})
            else:
                ensure_finite(self.model, self.optimizer, path)
        except NonFiniteCheckpoint as e:
            raise TrainingDiverged(
                f"weights or optimizer state not finite after iteration {done}; training "
                f"stopped. {e}. Last good checkpoint: {self.last_good or 'none saved yet'}"
            ) from e

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
    def val(self, checkpoint=None, save_dir=None, split="val", confusion_matrix=None):
        dataset = build_dataset(self.cfg.data[split])
        check_num_classes(self.model, dataset, split)
        if checkpoint:
            load_checkpoint(checkpoint, self.model)
        if confusion_matrix is None:  # opt-in: evaluation.confusion_matrix=True in the config
            confusion_matrix = bool((self.cfg.get("evaluation") or {}).get("confusion_matrix"))
        return evaluate_dataset(self.model, dataset, save_dir=save_dir,
                                show_progress=self.show_progress, logger=self.logger,
                                work_dir=self.work_dir, confusion_matrix=confusion_matrix)
