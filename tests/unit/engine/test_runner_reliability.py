"""Reliability of the training runner and its CLI (issue 17): a run never deletes or mixes with
another run's files, class counts are checked, no non-finite checkpoint, resume says what it
restores and refuses weights-only files, intervals are checked, write errors name the path, stale
temporaries are cleaned, log.jsonl has each iteration once, --resume auto skips a corrupt newest
checkpoint, and run_net.py ends user errors in one `error:` line with documented exit codes.

Same tiny SegRet and synthetic data shapes as test_training.py (kernels are shared)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import run_net
from jseg_ret.config import Config, ConfigError
from jseg_ret.datasets import build_dataset
from jseg_ret.engine import Runner, TrainingDiverged, build_lr_schedule
from jseg_ret.engine.checkpoint import MANIFEST, latest_checkpoint
from jseg_ret.engine.runner import check_num_classes
from jseg_ret.interop import CheckpointError, export_pth, load_pkl
from jseg_ret.models import build_segmentor
from tests.helpers.faults import disk_full_save
from tests.helpers.paths import ROOT
from tests.helpers.tiny import synthetic_data, write_tiny_config

import jittor as jt


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return synthetic_data(tmp_path_factory.mktemp("reliability") / "synthetic", num_train=6,
                          num_val=2)


@pytest.fixture(scope="module")
def cfg_path(data_dir):
    return str(write_tiny_config(data_dir.parent / "tiny.py", data_dir))


def tiny(cfg_path, **overrides):
    """The tiny config with dotted-key overrides (runner.max_iters=1 ...)."""
    cfg = Config.fromfile(cfg_path)
    for key, value in overrides.items():
        *parents, leaf = key.split("__")
        node = cfg
        for p in parents:
            node = node[p]
        node[leaf] = value
    return cfg


def dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# ---------------------------------------------------------------- 1: never touch another run
def test_new_run_refuses_and_never_prunes_another_runs_checkpoints(cfg_path, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for n in (6, 8):  # a previous, longer run's checkpoints
        (work / f"iter_{n}.pkl").write_bytes(b"previous run")
    cfg = tiny(cfg_path, runner__max_iters=2, checkpoint_config__interval=1,
               checkpoint_config__max_keep_ckpts=1)
    with pytest.raises(CheckpointError, match=r"iter_6\.pkl.*--resume auto.*--overwrite"):
        Runner(cfg, str(work), show_progress=False).train()
    assert sorted(n for n in os.listdir(work) if n != "train.log") == ["iter_6.pkl",
                                                                        "iter_8.pkl"]

    result = Runner(cfg, str(work), show_progress=False).train(overwrite=True)
    assert result["last_checkpoint"] == str(work / "iter_2.pkl")
    assert os.path.isfile(result["last_checkpoint"])
    # its own oldest checkpoint was pruned; the other run's files were not touched
    assert not (work / "iter_1.pkl").exists()
    assert (work / "iter_6.pkl").read_bytes() == (work / "iter_8.pkl").read_bytes() \
        == b"previous run"
    assert latest_checkpoint(str(work)) == str(work / "iter_2.pkl")  # not iter_8
    record = json.loads((work / MANIFEST).read_text())
    assert [c["file"] for c in record["checkpoints"]] == ["iter_2.pkl"]
    assert load_pkl(str(work / "iter_2.pkl"))["meta"]["run_id"] == record["run_id"]


# ---------------------------------------------------------------- 8: class counts
def test_num_classes_is_checked_against_the_dataset(cfg_path, tmp_path):
    cfg = tiny(cfg_path, runner__max_iters=1)
    cfg.model.decode_head.num_classes = 4
    with pytest.raises(ConfigError, match=r"model\.decode_head\.num_classes is 4.* 6 classes"):
        Runner(cfg, str(tmp_path / "a"), show_progress=False).train()
    assert not os.path.exists(tmp_path / "a" / "iter_1.pkl")

    cfg.model.decode_head.num_classes = 10
    with pytest.raises(ConfigError, match=r"num_classes is 10.*val dataset.* 6 classes"):
        Runner(cfg, str(tmp_path / "b"), show_progress=False).val()

    cfg = tiny(cfg_path, runner__max_iters=1)
    cfg.model.auxiliary_head = dict(cfg.model.decode_head, num_classes=5)
    with pytest.raises(ConfigError, match=r"model\.auxiliary_head\.num_classes is 5.* 6 "):
        Runner(cfg, str(tmp_path / "c"), show_progress=False).train()


def test_num_classes_check_covers_the_frm_head_and_auxiliary_heads(cfg_path):
    """FRM's contrastive FPN head (Cityscapes' 19 classes by default) on the 6-class data."""
    frm = Config.fromfile(os.path.join(ROOT, "configs/_base_/models/frm.py")).model
    frm.backbone.depths = [1, 1, 1, 1]
    model = build_segmentor(frm)
    dataset = build_dataset(Config.fromfile(cfg_path).data.val)
    with pytest.raises(ConfigError, match=r"model\.decode_head\.num_classes is 19.* 6 classes"):
        check_num_classes(model, dataset, "val")
    frm.decode_head.num_classes = 6
    frm.auxiliary_head = [dict(frm.decode_head), dict(frm.decode_head, num_classes=7)]
    with pytest.raises(ConfigError, match=r"model\.auxiliary_head\[1\]\.num_classes is 7"):
        check_num_classes(build_segmentor(frm), dataset, "val")


# ---------------------------------------------------------------- 11: no NaN/inf checkpoint
def test_non_finite_weights_are_never_saved_or_named_good(cfg_path, tmp_path):
    cfg = tiny(cfg_path, runner__max_iters=2, checkpoint_config__interval=1)
    cfg.optimizer.lr = 1e45  # overflows float32: the first step makes the weights inf
    cfg.optimizer_config = {}  # no gradient clipping
    with pytest.raises(TrainingDiverged, match=r"not finite after iteration 1.*"
                                               r"Last good checkpoint: none saved yet"):
        Runner(cfg, str(tmp_path), show_progress=False).train()
    assert not any(n.startswith("iter_") for n in os.listdir(tmp_path))


# ---------------------------------------------------------------- 13: resume
def test_resume_refuses_weights_only_file(cfg_path, tmp_path):
    cfg = tiny(cfg_path, runner__max_iters=1)
    runner = Runner(cfg, str(tmp_path / "work"), show_progress=False)
    weights = str(tmp_path / "weights.pth")
    export_pth(runner.model, weights)
    with pytest.raises(CheckpointError, match=r"weights\.pth: holds weights only.*load_from="):
        runner.train(resume=weights)
    assert not os.path.exists(tmp_path / "work" / "iter_1.pkl")


def test_resume_reports_restored_state_and_changed_settings(cfg_path, tmp_path):
    work = str(tmp_path)
    Runner(tiny(cfg_path, runner__max_iters=1, checkpoint_config__interval=1), work,
           show_progress=False).train()
    cfg = tiny(cfg_path, runner__max_iters=2, checkpoint_config__interval=1)
    old_lr, new_lr = cfg.optimizer.lr, cfg.optimizer.lr * 2
    cfg.optimizer.lr = new_lr
    runner = Runner(cfg, work, show_progress=False)
    runner.train(resume="auto")
    log = open(os.path.join(work, "train.log")).read()
    assert "resumed from" in log and "restored the weights, the AdamW state (step 1)" in log
    assert f"optimizer.lr: {old_lr!r} in the checkpoint -> {new_lr!r} now (used)" in log
    assert "runner.max_iters: 1 in the checkpoint -> 2 now" in log
    records = [json.loads(x) for x in open(os.path.join(work, "log.jsonl"))]
    assert [r["iter"] for r in records] == [1, 2]
    expected = build_lr_schedule(cfg.lr_config, 2).get_lr(1, new_lr)
    assert records[1]["lr"] == pytest.approx(expected)  # the config's lr is the one used


# ---------------------------------------------------------------- 17: intervals, write errors
@pytest.mark.parametrize("key,value", [
    ("checkpoint_config.interval", 0), ("checkpoint_config.interval", -2),
    ("evaluation.interval", 0), ("evaluation.interval", -1), ("log_config.interval", 0),
    ("runner.max_iters", 0), ("checkpoint_config.interval", 1.5)])
def test_bad_intervals_are_config_errors(cfg_path, tmp_path, key, value):
    cfg = tiny(cfg_path, runner__max_iters=1)
    section, leaf = key.split(".")
    cfg[section][leaf] = value
    with pytest.raises(ConfigError, match=rf"{key}={value!r}: expected a positive whole"):
        Runner(cfg, str(tmp_path), show_progress=False).train()


def test_disk_full_during_save_names_the_path(cfg_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(jt, "save", disk_full_save)
    work = str(tmp_path / "work")
    assert run_net.main(["--config-file", cfg_path, "--work-dir", work, "--no-progress",
                         "--cfg-options", "runner.max_iters=1"]) == 4
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("error: ") and "iter_1.pkl" in err and "No space left" in err
    assert not [n for n in os.listdir(work) if ".pkl" in n]  # no temporary left behind


# ---------------------------------------------------------------- 18: run_net error lines
def test_run_net_user_errors_are_one_line(cfg_path, data_dir, tmp_path, capsys):
    def fails(*args, code=2):
        assert run_net.main(["--config-file", cfg_path, "--work-dir", str(tmp_path / "w"),
                             "--no-progress", *args]) == code
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
        return err

    assert "model.decode_head.num_classes is 4" in fails(
        "--cfg-options", "runner.max_iters=1", "model.decode_head.num_classes=4")
    assert "'Nope' is not in the" in fails("--cfg-options", "model.backbone.type=Nope")
    assert "TypeError" in fails("--cfg-options", "runner.max_iters=1", "optimizer.betas=3")
    assert "checkpoint_config.interval=0" in fails("--cfg-options", "runner.max_iters=1",
                                                  "checkpoint_config.interval=0")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert run_net.main(["--config-file", cfg_path, "--work-dir", str(blocker / "w"),
                         "--no-progress"]) == 4
    assert "a_file" in capsys.readouterr().err
    # --debug: the traceback (the exception itself) instead of the line
    with pytest.raises(KeyError):
        run_net.main(["--config-file", cfg_path, "--work-dir", str(tmp_path / "w"), "--debug",
                      "--cfg-options", "model.backbone.type=Nope"])


def test_run_net_bad_training_image_is_one_line(data_dir, tmp_path, capsys):
    data = synthetic_data(tmp_path / "synthetic", num_train=2, num_val=1)
    img_dir = data / "img_dir" / "train"
    victim = sorted(os.listdir(img_dir))[0]
    (img_dir / victim).write_bytes((img_dir / victim).read_bytes()[:40])  # truncated
    cfg = write_tiny_config(tmp_path / "bad.py", data)
    assert run_net.main(["--config-file", str(cfg), "--work-dir", str(tmp_path / "w"),
                         "--no-progress", "--cfg-options", "runner.max_iters=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and victim in err and "\n" not in err


def test_run_net_refuses_work_dir_of_another_run(cfg_path, tmp_path, capsys):
    work = tmp_path / "w"
    work.mkdir()
    (work / "iter_40.pkl").write_bytes(b"other")
    (work / "tiny.yaml").write_text("# the other run's config")
    assert run_net.main(["--config-file", cfg_path, "--work-dir", str(work), "--no-progress",
                         "--cfg-options", "runner.max_iters=1"]) == 2
    err = capsys.readouterr().err
    assert "iter_40.pkl" in err and "--overwrite" in err
    assert (work / "tiny.yaml").read_text() == "# the other run's config"  # not replaced
    assert run_net.main(["--config-file", cfg_path, "--work-dir", str(work), "--no-progress",
                         "--overwrite", "--cfg-options", "runner.max_iters=1"]) == 0
    assert (work / "iter_40.pkl").read_bytes() == b"other" and (work / "iter_1.pkl").exists()


# ---------------------------------------------------------------- 19: temporaries, log, fallback
def test_stale_temporaries_of_a_killed_save_are_removed(cfg_path, tmp_path):
    pid = dead_pid()
    stale = [f"iter_2.pkl.tmp-{pid}.pkl", f"best_mIoU.pkl.tmp-{pid}.pkl",
             f"{MANIFEST}.tmp-{pid}"]
    kept = [f"iter_2.pkl.tmp-{os.getpid()}.pkl",  # a live process: maybe still writing
            f"notes.pkl.tmp-{pid}.pkl", f"iter_2.pkl.tmp-{pid}.pkl.bak", "data.tmp"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    Runner(tiny(cfg_path, runner__max_iters=1), str(tmp_path), show_progress=False).train()
    names = set(os.listdir(tmp_path))
    assert not names & set(stale) and set(kept) <= names


def test_resume_auto_falls_back_from_corrupt_latest_and_log_has_each_iteration_once(
        cfg_path, tmp_path):
    work = str(tmp_path)
    cfg = tiny(cfg_path, runner__max_iters=3, checkpoint_config__interval=2)
    straight = Runner(cfg, work, show_progress=False)
    straight.train()  # iter_2.pkl and iter_3.pkl; log.jsonl records 1, 2, 3
    final = {k: v.numpy().copy() for k, v in straight.model.state_dict().items()}
    latest = os.path.join(work, "iter_3.pkl")
    with open(latest, "r+b") as f:  # torn write
        f.truncate(os.path.getsize(latest) // 2)

    resumed = Runner(tiny(cfg_path, runner__max_iters=3, checkpoint_config__interval=2), work,
                     show_progress=False)
    result = resumed.train(resume="auto")
    log = open(os.path.join(work, "train.log")).read()
    assert "falling back to " + os.path.join(work, "iter_2.pkl") in log
    assert "cannot resume from " + latest in log  # and why the newest was not used
    assert result["last_checkpoint"] == latest and load_pkl(latest)["iter"] == 3
    records = [json.loads(x)["iter"] for x in open(os.path.join(work, "log.jsonl"))]
    assert records == [1, 2, 3]
    for k, v in resumed.model.state_dict().items():
        if ".running_" not in k:  # see test_training.test_resume_continues_exactly
            np.testing.assert_array_equal(v.numpy(), final[k], err_msg=k)
