# SegRet-T — COCO-Stuff10K, 512x512 crops, 80k iterations.
# The published recipe SegRet.T.512x512.coco10k.80k.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/coco-stuff10k_segret.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_80k.py",
]
model = dict(
    backbone=dict(arch="t"),
    decode_head=dict(
        num_classes=171),
    test_cfg=dict(mode="whole"))
optimizer = dict(lr=2e-4, weight_decay=1e-4)
lr_config = dict(warmup="linear", warmup_iters=1500, warmup_ratio=1e-6)
data = dict(samples_per_gpu=4, workers_per_gpu=4)
