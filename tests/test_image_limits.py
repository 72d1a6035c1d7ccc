"""Decoding is bounded by the bytes it needs, shrinks large images before they become floats, and runs at most
``MAX_DECODES`` at once per server."""
import struct
import threading
import tracemalloc
import zlib

import pytest
from PIL import ImageFile

import cnnviz.conv.images as images
from cnnviz.conv.images import ImageError, load_image_info


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def zero_png(side: int, colour_type: int, bands: int) -> bytes:
    """A side x side 8-bit PNG of zeros, compressed one row at a time: kilobytes, without its pixels in memory."""
    packer = zlib.compressobj(9)
    row = bytes(1 + side * bands)  # filter byte 0, then the row's samples
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def test_the_issues_png_is_refused_by_its_bytes_without_decoding(monkeypatch):
    data = zero_png(7999, 6, 4)  # RGBA: just under the 64-megapixel cap, 244 MB decoded
    assert len(data) < 300_000
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("the pixels were decoded"))
    with pytest.raises(ImageError, match=r"7999 × 7999 RGBA image would need 244 MB to decode, more than .* \(128 MB"):
        load_image_info(data)


def test_a_large_image_within_the_cap_never_exists_as_full_size_floats():
    data = zero_png(7999, 0, 1)  # gray: 61 MB decoded by Pillow, 244 MB as float32
    tracemalloc.start()
    info = load_image_info(data, max_side=1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.pixels.shape == (1024, 1024) and info.downscaled and info.original_size == (7999, 7999)
    assert peak < 32 << 20  # Python and numpy memory: reduced 7x in Pillow before any float exists


def test_at_most_two_decodes_run_at_once(monkeypatch):
    data = zero_png(8, 0, 1)
    entered, release = threading.Semaphore(0), threading.Event()
    real_decode = images._decode

    def held(*args):
        entered.release()
        assert release.wait(60), "never released"
        return real_decode(*args)

    monkeypatch.setattr(images, "_decode", held)
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_image_info(data))) for _ in range(images.MAX_DECODES)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert entered.acquire(timeout=60), "a decode never started"
    monkeypatch.setattr(images, "DECODE_WAIT_SECONDS", 0.0)  # both slots are held: the next upload is told at once
    with pytest.raises(ImageError, match="busy decoding other uploads"):
        load_image_info(data)
    release.set()
    for thread in threads:
        thread.join(60)
    assert [r.pixels.shape for r in results] == [(8, 8)] * images.MAX_DECODES
    assert load_image_info(data).pixels.shape == (8, 8)  # the slots came back
