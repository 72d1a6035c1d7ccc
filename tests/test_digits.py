"""prepare_digit and normalise: MNIST's crop-scale-centre recipe on canvases, photos and MNIST itself."""
import base64
import io
import re

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from cnnviz.analysis.digits import (MAX_DATA_URL_CHARS, PNG_DATA_URL, PreparedDigit, decode_data_url, normalise,
                                    prepare_digit)
from cnnviz.data import MEAN, STD, load_mnist


def canvas(draw, mode="L", size=280, background=0):
    image = Image.new(mode, (size, size), background)
    draw(ImageDraw.Draw(image))
    return np.asarray(image).copy()


def seven(d, fill=255):
    # A large "7" squeezed into the top-left corner, strokes 18 px wide.
    d.line([(10, 15), (150, 15), (60, 190)], fill=fill, width=18)


def ink_box(pixels28):
    rows, cols = np.nonzero(pixels28 > 0)
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


def centre_of_mass(pixels28):
    index = np.arange(28)
    total = pixels28.sum()
    return pixels28.sum(axis=1) @ index / total, pixels28.sum(axis=0) @ index / total


def test_a_rectangle_is_cropped_scaled_to_20_and_centred_exactly():
    # 60 tall x 40 wide, far off-centre: scaled to 20 x round(40 * 20 / 60) = 13.
    image = canvas(lambda d: d.rectangle([200, 10, 239, 69], fill=255))
    digit = prepare_digit(image)
    assert digit.bbox == (10, 200, 70, 240)
    # Centre of mass of the 20x13 block is (9.5, 6): top = round(14 - 9.5) = 4 (half to even), left = 14 - 6 = 8.
    expected = np.zeros((28, 28), np.float32)
    expected[4:24, 8:21] = 1.0
    np.testing.assert_array_equal(digit.pixels28, expected)
    assert not digit.empty


def test_an_off_centre_large_seven_fits_the_20_box_with_its_centre_of_mass_at_14_14():
    digit = prepare_digit(canvas(seven))
    top, left, bottom, right = ink_box(digit.pixels28)
    assert max(bottom - top, right - left) in (19, 20)
    row, col = centre_of_mass(digit.pixels28)
    # Whole-pixel shifts, as in MNIST, leave the centre of mass within half a pixel of (14, 14).
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5
    assert digit.pixels28.dtype == np.float32 and digit.pixels28.min() >= 0 and digit.pixels28.max() <= 1


@given(top=st.integers(0, 90), left=st.integers(0, 90), height=st.integers(1, 60), width=st.integers(1, 60))
@example(top=0, left=0, height=1, width=1)  # ink on the border must not make a black canvas look like paper
def test_any_rectangle_fills_the_box_and_is_centred(top, left, height, width):
    image = np.zeros((150, 150), np.uint8)
    image[top:top + height, left:left + width] = 255
    digit = prepare_digit(image)
    assert digit.bbox == (top, left, top + height, left + width)
    box_top, box_left, bottom, right = ink_box(digit.pixels28)
    assert max(bottom - box_top, right - box_left) == 20
    row, col = centre_of_mass(digit.pixels28)
    assert abs(row - 14) <= 0.5 + 1e-4 and abs(col - 14) <= 0.5 + 1e-4


def test_the_tensor_is_the_normalised_pixels():
    digit = prepare_digit(canvas(seven))
    assert digit.tensor.shape == (1, 1, 28, 28) and digit.tensor.dtype == torch.float32
    torch.testing.assert_close(digit.tensor, normalise(digit.pixels28))
    torch.testing.assert_close(digit.tensor[0, 0] * STD + MEAN, torch.from_numpy(digit.pixels28))


@pytest.mark.parametrize("image", [
    np.zeros((280, 280), np.uint8),  # a black MNIST-style canvas
    np.zeros((280, 280, 4), np.uint8),  # a transparent drawable canvas
    np.full((280, 280, 3), 255, np.uint8),  # a white sheet of paper
    np.full((50, 60), 0.5, np.float32),  # uniform grey
], ids=["black", "transparent", "white", "grey"])
def test_a_blank_image_is_empty(image):
    digit = prepare_digit(image)
    assert digit.empty and digit.bbox is None
    np.testing.assert_array_equal(digit.pixels28, np.zeros((28, 28), np.float32))
    torch.testing.assert_close(digit.tensor, torch.full((1, 1, 28, 28), (0 - MEAN) / STD))


