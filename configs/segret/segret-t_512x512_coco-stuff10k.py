# SegRet-T on coco-stuff10k (512x512 crops): RMT-T backbone; E=256.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/coco-stuff10k.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_80k.py",
]
model = dict(
    decode_head=dict(
        num_classes=171),
    test_cfg=dict(mode='whole'))
optimizer = dict(lr=0.0002)
data = dict(samples_per_gpu=4, workers_per_gpu=4)
