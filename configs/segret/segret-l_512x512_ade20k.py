# SegRet-L — ADE20K, 512x512 crops, 160k iterations.
# The published recipe SegRet.L.512x512.ade.160k_res.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/ade20k_segret.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_160k.py",
]
model = dict(
    backbone=dict(arch="l"),
    decode_head=dict(
        in_channels=[112, 224, 448, 640],
        decoder_params=dict(embed_dim=512, use_relu=True),
        num_classes=150),
    test_cfg=dict(mode="whole"))
data = dict(samples_per_gpu=4, workers_per_gpu=4)
