# Ablation: no FRM — VAN-B1 + semantic FPN + CE + pixel contrast (mmseg's FPN key set).
_base_ = ["./frm-van-b1_1024x1024_cityscapes.py"]
model = dict(neck=dict(refine=None))
