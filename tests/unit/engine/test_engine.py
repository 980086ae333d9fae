"""Optimizer parameter groups, LR schedules, checkpoint atomicity and optimizer-state round trip."""
import json
import math
import os

import numpy as np
import pytest

from jseg_ret.bricks import ConvModule
from jseg_ret.engine import build_lr_schedule, build_optimizer, load_checkpoint, save_checkpoint
from jseg_ret.engine.checkpoint import (
    MANIFEST,
    NonFiniteCheckpoint,
    OutputWriteError,
    RunCheckpoints,
    latest_checkpoint,
    prune_checkpoints,
    read_resume_checkpoint,
)
from jseg_ret.engine.logger import truncate_jsonl
from jseg_ret.engine.optimizer import group_of
from jseg_ret.engine.runner import config_differences
from jseg_ret.interop import CheckpointError
from tests.helpers.faults import disk_full_save

import jittor as jt
from jittor import nn


class Net(nn.Module):
    def __init__(self):
        self.backbone = ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type="BN"))
        self.head_fc = nn.Linear(4, 2)
        self.pos_block = nn.Linear(2, 2)
        self.norm = nn.LayerNorm(2)

    def execute(self, x):
        y = self.backbone(x).mean(dims=[2, 3])
        return self.norm(self.pos_block(self.head_fc(y)))


def test_param_groups_apply_multipliers():
    model = Net()
    opt = build_optimizer(model, dict(type="AdamW", lr=1e-3, weight_decay=0.05,
                                      paramwise_cfg=dict(custom_keys={
                                          "head": dict(lr_mult=10.0),
                                          "pos_block": dict(decay_mult=0.0),
                                          "norm": dict(decay_mult=0.0)})))
    params = dict(model.named_parameters())
    cases = {"head_fc.weight": (1e-2, 0.05), "head_fc.bias": (1e-2, 0.05),
             "pos_block.weight": (1e-3, 0.0), "norm.weight": (1e-3, 0.0),
             "backbone.conv.weight": (1e-3, 0.05), "backbone.bn.weight": (1e-3, 0.05)}
    for name, (lr, wd) in cases.items():
        g = group_of(opt, params[name])
        assert g["lr"] == pytest.approx(lr) and g["weight_decay"] == pytest.approx(wd), name
    # buffers (running stats) are never handed to the optimizer
    assert all(not p.is_stop_grad() for g in opt.param_groups for p in g["params"])


def test_norm_decay_mult_and_longest_key_wins():
    model = Net()
    opt = build_optimizer(model, dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4,
                                      paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={
                                          "head": dict(lr_mult=2.0),
                                          "head_fc.bias": dict(lr_mult=3.0)})))
    params = dict(model.named_parameters())
    assert group_of(opt, params["backbone.bn.weight"])["weight_decay"] == 0.0
    assert group_of(opt, params["norm.bias"])["weight_decay"] == 0.0
    assert group_of(opt, params["backbone.conv.weight"])["weight_decay"] == pytest.approx(1e-4)
    assert group_of(opt, params["head_fc.bias"])["lr"] == pytest.approx(0.3)
    assert group_of(opt, params["head_fc.weight"])["lr"] == pytest.approx(0.2)
    with pytest.raises(KeyError, match="unknown keys"):
        build_optimizer(model, dict(type="SGD", lr=0.1, paramwise_cfg=dict(typo=1)))


def test_bias_multipliers_skip_norm_biases_as_mmcv():
    """mmcv's DefaultOptimizerConstructor: bias_lr_mult/bias_decay_mult apply to the biases of
    non-norm layers only; a norm layer's bias keeps lr × 1 and decay × norm_decay_mult (default
    1), also when norm_decay_mult is not given."""
    model = Net()
    opt = build_optimizer(model, dict(type="SGD", lr=0.1, weight_decay=1e-4, paramwise_cfg=dict(
        bias_lr_mult=2.0, bias_decay_mult=0.0)))
    params = dict(model.named_parameters())
    for name in ("backbone.bn.bias", "norm.bias"):
        g = group_of(opt, params[name])
        assert (g["lr"], g["weight_decay"]) == (pytest.approx(0.1), pytest.approx(1e-4)), name
    g = group_of(opt, params["head_fc.bias"])
    assert (g["lr"], g["weight_decay"]) == (pytest.approx(0.2), 0.0)


