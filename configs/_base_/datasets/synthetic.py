# dataset settings: the embedded synthetic shapes dataset (no download).
# Generate it first: python tools/generate_synthetic.py --out data/synthetic
# Images are 96..192 px a side; 6 classes (0 = background is a class, nothing is ignored).
dataset_type = 'SyntheticDataset'
data_root = 'data/synthetic'
# Mean/std measured on the generated train split (RGB order).
img_norm_cfg = dict(mean=[132.4, 128.3, 119.8], std=[50.0, 48.3, 50.3], to_rgb=True)
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # img_scale=None: ratios of each image's own size
    dict(type='Resize', img_scale=None, ratio_range=(0.75, 1.5)),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    # mild: the classes differ by colour, so large hue/saturation shifts would blur them
    dict(type='PhotoMetricDistortion', brightness_delta=16, contrast_range=(0.8, 1.2),
         saturation_range=(0.8, 1.2), hue_delta=4),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
# One fixed test size: Jittor compiles its kernels once per input shape, so on a CPU a fixed
# size evaluates far faster than the images' own (varied) sizes. Predictions are resized back
# to each image's original size before scoring.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(160, 160),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=False),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ])
]
data = dict(
    samples_per_gpu=8,
    workers_per_gpu=1,
    train=dict(
        type=dataset_type,
        data_root=data_root,
        img_dir='img_dir/train',
        ann_dir='ann_dir/train',
        pipeline=train_pipeline),
    val=dict(
        type=dataset_type,
        data_root=data_root,
        img_dir='img_dir/val',
        ann_dir='ann_dir/val',
        pipeline=test_pipeline),
    test=dict(
        type=dataset_type,
        data_root=data_root,
        img_dir='img_dir/val',
        ann_dir='ann_dir/val',
        pipeline=test_pipeline))
