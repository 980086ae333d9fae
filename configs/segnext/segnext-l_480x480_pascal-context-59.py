# SegNeXt-L on Pascal Context 59 (480x480 crops): MSCAN-L backbone.
# No published config: 80k iterations (SegNeXt paper), sliding-window test as mmseg.
_base_ = [
    "../_base_/models/segnext.py",
    "../_base_/datasets/pascal_context_59.py",
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
        num_classes=59),
    test_cfg=dict(mode="slide", crop_size=(480, 480), stride=(320, 320)))
data = dict(samples_per_gpu=4, workers_per_gpu=4)
