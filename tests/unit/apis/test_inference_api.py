"""apis.inference_segmentor: an RGB array gives what the file path gives (issue 17, item 10)."""
import numpy as np
import pytest
from PIL import Image

from jseg_ret.apis import inference_segmentor
from tests.helpers.stubs import PIPELINE, ArgmaxModel


@pytest.fixture
def rgb_file(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(rgb).save(path)
    return str(path), rgb


def test_rgb_array_matches_the_file_path(rgb_file):
    path, rgb = rgb_file
    model = ArgmaxModel()
    from_path = inference_segmentor(model, path)
    np.testing.assert_array_equal(from_path, rgb.argmax(axis=2))  # the model sees RGB
    np.testing.assert_array_equal(inference_segmentor(model, rgb), from_path)
    both = inference_segmentor(model, [rgb, path])
    np.testing.assert_array_equal(both[0], both[1])


def test_array_route_keeps_an_rgb_channel_order_config(rgb_file):
    path, rgb = rgb_file
    pipeline = [dict(type="LoadImageFromFile", channel_order="rgb")] + [
        dict(PIPELINE[1], to_rgb=False)] + PIPELINE[2:]
    model = ArgmaxModel(pipeline)
    np.testing.assert_array_equal(inference_segmentor(model, rgb),
                                  inference_segmentor(model, path))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 4), np.uint8), r"\(H, W, 3\)"),
    (np.zeros((4, 4, 4), np.uint8), r"\(H, W, 3\)"),
    (np.zeros((4, 4, 3), np.float32), "uint8"),
])
def test_bad_array_is_a_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        inference_segmentor(ArgmaxModel(), bad)
