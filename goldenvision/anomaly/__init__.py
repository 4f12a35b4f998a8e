"""Anomaly stage: finds what the golden sample does not have.

``AnomalyModel.fit(captures, zones, ...)`` on aligned golden captures, ``.score(warped, valid)``
on registered units -> :class:`goldenvision.results.AnomalyResult` (map normalised so that
1.0 = the zone's threshold, learnt from good images only).
"""

from .backbone import Backbone, backbone_available, get_backbone
from .model import METHODS, AnomalyConfig, AnomalyModel
from .regions import find_defects
from .threshold import good_score_threshold

__all__ = [
    "AnomalyModel",
    "AnomalyConfig",
    "METHODS",
    "Backbone",
    "backbone_available",
    "get_backbone",
    "find_defects",
    "good_score_threshold",
]
