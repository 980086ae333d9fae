# SegNeXt-T on Pascal VOC 2012 + SBD aug (512x512 crops): MSCAN-T backbone.
# No published config: 80k iterations (SegNeXt paper), whole-image test.
_base_ = [
    "../_base_/models/segnext.py",
    "../_base_/datasets/pascal_voc12_aug.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_80k.py",
]
model = dict(
    backbone=dict(arch="t"),
    decode_head=dict(
        num_classes=21),
    test_cfg=dict(mode="whole"))
data = dict(samples_per_gpu=8, workers_per_gpu=4)
