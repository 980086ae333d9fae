# SegNeXt-L on Pascal VOC 2012 + SBD aug (512x512 crops): MSCAN-L backbone.
# No published config: 80k iterations (SegNeXt paper), whole-image test.
_base_ = [
    "../_base_/models/segnext.py",
    "../_base_/datasets/pascal_voc12_aug.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_80k.py",
]
model = dict(
    backbone=dict(arch="l"),
    decode_head=dict(
        in_channels=[128, 320, 512],
        channels=1024,
        ham_channels=1024,
        ham_kwargs=dict(MD_R=64),
        num_classes=21),
    test_cfg=dict(mode="whole"))
data = dict(samples_per_gpu=4, workers_per_gpu=4)
