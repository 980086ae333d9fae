# SegRet-B on cityscapes (512x1024 crops): RMT-B backbone; E=768.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/cityscapes.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_160k.py",
]
model = dict(
    backbone=dict(
        embed_dims=[80, 160, 320, 512], depths=[4, 8, 25, 8], num_heads=[5, 5, 10, 16],
        heads_ranges=[5, 5, 6, 6], mlp_ratios=[4, 4, 3, 3], drop_path_rate=0.4,
        decomposed_stages=[True, True, True, False],
        layerscale_stages=[False, False, True, True], layer_init_values=1e-6),
    decode_head=dict(
        in_channels=[80, 160, 320, 512], decoder_params=dict(embed_dim=768),
        num_classes=19),
    test_cfg=dict(mode='slide', crop_size=(512, 1024), stride=(341, 683)))
data = dict(samples_per_gpu=4, workers_per_gpu=4)
