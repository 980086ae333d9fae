from .inference import inference_segmentor, init_segmentor
from .visualization import colorize, default_palette, overlay, save_png

__all__ = ["inference_segmentor", "init_segmentor", "colorize", "default_palette", "overlay",
           "save_png"]
