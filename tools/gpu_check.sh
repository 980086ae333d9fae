#!/usr/bin/env bash
# GPU check: everything a machine with an NVIDIA GPU should confirm, in one run (< 8 min).
#
#   bash tools/gpu_check.sh [OUT.json]        (default: gpu_check.json)
#
# Steps, each with its own time limit (90+120+60+4×50 s = 7.8 min at most); a failing step is recorded and the next one still runs:
#   1. Jittor on CUDA: jt.flags.use_cuda and a small matmul checked against numpy
#   2. tests/cuda (pytest)
#   3. the retention operator benchmark (fused CUDA kernel vs naive Jittor), stage1 + stage3
#   4. SegRet-T and SegNeXt-T training throughput, 512x512, batch 8, fp32 and --fp16
# Not yet run on a GPU machine (none was available when it was written): numbers to be measured.
# Writes one JSON file: {"machine": ..., "steps": {name: {"rc", "seconds", "log_tail",
# "result"}}}, "result" being the benchmark's own JSON record where there is one.
# Exit status: 0 when every step passed, 1 otherwise.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-gpu_check.json}"
PY="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export JSEG_RET_DEVICE=cuda
cd "$ROOT" || exit 2

if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: nvidia-smi not found; this check needs an NVIDIA GPU" >&2
    exit 2
fi

STEPS=()
run_step() {  # name, seconds, command...
    local name="$1" limit="$2"
    shift 2
    local start end rc
    start=$(date +%s.%N)
    timeout --kill-after=10 "$limit" "$@" >"$WORK/$name.log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    echo "$rc $(echo "$end - $start" | bc)" >"$WORK/$name.status"
    STEPS+=("$name")
    printf '%-28s rc=%-3s %6.1fs\n' "$name" "$rc" "$(echo "$end - $start" | bc)"
}

# 1. Jittor on CUDA (~1 min with a cold kernel cache)
run_step jittor_cuda 90 "$PY" -c '
import jseg_ret, jittor as jt, numpy as np
assert jt.flags.use_cuda, "Jittor is not using CUDA"
a = np.random.RandomState(0).randn(64, 32).astype("float32")
y = jt.matmul(jt.array(a), jt.array(a.T)).numpy()
assert np.abs(y - a @ a.T).max() < 1e-3
print("cuda ok", jt.flags.use_cuda)'

# 2. tests/cuda (~1 min)
run_step tests_cuda 120 "$PY" -m pytest tests/cuda -q -x

# 3. retention op benchmark (~1 min)
run_step retention_op 60 "$PY" tools/benchmark.py --op retention --cases stage1,stage3 \
    --impls fused,naive --repeats 5 --warmup 2 --json "$WORK/retention_op.json"

# 4. training throughput, 512x512, batch 8 (4 runs, ~1 min each)
for model in segret-t:configs/segret/segret-t_512x512_ade20k.py \
             segnext-t:configs/segnext/segnext-t_512x512_ade20k.py; do
    name="${model%%:*}"
    config="${model#*:}"
    run_step "train_${name}_fp32" 50 "$PY" tools/benchmark.py --model "$config" --mode train \
        --shape 512 512 --batch 8 --repeats 3 --warmup 1 --no-memory \
        --json "$WORK/train_${name}_fp32.json"
    run_step "train_${name}_fp16" 50 "$PY" tools/benchmark.py --model "$config" --mode train \
        --shape 512 512 --batch 8 --repeats 3 --warmup 1 --no-memory --fp16 \
        --json "$WORK/train_${name}_fp16.json"
done

"$PY" - "$WORK" "$OUT" "${STEPS[@]}" <<'PYEOF'
import json, os, platform, subprocess, sys
work, out, steps = sys.argv[1], sys.argv[2], sys.argv[3:]
def tail(path, n=40):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])
record = {"machine": {"host": platform.node(), "python": platform.python_version()},
          "steps": {}}
try:
    record["machine"]["gpu"] = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
        capture_output=True, text=True, timeout=30).stdout.strip()
except Exception as e:  # recorded, not fatal
    record["machine"]["gpu"] = f"nvidia-smi failed: {e}"
for name in steps:
    rc, seconds = open(os.path.join(work, name + ".status")).read().split()
    step = {"rc": int(rc), "seconds": float(seconds),
            "log_tail": tail(os.path.join(work, name + ".log"))}
    result = os.path.join(work, name + ".json")
    if os.path.exists(result):
        with open(result) as f:
            step["result"] = json.load(f)
    record["steps"][name] = step
record["passed"] = all(s["rc"] == 0 for s in record["steps"].values())
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(record, f, indent=1)
os.replace(tmp, out)
print(f"wrote {out}: {'all steps passed' if record['passed'] else 'FAILED steps: ' + ', '.join(n for n, s in record['steps'].items() if s['rc'])}")
sys.exit(0 if record["passed"] else 1)
PYEOF
