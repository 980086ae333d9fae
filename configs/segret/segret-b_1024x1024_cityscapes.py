# SegRet-B — Cityscapes, 1024x1024 crops, 160k iterations.
# The published recipe SegRet.B.1024x1024.city.160k.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/cityscapes_1024x1024.py",
    "../_base_/default_runtime.py",
    # the SegFormer/SegNeXt recipe: AdamW 6e-5, head lr x10, warmup, poly 1.0
    "../_base_/schedules/schedule_segnext_160k.py",
]
model = dict(
    backbone=dict(arch="b"),
    decode_head=dict(
        in_channels=[80, 160, 320, 512],
        # the published config leaves use_relu out (its head would fail with a KeyError);
        # our head's default, True, is the paper's ReLU
        decoder_params=dict(_delete_=True, embed_dim=768),
        num_classes=19),
    test_cfg=dict(mode="slide", crop_size=(1024, 1024), stride=(768, 768)))
data = dict(samples_per_gpu=12, workers_per_gpu=4)
