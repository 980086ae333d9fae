# SegRet-T on cityscapes (512x1024 crops): RMT-T backbone; E=256.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/cityscapes.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_160k.py",
]
model = dict(
    decode_head=dict(
        num_classes=19),
    test_cfg=dict(mode='slide', crop_size=(512, 1024), stride=(341, 683)))
data = dict(samples_per_gpu=4, workers_per_gpu=4)
