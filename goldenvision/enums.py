"""The enums that results, specs and decisions share.

They live apart from :mod:`goldenvision.spec` (pydantic models, YAML) and
:mod:`goldenvision.results` (dataclasses) so that both can import them without importing
each other. ``goldenvision.spec`` and ``goldenvision.results`` re-export them.
"""

from __future__ import annotations

import enum

__all__ = ["Severity", "DefectType", "Verdict"]


class Severity(str, enum.Enum):
    """Defect class of ISO 2859-1 practice: each has its own AQL."""

    critical = "critical"
    major = "major"
    minor = "minor"

    @property
    def rank(self) -> int:
        """How serious: minor 0 < major 1 < critical 2."""
        return _SEVERITY_RANK[self.value]


_SEVERITY_RANK = {"minor": 0, "major": 1, "critical": 2}


class DefectType(str, enum.Enum):
    """What kind of flaw an anomaly zone watches for."""

    finish = "finish"
    plating = "plating"
    stitching = "stitching"
    print = "print"
    other = "other"


class Verdict(str, enum.Enum):
    """A unit's verdict: ``pass``, ``fail`` or ``review`` (a check could not be made)."""

    passed = "pass"
    failed = "fail"
    review = "review"

    def __str__(self) -> str:  # "pass", not "Verdict.passed"
        return self.value
