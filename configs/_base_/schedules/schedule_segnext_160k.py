# SegNeXt's published recipe: AdamW 6e-5, linear warmup 1500 iterations then poly (power 1),
# 160k iterations; decode head lr ×10, no weight decay on norms.
optimizer = dict(type="AdamW", lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01,
                 paramwise_cfg=dict(custom_keys={
                     "pos_block": dict(decay_mult=0.0),
                     "norm": dict(decay_mult=0.0),
                     "head": dict(lr_mult=10.0)}))
optimizer_config = dict()
lr_config = dict(policy="poly", warmup="linear", warmup_iters=1500, warmup_ratio=1e-6,
                 power=1.0, min_lr=0.0, by_epoch=False)
runner = dict(type="IterBasedRunner", max_iters=160000)
checkpoint_config = dict(by_epoch=False, interval=8000)
evaluation = dict(interval=8000, metric="mIoU", save_best="mIoU")
