# FRM with VAN-B2 on BDD100K (512x1024 crops); as the VAN-B1 config otherwise.
_base_ = ["./frm-van-b1_512x1024_bdd100k.py"]
model = dict(
    backbone=dict(arch="b2"))
