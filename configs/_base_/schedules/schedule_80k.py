# SegRet's published recipe over 80k iterations (SegRet.*.512x512.coco10k.80k.py).
_base_ = ["./schedule_160k.py"]
runner = dict(max_iters=80000)
checkpoint_config = dict(interval=8000)
evaluation = dict(interval=8000)
