# SegRet-B — COCO-Stuff10K, 512x512 crops, 80k iterations.
# The published recipe SegRet.B.512x512.coco10k.80k.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/coco-stuff10k_segret.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_80k.py",
]
model = dict(
    backbone=dict(arch="b"),
    decode_head=dict(
        in_channels=[80, 160, 320, 512],
        num_classes=171),
    test_cfg=dict(mode="whole"))
lr_config = dict(warmup="linear", warmup_iters=1500, warmup_ratio=1e-6)
data = dict(samples_per_gpu=4, workers_per_gpu=4)
