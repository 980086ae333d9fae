"""Colour masks and overlays of predictions with a dataset palette."""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from ..utils.fileio import PathLike, atomic_path


def default_palette(num_classes: int, seed: int = 42) -> np.ndarray:
    """A fixed random palette for a dataset that has none.

    Args:
        num_classes: The number of colours.
        seed: The random seed (the same seed gives the same colours).

    Returns:
        A (num_classes, 3) uint8 array.
    """
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(num_classes, 3)).astype(np.uint8)


def colorize(pred: Any, palette: Any) -> np.ndarray:
    """Colour a class map.

    Args:
        pred: Class ids (H, W).
        palette: One RGB colour per class, (C, 3).

    Returns:
        The (H, W, 3) uint8 image; ids outside the palette are black.
    """
    palette = np.asarray(palette, np.uint8)
    pred = np.asarray(pred)
    out = np.zeros(pred.shape + (3,), np.uint8)
    valid = (pred >= 0) & (pred < len(palette))
    out[valid] = palette[pred[valid]]
    return out


def overlay(image: Any, pred: Any, palette: Any, opacity: float = 0.5) -> np.ndarray:
    """Blend the colour mask of ``pred`` over an RGB image.

    Args:
        image: The RGB uint8 image (H, W, 3).
        pred: Its class map (H, W).
        palette: One RGB colour per class, (C, 3).
        opacity: The mask's weight, in [0, 1].

    Returns:
        The blended (H, W, 3) uint8 image.

    Raises:
        ValueError: ``opacity`` outside [0, 1], or image and prediction sizes differ.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity {opacity} must be in [0, 1]")
    image = np.asarray(image)
    if image.shape[:2] != np.asarray(pred).shape:
        raise ValueError(f"image {image.shape[:2]} and prediction {np.asarray(pred).shape} "
                         "sizes differ")
    mixed = image.astype(np.float32) * (1 - opacity) + colorize(pred, palette) * opacity
    return mixed.round().clip(0, 255).astype(np.uint8)


def save_png(array: np.ndarray, path: PathLike) -> None:
    """Write an (H, W, 3) or (H, W) uint8 array as a PNG atomically, making its folder.

    Raises:
        OutputWriteError: The file could not be written; an existing one is unchanged.
    """
    with atomic_path(path, "the image", suffix=".png", makedirs=True) as tmp:
        Image.fromarray(array).save(tmp)