def test_alpha_is_the_ink_on_a_transparent_canvas():
    # Black strokes on a transparent background: the colour channels are all zero, only alpha shows the ink.
    rgba = canvas(lambda d: seven(d, fill=(0, 0, 0, 255)), mode="RGBA", background=(0, 0, 0, 0))
    red = canvas(lambda d: seven(d, fill=(255, 0, 0, 255)), mode="RGBA", background=(0, 0, 0, 0))
    reference = prepare_digit(canvas(seven))
    for image in (rgba, red):
        np.testing.assert_array_equal(prepare_digit(image).pixels28, reference.pixels28)


def test_an_opaque_rgba_image_is_read_by_its_colour():
    opaque = canvas(lambda d: seven(d, fill=(255, 255, 255, 255)), mode="RGBA", background=(0, 0, 0, 255))
    np.testing.assert_array_equal(prepare_digit(opaque).pixels28, prepare_digit(canvas(seven)).pixels28)


@pytest.mark.parametrize("mode,paper,pen", [("L", 230, 40), ("RGB", (230, 225, 235), (40, 40, 40))])
def test_dark_ink_on_paper_is_inverted_and_stretched(mode, paper, pen):
    photo = canvas(lambda d: seven(d, fill=pen), mode=mode, background=paper)
    reference = prepare_digit(canvas(seven)).pixels28
    auto = prepare_digit(photo)
    np.testing.assert_allclose(auto.pixels28, reference, atol=1e-5)
    np.testing.assert_allclose(prepare_digit(photo, ink="dark").pixels28, reference, atol=1e-5)
    # Forced the wrong way round, the paper is the "ink" and fills the border: nothing stands out.
    assert prepare_digit(photo, ink="light").empty


def test_float_and_uint8_inputs_agree():
    image = canvas(seven)
    np.testing.assert_allclose(prepare_digit(image.astype(np.float64) / 255).pixels28,
                               prepare_digit(image).pixels28, atol=1e-6)


def test_a_tiny_digit_is_scaled_up_like_mnist():
    image = np.zeros((100, 100), np.uint8)
    image[40:44, 50:52] = 255  # 4 tall, 2 wide
    digit = prepare_digit(image)
    top, left, bottom, right = ink_box(digit.pixels28)
    assert (bottom - top, right - left) == (20, 10)


@pytest.mark.parametrize("image", [
    canvas(seven),
    canvas(lambda d: seven(d, fill=(0, 0, 0, 255)), mode="RGBA", background=(0, 0, 0, 0)),
    canvas(seven).astype(np.float32) / 255,
], ids=["uint8", "rgba", "float"])
def test_the_input_is_left_unchanged(image):
    before = image.copy()
    prepare_digit(image)
    np.testing.assert_array_equal(image, before)
    assert image.dtype == before.dtype


def test_mnist_digits_survive_the_round_trip():
    # Scaled up 10x, an MNIST digit goes through the very recipe that made it: it comes back as it was.
    pixels = load_mnist().test_pixels[:10]
    for original in pixels:
        big = np.kron(original, np.ones((10, 10), np.uint8))  # (280, 280)
        digit = prepare_digit(big)
        assert np.abs(digit.pixels28 - original / 255).mean() < 0.02  # measured about 0.001


