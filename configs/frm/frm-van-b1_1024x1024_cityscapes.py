# FRM with VAN-B1 on Cityscapes (1024x1024 crops).
# Schedule: SegNeXt's AdamW recipe (lr 6e-5, 1500 warmup iterations, poly, 160k iterations) —
# VAN is MSCAN's sibling and SegNeXt tuned this recipe for it on Cityscapes at 1024x1024; the
# FRM paper states none. The randomly initialized neck (FPN + FRM) gets the head's lr ×10.
_base_ = [
    "../_base_/models/frm.py",
    "../_base_/datasets/cityscapes_1024x1024.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_segnext_160k.py",
]
model = dict(
    backbone=dict(arch="b1"),
    test_cfg=dict(mode="slide", crop_size=(1024, 1024), stride=(768, 768)))
optimizer = dict(paramwise_cfg=dict(custom_keys={
    "neck": dict(lr_mult=10.0),
    "neck.refine.norm": dict(lr_mult=10.0, decay_mult=0.0)}))
data = dict(samples_per_gpu=2, workers_per_gpu=2)
