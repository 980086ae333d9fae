# SegNeXt-B on COCO-Stuff164K (512x512 crops): MSCAN-B backbone.
# As the SegNeXt repository's config (80k iterations).
_base_ = [
    "../_base_/models/segnext.py",
    "../_base_/datasets/coco-stuff164k_segnext.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_80k.py",
]
model = dict(
    backbone=dict(arch="b"),
    decode_head=dict(
        in_channels=[128, 320, 512],
        channels=512,
        ham_channels=512,
        ham_kwargs=dict(MD_R=64),
        num_classes=171),
    test_cfg=dict(mode="whole"))
data = dict(samples_per_gpu=4, workers_per_gpu=4)
