"""Bundled samples: every one loads, deterministically, within range; licences are recorded."""
import gzip

import numpy as np
import pytest

from cnnviz.conv.samples import ASSETS, SAMPLES, load_sample, sample_keys
from cnnviz.i18n import CATALOG


@pytest.mark.parametrize("key", sample_keys())
def test_every_sample_loads(key):
    pixels = load_sample(key)
    assert pixels.dtype == np.float32
    assert pixels.ndim in (2, 3) and (pixels.ndim == 2 or pixels.shape[2] == 3)
    assert pixels.min() >= 0 and pixels.max() <= 1 and pixels.std() > 0.05
    np.testing.assert_array_equal(pixels, load_sample(key))
    assert CATALOG["en"][f"samples.{key}"]


def test_at_least_six_samples_of_every_kind():
    assert len(SAMPLES) >= 6
    assert {s.kind for s in SAMPLES} == {"photo", "procedural", "digit"}


def test_size_limits_the_longer_side():
    assert max(load_sample("astronaut", size=100).shape[:2]) == 100
    assert load_sample("mnist_digit", size=100).shape == (28, 28)


def test_mnist_digit_is_the_first_test_seven():
    digit = load_sample("mnist_digit")
    assert digit.shape == (28, 28)
    raw = gzip.decompress((ASSETS.parent / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    first = np.frombuffer(raw, np.uint8, count=784, offset=16).reshape(28, 28)  # IDX: 16-byte header
    np.testing.assert_array_equal(np.rint(digit * 255).astype(np.uint8), first)
    assert int(first.sum()) == 18454


def test_checkerboard_exact():
    board = load_sample("checkerboard")
    assert board[0, 0] == 0 and board[0, 32] == 1 and board[32, 32] == 0


def test_unknown_sample():
    with pytest.raises(ValueError, match="'lena'"):
        load_sample("lena")
    with pytest.raises(ValueError, match="size=0"):
        load_sample("camera", size=0)


def test_licence_names_every_photo():
    licence = (ASSETS / "LICENSE.md").read_text()
    for path in ASSETS.glob("*.png"):
        assert path.name in licence
