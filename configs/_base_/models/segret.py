# SegRet = RMT (VisRetNet) backbone + zero-initialized residual decoder (SegRet-T defaults).
# The backbone's numbers come from its variant table (VisRetNet.arch_settings in
# jseg_ret/models/backbones/rmt.py); a config names the variant and overrides only what differs.
norm_cfg = dict(type="SyncBN", requires_grad=True)
model = dict(
    type="EncoderDecoder",
    pretrained=None,
    backbone=dict(
        type="VisRetNet",
        arch="t",
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
