"""Statistical process control (SPC) of unit metrics: drift caught while units still pass.

Pure functions over arrays in the lower modules, a thin layer over the results store on top
(:func:`detect_drift`, which reads ``store.results()`` dicts; it never writes).

Modules
-------
* :mod:`~goldenvision.drift.charts`: Shewhart individuals and moving range, X̄-R and X̄-S
  with the control-chart constants d2, d3, c4; EWMA and two-sided tabular CUSUM.
* :mod:`~goldenvision.drift.design`: average run lengths by Markov chains and by
  simulation, limits for a wanted in-control ARL, limits guaranteed despite a short baseline.
* :mod:`~goldenvision.drift.rules`: Western Electric and Nelson run rules, capability
  Cp, Cpk, Pp, Ppk, change points.
* :mod:`~goldenvision.drift.words`: metric names, units and the direction of a shift in words.
* :mod:`~goldenvision.drift.batches`: two-sample material-batch comparison.
* :mod:`~goldenvision.drift.monitor`: one series monitored (:func:`monitor_series`) and
  :func:`detect_drift` over the store, with their result dataclasses.

Every name is re-exported here, so ``from goldenvision.drift import ...`` and
``goldenvision.drift.<name>`` keep working as before the split. Each module's docstring
carries its references.
"""

from __future__ import annotations

from ._common import (
    DriftError,
    _as_1d as _as_1d,
)
from .charts import (
    CusumChart,
    EwmaChart,
    IndividualsChart,
    Limits,
    SubgroupChart,
    _GRID as _GRID,
    _subgroups as _subgroups,
    c4,
    cusum_chart,
    cusum_statistic,
    d2,
    d3,
    ewma_chart,
    ewma_statistic,
    individuals_chart,
    phase1_individuals,
    xbar_r_chart,
    xbar_s_chart,
)
from .design import (
    _cusum_arl_batch as _cusum_arl_batch,
    _cusum_one_sided_arl as _cusum_one_sided_arl,
    _ewma_arl_batch as _ewma_arl_batch,
    cusum_arl,
    cusum_h_for_arl0,
    ewma_arl,
    ewma_limit_for_arl0,
    guaranteed_design as guaranteed_design,
    simulate_run_lengths,
)
from .rules import (
    Capability,
    RULE_SETS,
    RuleViolation,
    _RULE_IDS as _RULE_IDS,
    _run_rule as _run_rule,
    _windows as _windows,
    capability,
    cusum_change_point,
    likelihood_change_point,
    rule_violations,
)
from .words import (
    _UNITS as _UNITS,
    _hue_words as _hue_words,
    _split_metric as _split_metric,
    direction_words,
    metric_label,
    metric_unit,
)
from .batches import (
    BatchComparison,
    compare_batches,
)
from .monitor import (
    Alarm,
    DriftReport,
    GROUP_FIELDS as GROUP_FIELDS,
    SeriesAlarm,
    SeriesDesign,
    SeriesReport,
    _batch_comparisons as _batch_comparisons,
    _cusum_h_cached as _cusum_h_cached,
    _ewma_L_cached as _ewma_L_cached,
    _label as _label,
    _reference_labs as _reference_labs,
    detect_drift,
    monitor_series,
)

__all__ = [
    "DriftError",
    "d2", "d3", "c4",
    "Limits", "phase1_individuals",
    "IndividualsChart", "individuals_chart",
    "SubgroupChart", "xbar_r_chart", "xbar_s_chart",
    "ewma_statistic", "EwmaChart", "ewma_chart", "ewma_arl", "ewma_limit_for_arl0",
    "cusum_statistic", "CusumChart", "cusum_chart", "cusum_arl", "cusum_h_for_arl0",
    "simulate_run_lengths",
    "RULE_SETS", "RuleViolation", "rule_violations",
    "Capability", "capability",
    "cusum_change_point", "likelihood_change_point",
    "metric_label", "metric_unit", "direction_words",
    "BatchComparison", "compare_batches",
    "SeriesDesign", "SeriesAlarm", "monitor_series",
    "Alarm", "SeriesReport", "DriftReport", "detect_drift",
]
