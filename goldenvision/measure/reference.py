"""Which reference turns a measured length into millimetres (:class:`DimensionReference`).

The known-size marker that can be that reference in a hand-held photo is found by
:func:`goldenvision.measure.marker.find_scale_marker` (a module of its own: this one is
imported by :mod:`goldenvision.results` and must stay free of the measuring tools)."""

from __future__ import annotations

import enum

from ..errors import SpecError

__all__ = ["DimensionReference", "as_reference"]


class DimensionReference(str, enum.Enum):
    """The frame a dimension is measured in and where its mm per px comes from.

    ``STATION_PROFILE``
        The unit photo is in a metric frame of a station profile (rectified on its fiducials
        or taken by its fixed camera): unit px times the profile's mm per px.
    ``GOLDEN_FRAME``
        No metric frame of the unit is known: the edges are found in the unit photo, mapped
        through the registration into golden px and scaled by the golden's mm per golden px.
        The rest of the product is the reference, so a change of camera distance or tilt
        does not read as a change of size; a product that is uniformly larger or smaller
        than the golden as a whole is not seen by this reference.
    ``UNIT_SCALE``
        Unit px times a scale the caller gives, with nothing known about the unit's frame
        (the behaviour before references existed): a camera 2 % closer reads 2 % larger.
    ``MARKER``
        A known-size marker lies in the photo, in the plane of the product (a hand-held photo
        on a table, the spec's ``scale_marker``): the edges found in the unit photo are mapped
        through the plane homography of the marker's four corners into mm. Camera distance and
        tilt cancel, and unlike the golden frame a product larger than the golden as a whole
        reads larger. The uncertainty includes the marker corners' error carried over the
        distance from the marker to the product (:mod:`goldenvision.measure.marker`). When the
        unit is also registered onto the golden, the length may instead be read in the golden
        frame with the marker giving only the scale (the product's registration gives the plane's
        tilt, which four close corners fix poorly); the one with the smaller uncertainty is
        reported (``goldenvision.measure.dimensions._marker_golden_length``).

    ``RULER``
        A ruler lies in the photo, in the plane of the product (the spec's ``scale_ruler``): its
        fitted tick row gives a 1-D scale only, so the length is read in the golden frame through
        the registration refined on the product's unmeasured parts, and the ruler's first and last
        fitted ticks, mapped through the same registration, give mm per golden px
        (``goldenvision.measure.dimensions._ruler_golden_length``). As with a marker, a product
        larger than the golden as a whole reads larger. Used only when the registration is
        pinned down by the product; otherwise the golden frame's reading is reported.
    """

    STATION_PROFILE = "station_profile"
    GOLDEN_FRAME = "golden_frame"
    UNIT_SCALE = "unit_scale"
    MARKER = "marker"
    RULER = "ruler"

    def __str__(self) -> str:  # "golden_frame", not "DimensionReference.GOLDEN_FRAME"
        return self.value

    @property
    def in_golden_frame(self) -> bool:
        """Whether lengths are measured in golden px (else in unit px)."""
        return self is DimensionReference.GOLDEN_FRAME


def as_reference(value: "DimensionReference | str", name: str = "reference") -> DimensionReference:
    """Coerce a reference name to :class:`DimensionReference`; SpecError names the choices."""
    try:
        return DimensionReference(value)
    except ValueError:
        raise SpecError(f"{name}={value!r}; expected one of {[r.value for r in DimensionReference]}") from None
