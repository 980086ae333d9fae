# SegNeXt = MSCAN backbone + LightHamHead (SegNeXt-T defaults, ADE20K's 150 classes).
# The backbone's numbers come from its variant table (MSCAN.arch_settings in
# jseg_ret/models/backbones/mscan.py); a config names the variant and overrides only what differs.
norm_cfg = dict(type="SyncBN", requires_grad=True)
ham_norm_cfg = dict(type="GN", num_groups=32, requires_grad=True)
model = dict(
    type="EncoderDecoder",
    pretrained=None,
    backbone=dict(
        type="MSCAN",
        arch="t",
        drop_rate=0.0,
        norm_cfg=norm_cfg,
        out_indices=(0, 1, 2, 3)),
    decode_head=dict(
        type="LightHamHead",
        in_channels=[64, 160, 256],
        in_index=[1, 2, 3],
        channels=256,
        ham_channels=256,
        # NMF2D: S groups, R bases; multiplicative updates: 6 in training, 7 in evaluation
        ham_kwargs=dict(MD_S=1, MD_R=16, train_steps=6, eval_steps=7, rand_init=True),
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=ham_norm_cfg,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"))
