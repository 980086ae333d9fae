# SegRet's published recipe (SegRet.*.512x512.ade.160k_res.py): AdamW 1e-4, poly 0.9 without
# warmup, 160k iterations. The RMT backbone's norms — both LayerNorms of every block, the stem's
# BatchNorms (patch_embed.proj.1/4/7/10) and the downsampling norms — get lr ×0.1 and no weight
# decay; the other norms no weight decay. As in the published configs, the per-block keys are
# generated for the largest depths (4, 8, 25, 8); a key that names no parameter changes nothing.
optimizer = dict(
    type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01,
    paramwise_cfg=dict(
        custom_keys={
            **{f"backbone.layers.{i}.blocks.{j}.{norm}": dict(lr_mult=0.1, decay_mult=0.0)
               for norm in ("retention_layer_norm", "final_layer_norm")
               for i, depth in enumerate((4, 8, 25, 8)) for j in range(depth)},
            **{f"backbone.patch_embed.proj.{k}": dict(lr_mult=0.1, decay_mult=0.0)
               for k in (1, 4, 7, 10)},
            **{f"backbone.layers.{i}.downsample.norm": dict(lr_mult=0.1, decay_mult=0.0)
               for i in range(3)}},
        norm_decay_mult=0.0))
optimizer_config = dict()
lr_config = dict(policy="poly", power=0.9, by_epoch=False)  # min_lr: mmcv's default, 0
runner = dict(type="IterBasedRunner", max_iters=160000)
checkpoint_config = dict(by_epoch=False, interval=16000, max_keep_ckpts=3)
evaluation = dict(interval=16000, metric="mIoU", save_best="mIoU")