def test_effective_update_uses_group_lr():
    """One SGD step: each parameter moves by its own lr × grad."""
    model = Net()
    opt = build_optimizer(model, dict(type="SGD", lr=0.1, paramwise_cfg=dict(
        custom_keys={"head": dict(lr_mult=10.0)})))
    before = {k: v.numpy().copy() for k, v in model.named_parameters()}
    x = jt.randn(2, 3, 5, 5)
    loss = model(x).sum()
    grads = dict(zip([n for n, _ in model.named_parameters()],
                     [g.numpy() for g in jt.grad(loss, [p for _, p in model.named_parameters()])]))
    opt.step(loss)
    after = {k: v.numpy() for k, v in model.named_parameters()}
    for name in ("head_fc.weight", "backbone.conv.weight"):
        lr = 1.0 if name.startswith("head") else 0.1
        np.testing.assert_allclose(before[name] - after[name], lr * grads[name], rtol=1e-4,
                                   atol=1e-7)


def test_lr_schedules_closed_form():
    poly = build_lr_schedule(dict(policy="poly", power=0.9, min_lr=1e-4), 1000)
    for t in (0, 1, 500, 999, 1000):
        assert poly.get_lr(t, 0.01) == pytest.approx((0.01 - 1e-4) * (1 - t / 1000) ** 0.9 + 1e-4)
    warm = build_lr_schedule(dict(policy="poly", power=1.0, min_lr=0.0, warmup="linear",
                                  warmup_iters=100, warmup_ratio=1e-6), 1000)
    for t in (0, 50, 99):
        regular = 6e-5 * (1 - t / 1000)
        assert warm.get_lr(t, 6e-5) == pytest.approx(
            regular * (1 - (1 - t / 100) * (1 - 1e-6)))
    assert warm.get_lr(100, 6e-5) == pytest.approx(6e-5 * 0.9)
    step = build_lr_schedule(dict(policy="step", step=[300, 600], gamma=0.1), 1000)
    assert [step.get_lr(t, 1.0) for t in (0, 299, 300, 600, 999)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.01, 0.01])
    cos = build_lr_schedule(dict(policy="cosine", min_lr=0.001), 1000)
    for t in (0, 250, 1000):
        assert cos.get_lr(t, 0.1) == pytest.approx(
            0.001 + 0.099 * (1 + math.cos(math.pi * t / 1000)) / 2)
    const = build_lr_schedule(dict(policy="poly", warmup="constant", warmup_iters=10,
                                   warmup_ratio=0.1), 100)
    assert const.get_lr(5, 1.0) == pytest.approx(0.1 * (1 - 5 / 100))
    with pytest.raises(KeyError, match="Did you mean"):
        build_lr_schedule(dict(policy="polly"), 10)


def test_schedule_sets_group_lrs():
    model = Net()
    opt = build_optimizer(model, dict(type="AdamW", lr=1.0, paramwise_cfg=dict(
        custom_keys={"head": dict(lr_mult=10.0)})))
    build_lr_schedule(dict(policy="poly", power=1.0), 10).apply(opt, 5)
    lrs = sorted(g["lr"] for g in opt.param_groups)
    assert lrs == pytest.approx([0.5, 5.0])


def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model = Net()
    path = str(tmp_path / "iter_1.pkl")
    save_checkpoint(path, model, iteration=1)
    good = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    for p in model.parameters():
        p.assign(p + 1)

    def crash(obj, file):  # writes half a file, then dies
        with open(file, "wb") as f:
            f.write(b"\x80\x04partial")
        raise KeyboardInterrupt("killed during save")

    monkeypatch.setattr(jt, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, iteration=2)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["iter_1.pkl"]  # no temp file left behind
    fresh = Net()
    ckpt = load_checkpoint(path, fresh)
    assert ckpt["iter"] == 1
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), good[k])


def test_optimizer_state_round_trip(tmp_path):
    jt.set_global_seed(0)
    model = Net()
    opt = build_optimizer(model, dict(type="AdamW", lr=1e-2, weight_decay=0.01))
    for _ in range(3):
        opt.step(model(jt.randn(2, 3, 5, 5)).sum())
    path = str(tmp_path / "iter_3.pkl")
    save_checkpoint(path, model, opt, iteration=3)
    model2 = Net()
    opt2 = build_optimizer(model2, dict(type="AdamW", lr=1e-2, weight_decay=0.01))
    ckpt = load_checkpoint(path, model2, opt2)
    assert ckpt["iter"] == 3 and opt2.n_step == opt.n_step
    for g1, g2 in zip(opt.param_groups, opt2.param_groups):
        for a, b in zip(g1["m"] + g1["values"], g2["m"] + g2["values"]):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = jt.randn(2, 3, 5, 5)
    opt.step(model(x).sum())
    opt2.step(model2(x).sum())
    for (n, a), (_, b) in zip(model.named_parameters(), model2.named_parameters()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=n)


