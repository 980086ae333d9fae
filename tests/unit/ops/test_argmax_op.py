"""The CPU channel-argmax kernel (ops/argmax.py, used by the training accuracy) against
Jittor's argmax(dim=1) and NumPy: first index among equal maxima, float32/float64, 3-D and 4-D
scores, pixel counts that are not a multiple of the kernel's block, and the accuracy built on it."""
import numpy as np
import pytest

from jseg_ret.fast_path import fast_path
from jseg_ret.models.losses import accuracy
from jseg_ret.ops.argmax import channel_argmax

import jittor as jt


@pytest.mark.parametrize("shape", [(2, 5, 7, 9), (1, 3, 40, 33), (3, 4, 11)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_numpy_argmax(shape, dtype):
    x = np.random.RandomState(0).randn(*shape).astype(dtype)
    got = channel_argmax(jt.array(x))
    assert got.dtype == "int32" and got.shape == (shape[0], *shape[2:])
    np.testing.assert_array_equal(got.numpy(), x.argmax(1))
    np.testing.assert_array_equal(got.numpy(), jt.array(x).argmax(dim=1)[0].numpy())


def test_equal_maxima_give_the_first_index():
    x = np.zeros((1, 4, 3, 3), np.float32)
    x[0, 1:, 0, 0] = 2.0  # channels 1, 2, 3 tie
    x[0, 3, 1, 1] = -1.0  # channels 0, 1, 2 tie at 0
    got = channel_argmax(jt.array(x)).numpy()
    assert got[0, 0, 0] == 1 and got[0, 1, 1] == 0
    with fast_path(False):  # Jittor's own argmax: the same convention
        assert channel_argmax(jt.array(x)).numpy()[0, 0, 0] == 1


def test_accuracy_uses_it():
    rng = np.random.RandomState(1)
    pred = rng.randn(2, 6, 5, 4).astype(np.float32)
    label = rng.randint(0, 6, size=(2, 5, 4)).astype(np.int32)
    label[0, 0, :] = 255
    valid = label != 255
    want = 100.0 * ((pred.argmax(1) == label) & valid).sum() / valid.sum()
    got = float(accuracy(jt.array(pred), jt.array(label)).numpy().item())
    assert got == pytest.approx(want, rel=1e-6)


def test_rejects_one_axis():
    with pytest.raises(ValueError, match="channel_argmax"):
        channel_argmax(jt.array(np.zeros(4, np.float32)))
