# Quickstart: SegRet-T (the real architecture) trained from scratch on the embedded synthetic
# dataset, sized for a 2-core CPU (see tools/quickstart.sh). Generate the data first:
#   python tools/generate_synthetic.py --out data/synthetic
_base_ = [
    "../_base_/models/segret.py",
    "../_base_/datasets/synthetic.py",
    "../_base_/default_runtime.py",
]
model = dict(
    backbone=dict(arch="t", drop_path_rate=0.0),
    decode_head=dict(num_classes=6, dropout_ratio=0.0))
data = dict(samples_per_gpu=8, workers_per_gpu=1)
# From scratch on a small dataset: a larger lr than the ImageNet-initialized recipe, short warmup.
optimizer = dict(type="AdamW", lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01)
optimizer_config = dict(grad_clip=dict(max_norm=5.0))
lr_config = dict(policy="poly", power=0.9, min_lr=1e-5, warmup="linear", warmup_iters=20,
                 warmup_ratio=0.1, by_epoch=False)
runner = dict(type="IterBasedRunner", max_iters=200)
checkpoint_config = dict(by_epoch=False, interval=100, max_keep_ckpts=2)
evaluation = dict(interval=200, metric="mIoU", save_best="mIoU")
log_config = dict(interval=10)
