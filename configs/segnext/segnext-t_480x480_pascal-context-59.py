# SegNeXt-T on Pascal Context 59 (480x480 crops): MSCAN-T backbone.
# No published config: 80k iterations (SegNeXt paper), sliding-window test as mmseg.
_base_ = [
    "../_base_/models/segnext.py",
    "../_base_/datasets/pascal_context_59.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_80k.py",
]
model = dict(
    backbone=dict(arch="t"),
    decode_head=dict(
        num_classes=59),
    test_cfg=dict(mode="slide", crop_size=(480, 480), stride=(320, 320)))
data = dict(samples_per_gpu=8, workers_per_gpu=4)
