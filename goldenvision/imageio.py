"""Safe image input and output: every photo enters goldenvision through :func:`load_image`
(decoded pixels and the sha256 of the bytes decoded, from one read) or :func:`read_image`.

The reader turns a file path, the bytes of an uploaded file or an array into one layout,
``(H, W, 3)`` uint8 RGB in **camera px** (EXIF orientation applied), and refuses everything
it cannot read exactly:

* the pixel count is checked from the header **before** any pixel is decoded
  (``max_pixels``; Pillow's own ``Image.MAX_IMAGE_PIXELS`` bomb check also applies);
* the whole image is decoded with ``Image.load()`` so that a truncated or corrupt file
  fails here and not later (Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay False;
  this module never sets it);
* 16-bit images (PNG, TIFF, grayscale or RGB) are scaled to 8 bit by ``round(v / 257)``,
  which maps 0 -> 0 and 65535 -> 255 exactly (Pillow alone truncates ``v >> 8``);
* an alpha channel is **composited over white** (``rgb * a + 255 * (1 - a)``): a transparent
  pixel reads as the white of the light box rather than as whatever colour happens to be
  stored under it;
* grayscale, palette and CMYK images become RGB (CMYK through Pillow's plain conversion,
  without ICC colour management);
* an array is never reinterpreted: only ``(H, W, 3)`` / ``(H, W)`` of uint8 or uint16 are
  accepted; floats, 4 channels or channel-first layouts are refused with the shape and dtype.

Every failure raises :class:`~goldenvision.errors.ImageError` naming the input (file name,
``name=`` or ``<bytes>``/``<array>``), what was expected and what came.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import ImageError

__all__ = ["load_image", "LoadedImage", "read_image", "write_image", "sha256_of", "ImageSource", "DEFAULT_MAX_PIXELS"]


#: Default limit on width x height of a decoded image (50 megapixels).
DEFAULT_MAX_PIXELS = 50_000_000

# EXIF orientation tag (0x0112) -> Pillow transpose, as in PIL.ImageOps.exif_transpose.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
                  ".bmp": "BMP", ".webp": "WEBP"}


def _u16_to_u8(arr: np.ndarray) -> np.ndarray:
    """Scale 16-bit values to 8 bit by ``round(v / 257)`` (0 -> 0, 65535 -> 255)."""
    return np.rint(arr.astype(np.float32) / np.float32(257.0)).astype(np.uint8)


def _composite_over_white(rgb: np.ndarray, alpha: np.ndarray, vmax: int) -> np.ndarray:
    """``rgb * a + vmax * (1 - a)`` with ``a = alpha / vmax``, rounded, same dtype as ``rgb``."""
    a = alpha.astype(np.float64)[..., None] / vmax
    out = rgb.astype(np.float64) * a + vmax * (1.0 - a)
    return np.rint(out).astype(rgb.dtype)


def _array_to_rgb8(arr: np.ndarray, what: str) -> np.ndarray:
    """Strict conversion of a decoded or user-given array to (H, W, 3) uint8 RGB."""
    expected = "(H, W, 3) or (H, W) array of uint8 or uint16"
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{what}: expected {expected}, got dtype {arr.dtype} with shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 3:
        rgb = arr
    elif arr.ndim == 2:
        rgb = np.stack([arr, arr, arr], axis=-1)
    else:
        raise ImageError(f"{what}: expected {expected}, got shape {arr.shape} of {arr.dtype}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageError(f"{what}: expected a non-empty image, got shape {arr.shape}")
    if rgb.dtype == np.uint16:
        rgb = _u16_to_u8(rgb)
    return rgb


def _decode_high_bit_depth(data: bytes, fmt: str, what: str) -> np.ndarray:
    """Decode a 16-bit-per-channel colour PNG/TIFF that Pillow would truncate to 8 bit."""
    if fmt == "TIFF":
        import tifffile

        with tifffile.TiffFile(io.BytesIO(data)) as tf:
            page = tf.pages[0]
            assert isinstance(page, tifffile.TiffPage)  # the first page is never a TiffFrame
            arr = page.asarray()
            photometric = int(page.photometric)
            separate = int(page.planarconfig) == 2
            extra = len(page.extrasamples) if page.extrasamples is not None else 0
        if separate and arr.ndim == 3:
            arr = np.moveaxis(arr, 0, -1)
        if photometric not in (1, 2):  # MINISBLACK, RGB
            raise ImageError(f"{what}: 16-bit TIFF with photometric={photometric} is not supported; "
                             "expected grayscale or RGB")
    else:  # PNG: OpenCV keeps all 16 bits; it returns BGR(A) order
        import cv2

        buf = np.frombuffer(data, dtype=np.uint8)
        dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        if dec is None:
            raise ImageError(f"{what}: corrupt 16-bit PNG data (OpenCV could not decode it)")
        arr = dec
        if arr.ndim == 3:
            arr = arr[..., [2, 1, 0] + ([3] if arr.shape[2] == 4 else [])]
        extra = 1 if arr.ndim == 3 and arr.shape[2] in (2, 4) else 0
    if arr.dtype != np.uint16:
        raise ImageError(f"{what}: expected 16-bit samples, decoder returned {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] in (2, 4) and extra:
        arr = _composite_over_white(arr[..., :-1], arr[..., -1], 65535)
        if arr.shape[2] == 1:
            arr = arr[..., 0]
    elif arr.ndim == 3 and arr.shape[2] > 3:
        arr = arr[..., :3]  # unassociated extra samples other than alpha: colour is in the first 3
    return _array_to_rgb8(np.ascontiguousarray(arr), what)


def _pil_to_rgb8(im: Image.Image, what: str) -> np.ndarray:
    """Convert a loaded Pillow image of any supported mode to (H, W, 3) uint8 RGB."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im)
        if mode == "I":
            lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
            if lo < 0 or hi > 65535:
                raise ImageError(f"{what}: 32-bit integer image with values in [{lo}, {hi}]; "
                                 "expected 8- or 16-bit samples")
            arr = arr.astype(np.uint16)
        return _array_to_rgb8(arr.astype(np.uint16, copy=False), what)
    if mode == "F":
        raise ImageError(f"{what}: floating-point image (mode 'F') has no defined range; "
                         "expected 8- or 16-bit samples")
    has_alpha = mode in ("LA", "La", "PA", "RGBA", "RGBa") or (mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA"))
        return _composite_over_white(rgba[..., :3], rgba[..., 3], 255)
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im)


