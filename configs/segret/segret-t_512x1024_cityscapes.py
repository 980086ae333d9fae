# SegRet-T — Cityscapes, 512x1024 crops, 160k iterations.
# The published recipe SegRet.T.512x1024.city.160k.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/cityscapes_segret.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_160k.py",
]
model = dict(
    backbone=dict(arch="t"),
    decode_head=dict(
        num_classes=19),
    test_cfg=dict(mode="whole"))
data = dict(samples_per_gpu=2, workers_per_gpu=2)
