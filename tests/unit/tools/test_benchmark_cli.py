"""tools/benchmark.py --model and tools/get_flops.py end to end on a small input: the JSON
record holds the settings, machine, timings, recompilation count and memory; a fixed-shape loop
shows 0 recompilations; get_flops reports the published comparison."""
import importlib.util
import json
import os

import pytest

from tests.helpers.paths import ROOT

SEGNEXT_T = os.path.join(ROOT, "configs", "segnext", "segnext-t_512x512_ade20k.py")


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_benchmark_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    # "--mode" after "--model": the dispatcher must not read it as an abbreviation of --model
    rc = load_tool("benchmark").main(["--model", SEGNEXT_T, "--mode", "infer", "--shape", "64",
                                      "96", "--repeats", "2", "--warmup", "1",
                                      "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "inference" in printed and "recompiles" in printed
    record = json.loads(out.read_text())
    assert record["config"] == SEGNEXT_T
    assert record["settings"]["shape"] == [64, 96] and record["settings"]["batch"] == 1
    assert record["machine"]["jittor"] and record["machine"]["device"] in ("cpu", "cuda")
    (result,) = record["results"]
    assert result["phase"] == "inference" and len(result["times_s"]) == 2
    assert 0 < result["min_s"] <= result["median_s"]
    assert result["throughput_img_s"] == pytest.approx(1 / result["median_s"])
    assert result["recompiles"] == 0, result["recompiled_keys"]
    assert result["var_peak_mb"] is None or result["var_peak_mb"] > 0


def test_model_benchmark_rejects_fp16_on_cpu():
    import jittor as jt

    if jt.flags.use_cuda:
        pytest.skip("a GPU is in use")
    with pytest.raises(SystemExit, match="GPU"):
        load_tool("benchmark").main(["--model", SEGNEXT_T, "--fp16"])


def test_get_flops_reports_published_comparison(tmp_path, capsys):
    out = tmp_path / "flops.json"
    assert load_tool("get_flops").main([SEGNEXT_T, "--shape", "512", "512",
                                        "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "published: 6.6 GFLOPs" in printed
    record = json.loads(out.read_text())
    assert abs(record["published"]["rel_diff"]["macs"]) <= 0.05
