"""Typed refusal reasons of the registration.

Every refusal carries a :class:`RefusalCode` beside its human-readable text, so that code
(the pipeline, sealing, scripts) tests the code and never the wording of a message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["RefusalCode", "Refusal"]


class RefusalCode(str, enum.Enum):
    """Why a unit could not be aligned; the values are stable strings for ``to_dict``.

    Listed from the earliest stage of :func:`~goldenvision.registration.register` to the
    latest; when several candidates were refused for different reasons, the result carries
    the code of the one that got furthest (:meth:`rank`).
    """

    #: The reference (inside its mask) or the unit image has no content (gray std < 2).
    BLANK = "blank"
    #: Too few keypoint matches or inliers, or inliers bunched in one spot.
    NO_FEATURES = "no_features"
    #: A numerical breakdown on bad content (singular system, OpenCV error).
    NUMERICAL = "numerical"
    #: The homography is implausible (flip, scale outside 0.4-2.5, anisotropy, perspective).
    IMPLAUSIBLE_WARP = "implausible_warp"
    #: The fine alignment diverged or left the unit image.
    DIVERGED = "diverged"
    #: The refinement no longer explains the keypoint inliers it started from.
    FEATURES_DISAGREE = "features_disagree"
    #: Too little of the reference's edge content falls inside the unit image.
    LOW_OVERLAP = "low_overlap"
    #: Too few of the reference's edge points are reproduced by the unit (occlusion, another part).
    OCCLUDED = "occluded"
    #: The aligned unit does not correlate with the reference (another product, or no fit).
    LOW_CORRELATION = "low_correlation"
    #: A non-rigid deformation beyond the allowed bend or strain.
    DEFORMATION_TOO_LARGE = "deformation_too_large"
    #: The content cannot pin the alignment down (symmetric, featureless or striped part).
    UNDETERMINED = "undetermined"
    #: A second, distinct alignment fits about as well (symmetric or repetitive part).
    AMBIGUOUS = "ambiguous"
    #: The alignment follows a print that sits elsewhere on the product's body than on the
    #: golden (a round product's outline slides along itself; :mod:`.concentric`).
    PRINT_MOVED = "print_moved"

    def __str__(self) -> str:  # "undetermined", not "RefusalCode.UNDETERMINED"
        return self.value

    @property
    def rank(self) -> int:
        """Stage order (0 = earliest); the furthest stage's code stands for a refusal."""
        return list(RefusalCode).index(self)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal: its code and the text a person reads (``str(refusal)`` is the text).

    ``std_px`` is set only on an alignment refused for its predicted uncertainty alone (every
    other check passed): that uncertainty, golden px (1-sigma, worst corner). ``same_as``: the
    refinement stopped on its way to an alignment already refused as undetermined (the index of
    its path among those the refinement was given)."""

    code: RefusalCode
    text: str
    std_px: float | None = None
    same_as: int | None = None

    def __str__(self) -> str:
        return self.text

    def prefixed(self, label: str) -> "Refusal":
        """The same code with ``"label: "`` before the text."""
        return Refusal(self.code, f"{label}: {self.text}", self.std_px, self.same_as)
