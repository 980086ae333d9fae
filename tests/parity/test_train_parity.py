"""Training parity (tools/parity.py --train) on the float64 PyTorch fixtures, planted training
bugs it must catch (naming the tensor), the --dump round trip, and its bad-input handling.

Runs the tool in-process (``main(argv)``). Jittor caches its kernels per process, so the
first training run of a family compiles and later ones reuse the kernels.
"""
import importlib
import importlib.util
import json
import os

import numpy as np
import pytest

from jseg_ret import Config, build_segmentor
from jseg_ret.bricks.norm import BatchNorm2d
from jseg_ret.engine import optimizer as optimizer_mod
from jseg_ret.interop import load_checkpoint_into
from jseg_ret.models.decode_heads.ham_head import NMF2D
from jseg_ret.parity import train_compare, train_inputs, train_parity
from tests.helpers.paths import ROOT

import jittor as jt

CONFIGS = {"segret_t_ade20k": os.path.join(ROOT, "configs", "segret",
                                           "segret-t_512x512_ade20k.py"),
           "segnext_t_ade20k": os.path.join(ROOT, "configs", "segnext",
                                             "segnext-t_512x512_ade20k.py")}
# the module, not the function the losses package re-exports under the same name
ce_mod = importlib.import_module("jseg_ret.models.losses.cross_entropy")


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("parity_tool",
                                                  os.path.join(ROOT, "tools", "parity.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fixture_dir(shared_dir, name):
    return os.path.join(shared_dir, "fixtures", "official", name)


def train_argv(shared_dir, name, **override):
    d = fixture_dir(shared_dir, name)
    args = {"config": CONFIGS[name], "checkpoint": os.path.join(d, "checkpoint.pth"),
            "input": os.path.join(d, "train_input.npy"),
            "label": os.path.join(d, "train_label.npy"),
            "recipe": os.path.join(d, "train_recipe.json"),
            "reference": os.path.join(d, "train_reference.npz")}
    args.update(override)
    argv = ["--train"]
    for key, value in args.items():
        if value is not None:
            argv += [f"--{key}", str(value)]
    return argv


def run_tool(tool, argv, capsys):
    rc = tool.main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def failing_names(result_json, category):
    return {r["name"] for r in result_json["rows"] if r["category"] == category and not r["pass"]}


# ------------------------------------------------------------------ the tool on both fixtures
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_tool_passes_on_fixture_and_dumps(tool, shared_dir, tmp_path, capsys, name):
    out_json, dump = tmp_path / "train.json", tmp_path / "ours.npz"
    rc, out, err = run_tool(tool, train_argv(shared_dir, name, json=out_json, dump=dump), capsys)
    assert rc == 0, out[-4000:] + err[-2000:]
    assert "dropout off" in out and "stochastic depth off" in out
    result = json.loads(out_json.read_text())
    summary = result["summary"]
    for cat in ("loss", "multipliers", "grad", "zero_grad", "bn", "weight", "weight_all",
                "zero_weight"):
        assert summary[cat]["failed"] == 0, (cat, summary[cat])
    ref = train_inputs.load_train_reference(
        os.path.join(fixture_dir(shared_dir, name), "train_reference.npz"))
    n_grad = sum(k.startswith("g_norm:") for k in ref)
    assert summary["grad"]["n"] + summary["zero_grad"]["n"] >= n_grad
    assert summary["bn"]["n"] == sum(k.startswith("bn:") for k in ref)
    print(f"{name}: " + "; ".join(f"{c} worst {s['worst']:.2e} ({s['worst_tensor']})"
                                  for c, s in summary.items()))

    # the dump has the reference layout and, compared with the fixture, passes as well
    ours = train_inputs.load_train_reference(str(dump))
    assert set(ours) == set(ref)
    if name == "segnext_t_ade20k":
        assert np.array_equal(ours["nmf_initial_bases"], ref["nmf_initial_bases"])
    model = load_model(name, shared_dir)
    initial = {k: p.numpy().reshape(-1)[:train_inputs.HEAD] for k, p in
               model.named_parameters()}
    recipe = train_inputs.load_recipe(os.path.join(fixture_dir(shared_dir, name),
                                                   "train_recipe.json"))
    again = train_compare.compare_training(ours, ref, initial, None, recipe["optimizer"],
                                           recipe["steps"])
    assert again.ok, again.summary_lines()


def test_dump_round_trip_compares_with_itself(tool, shared_dir, tmp_path, capsys):
    """A dump without a reference (SegNeXt: seeded NMF bases, stored in the dump), then the
    tool against that dump: a rerun from the same checkpoint must pass."""
    name = "segnext_t_ade20k"
    dump = tmp_path / "ours.npz"
    argv = train_argv(shared_dir, name, reference=None, dump=dump)
    rc, out, err = run_tool(tool, argv, capsys)
    assert rc == 0 and dump.exists(), out[-2000:] + err
    assert "seeded" in out
    assert train_inputs.load_train_reference(str(dump))["nmf_initial_bases"].shape == (2, 256, 16)
    rc, out, err = run_tool(tool, train_argv(shared_dir, name, reference=dump), capsys)
    assert rc == 0, out[-4000:] + err
    # --dump refuses to overwrite
    rc, out, err = run_tool(tool, train_argv(shared_dir, name, dump=dump), capsys)
    assert rc == 2 and str(dump) in err and "overwrite" in err


# ------------------------------------------------------------------ planted training bugs
_MODELS = {}


def load_model(name, shared_dir):
    """One loaded model per fixture, reset to the checkpoint's state on every call."""
    if name not in _MODELS:
        model = build_segmentor(Config.fromfile(CONFIGS[name]).model)
        load_checkpoint_into(model, os.path.join(fixture_dir(shared_dir, name),
                                                 "checkpoint.pth"), verbose=False)
        train_parity.disable_stochastic_layers(model)
        _MODELS[name] = (model, train_parity.snapshot(model))
    model, state = _MODELS[name]
    train_parity.restore(model, state)
    return model


def one_step_comparison(name, shared_dir, with_bases=True):
    """Run the library's procedure with 1 optimizer step (the loss, gradients and BN statistics
    come from the first forward/backward, before any step) and compare those categories."""
    d = fixture_dir(shared_dir, name)
    model = load_model(name, shared_dir)
    recipe = train_inputs.load_recipe(os.path.join(d, "train_recipe.json"))
    ref = train_inputs.load_train_reference(os.path.join(d, "train_reference.npz"))
    img, label = train_inputs.load_batch(os.path.join(d, "train_input.npy"),
                                         os.path.join(d, "train_label.npy"))
    bases = ref.get("nmf_initial_bases") if with_bases else None
    run = train_parity.run_training(model, img, label, recipe["optimizer"], 1, bases)
    no_weights = {k: v for k, v in ref.items() if not k.startswith("w_head:")}
    result = train_compare.compare_training(run.arrays, no_weights, run.initial_heads,
                                            run.multipliers, recipe["optimizer"], 1,
                                            recipe["param_groups"])
    return result.as_json()


def test_planted_loss_over_non_ignored_pixels_fails(shared_dir, monkeypatch):
    real = ce_mod.cross_entropy

    def non_ignored_mean(pred, label, class_weight=None, ignore_index=255,
                         avg_non_ignore=False):
        return real(pred, label, class_weight, ignore_index, avg_non_ignore=True)

    monkeypatch.setattr(ce_mod, "cross_entropy", non_ignored_mean)
    result = one_step_comparison("segret_t_ade20k", shared_dir)
    assert failing_names(result, "loss") == {"loss"}
    # every gradient scales by (all pixels / labelled pixels): the biggest ones all fail
    assert "decode_head.linear_pred.weight" in failing_names(result, "grad")


def test_planted_batchnorm_in_eval_mode_fails(shared_dir, monkeypatch):
    def bn_eval(model):
        model.train()
        for _name, module in model.named_modules():
            if isinstance(module, BatchNorm2d):
                module.eval()

    monkeypatch.setattr(train_parity, "set_train_mode", bn_eval)
    result = one_step_comparison("segret_t_ade20k", shared_dir)
    bn_failed = failing_names(result, "bn")
    assert "backbone.patch_embed.proj.1.running_mean" in bn_failed, bn_failed
    assert failing_names(result, "loss") == {"loss"}
    assert "backbone.patch_embed.proj.1.weight" in failing_names(result, "grad")


def test_planted_nmf_without_fixed_bases_fails(shared_dir, monkeypatch):
    # random bases from a fixed seed (an unseeded draw can land close enough to pass), and none
    # left on the cached model by an earlier test
    load_model("segnext_t_ade20k", shared_dir).decode_head.set_initial_bases(None)
    jt.set_global_seed(0)
    monkeypatch.setattr(NMF2D, "set_initial_bases", lambda self, bases: None)
    result = one_step_comparison("segnext_t_ade20k", shared_dir)
    assert failing_names(result, "loss") == {"loss"}
    grad_failed = failing_names(result, "grad")
    assert "decode_head.hamburger.ham_in.conv.weight" in grad_failed, sorted(grad_failed)[:10]


def test_planted_paramwise_rule_on_wrong_group_fails(tool, shared_dir, tmp_path, capsys,
                                                     monkeypatch):
    """decode_head's lr x2 also given to the last backbone stage: the multipliers differ from
    the recipe and the weights after the steps fail for exactly those tensors."""
    real = optimizer_mod.param_multipliers

    def misapplied(model, paramwise_cfg):
        out = real(model, paramwise_cfg)
        return {n: ((2.0, m[1]) if n.startswith("backbone.layers.3.") else m)
                for n, m in out.items()}

    monkeypatch.setattr(optimizer_mod, "param_multipliers", misapplied)
    out_json = tmp_path / "wrong_group.json"
    argv = train_argv(shared_dir, "segret_t_ade20k", json=out_json)
    rc, out, err = run_tool(tool, argv, capsys)
    assert rc == 1, out[-3000:] + err
    result = json.loads(out_json.read_text())
    stage3 = {r["name"] for r in result["rows"] if r["category"] == "multipliers"
              and r["name"].startswith("backbone.layers.3.")}
    assert failing_names(result, "multipliers") == stage3 and stage3
    # every tensor of the stage fails its weight check, and they are the worst ones (the
    # other tensors drift less: steps 2 and 3 see the changed stage in their forward)
    weight_rows = [r for r in result["rows"] if r["category"] == "weight"]
    stage3_weights = {r["name"] for r in weight_rows if r["name"].startswith("backbone.layers.3.")}
    assert "backbone.layers.3.blocks.0.ffn.fc1.weight" in stage3_weights
    assert stage3_weights <= failing_names(result, "weight")
    worst = sorted(weight_rows, key=lambda r: -r["value"])[:len(stage3_weights)]
    assert {r["name"] for r in worst} == stage3_weights
    assert "FAIL" in out and "backbone.layers.3." in out
    assert failing_names(result, "grad") == set()  # the gradient is taken before any step


# ------------------------------------------------------------------ bad input: exit 2, named
def test_bad_inputs_exit_2_naming_file_and_key(tool, shared_dir, tmp_path, capsys):
    name = "segret_t_ade20k"
    d = fixture_dir(shared_dir, name)

    missing = tmp_path / "nope.npy"
    rc, _, err = run_tool(tool, train_argv(shared_dir, name, label=missing), capsys)
    assert rc == 2 and str(missing) in err and "no such file" in err

    recipe = json.load(open(os.path.join(d, "train_recipe.json")))
    recipe["optimizer"]["paramwise_cfg"]["bias_lr_mul"] = 2.0  # misspelled key
    bad_recipe = tmp_path / "recipe.json"
    bad_recipe.write_text(json.dumps(recipe))
    rc, _, err = run_tool(tool, train_argv(shared_dir, name, recipe=bad_recipe), capsys)
    assert rc == 2 and str(bad_recipe) in err and "bias_lr_mul" in err, err
    recipe["optimizer"]["paramwise_cfg"].pop("bias_lr_mul")
    recipe["optimizer"]["paramwise_cfg"]["custom_keys"]["decode_head"]["lr_mul"] = 2.0
    bad_recipe.write_text(json.dumps(recipe))
    rc, _, err = run_tool(tool, train_argv(shared_dir, name, recipe=bad_recipe), capsys)
    assert rc == 2 and "custom_keys.decode_head.lr_mul" in err, err

    wrong_label = tmp_path / "label.npy"
    np.save(wrong_label, np.load(os.path.join(d, "train_label.npy"))[:, :, :95])
    rc, _, err = run_tool(tool, train_argv(shared_dir, name, label=wrong_label), capsys)
    assert rc == 2 and str(wrong_label) in err and "(2, 64, 95)" in err, err

    other = os.path.join(fixture_dir(shared_dir, "segnext_t_ade20k"), "train_reference.npz")
    rc, _, err = run_tool(tool, train_argv(shared_dir, name, reference=other), capsys)
    assert rc == 2 and other in err and "backbone.patch_embed1" in err, err

    four = tmp_path / "four.npy"
    img = np.load(os.path.join(d, "train_input.npy"))
    np.save(four, np.concatenate([img, img[:, :1]], axis=1))
    rc, _, err = run_tool(tool, train_argv(shared_dir, name, input=four), capsys)
    assert rc == 2 and "4 channels" in err and "expects 3" in err, err
    # user errors: one 'error:' line, no traceback
    assert err.strip().count("\n") == 0 and err.startswith("parity: error:")
    assert "Traceback" not in err


def test_forward_mode_four_channels_and_debug(tool, shared_dir, tmp_path, capsys):
    d = fixture_dir(shared_dir, "segret_t_ade20k")
    four = tmp_path / "four.npy"
    img = np.load(os.path.join(d, "input.npy"))
    np.save(four, np.concatenate([img, img[:, :1]], axis=1))
    argv = ["--config", CONFIGS["segret_t_ade20k"],
            "--checkpoint", os.path.join(d, "checkpoint.pth"), "--input", str(four),
            "--reference", os.path.join(d, "outputs.npz")]
    rc, _, err = run_tool(tool, argv, capsys)
    assert rc == 2 and str(four) in err and "4 channels" in err and "expects 3" in err, err
    assert "Traceback" not in err and err.strip().count("\n") == 0
    rc, _, err = run_tool(tool, argv + ["--debug"], capsys)
    assert rc == 2 and "Traceback" in err and "4 channels" in err


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "abc"])
@pytest.mark.parametrize("option", ["--tol", "--tol-grad", "--tol-weight"])
def test_tolerances_must_be_finite_and_non_negative(tool, capsys, option, value):
    with pytest.raises(SystemExit) as exc:
        tool.parse_args(["--train", "--config", "c", "--checkpoint", "k", "--input", "i",
                         "--label", "l", "--recipe", "r", "--reference", "x",
                         f"{option}={value}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and value in err


def test_recipe_validation_names_keys(tmp_path):
    base = {"optimizer": {"type": "AdamW", "lr": 1e-3}, "steps": 3}
    cases = [({"optimizer": {"type": "AdamW", "lr": float("nan")}}, "optimizer.lr"),
             ({"optimizer": {"type": "AdamW", "lr": 1e-3, "momentom": 0.9}},
              "optimizer.momentom"),
             ({"steps": 0}, "'steps'"),
             ({"optimizer": {"lr": 1e-3}}, "optimizer.type")]
    for change, key in cases:
        path = tmp_path / "r.json"
        path.write_text(json.dumps({**base, **change}))
        with pytest.raises(train_inputs.TrainInputError) as exc:
            train_inputs.load_recipe(str(path))
        assert key in str(exc.value) and str(path) in str(exc.value)
