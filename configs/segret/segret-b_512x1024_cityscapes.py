# SegRet-B — Cityscapes, 512x1024 crops, 160k iterations.
# The published recipe SegRet.B.512x1024.city.160k.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/cityscapes_segret.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_160k.py",
]
model = dict(
    backbone=dict(arch="b"),
    decode_head=dict(
        in_channels=[80, 160, 320, 512],
        num_classes=19),
    test_cfg=dict(mode="whole"))
# no param-wise rule in the published config
optimizer = dict(_delete_=True, type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01)
lr_config = dict(_delete_=True, policy="poly", warmup="linear", warmup_iters=1500,
                 warmup_ratio=1e-6, power=1.0, min_lr=0.0, by_epoch=False)
data = dict(samples_per_gpu=2, workers_per_gpu=2)
