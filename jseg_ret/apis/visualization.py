"""Colour masks and overlays of predictions with a dataset palette."""
import numpy as np
from PIL import Image

from ..utils.fileio import atomic_path


def default_palette(num_classes, seed=42):
    """A fixed random palette when the dataset has none."""
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(num_classes, 3)).astype(np.uint8)


def colorize(pred, palette):
    """(H, W) class ids -> (H, W, 3) uint8 colours; ids outside the palette are black."""
    palette = np.asarray(palette, np.uint8)
    pred = np.asarray(pred)
    out = np.zeros(pred.shape + (3,), np.uint8)
    valid = (pred >= 0) & (pred < len(palette))
    out[valid] = palette[pred[valid]]
    return out


def overlay(image, pred, palette, opacity=0.5):
    """Blend the colour mask over an RGB uint8 image."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity {opacity} must be in [0, 1]")
    image = np.asarray(image)
    if image.shape[:2] != np.asarray(pred).shape:
        raise ValueError(f"image {image.shape[:2]} and prediction {np.asarray(pred).shape} "
                         "sizes differ")
    mixed = image.astype(np.float32) * (1 - opacity) + colorize(pred, palette) * opacity
    return mixed.round().clip(0, 255).astype(np.uint8)


def save_png(array, path):
    with atomic_path(path, "the image", suffix=".png", makedirs=True) as tmp:
        Image.fromarray(array).save(tmp)
