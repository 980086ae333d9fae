# SegRet-L — COCO-Stuff10K, 512x512 crops, 80k iterations.
# The published recipe SegRet.L.512x512.coco10k.80k.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/coco-stuff10k_segret.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_80k.py",
]
model = dict(
    backbone=dict(arch="l"),
    decode_head=dict(
        in_channels=[112, 224, 448, 640],
        decoder_params=dict(embed_dim=512, use_relu=True),
        num_classes=171),
    test_cfg=dict(mode="whole"))
# no param-wise rule in the published config
optimizer = dict(_delete_=True, type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01)
lr_config = dict(warmup="linear", warmup_iters=1500, warmup_ratio=1e-6)
data = dict(samples_per_gpu=4, workers_per_gpu=4)
