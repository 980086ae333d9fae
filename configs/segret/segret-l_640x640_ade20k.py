# SegRet-L — ADE20K, 640x640 crops, 160k iterations.
# The published recipe SegRet.L.640x640.ade.160k_res.py.
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/ade20k_640x640.py",
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
img_norm_cfg = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
crop_size = (640, 640)
# the published 640x640 config rescales from (2048, 640) (mmseg's ade20k_640x640: (2560, 640)),
# and tests with AlignedResize
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", reduce_zero_label=True),
    dict(type="Resize", img_scale=(2048, 640), ratio_range=(0.5, 2.0)),
    dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="Normalize", **img_norm_cfg),
    dict(type="Pad", size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type="DefaultFormatBundle"),
    dict(type="Collect", keys=["img", "gt_semantic_seg"]),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(
        type="MultiScaleFlipAug",
        img_scale=(2048, 640),
        flip=False,
        transforms=[
            dict(type="AlignedResize", keep_ratio=True, size_divisor=32),
            dict(type="RandomFlip"),
            dict(type="Normalize", **img_norm_cfg),
            dict(type="ImageToTensor", keys=["img"]),
            dict(type="Collect", keys=["img"]),
        ])
]
data = dict(samples_per_gpu=4, workers_per_gpu=4, train=dict(pipeline=train_pipeline),
            val=dict(pipeline=test_pipeline), test=dict(pipeline=test_pipeline))
