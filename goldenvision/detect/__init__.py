"""Trained defect detectors at inference: bundles, onnxruntime, metrics (no torch).

>>> from goldenvision.detect import DefectDetector
>>> det = DefectDetector("model/bundle", expected_sha256="93bd7360...")   # doctest: +SKIP
>>> found = det.detect(unit_rgb, golden_rgb)      # boxes xyxy px, scores, labels -> det.classes
"""

from .bundle import BundleInfo, sign_bundle, verify_bundle
from .metrics import ImageDetections, ImageTruth, f_score, mean_average_precision
from .runtime import DefectDetector

__all__ = ["BundleInfo", "DefectDetector", "ImageDetections", "ImageTruth", "f_score", "mean_average_precision",
           "sign_bundle", "verify_bundle"]
