# Logging, checkpoint loading and seeding shared by every training config.
log_config = dict(interval=50, hooks=[dict(type="TextLoggerHook", by_epoch=False)])
log_level = "INFO"
load_from = None
resume_from = None
workflow = [("train", 1)]
seed = 0
