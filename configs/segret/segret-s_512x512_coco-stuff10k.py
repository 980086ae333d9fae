# SegRet-S — COCO-Stuff10K, 512x512 crops, 80k iterations.
# The published recipe SegRet.S.512x512.coco10k.80k.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/coco-stuff10k_segret.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_80k.py",
]
model = dict(
    backbone=dict(arch="s"),
    decode_head=dict(
        num_classes=171),
    test_cfg=dict(mode="whole"))
runner = dict(max_iters=60000)
data = dict(samples_per_gpu=8, workers_per_gpu=4)
