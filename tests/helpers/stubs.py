"""Stand-ins for a segmentor where a test needs the plumbing around a model, not a model."""
from jseg_ret.config import Config

PIPELINE = [dict(type="LoadImageFromFile"),
            dict(type="Normalize", mean=[0, 0, 0], std=[1, 1, 1], to_rgb=True),
            dict(type="ImageToTensor", keys=["img"]), dict(type="Collect", keys=["img"])]


class ArgmaxModel:
    """Class = index of the largest channel of the normalized (RGB) input: instant, its masks show
    the colours and channel order shows."""
    CLASSES, PALETTE, num_classes = ("r", "g", "b"), [[255, 0, 0], [0, 255, 0], [0, 0, 255]], 3

    def __init__(self, pipeline=PIPELINE):
        self.cfg = Config(dict(data=dict(test=dict(pipeline=pipeline))))

    def eval(self):
        return self

    def simple_test(self, img, meta):
        return [img.numpy()[0].argmax(axis=0)]
