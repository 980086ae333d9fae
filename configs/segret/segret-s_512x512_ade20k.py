# SegRet-S on ade20k (512x512 crops): RMT-S backbone; E=256.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/ade20k.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_160k.py",
]
model = dict(
    backbone=dict(
        embed_dims=[64, 128, 256, 512], depths=[3, 4, 18, 4], num_heads=[4, 4, 8, 16],
        heads_ranges=[4, 4, 6, 6], mlp_ratios=[4, 4, 3, 3], drop_path_rate=0.15,
        decomposed_stages=[True, True, True, False]),
    decode_head=dict(
        in_channels=[64, 128, 256, 512], decoder_params=dict(embed_dim=256),
        num_classes=150),
    test_cfg=dict(mode='whole'))
data = dict(samples_per_gpu=4, workers_per_gpu=4)
