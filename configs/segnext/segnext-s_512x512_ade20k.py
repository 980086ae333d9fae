# SegNeXt-S on ADE20K (512x512 crops): MSCAN-S backbone.
# As the SegNeXt repository's config.
_base_ = [
    "../_base_/models/segnext.py",
    "../_base_/datasets/ade20k_segnext.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_160k.py",
]
model = dict(
    backbone=dict(arch="s"),
    decode_head=dict(
        in_channels=[128, 320, 512],
        channels=256,
        ham_channels=256,
        num_classes=150),
    test_cfg=dict(mode="whole"))
data = dict(samples_per_gpu=8, workers_per_gpu=4)