def _is_high_bit_colour(im: Image.Image) -> bool:
    """True when Pillow would read a >8-bit colour image as 8-bit RGB(A) by truncation."""
    if im.format not in ("PNG", "TIFF") or im.mode not in ("RGB", "RGBA"):
        return False
    for tile in getattr(im, "tile", None) or []:
        args = tile.args if hasattr(tile, "args") else tile[3]
        rawmode = args if isinstance(args, str) else (args[0] if args else "")
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """A decoded photo and the sha256 of the very bytes it was decoded from.

    Attributes
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
        RGB in camera px, EXIF orientation applied.
    sha256 : str
        Hex digest of the encoded bytes that were decoded (for a file or an upload), or of
        an array as :func:`sha256_of` defines it (``"<dtype>|<shape>|"`` then its bytes).
    name : str
        The input's name as used in messages: the path, ``name=``, ``<bytes>`` or ``<array>``.
    nbytes : int
        Size of the encoded input in bytes (of the array's data for an array input).
    """

    rgb: np.ndarray
    sha256: str
    name: str
    nbytes: int


#: What every reader accepts: a path, the bytes of an encoded file, an array, or a photo
#: already read by :func:`load_image`.
ImageSource = str | os.PathLike | bytes | bytearray | memoryview | np.ndarray | LoadedImage


def _max_encoded_bytes(max_pixels: int) -> int:
    """Largest encoded size accepted for ``max_pixels``: uncompressed 16-bit RGBA (8 bytes per
    pixel) plus 16 MiB of headers and metadata. Anything larger is refused before it is read."""
    return 8 * max_pixels + (16 << 20)


