"""init_segmentor / inference_segmentor: a model from a config (+ checkpoint) and predictions
for images given as paths or arrays, through the config's test pipeline."""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence, Union

import numpy as np

from ..config import Config
from ..datasets.pipelines import Compose
from ..engine.checkpoint import load_checkpoint
from ..engine.evaluator import predict_item
from ..models import build_segmentor, fuse_for_inference

ImageInput = Union[str, "os.PathLike[str]", np.ndarray]


def init_segmentor(config: str | Config, checkpoint: str | os.PathLike[str] | None = None,
                   cfg_options: Mapping[str, Any] | None = None) -> Any:
    """A model for inference, built from a config and (optionally) a checkpoint.

    Args:
        config: A config file path or a ``Config``.
        checkpoint: A ``.pkl`` or ``.pth`` whose weights are loaded strictly.
        cfg_options: ``{'a.b': value}`` overrides of existing keys; write ``'+a.b'`` to add a key.

    Returns:
        The segmentor in eval mode, with ``cfg`` set and ``CLASSES``/``PALETTE`` from the
        checkpoint's meta (None without them); a fused copy for inference only (it cannot be
        saved or trained).

    Raises:
        ConfigError: A bad config or override.
        CheckpointError: The checkpoint cannot be read or does not fit the model.
    """
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

    def __init__(self, channel_order: str = "bgr") -> None:
        if channel_order not in ("bgr", "rgb"):
            raise ValueError(f"channel_order {channel_order!r}: expected 'bgr' or 'rgb'")
        self.channel_order = channel_order

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img = check_rgb_array(results["img"])
        if self.channel_order == "bgr":
            img = np.ascontiguousarray(img[:, :, ::-1])
        results.update(filename=None, ori_filename=None, img=img, img_shape=img.shape,
                       ori_shape=img.shape, pad_shape=img.shape, scale_factor=1.0,
                       img_norm_cfg=dict(mean=np.zeros(3, np.float32),
                                         std=np.ones(3, np.float32), to_rgb=False))
        return results


def check_rgb_array(img: np.ndarray) -> np.ndarray:
    """``img`` if it is an RGB uint8 (H, W, 3) array.

    Raises:
        ValueError: Another shape or dtype; the message says which.
    """
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


def inference_segmentor(model: Any, imgs: ImageInput | Sequence[ImageInput]
                        ) -> np.ndarray | list[np.ndarray]:
    """Segment one image or a list of images through the config's test pipeline.

    Args:
        model: A segmentor from ``init_segmentor`` (its ``cfg`` gives the pipeline).
        imgs: A path or an (H, W, 3) RGB uint8 array, or a list of them. An array is taken as
            RGB (as PIL gives it) and gives the same result as its file.

    Returns:
        The class map (H, W) at the image's size; a list of them for a list.

    Raises:
        BadSampleError: An image file that cannot be read.
        ValueError: An array that is not RGB uint8 (H, W, 3).
    """
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
