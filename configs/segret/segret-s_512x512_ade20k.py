# SegRet-S — ADE20K, 512x512 crops, 160k iterations.
# The published recipe SegRet.S.512x512.ade.160k_res.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/ade20k_segret.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_160k.py",
]
model = dict(
    backbone=dict(arch="s"),
    decode_head=dict(
        num_classes=150),
    test_cfg=dict(mode="whole"))
lr_config = dict(warmup="linear", warmup_iters=1500, warmup_ratio=1e-6)
data = dict(samples_per_gpu=4, workers_per_gpu=4)
