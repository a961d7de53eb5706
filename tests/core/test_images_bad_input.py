"""Image files are user data: each bad one is one line, and the costly ones are refused from
their header or bounded (tests build them with Pillow and by hand, in memory)."""

import io
import struct
import time
import zlib

import pytest
from PIL import Image

from workbench.errors import InvalidInputError
from workbench.images import picture_from_bytes, store_image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels: its IHDR chunk and a tiny IDAT."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_each_format_decodes_to_rgb(fmt) -> None:
    picture = picture_from_bytes(encoded(Image.new("RGB", (40, 20), (200, 10, 10)), fmt), "x")
    assert (picture.width, picture.height) == (40, 20)
    assert len(picture.rgb) == 40 * 20 * 3 and len(picture.sha256) == 64


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInputError, match="2,500,000,000 pixels") as caught:
        picture_from_bytes(png_header_only(50_000, 50_000), "bomb.png")
    assert time.perf_counter() - started < 1
    assert "\n" not in str(caught.value) and "before decoding" in str(caught.value)


def test_an_animated_gif_of_10000_frames_costs_one_frame() -> None:
    frames = [Image.new("P", (4, 4), i % 200) for i in range(10_000)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10)
    started = time.perf_counter()
    picture = picture_from_bytes(data, "many.gif")
    assert time.perf_counter() - started < 2
    assert (picture.width, picture.height) == (4, 4)


def test_exif_orientation_is_honoured() -> None:
    image = Image.new("RGB", (40, 20))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees
    picture = picture_from_bytes(encoded(image, "JPEG", exif=exif), "turned.jpg")
    assert (picture.width, picture.height) == (20, 40)


def test_a_large_picture_is_scaled_before_encoding() -> None:
    picture = picture_from_bytes(encoded(Image.new("RGB", (4000, 1000)), "PNG"), "wide.png")
    assert (picture.width, picture.height) == (1024, 256)


@pytest.mark.parametrize("data", [
    b"", b"not an image at all",
    encoded(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")[:60],
    encoded(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")[:200],
])
def test_truncated_or_malformed_is_one_line(data) -> None:
    with pytest.raises(InvalidInputError) as caught:
        picture_from_bytes(data, "bad.png")
    assert str(caught.value).startswith("image bad.png: ") and "\n" not in str(caught.value)


def test_stored_once_by_sha256(tmp_path) -> None:
    data = encoded(Image.new("RGB", (8, 8)), "PNG")
    digest, path = store_image(tmp_path, data)
    again, same = store_image(tmp_path, data)
    assert digest == again and path == same and path.name == f"{digest}.png"
    assert path.read_bytes() == data