def _source_bytes(source: ImageSource, name: str | None, max_pixels: int) -> tuple[bytes, str]:
    """The encoded bytes of a path or an upload, read once; (data, name for messages)."""
    limit = _max_encoded_bytes(max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        what = name or "<bytes>"
        data = bytes(source)
        if len(data) > limit:
            raise ImageError(f"{what}: {len(data)} bytes is more than any image of max_pixels={max_pixels} "
                             f"needs (at most {limit} bytes)")
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        what = name or str(path)
        if not path.exists():
            raise ImageError(f"{what}: no such file")
        if not path.is_file():
            raise ImageError(f"{what}: not a regular file")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageError(f"{what}: cannot stat ({exc})") from None
        if size > limit:
            raise ImageError(f"{what}: file of {size} bytes is more than any image of max_pixels={max_pixels} "
                             f"needs (at most {limit} bytes); not read")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{what}: cannot read ({exc})") from None
    else:
        raise ImageError(f"{name or 'source'}: expected a path, bytes or ndarray, got {type(source).__name__}")
    if len(data) == 0:
        kind = "input" if isinstance(source, (bytes, bytearray, memoryview)) else "file"
        raise ImageError(f"{what}: empty {kind} (0 bytes); expected an encoded image")
    return data, what


def _check_array(source: np.ndarray, max_pixels: int, what: str) -> np.ndarray:
    if source.ndim >= 2 and source.shape[0] * source.shape[1] > max_pixels:
        raise ImageError(f"{what}: {source.shape[1]} x {source.shape[0]} = {source.shape[0] * source.shape[1]} "
                         f"pixels exceeds max_pixels={max_pixels}")
    return _array_to_rgb8(source, what)


def _png_has_exif(data: bytes) -> bool:
    """Whether a PNG holds an ``eXIf`` chunk (or cannot be walked chunk by chunk: then True, so
    that Pillow decides). Walks the chunk headers only, a few hundred at most for a photo."""
    pos, n = 8, len(data)
    while pos + 8 <= n:
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if kind == b"eXIf":
            return True
        if kind == b"IEND":
            return False
        pos += 12 + length
    return True


def _decode_plain_png(im: Image.Image, data: bytes) -> np.ndarray | None:
    """A plain 8-bit RGB PNG decoded by OpenCV's libpng (about a quarter faster than Pillow's
    decoder on a 2 MP photo, and the same pixels: PNG is lossless); None for anything else
    (other modes, an ``eXIf`` chunk that may turn the image, or data libpng refuses), which
    then goes through Pillow with its checks and messages."""
    if im.format != "PNG" or im.mode != "RGB" or _png_has_exif(data):
        return None
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None or bgr.dtype != np.uint8 or bgr.shape != (im.size[1], im.size[0], 3):
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _decode(data: bytes, max_pixels: int, what: str) -> np.ndarray:
    """Decode encoded image bytes into (H, W, 3) uint8 RGB (header checks first)."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched Pillow's safety off globally
        raise ImageError(f"{what}: refusing to decode while PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True "
                         "(truncated files would be accepted silently)")
    try:
        im = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{what}: too many pixels for Pillow's decompression-bomb limit ({exc})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{what}: not a recognised image file (expected JPEG, PNG, TIFF, BMP or WebP)") from None
    except OSError as exc:
        raise ImageError(f"{what}: cannot open ({exc})") from None
    with im:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise ImageError(f"{what}: header gives an empty image size {w} x {h}")
        if w * h > max_pixels:
            raise ImageError(f"{what}: {w} x {h} = {w * h} pixels exceeds max_pixels={max_pixels}")
        fmt = im.format or "?"
        try:
            if _is_high_bit_colour(im):
                orientation = im.getexif().get(0x0112, 1)
                im.load()  # full decode through Pillow: catches truncation the same way
                rgb = _decode_high_bit_depth(data, fmt, what)
                if orientation in _ORIENTATION:
                    rgb = np.asarray(Image.fromarray(rgb).transpose(_ORIENTATION[orientation]))
            elif (fast := _decode_plain_png(im, data)) is not None:
                rgb = fast
            else:
                im.load()  # force the full decode: a truncated file fails here
                ImageOps.exif_transpose(im, in_place=True)  # no copy when there is nothing to turn
                rgb = _pil_to_rgb8(im, what)
        except ImageError:
            raise
        except MemoryError:
            raise
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, struct.error...
            raise ImageError(f"{what}: corrupt or truncated {fmt} data ({type(exc).__name__}: {exc})") from None
    return np.ascontiguousarray(rgb)


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> LoadedImage:
    """Read a photo once: hash the encoded bytes and decode those same bytes.

    A file is opened exactly once; the sha256 recorded for a result is therefore the
    digest of the bytes that were judged, even if the file is replaced meanwhile.

    Parameters
    ----------
    source : str, os.PathLike, bytes, ndarray or LoadedImage
        As for :func:`read_image`; a :class:`LoadedImage` (already decoded and hashed, e.g.
        by a station that checked its focus first) is returned as it is.
    max_pixels : int, keyword-only
        Largest accepted ``width * height``; checked from the header before decoding.
    name : str, optional, keyword-only
        Name used in error messages and in ``LoadedImage.name``.

    Returns
    -------
    LoadedImage
        ``rgb`` (H, W, 3) uint8 RGB in camera px (a (H, W, 3) uint8 input array as is, not
        copied), its ``sha256``, ``name`` and ``nbytes``.

    Raises
    ------
    ImageError
        As :func:`read_image`.
    """
    if max_pixels <= 0:
        raise ImageError(f"max_pixels: expected a positive int, got {max_pixels!r}")
    if isinstance(source, LoadedImage):  # decoded and hashed already (a station's hot folder)
        rgb = _check_array(source.rgb, max_pixels, name or source.name)
        return source if rgb is source.rgb else dataclasses.replace(source, rgb=rgb)
    if isinstance(source, np.ndarray):
        what = name or "<array>"
        rgb = _check_array(source, max_pixels, what)
        return LoadedImage(rgb=rgb, sha256=sha256_of(source), name=what, nbytes=int(source.nbytes))
    data, what = _source_bytes(source, name, max_pixels)
    digest = hashlib.sha256(data).hexdigest()
    return LoadedImage(rgb=_decode(data, max_pixels, what), sha256=digest, name=what, nbytes=len(data))


def read_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """Read a photo into ``(H, W, 3)`` uint8 RGB, safely.

    Use :func:`load_image` when the photo's sha256 is recorded too (one read for both).

    Parameters
    ----------
    source : str, os.PathLike, bytes or ndarray
        A file path; the bytes of an encoded file (an upload); or an array of shape
        ``(H, W, 3)`` or ``(H, W)``, dtype uint8 or uint16 (16-bit scaled by ``round(v/257)``).
        Formats: JPEG, PNG, TIFF (8/16 bit), BMP, WebP and whatever else Pillow decodes.
    max_pixels : int, keyword-only
        Largest accepted ``width * height``; checked from the header before decoding.
    name : str, optional, keyword-only
        Name used in error messages (default: the path, ``<bytes>`` or ``<array>``).

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
        RGB in camera px, EXIF orientation applied. A ``(H, W, 3)`` uint8 input array is
        returned as is (not copied).

    Raises
    ------
    ImageError
        Missing, empty, non-image, corrupt or truncated file; too many pixels; unsupported
        mode; an array of another shape or dtype. The message names the input.
    """
    if max_pixels <= 0:
        raise ImageError(f"max_pixels: expected a positive int, got {max_pixels!r}")
    if isinstance(source, LoadedImage):
        return _check_array(source.rgb, max_pixels, name or source.name)
    if isinstance(source, np.ndarray):
        return _check_array(source, max_pixels, name or "<array>")
    data, what = _source_bytes(source, name, max_pixels)
    return _decode(data, max_pixels, what)


def write_image(path: "str | os.PathLike[str]", rgb: np.ndarray, *, jpeg_quality: int = 95) -> Path:
    """Write ``(H, W, 3)`` or ``(H, W)`` uint8 RGB to PNG/JPEG/TIFF/BMP/WebP, chosen by suffix.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; the suffix (``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff``, ``.bmp``,
        ``.webp``) picks the format. Parent folders must exist.
    rgb : ndarray, shape (H, W, 3) or (H, W), uint8
    jpeg_quality : int, keyword-only
        JPEG/WebP quality (1..100).

    Returns
    -------
    Path
        The path written.
    """
    p = Path(path)
    fmt = _WRITE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ImageError(f"{p}: unknown image suffix {p.suffix!r}; expected one of {sorted(_WRITE_FORMATS)}")
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ImageError(f"{p}: expected (H, W, 3) or (H, W) uint8 to write, got shape {arr.shape} of {arr.dtype}")
    im = Image.fromarray(np.ascontiguousarray(arr))
    try:
        if fmt in ("JPEG", "WEBP"):
            im.save(p, format=fmt, quality=int(jpeg_quality))
        else:
            im.save(p, format=fmt)
    except OSError as exc:
        raise ImageError(f"{p}: cannot write ({exc})") from None
    return p


def sha256_of(source: ImageSource) -> str:
    """SHA-256 hex digest for provenance.

    For a path, the digest of the file's bytes; for bytes, of those bytes; for an array,
    of ``"<dtype>|<shape>|"`` (ASCII) followed by its C-contiguous bytes, so that equal data
    in another shape or dtype hashes differently.
    """
    if isinstance(source, LoadedImage):
        return source.sha256
    h = hashlib.sha256()
    if isinstance(source, np.ndarray):
        arr = np.ascontiguousarray(source)
        h.update(f"{arr.dtype.str}|{arr.shape}|".encode("ascii"))
        h.update(arr.data)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        h.update(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        p = Path(source)
        try:
            with p.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as exc:
            raise ImageError(f"{p}: cannot read for hashing ({exc})") from None
    else:
        raise ImageError(f"sha256_of: expected a path, bytes or ndarray, got {type(source).__name__}")
    return h.hexdigest()
