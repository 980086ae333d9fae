# SegRet-L — Cityscapes, 512x1024 crops, 160k iterations.
# The published recipe SegRet.L.512x1024.city.160k.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/cityscapes_segret.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_160k.py",
]
model = dict(
    backbone=dict(
        embed_dims=[112, 224, 448, 640], depths=[4, 8, 25, 8], num_heads=[7, 7, 14, 20],
        heads_ranges=[6, 6, 6, 6], mlp_ratios=[4, 4, 3, 3], drop_path_rate=0.5,
        decomposed_stages=[True, True, True, False],
        layerscale_stages=[False, False, True, True], layer_init_values=1e-6),
    decode_head=dict(
        in_channels=[112, 224, 448, 640],
        decoder_params=dict(embed_dim=512, use_relu=True),
        num_classes=19),
    test_cfg=dict(mode="whole"))
data = dict(samples_per_gpu=2, workers_per_gpu=2)
