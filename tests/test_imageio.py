"""Tests of goldenvision.imageio: decoding, conversions, limits and refusals."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile

from goldenvision.errors import ImageError
from goldenvision.imageio import load_image, read_image, sha256_of, write_image


def _gradient(h: int = 24, w: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) % 256], axis=-1).astype(np.uint8)


def test_png_roundtrip_exact(tmp_path):
    rgb = _gradient()
    p = write_image(tmp_path / "a.png", rgb)
    out = read_image(p)
    assert out.dtype == np.uint8 and out.shape == (24, 32, 3)
    np.testing.assert_array_equal(out, rgb)


def test_bytes_and_str_path_same_result(tmp_path):
    rgb = _gradient()
    p = write_image(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(read_image(p.read_bytes()), read_image(str(p)))


def test_jpeg_close(tmp_path):
    rgb = np.full((40, 48, 3), (200, 120, 40), np.uint8)
    p = write_image(tmp_path / "a.jpg", rgb)
    out = read_image(p)
    assert out.shape == (40, 48, 3)
    assert np.abs(out.astype(int) - rgb).max() <= 3


def test_bmp_and_webp(tmp_path):
    rgb = _gradient()
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.bmp", rgb)), rgb)
    Image.fromarray(rgb).save(tmp_path / "b.webp", lossless=True)
    np.testing.assert_array_equal(read_image(tmp_path / "b.webp"), rgb)


def test_16bit_tiff_rgb_rounds_v_over_257(tmp_path):
    v = np.array([0, 128, 129, 1000, 32767, 65278, 65535], np.uint16)
    arr = np.stack([v, v[::-1], np.full_like(v, 257 * 7 + 128)], axis=-1).reshape(1, -1, 3)
    tifffile.imwrite(tmp_path / "a.tif", arr, photometric="rgb")
    out = read_image(tmp_path / "a.tif")
    expected = np.rint(arr / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    assert out[0, 3, 0] == 4  # 1000/257 = 3.89 -> 4 (Pillow alone would give 1000 >> 8 = 3)


def test_16bit_gray_tiff_and_png(tmp_path):
    g = (np.arange(60, dtype=np.uint32).reshape(6, 10) * 1111).astype(np.uint16)
    tifffile.imwrite(tmp_path / "g.tif", g)
    Image.fromarray(g).save(tmp_path / "g.png")
    expected = np.repeat(np.rint(g / 257.0).astype(np.uint8)[..., None], 3, axis=-1)
    np.testing.assert_array_equal(read_image(tmp_path / "g.tif"), expected)
    np.testing.assert_array_equal(read_image(tmp_path / "g.png"), expected)


def test_16bit_rgb_png(tmp_path):
    import cv2

    rgb16 = (np.arange(4 * 5 * 3, dtype=np.uint32).reshape(4, 5, 3) * 1000).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "c.png"), rgb16[..., ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "c.png"), np.rint(rgb16 / 257.0).astype(np.uint8))


def test_gray_png_stacked(tmp_path):
    g = _gradient()[..., 0]
    Image.fromarray(g, mode="L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == g.shape + (3,)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], g)


def test_rgba_composited_over_white(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3] = (100, 0, 200)
    rgba[0, :, 3] = 255  # opaque row keeps its colour
    rgba[1, 0, 3] = 0  # transparent -> white
    rgba[1, 1, 3] = 128
    rgba[1, 2, 3] = 51
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png").astype(int)
    np.testing.assert_array_equal(out[0], [[100, 0, 200]] * 3)
    np.testing.assert_array_equal(out[1, 0], [255, 255, 255])
    a = 128 / 255
    np.testing.assert_array_equal(out[1, 1], np.rint(np.array([100, 0, 200]) * a + 255 * (1 - a)))
    a = 51 / 255
    np.testing.assert_array_equal(out[1, 2], np.rint(np.array([100, 0, 200]) * a + 255 * (1 - a)))


def test_palette_png(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = (255, 0, 0)
    rgb[2:] = (0, 0, 255)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png"), rgb)


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 12), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=98)  # pure red ink-wise
    out = read_image(tmp_path / "c.jpg")
    assert out.shape == (12, 16, 3)
    assert out[..., 0].min() >= 245 and out[..., 1:].max() <= 10


def test_exif_orientation_applied(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[0, 0] = 255  # white marker at top-left as stored
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    im.save(tmp_path / "r.png", exif=exif.tobytes())
    out = read_image(tmp_path / "r.png")
    assert out.shape == (30, 20, 3)
    assert out[0, -1].min() == 255  # stored top-left ends at displayed top-right
    im.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    assert read_image(tmp_path / "r.jpg").shape == (30, 20, 3)


def test_array_inputs():
    rgb = _gradient()
    assert read_image(rgb) is rgb  # accepted as is, no copy
    g = rgb[..., 0].copy()
    np.testing.assert_array_equal(read_image(g), np.repeat(g[..., None], 3, axis=-1))
    u16 = rgb.astype(np.uint16) * 257
    np.testing.assert_array_equal(read_image(u16), rgb)


@pytest.mark.parametrize(
    "arr, expect",
    [
        (np.zeros((4, 5, 3), np.float32), "float32"),
        (np.zeros((4, 5, 4), np.uint8), "(4, 5, 4)"),
        (np.zeros((3, 4, 5), np.uint8), "(3, 4, 5)"),
        (np.zeros((4,), np.uint8), "(4,)"),
        (np.zeros((0, 5, 3), np.uint8), "(0, 5, 3)"),
    ],
)
def test_array_refusals_name_shape_and_dtype(arr, expect):
    with pytest.raises(ImageError, match="expected") as info:
        read_image(arr, name="unit-7")
    assert "unit-7" in str(info.value) and expect in str(info.value)


def test_truncated_png(tmp_path):
    rng = np.random.default_rng(0)
    p = write_image(tmp_path / "full.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = p.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png"):
        read_image(tmp_path / "cut.png")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_jpeg(tmp_path):
    rng = np.random.default_rng(1)
    p = write_image(tmp_path / "full.jpg", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = p.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg.*(corrupt|truncated)"):
        read_image(tmp_path / "cut.jpg")


def test_random_bytes_empty_text_missing(tmp_path):
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("this is not an image\n")
    with pytest.raises(ImageError, match="noise.png.*not a recognised image"):
        read_image(tmp_path / "noise.png")
    with pytest.raises(ImageError, match="empty.jpg.*empty"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageError, match="notes.txt"):
        read_image(tmp_path / "notes.txt")
    with pytest.raises(ImageError, match="missing.png.*no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="upload-3"):
        read_image(b"", name="upload-3")
    with pytest.raises(ImageError, match="<bytes>"):
        read_image(b"GIF89a garbage")


def test_max_pixels_checked_before_decoding(tmp_path):
    p = write_image(tmp_path / "big.png", np.zeros((100, 120, 3), np.uint8))
    assert read_image(p, max_pixels=12_000).shape == (100, 120, 3)
    with pytest.raises(ImageError, match=r"big\.png.*120 x 100.*max_pixels=11999"):
        read_image(p, max_pixels=11_999)
    # a header that claims a huge image over a tiny, broken body: refused from the header alone
    data = bytearray(p.read_bytes())
    ihdr = data.index(b"IHDR")
    for side, msg in ((8000, "64000000 pixels exceeds max_pixels=50000000"), (100_000, "too many pixels")):
        data[ihdr + 4: ihdr + 12] = side.to_bytes(4, "big") + side.to_bytes(4, "big")
        data[ihdr + 17: ihdr + 21] = zlib.crc32(bytes(data[ihdr: ihdr + 17])).to_bytes(4, "big")
        (tmp_path / "bomb.png").write_bytes(bytes(data))
        with pytest.raises(ImageError, match=f"bomb.png.*{msg}"):
            read_image(tmp_path / "bomb.png")


def test_write_image_refuses_bad_suffix_and_array(tmp_path):
    with pytest.raises(ImageError, match=r"\.gifx"):
        write_image(tmp_path / "a.gifx", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ImageError, match="float64"):
        write_image(tmp_path / "a.png", np.zeros((2, 2, 3)))


def test_16bit_tiff_roundtrip_via_tifffile_and_uint8_tiff(tmp_path):
    rgb = _gradient()
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.tif", rgb)), rgb)


def test_sha256(tmp_path):
    p = write_image(tmp_path / "a.png", _gradient())
    import hashlib

    assert sha256_of(p) == hashlib.sha256(p.read_bytes()).hexdigest()
    assert sha256_of(p.read_bytes()) == sha256_of(str(p))
    a = np.zeros((2, 6), np.uint8)
    assert sha256_of(a) != sha256_of(a.reshape(3, 4))
    assert sha256_of(a) != sha256_of(a.astype(np.uint16)[:, :3])
    assert sha256_of(a) == sha256_of(a.copy())
    # FIPS 180-4 SHA-256 of the one byte "x"
    assert sha256_of(b"x") == "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    assert sha256_of(bytearray(b"x")) == sha256_of(memoryview(b"x")) == sha256_of(io.BytesIO(b"x").getvalue())


def test_load_image_hashes_the_bytes_it_decodes(tmp_path):
    rgb = _gradient()
    p = write_image(tmp_path / "a.png", rgb)
    data = p.read_bytes()
    import hashlib

    loaded = load_image(p)
    np.testing.assert_array_equal(loaded.rgb, rgb)
    assert loaded.sha256 == hashlib.sha256(data).hexdigest() == sha256_of(p)
    assert loaded.nbytes == len(data) and loaded.name == str(p)
    from_bytes = load_image(data, name="upload-1")
    assert (from_bytes.sha256, from_bytes.nbytes, from_bytes.name) == (loaded.sha256, len(data), "upload-1")
    np.testing.assert_array_equal(from_bytes.rgb, rgb)


def test_load_image_16bit_png_decodes_from_the_same_bytes(tmp_path):
    import cv2

    rgb16 = (_gradient().astype(np.uint16) * 257 + 100).clip(0, 65535).astype(np.uint16)
    p = tmp_path / "c16.png"
    cv2.imwrite(str(p), rgb16[..., ::-1])
    loaded = load_image(p)
    np.testing.assert_array_equal(loaded.rgb, np.rint(rgb16 / 257.0).astype(np.uint8))
    assert loaded.sha256 == sha256_of(p)


def test_load_image_opens_a_file_once(tmp_path, monkeypatch):
    import builtins

    p = write_image(tmp_path / "once.png", _gradient())
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kw):  # noqa: ANN001 - a stand-in for open()
        opened.append(str(file))
        return real_open(file, *args, **kw)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    load_image(p)
    assert opened.count(str(p)) == 1, opened


def test_load_image_array_and_refusals(tmp_path):
    rgb = _gradient()
    loaded = load_image(rgb)
    assert loaded.rgb is rgb and loaded.sha256 == sha256_of(rgb) and loaded.nbytes == rgb.nbytes
    assert loaded.name == "<array>"
    with pytest.raises(ImageError, match="missing.png.*no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="upload-3.*empty"):
        load_image(b"", name="upload-3")
    with pytest.raises(ImageError, match="max_pixels=100"):
        load_image(rgb, max_pixels=100)
    with pytest.raises(ImageError, match="expected a path, bytes or ndarray, got int"):
        load_image(7)  # type: ignore[arg-type]


def test_a_file_too_large_for_max_pixels_is_not_read(tmp_path, monkeypatch):
    p = write_image(tmp_path / "small.png", _gradient())
    # 100 pixels allow at most 8 * 100 bytes + 16 MiB of encoded data
    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.write(p.read_bytes())
        f.truncate(8 * 100 + (16 << 20) + 1)
    read: list[str] = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(str(self)) or real(self))
    with pytest.raises(ImageError, match=r"big\.png: file of 16778017 bytes is more than any image of max_pixels=100"):
        load_image(big, max_pixels=100)
    assert read == []
    with pytest.raises(ImageError, match=r"<bytes>: 16778017 bytes is more than"):
        read_image(b"\0" * 16778017, max_pixels=100)
    # within the limit the size is no reason to refuse: the header decides
    with pytest.raises(ImageError, match="max_pixels=100"):
        load_image(p, max_pixels=100)
