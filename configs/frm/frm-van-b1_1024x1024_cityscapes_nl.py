# Ablation: plain non-local attention (no whitening, no unary term) instead of DNL in the FRM.
_base_ = ["./frm-van-b1_1024x1024_cityscapes.py"]
model = dict(neck=dict(refine=dict(attention="nl")))
