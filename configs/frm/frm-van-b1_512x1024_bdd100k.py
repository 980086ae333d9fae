# FRM with VAN-B1 on BDD100K semantic segmentation (19 Cityscapes classes; 512x1024 crops, as
# the dataset config). Schedule as the Cityscapes config: SegNeXt's AdamW recipe, 160k iterations.
_base_ = [
    "../_base_/models/frm.py",
    "../_base_/datasets/bdd100k.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_160k.py",
]
model = dict(
    backbone=dict(arch="b1"),
    test_cfg=dict(mode="whole"))
optimizer = dict(paramwise_cfg=dict(custom_keys={
    "neck": dict(lr_mult=10.0),
    "neck.refine.norm": dict(lr_mult=10.0, decay_mult=0.0)}))
data = dict(samples_per_gpu=2, workers_per_gpu=2)
