"""Pixel accuracy (top-1, percent) over non-ignored pixels."""

from ...ops.argmax import channel_argmax


def accuracy(pred, label, ignore_index=255):
    valid = (label != ignore_index)
    correct = ((channel_argmax(pred) == label) & valid).float32().sum()
    return correct * 100.0 / valid.float32().sum().maximum(1.0)
