# Ablation: 2x2 average pooling instead of adaptive polyphase sampling in the FRM.
_base_ = ["./frm-van-b1_1024x1024_cityscapes.py"]
model = dict(neck=dict(refine=dict(pooling="avg")))
