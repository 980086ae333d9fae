"""The tiny SegRet on generated synthetic data: a few seconds a run on 2 CPU cores. Training,
MPI, CLI and analysis tests share it (and so share its compiled kernels)."""
from jseg_ret.datasets import generate_synthetic_dataset
from tests.helpers.paths import ROOT

# a str.format template: {root} the checkout, {data} a synthetic dataset (synthetic_data)
TINY = """
_base_ = ["{root}/configs/quickstart/segret-t_synthetic.py"]
model = dict(
    backbone=dict(embed_dims=[16, 32, 32, 64], depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4],
                  mlp_ratios=[2, 2, 2, 2], drop_path_rate=0.1, retention_impl="naive"),
    decode_head=dict(in_channels=[16, 32, 32, 64], channels=16, dropout_ratio=0.1,
                     decoder_params=dict(embed_dim=32)))
crop_size = (64, 64)
data_root = "{data}"
train_pipeline = [
    dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
    dict(type="Resize", img_scale=None, ratio_range=(0.75, 1.25)),
    dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion", brightness_delta=16),
    dict(type="Normalize", mean=[128.0] * 3, std=[50.0] * 3, to_rgb=True),
    dict(type="Pad", size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type="DefaultFormatBundle"), dict(type="Collect", keys=["img", "gt_semantic_seg"])]
data = dict(samples_per_gpu=2, workers_per_gpu=0,
            train=dict(data_root=data_root, pipeline=train_pipeline),
            val=dict(data_root=data_root), test=dict(data_root=data_root))
runner = dict(max_iters=4)
lr_config = dict(warmup_iters=2)
checkpoint_config = dict(interval=2, max_keep_ckpts=5)
evaluation = dict(interval=None)  # no validation
log_config = dict(interval=1)
"""


def synthetic_data(path, num_train, num_val, seed=0):
    """Generate a synthetic dataset at path, images sized for the tiny config; returns path."""
    generate_synthetic_dataset(str(path), num_train=num_train, num_val=num_val, seed=seed,
                               min_size=64, max_size=80)
    return path


def write_tiny_config(path, data, extra="", template=TINY):
    """Write template (the tiny config) on the dataset at data, then extra, to path; returns
    path."""
    path.write_text(template.format(root=ROOT, data=data) + extra)
    return path
