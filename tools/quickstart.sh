#!/usr/bin/env bash
# The main job on the embedded default, on any machine (CPU is fine):
#   install -> generate the synthetic dataset -> train SegRet-T -> evaluate (per-class table)
#   -> prediction PNGs and colour overlays, all under work_dirs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CFG=configs/quickstart/segret-t_synthetic.py
WORK=work_dirs/quickstart
START=$(date +%s)

bash tools/install.sh
$PY tools/generate_synthetic.py --out data/synthetic --num-train 400 --num-val 80 --nproc 2
rm -rf "$WORK"
$PY tools/run_net.py --config-file "$CFG" --task train --work-dir "$WORK"
CKPT=$(ls -t "$WORK"/iter_*.pkl | head -n 1)
$PY tools/run_net.py --config-file "$CFG" --task test --work-dir "$WORK" --checkpoint "$CKPT" \
    --save-dir "$WORK/predictions" --no-progress
$PY tools/demo.py "$CFG" "$CKPT" data/synthetic/img_dir/val --out-dir "$WORK/overlays"
$PY - "$WORK" "$START" <<'PYEOF'
import json, sys, time
work, start = sys.argv[1], int(sys.argv[2])
r = json.load(open(f"{work}/eval_results.json"))
print(f"quickstart done in {(time.time() - start) / 60:.1f} min: mIoU {r['mIoU']:.2f}, "
      f"mAcc {r['mAcc']:.2f}, aAcc {r['aAcc']:.2f}  ({work}/eval_results.json)")
PYEOF
