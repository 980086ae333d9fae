"""init_segmentor / inference_segmentor: a model from a config (+ checkpoint) and predictions
for images given as paths or arrays, through the config's test pipeline."""
import numpy as np

from ..config import Config
from ..datasets.pipelines import Compose
from ..engine.checkpoint import load_checkpoint
from ..engine.evaluator import predict_item
from ..models import build_segmentor, fuse_for_inference


def init_segmentor(config, checkpoint=None, cfg_options=None):
    """Model in eval mode with ``model.cfg`` set; CLASSES/PALETTE from the checkpoint meta."""
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
    """Test-pipeline head for an in-memory RGB uint8 array (replaces LoadImageFromFile)."""

    def __call__(self, results):
        img = results["img"]
        results.update(filename=None, ori_filename=None, img=img, img_shape=img.shape,
                       ori_shape=img.shape)
        return results


def _test_pipeline(cfg, from_array):
    steps = [dict(s) for s in cfg.data.test.pipeline]
    if from_array:
        if steps[0]["type"] != "LoadImageFromFile":
            raise ValueError("test pipeline must start with LoadImageFromFile, got "
                             f"{steps[0]['type']}")
        return Compose([LoadImageFromArray()] + steps[1:])
    return Compose(steps)


def inference_segmentor(model, imgs):
    """Class maps (H, W) for one image or a list (paths or HxWx3 RGB uint8 arrays)."""
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
