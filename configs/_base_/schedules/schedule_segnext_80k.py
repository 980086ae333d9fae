# SegNeXt's recipe over 80k iterations (COCO-Stuff164K, Pascal VOC, Pascal Context).
_base_ = ["./schedule_segnext_160k.py"]
runner = dict(max_iters=80000)
