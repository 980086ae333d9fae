# FRM with VAN-B2 on Cityscapes (1024x1024 crops); as the VAN-B1 config otherwise.
_base_ = ["./frm-van-b1_1024x1024_cityscapes.py"]
model = dict(
    backbone=dict(arch="b2"))