def test_optimizer_state_of_other_model_is_refused(tmp_path):
    model = Net()
    opt = build_optimizer(model, dict(type="AdamW", lr=1e-2))
    path = str(tmp_path / "x.pkl")
    save_checkpoint(path, model, opt, iteration=1)
    other = Net()
    sgd = build_optimizer(other, dict(type="SGD", lr=1e-2))
    with pytest.raises(CheckpointError, match="AdamW"):
        load_checkpoint(path, other, sgd)


def test_latest_and_prune(tmp_path):
    for i in (2, 10, 4):
        (tmp_path / f"iter_{i}.pkl").write_bytes(b"x")
    assert latest_checkpoint(str(tmp_path)).endswith("iter_10.pkl")
    prune_checkpoints(str(tmp_path), keep=2)
    assert sorted(os.listdir(tmp_path)) == ["iter_10.pkl", "iter_4.pkl"]


def test_non_finite_weights_are_not_saved(tmp_path):
    model = Net()
    model.head_fc.weight.assign(model.head_fc.weight * float("inf"))
    path = str(tmp_path / "iter_1.pkl")
    with pytest.raises(NonFiniteCheckpoint, match=r"iter_1\.pkl: not written.*head_fc\.weight"):
        save_checkpoint(path, model, iteration=1)
    assert os.listdir(tmp_path) == []


def test_write_error_names_the_path(tmp_path, monkeypatch):
    monkeypatch.setattr(jt, "save", disk_full_save)
    path = str(tmp_path / "iter_1.pkl")
    with pytest.raises(OutputWriteError, match=r"iter_1\.pkl: could not write.*No space"):
        save_checkpoint(path, Net(), iteration=1)
    assert os.listdir(tmp_path) == []


def test_resume_checkpoint_must_hold_optimizer_state(tmp_path):
    model = Net()
    weights = str(tmp_path / "w.pkl")
    save_checkpoint(weights, model, iteration=3)  # no optimizer
    with pytest.raises(CheckpointError, match=r"w\.pkl: has no optimizer state.*load_from="):
        read_resume_checkpoint(weights)
    full = str(tmp_path / "iter_3.pkl")
    save_checkpoint(full, model, build_optimizer(model, dict(type="SGD", lr=0.1)), iteration=3)
    assert read_resume_checkpoint(full)["iter"] == 3


def test_run_record_prunes_only_its_own_files(tmp_path):
    work = str(tmp_path)
    (tmp_path / "iter_100.pkl").write_bytes(b"another run")
    run = RunCheckpoints(work)
    for i in (1, 2, 3):
        (tmp_path / f"iter_{i}.pkl").write_bytes(b"ours")
        run.add(i, str(tmp_path / f"iter_{i}.pkl"))
        run.prune(2)
    assert sorted(os.listdir(tmp_path)) == [MANIFEST, "iter_100.pkl", "iter_2.pkl",
                                            "iter_3.pkl"]
    assert latest_checkpoint(work).endswith("iter_3.pkl")
    again = RunCheckpoints.resumed(work, run.run_id, 2, str(tmp_path / "iter_2.pkl"))
    assert again.entries == [(2, "iter_2.pkl")]
    stranger = RunCheckpoints.resumed(work, "other-id", 100, str(tmp_path / "iter_100.pkl"))
    assert stranger.entries == [(100, "iter_100.pkl")]


def test_truncate_jsonl_keeps_records_up_to_the_resumed_iteration(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps({"iter": i}) + "\n" for i in (1, 2, 3, 4))
                    + '{"iter": 5, "lo')  # torn by a kill
    truncate_jsonl(str(path), 2)
    assert [json.loads(x)["iter"] for x in path.read_text().splitlines()] == [1, 2]
    truncate_jsonl(str(path), 0)
    assert path.read_text() == ""


def test_config_differences_lists_changed_training_settings():
    saved = {"optimizer": {"type": "AdamW", "lr": 1e-3, "betas": (0.9, 0.999)},
             "runner": {"max_iters": 4}, "work_dir": "a", "seed": 0}
    now = {"optimizer": {"type": "AdamW", "lr": 2e-3, "betas": [0.9, 0.999]},
           "runner": {"max_iters": 4}, "work_dir": "b", "seed": 0, "fp16": {"level": 5}}
    assert config_differences(saved, now) == [("fp16.level", "(absent)", 5),
                                              ("optimizer.lr", 1e-3, 2e-3)]
