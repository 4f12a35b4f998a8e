"""Exceptions raised by goldenvision.

Every error derives from :class:`GoldenVisionError` and from the matching built-in
exception, so ``except ValueError`` keeps working for callers that do not know us.
Messages name the input, what was expected and what came.
"""

from __future__ import annotations

__all__ = [
    "GoldenVisionError",
    "SpecError",
    "ImageError",
    "CalibrationError",
    "RegistrationError",
    "MeasurementError",
    "IntegrityError",
    "ModelError",
    "InputNotFoundError",
    "OutputExistsError",
    "UntrustedSignatureError",
]


class GoldenVisionError(Exception):
    """Base class of every goldenvision error."""


class SpecError(GoldenVisionError, ValueError):
    """A spec sheet (or an argument that plays the part of one) is invalid."""


class ImageError(GoldenVisionError, ValueError):
    """An image could not be read or has the wrong shape, dtype or size."""


class CalibrationError(GoldenVisionError, ValueError):
    """A station calibration (geometry or colour) could not be made."""


class RegistrationError(GoldenVisionError, RuntimeError):
    """A unit could not be aligned to the golden frame."""


class MeasurementError(GoldenVisionError, RuntimeError):
    """A dimension could not be measured (edge not found, caliper off the image)."""


class IntegrityError(GoldenVisionError, ValueError):
    """A sealed golden package failed its hash or signature checks."""


class ModelError(GoldenVisionError, RuntimeError):
    """A shipped or fitted model is missing, incompatible or corrupt."""


class InputNotFoundError(GoldenVisionError, FileNotFoundError):
    """An input (photo, folder, golden package, key, results file) does not exist."""


class OutputExistsError(GoldenVisionError, FileExistsError):
    """An output exists and overwriting it was not asked for (``--force``)."""


class UntrustedSignatureError(IntegrityError):
    """A signature is valid but not made by a trusted key (or a required role lacks a trusted one)."""