@pytest.mark.parametrize("image,needle", [
    (np.zeros((28, 28, 2), np.uint8), "shape=(28, 28, 2)"),
    (np.zeros((1, 28, 28, 1), np.uint8), "shape=(1, 28, 28, 1)"),
    (np.zeros((0, 28), np.uint8), "shape=(0, 28)"),
    (np.zeros(28, np.uint8), "shape=(28,)"),
    (np.zeros((28, 28), np.int64), "dtype=int64"),
    (np.zeros((28, 28), bool), "dtype=bool"),
    (np.full((28, 28), 2.0), "max=2.0"),
    (np.full((28, 28), np.nan), "min=nan"),
    ([[0, 1], [1, 0]], "list"),
], ids=["2-channels", "4-d", "zero-height", "1-d", "int64", "bool", "above-1", "nan", "list"])
def test_bad_images_raise_naming_the_value(image, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        prepare_digit(image)


def test_an_unknown_ink_mode_raises():
    with pytest.raises(ValueError, match="ink='bright'"):
        prepare_digit(np.zeros((28, 28), np.uint8), ink="bright")


def test_normalise_exact_values():
    pixels = np.array([[0.0, 1.0], [0.5, 0.1307]], np.float32)
    x = normalise(pixels)
    assert x.shape == (1, 1, 2, 2) and x.dtype == torch.float32
    expected = torch.tensor([[-MEAN / STD, (1 - MEAN) / STD], [(0.5 - MEAN) / STD, 0.0]])
    torch.testing.assert_close(x[0, 0], expected)
    torch.testing.assert_close(normalise(np.array([[0, 255]], np.uint8)), normalise(np.array([[0.0, 1.0]])))


def test_normalise_copies_and_checks_its_input():
    pixels = np.ones((28, 28), np.float32)
    normalise(pixels)[0, 0, 0, 0] = 99.0
    assert pixels[0, 0] == 1.0
    with pytest.raises(ValueError, match=r"shape=\(1, 28, 28\)"):
        normalise(np.zeros((1, 28, 28)))


def test_prepared_digit_is_frozen():
    digit = prepare_digit(canvas(seven))
    assert isinstance(digit, PreparedDigit)
    with pytest.raises(AttributeError):
        digit.empty = True


# --- decode_data_url: what the drawing canvas sends ----------------------------------------------------------


def data_url(image: Image.Image, fmt: str = "PNG", prefix: str = PNG_DATA_URL) -> str:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return prefix + base64.b64encode(buffer.getvalue()).decode()


def test_a_png_data_url_round_trips_exactly():
    rgba = np.zeros((6, 5, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[1:5, 2] = (255, 255, 255, 255)  # a white "1" on opaque black, as the canvas draws
    rgba[0, 0] = (10, 20, 30, 40)
    decoded = decode_data_url(data_url(Image.fromarray(rgba)))
    assert decoded.dtype == np.uint8 and decoded.shape == (6, 5, 4)
    np.testing.assert_array_equal(decoded, rgba)
    decoded[0, 0] = 0  # owned and writable


def test_grayscale_stays_2d_and_every_other_mode_becomes_rgba():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    np.testing.assert_array_equal(decode_data_url(data_url(Image.fromarray(gray))), gray)
    rgb = decode_data_url(data_url(Image.new("RGB", (2, 3), (1, 2, 3))))
    assert rgb.shape == (3, 2, 4) and tuple(rgb[0, 0]) == (1, 2, 3, 255)
    palette = decode_data_url(data_url(Image.new("P", (2, 2), 0)))
    assert palette.shape == (2, 2, 4)


def test_a_decoded_drawing_feeds_prepare_digit():
    image = Image.new("RGBA", (224, 224), (0, 0, 0, 255))
    ImageDraw.Draw(image).rectangle([103, 40, 120, 179], fill=(255, 255, 255, 255))  # an 18 px wide "1"
    digit = prepare_digit(decode_data_url(data_url(image)))
    assert not digit.empty and digit.bbox == (40, 103, 180, 121)  # (top, left, bottom, right), ends exclusive


@pytest.mark.parametrize("text", [
    None, 42, b"data:image/png;base64,", "",
    "data:image/png;base64,",  # empty payload
    "data:image/png;base64,!!!!",  # not base64
    "data:image/png;base64,iVBORw0KGgo",  # a PNG signature cut short
    "DATA:IMAGE/PNG;BASE64," + data_url(Image.new("L", (2, 2)))[len(PNG_DATA_URL):],  # only the exact prefix
    "https://example.com/digit.png",
    data_url(Image.new("RGB", (4, 4)), "JPEG", "data:image/jpeg;base64,"),  # another media type
    data_url(Image.new("RGB", (4, 4)), "JPEG"),  # labelled PNG, is a JPEG
    data_url(Image.new("RGB", (4, 4)), "GIF"),  # labelled PNG, is a GIF
], ids=["none", "int", "bytes", "empty", "no-payload", "bad-base64", "truncated", "upper-case", "http", "jpeg-url",
        "jpeg-as-png", "gif-as-png"])
def test_anything_but_a_png_data_url_is_none(text):
    assert decode_data_url(text) is None


def test_the_size_caps_refuse_before_decoding():
    url = data_url(Image.new("L", (300, 2)))
    assert decode_data_url(url, max_chars=len(url)) is not None
    assert decode_data_url(url, max_chars=len(url) - 1) is None
    assert decode_data_url(url, max_side=300) is not None
    assert decode_data_url(url, max_side=299) is None  # from the header: a small file, a wide picture
    assert decode_data_url(PNG_DATA_URL + "A" * MAX_DATA_URL_CHARS) is None  # the default cap


@pytest.mark.parametrize("limits, needle", [
    ({"max_chars": 0}, "max_chars=0"), ({"max_side": -1}, "max_side=-1"), ({"max_side": 2.0}, "max_side=2.0"),
    ({"max_chars": True}, "max_chars=True"),
])
def test_bad_caps_raise_naming_the_value(limits, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        decode_data_url(PNG_DATA_URL, **limits)
