# SegRet's published recipe: AdamW 1e-4, poly 0.9 without warmup, 160k iterations.
optimizer = dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01,
                 paramwise_cfg=dict(custom_keys={
                     # the backbone's LayerNorms/downsample norms: lr ×0.1, no weight decay
                     "norm": dict(lr_mult=0.1, decay_mult=0.0)}))
optimizer_config = dict()
lr_config = dict(policy="poly", power=0.9, min_lr=0.0, by_epoch=False)
runner = dict(type="IterBasedRunner", max_iters=160000)
checkpoint_config = dict(by_epoch=False, interval=16000, max_keep_ckpts=3)
evaluation = dict(interval=16000, metric="mIoU", save_best="mIoU")
