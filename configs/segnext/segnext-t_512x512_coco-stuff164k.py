# SegNeXt-T on COCO-Stuff164K (512x512 crops): MSCAN-T backbone.
# As the SegNeXt repository's config (80k iterations).
_base_ = [
    "../_base_/models/segnext.py",
    "../_base_/datasets/coco-stuff164k_segnext.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_80k.py",
]
model = dict(
    backbone=dict(arch="t"),
    decode_head=dict(
        num_classes=171),
    test_cfg=dict(mode="whole"))
data = dict(samples_per_gpu=8, workers_per_gpu=4)
