"""load_image: formats, modes, orientation, frames, downscaling and every refusal."""
import io
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from cnnviz.conv.images import ImageError, load_image, load_image_info


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def gradient_rgb(width=16, height=12) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    array = np.stack([np.tile(x, (height, 1)), np.full((height, width), 128, np.uint8), np.zeros((height, width), np.uint8)], -1)
    return Image.fromarray(array)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_every_format_decodes(fmt):
    pixels = load_image(encode(gradient_rgb(), fmt))
    assert pixels.shape == (12, 16, 3)
    assert pixels.dtype == np.float32
    assert np.isfinite(pixels).all() and pixels.min() >= 0 and pixels.max() <= 1


def test_png_values_are_exact():
    pixels = load_image(encode(gradient_rgb(), "PNG"))
    assert pixels[0, -1, 0] == 1.0
    assert pixels[0, 0, 0] == 0.0
    assert pixels[3, 3, 1] == np.float32(128 / 255)


def test_grayscale_stays_two_dimensional():
    image = Image.fromarray(np.array([[0, 51], [102, 255]], np.uint8), mode="L")
    np.testing.assert_array_equal(load_image(encode(image, "PNG")), np.array([[0, 0.2], [0.4, 1]], np.float32))


def test_mode_1():
    image = Image.new("1", (3, 2), 0)
    image.putpixel((1, 0), 1)
    pixels = load_image(encode(image, "PNG"))
    assert pixels.shape == (2, 3) and pixels[0, 1] == 1.0 and pixels.sum() == 1.0


def test_palette_with_transparency_composites_on_white():
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    pixels = load_image(encode(image, "PNG", transparency=0))
    np.testing.assert_array_equal(pixels[0, 0], [1, 1, 1])  # transparent red -> white
    np.testing.assert_array_equal(pixels[0, 1], [0, 0, 1])  # opaque blue stays blue


def test_rgba_composites_on_white():
    array = np.array([[[255, 0, 0, 0], [255, 0, 0, 255], [0, 0, 0, 128]]], np.uint8)
    pixels = load_image(encode(Image.fromarray(array, "RGBA"), "PNG"))
    np.testing.assert_array_equal(pixels[0, 0], [1, 1, 1])
    np.testing.assert_array_equal(pixels[0, 1], [1, 0, 0])
    np.testing.assert_allclose(pixels[0, 2], [127 / 255] * 3, atol=1 / 255)


def test_la_composites_on_white_and_stays_gray():
    image = Image.fromarray(np.array([[[0, 0], [0, 255]]], np.uint8), "LA")
    np.testing.assert_array_equal(load_image(encode(image, "PNG")), [[1, 0]])


def test_cmyk():
    image = Image.new("CMYK", (2, 2), (0, 255, 255, 0))  # pure red in CMYK
    pixels = load_image(encode(image, "TIFF"))
    np.testing.assert_allclose(pixels[0, 0], [1, 0, 0], atol=0.01)


def test_sixteen_bit():
    image = Image.new("I;16", (2, 1))
    image.putpixel((0, 0), 65535)
    image.putpixel((1, 0), 32768)
    pixels = load_image(encode(image, "PNG"))
    assert pixels.shape == (1, 2)
    assert pixels[0, 0] == 1.0
    assert pixels[0, 1] == pytest.approx(32768 / 65535)


def test_float_with_nan_and_out_of_range():
    array = np.array([[0.0, 2.0], [np.nan, 4.0]], np.float32)
    pixels = load_image(encode(Image.fromarray(array, "F"), "TIFF"))
    assert np.isfinite(pixels).all()
    np.testing.assert_allclose(pixels, [[0, 0.5], [0, 1]])


def test_float_in_unit_range_is_kept():
    array = np.array([[0.25, 0.75]], np.float32)
    np.testing.assert_allclose(load_image(encode(Image.fromarray(array, "F"), "TIFF")), array)


def test_exif_orientation_is_applied():
    array = np.zeros((2, 4), np.uint8)
    array[0, 0] = 255  # marker at top-left of the stored pixels
    image = Image.fromarray(array, "L")
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    pixels = load_image(encode(image, "PNG", exif=exif.tobytes()))
    assert pixels.shape == (4, 2)
    assert pixels[0, 1] == 1.0  # top-left moved to top-right


def test_animated_gif_takes_first_frame():
    frames = [Image.new("L", (4, 4), value) for value in (0, 255, 128)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    info = load_image_info(data)
    assert info.frames == 3
    assert info.pixels.max() == 0.0


def test_multipage_tiff_takes_first_page():
    pages = [Image.new("L", (3, 3), 255), Image.new("L", (3, 3), 0)]
    info = load_image_info(encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    assert info.frames == 2
    assert info.pixels.min() == 1.0


def test_large_images_are_downscaled_and_say_so():
    info = load_image_info(encode(gradient_rgb(300, 150), "PNG"), max_side=100)
    assert info.downscaled and info.pixels.shape == (50, 100, 3)
    assert info.original_size == (300, 150)
    assert info.pixels.min() >= 0 and info.pixels.max() <= 1
    assert not load_image_info(encode(gradient_rgb(), "PNG")).downscaled


def test_large_jpeg_downscales():
    info = load_image_info(encode(gradient_rgb(2400, 1600), "JPEG"), max_side=1024)
    assert info.downscaled and info.pixels.shape == (683, 1024, 3)


def _png_declaring(width: int, height: int) -> bytes:
    real = encode(Image.new("L", (1, 1)), "PNG")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    patched = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return real[:8] + patched + real[8 + 25:]


@pytest.mark.parametrize("side", [20000, 9000])
def test_decompression_bomb_is_refused_from_the_header(side):
    data = _png_declaring(side, side)
    assert len(data) < 200
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ImageError, match="pixels"):
        load_image(data)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000  # nothing near side*side bytes was allocated
    print(f"bomb {side}x{side} refused in {elapsed * 1000:.1f} ms")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"hello, this is not an image at all", "not an image"),
        (bytes(range(256)) * 4, "not an image"),
    ],
)
def test_refusals(data, match):
    with pytest.raises(ImageError, match=match):
        load_image(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_refused(fmt):
    data = encode(gradient_rgb(64, 64), fmt)
    with pytest.raises(ImageError, match="damaged or incomplete"):
        load_image(data[: len(data) // 2])


def test_image_error_is_a_value_error():
    assert issubclass(ImageError, ValueError)


def test_wrong_argument_types():
    with pytest.raises(TypeError, match="str"):
        load_image("photo.png")
    with pytest.raises(ValueError, match="max_side=0"):
        load_image(encode(gradient_rgb(), "PNG"), max_side=0)


def test_input_bytes_are_not_mutated():
    data = bytearray(encode(gradient_rgb(), "PNG"))
    before = bytes(data)
    load_image(data)
    assert bytes(data) == before
