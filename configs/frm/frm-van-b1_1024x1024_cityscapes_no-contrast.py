# Ablation: λ = 0 — cross-entropy only (the projection head is then not built).
_base_ = ["./frm-van-b1_1024x1024_cityscapes.py"]
model = dict(decode_head=dict(loss_contrast=dict(loss_weight=0.0)))
