# SegNeXt-T on Cityscapes (1024x1024 crops): MSCAN-T backbone.
# As the SegNeXt repository's config.
_base_ = [
    "../_base_/models/segnext.py",
    "../_base_/datasets/cityscapes_1024x1024.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_160k.py",
]
model = dict(
    backbone=dict(arch="t"),
    decode_head=dict(
        num_classes=19),
    test_cfg=dict(mode="slide", crop_size=(1024, 1024), stride=(768, 768)))
data = dict(samples_per_gpu=4, workers_per_gpu=4)
