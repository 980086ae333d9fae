# SegNeXt-T on iSAID (896x896 patches): MSCAN-T backbone.
# As JSeg's segnext_*_896x896_isaid_160k: 160k iterations, whole-image test.
_base_ = [
    "../_base_/models/segnext.py",
    "../_base_/datasets/isaid.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_160k.py",
]
model = dict(
    backbone=dict(arch="t"),
    decode_head=dict(
        num_classes=16),
    test_cfg=dict(mode="whole"))
data = dict(samples_per_gpu=8, workers_per_gpu=4)
