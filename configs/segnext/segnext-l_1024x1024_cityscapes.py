# SegNeXt-L on Cityscapes (1024x1024 crops): MSCAN-L backbone.
# As the SegNeXt repository's config.
_base_ = [
    "../_base_/models/segnext.py",
    "../_base_/datasets/cityscapes_1024x1024.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_160k.py",
]
model = dict(
    backbone=dict(arch="l"),
    decode_head=dict(
        in_channels=[128, 320, 512],
        channels=1024,
        ham_channels=1024,
        ham_kwargs=dict(MD_R=64),
        num_classes=19),
    test_cfg=dict(mode="slide", crop_size=(1024, 1024), stride=(768, 768)))
data = dict(samples_per_gpu=2, workers_per_gpu=4)
