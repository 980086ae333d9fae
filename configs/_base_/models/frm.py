# FRM = VAN backbone + Feature Refinement Module + semantic-FPN decoder, trained with
# CE + λ·pixel-contrastive loss (docs/models.md, "FRM"). VAN-B1 defaults, Cityscapes' 19 classes.
# The backbone's numbers come from its variant table (VAN.arch_settings in
# jseg_ret/models/backbones/van.py); drop_path_rate is this recipe's, not the variant's.
# The FRM is FPN's ``refine`` step (applied to the backbone features before the pyramid), so the
# FPN and head keep mmseg's parameter names: neck.lateral_convs.*, neck.fpn_convs.*,
# decode_head.scale_heads.*; the FRM's own parameters are neck.refine.*.
norm_cfg = dict(type="SyncBN", requires_grad=True)
model = dict(
    type="EncoderDecoder",
    pretrained=None,
    backbone=dict(
        type="VAN",
        arch="b1",
        drop_rate=0.0,
        drop_path_rate=0.1,
        norm_cfg=norm_cfg,
        out_indices=(0, 1, 2, 3)),
    neck=dict(
        type="FPN",
        in_channels=[64, 128, 320, 512],
        out_channels=256,
        num_outs=4,
        refine=dict(
            type="FRM",
            in_channels=[64, 128, 320, 512],
            channels=256,            # D (the paper leaves it open)
            pooling="aps",           # adaptive polyphase sampling; 'avg' for the ablation
            attention="dnl",         # disentangled non-local; 'nl' for the ablation
            temperature=0.05,        # T; with use_scale the logits are divided by √(D/2)·T (DNL's)
            use_scale=True,
            reduction=2,             # q/k/v width D/2
            ffn_ratio=4,
            norm_cfg=norm_cfg,
            zero_init=True,          # F4' = F4 at initialization
            use_frm=True)),
    decode_head=dict(
        type="ContrastFPNHead",
        in_channels=[256, 256, 256, 256],
        in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32],
        channels=128,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
        proj_channels=128,           # embedding dim
        loss_contrast=dict(
            type="PixelContrastLoss",
            loss_weight=0.1,         # λ
            temperature=0.1,         # τ
            max_samples=1024,        # anchors per batch, at most
            max_views=100)),         # anchors per class, at most
    train_cfg=dict(),
    test_cfg=dict(mode="whole"))
