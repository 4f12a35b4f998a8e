"""Run a verified detector bundle with onnxruntime (no torch): the station / pipeline side."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..errors import ImageError, IntegrityError, ModelError
from .bundle import META_CLASSES, META_THRESHOLDS, MODEL_FILE, BundleInfo, verify_bundle
from .decode import decode_maps
from .metrics import ImageDetections

#: The graph's inputs must have H and W multiples of this (the backbone's largest stride x2).
PAD_MULTIPLE = 32


def _rgb_nchw(rgb: np.ndarray, what: str) -> np.ndarray:
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageError(f"{what}: expected (H, W, 3) uint8 RGB, got shape {rgb.shape} dtype {rgb.dtype}")
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)


def open_session(path: "str | os.PathLike[str]", *, threads: int = 2) -> tuple[Any, tuple[str, ...], dict[str, float]]:
    """An onnxruntime session on a detector graph, with the classes and thresholds of its metadata.

    Low level: :class:`DefectDetector` verifies the bundle's hashes first; use it at stations.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"{path}: onnxruntime cannot load the detector ({type(exc).__name__}: {exc})") from None
    meta = sess.get_modelmeta().custom_metadata_map
    try:
        classes = tuple(str(c) for c in json.loads(meta[META_CLASSES]))
        thresholds = {str(k): float(v) for k, v in json.loads(meta[META_THRESHOLDS]).items()}
        _ = thresholds["score"]
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise IntegrityError(f"{path}: ONNX metadata lacks goldenvision classes / thresholds ({exc})") from None
    names = [i.name for i in sess.get_inputs()]
    if names != ["test", "template"]:
        raise ModelError(f"{path}: inputs {names}; expected ['test', 'template']")
    return sess, classes, thresholds


class DefectDetector:
    """A trained defect detector, loaded once from a bundle and checked.

    Parameters
    ----------
    bundle : path of the bundle directory.
    expected_sha256 : keyword-only; the bundle hash a spec pins (refused when it differs).
    trusted_keys, required_roles : keyword-only; as :func:`goldenvision.detect.bundle.verify_bundle`.
    threads : keyword-only; onnxruntime intra-op threads.

    Attributes
    ----------
    info : BundleInfo (name, version, bundle_sha256, classes, thresholds).
    classes : tuple of class names; detection label ``i`` is ``classes[i]``.
    score_threshold : detections below it are not reported.
    """

    def __init__(
        self,
        bundle: "str | os.PathLike[str]",
        *,
        expected_sha256: str | None = None,
        trusted_keys: Any = None,
        required_roles: tuple[str, ...] = (),
        threads: int = 2,
    ) -> None:
        self.info: BundleInfo = verify_bundle(
            bundle, expected_sha256=expected_sha256, trusted_keys=trusted_keys, required_roles=required_roles
        )
        path = self.info.path / MODEL_FILE
        self._sess, classes, thresholds = open_session(path, threads=threads)
        if classes != self.info.classes or thresholds != self.info.thresholds:
            raise IntegrityError(f"{path}: ONNX metadata (classes {classes}, thresholds {thresholds}) differs from the "
                                 f"manifest ({self.info.classes}, {self.info.thresholds})")
        self.classes = classes
        self.score_threshold = float(thresholds["score"])

    @classmethod
    def from_onnx_unverified(cls, path: "str | os.PathLike[str]", *, threads: int = 2) -> DefectDetector:
        """A detector on a bare ONNX graph, no bundle checks: for the exporter's own evaluation
        before the manifest exists. Stations use the constructor."""
        self = cls.__new__(cls)
        self.info = None  # type: ignore[assignment]
        self._sess, self.classes, thresholds = open_session(path, threads=threads)
        self.score_threshold = float(thresholds["score"])
        return self

    def maps(self, test_rgb: np.ndarray, template_rgb: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw output maps (heat (C, h, w), box (4, h, w)) of one pair, padded to multiples of 32."""
        t = _rgb_nchw(test_rgb, "test image")
        tp = t if template_rgb is None else _rgb_nchw(template_rgb, "template image")
        if tp.shape != t.shape:
            raise ImageError(f"template {tp.shape[2:]} differs from the test image {t.shape[2:]} (px)")
        h, w = t.shape[2:]
        ph, pw = (-h) % PAD_MULTIPLE, (-w) % PAD_MULTIPLE
        if ph or pw:
            t = np.pad(t, ((0, 0), (0, 0), (0, ph), (0, pw)))
            tp = np.pad(tp, ((0, 0), (0, 0), (0, ph), (0, pw)))
        heat, box = self._sess.run(["heat", "box"], {"test": t, "template": tp})
        return heat[0], box[0]

    def detect_all(self, test_rgb: np.ndarray, template_rgb: np.ndarray | None = None, *, max_det: int = 100) -> ImageDetections:
        """Every peak down to a score of 0.01 (for PR curves and mAP), boxes xyxy in test px."""
        heat, box = self.maps(test_rgb, template_rgb)
        det = decode_maps(heat, box, min_score=0.01, max_det=max_det)
        h, w = test_rgb.shape[:2]
        b = det.boxes.copy()
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
        return ImageDetections(b, det.scores, det.labels)

    def detect(self, test_rgb: np.ndarray, template_rgb: np.ndarray | None = None) -> ImageDetections:
        """Detections at or above the bundle's score threshold.

        Parameters
        ----------
        test_rgb : (H, W, 3) uint8 RGB (or (H, W) grey), the unit in the template's frame.
        template_rgb : the same size, the golden / template; None when there is none (the
            model then sees a zero difference).

        Returns
        -------
        ImageDetections: boxes xyxy in test px, scores in [0, 1], labels index ``classes``.
        """
        return self.detect_all(test_rgb, template_rgb).above(self.score_threshold)
