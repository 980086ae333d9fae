# SegRet = RMT (VisRetNet) backbone + zero-initialized residual decoder (SegRet-T defaults).
norm_cfg = dict(type="SyncBN", requires_grad=True)
model = dict(
    type="EncoderDecoder",
    pretrained=None,
    backbone=dict(
        type="VisRetNet",
        embed_dims=[64, 128, 256, 512],
        depths=[2, 2, 8, 2],
        num_heads=[4, 4, 8, 16],
        init_values=[2, 2, 2, 2],
        heads_ranges=[4, 4, 6, 6],
        mlp_ratios=[3, 3, 3, 3],
        drop_path_rate=0.1,
        decomposed_stages=[True, True, False, False],
        layerscale_stages=[False, False, False, False],
        layer_init_values=1e-6,
        norm_cfg=norm_cfg,
        out_indices=(0, 1, 2, 3),
        retention_impl="auto"),
    decode_head=dict(
        type="SegFormerHeadWithRes",
        in_channels=[64, 128, 256, 512],
        in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32],
        channels=128,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        # use_relu: the ReLU after each stage's projection (published decoder_params key)
        decoder_params=dict(embed_dim=256, use_relu=True),
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"))
