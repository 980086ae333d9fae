"""init_segmentor / inference_segmentor: a model from a config (+ checkpoint) and predictions
for images given as paths or arrays, through the config's test pipeline."""
import numpy as np

from ..config import Config
from ..datasets.pipelines import Compose
from ..engine.checkpoint import load_checkpoint
from ..engine.evaluator import predict_item
from ..models import build_segmentor, fuse_for_inference


def init_segmentor(config, checkpoint=None, cfg_options=None):
    """Model in eval mode with ``model.cfg`` set; CLASSES/PALETTE from the checkpoint meta.

    ``cfg_options`` ({'a.b': value}) override existing keys; write '+a.b' to add a new one."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = build_segmentor(cfg.model)
    model.cfg = cfg
    model.CLASSES, model.PALETTE = None, None
    if checkpoint is not None:
        ckpt = load_checkpoint(checkpoint, model)
        meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
        model.CLASSES = meta.get("CLASSES")
        model.PALETTE = meta.get("PALETTE")
    return fuse_for_inference(model)  # inference only: a fused copy (cannot be saved/trained)


class LoadImageFromArray:
    """Test-pipeline head for an in-memory RGB uint8 (H, W, 3) array; replaces the config's
    LoadImageFromFile and gives what it gives for the same picture read from a file: the channel
    order it was configured with (BGR by default) and the same results keys."""

    def __init__(self, channel_order="bgr"):
        if channel_order not in ("bgr", "rgb"):
            raise ValueError(f"channel_order {channel_order!r}: expected 'bgr' or 'rgb'")
        self.channel_order = channel_order

    def __call__(self, results):
        img = check_rgb_array(results["img"])
        if self.channel_order == "bgr":
            img = np.ascontiguousarray(img[:, :, ::-1])
        results.update(filename=None, ori_filename=None, img=img, img_shape=img.shape,
                       ori_shape=img.shape, pad_shape=img.shape, scale_factor=1.0,
                       img_norm_cfg=dict(mean=np.zeros(3, np.float32),
                                         std=np.ones(3, np.float32), to_rgb=False))
        return results


def check_rgb_array(img):
    """``img`` if it is an RGB uint8 (H, W, 3) array, else a ValueError saying what it is."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image array of shape {img.shape}: expected an RGB image (H, W, 3)")
    if img.dtype != np.uint8:
        raise ValueError(f"image array of dtype {img.dtype}: expected uint8 (0..255); "
                         "16-bit images: pass (img >> 8).astype(np.uint8)")
    return img


def _test_pipeline(cfg, from_array):
    steps = [dict(s) for s in cfg.data.test.pipeline]
    if from_array:
        if steps[0]["type"] != "LoadImageFromFile":
            raise ValueError("test pipeline must start with LoadImageFromFile, got "
                             f"{steps[0]['type']}")
        order = steps[0].get("channel_order", "bgr")
        return Compose([LoadImageFromArray(order)] + steps[1:])
    return Compose(steps)


def inference_segmentor(model, imgs):
    """Class maps (H, W) for one image or a list (paths or HxWx3 RGB uint8 arrays).

    An array is taken as RGB (as PIL gives it) and gives the same result as its file."""
    single = not isinstance(imgs, (list, tuple))
    out = []
    for img in ([imgs] if single else imgs):
        if isinstance(img, np.ndarray):
            data = _test_pipeline(model.cfg, True)(dict(img=img))
        else:
            data = _test_pipeline(model.cfg, False)(dict(img_info=dict(filename=str(img)),
                                                        img_prefix=None))
        out.append(predict_item(model, data))
    return out[0] if single else out
