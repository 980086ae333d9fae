# SegRet-T on ade20k (512x512 crops): RMT-T backbone; E=256.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/ade20k.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_160k.py",
]
model = dict(
    decode_head=dict(
        num_classes=150),
    test_cfg=dict(mode='whole'))
data = dict(samples_per_gpu=4, workers_per_gpu=4)
