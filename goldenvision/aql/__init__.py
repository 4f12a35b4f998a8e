"""ISO 2859-1 attribute sampling: code letters, single and double plans, switching, OC curves.

Turns a lot size, an AQL and an inspection level into the sampling plan of ISO 2859-1:1999
(identical in its tables to ANSI/ASQ Z1.4-2003 and MIL-STD-105E), judges a lot from the
number of nonconforming units found in the sample, keeps the switching rules (normal /
tightened / reduced / discontinued) per supplier and product, and computes OC curves.

Layout
------
* :mod:`.tables`: the standard's tables as data (Table 1 code letters, Tables 2-A/B/C single
  and 3-A/B/C double sampling), their sources and cross-checks, :func:`code_letter`;
* :mod:`.plans`: :class:`Decision`, :class:`SamplingPlan`, :func:`plan`, :func:`table_lookup`,
  :func:`zero_tolerance_plan`, :func:`class_plans`, :class:`DoubleSamplingPlan`,
  :func:`double_plan`, :func:`double_verdict`;
* :mod:`.verdicts`: :class:`ClassResult`, :class:`LotVerdict`, :func:`lot_verdict`;
* :mod:`.switching`: :class:`SwitchingState`, :class:`LotOutcome`, :class:`Transition` (clause 9);
* :mod:`.oc`: :func:`oc_curve`.

``gv.aql.plan(lot_size, aql, level="II", severity="normal")`` -> :class:`SamplingPlan`
(``code_letter``, ``sample_size``, ``accept``, ``reject``).

References
----------
ISO 2859-1:1999, Sampling procedures for inspection by attributes - Part 1: Sampling
schemes indexed by acceptance quality limit (AQL) for lot-by-lot inspection.
ANSI/ASQ Z1.4-2003 (R2018), Sampling Procedures and Tables for Inspection by Attributes.
"""

from __future__ import annotations

from .oc import oc_curve
from .plans import (
    Decision,
    DoubleSamplingPlan,
    SamplingPlan,
    class_plans,
    double_plan,
    double_table_lookup,
    double_verdict,
    plan,
    table_lookup,
    tighter_accept_number,
    zero_tolerance_plan,
)
from .switching import LotOutcome, SwitchingState, Transition
from .tables import (
    AQL_COLUMNS,
    CODE_LETTERS,
    DOUBLE_SAMPLE_SIZES,
    LEVELS,
    REDUCED_DOUBLE_SAMPLE_SIZES,
    REDUCED_SAMPLE_SIZES,
    SAMPLE_SIZES,
    SEVERITIES,
    code_letter,
)
from .verdicts import ClassResult, LotVerdict, lot_verdict

__all__ = [
    "AQL_COLUMNS",
    "LEVELS",
    "SEVERITIES",
    "CODE_LETTERS",
    "SAMPLE_SIZES",
    "REDUCED_SAMPLE_SIZES",
    "DOUBLE_SAMPLE_SIZES",
    "REDUCED_DOUBLE_SAMPLE_SIZES",
    "Decision",
    "SamplingPlan",
    "DoubleSamplingPlan",
    "ClassResult",
    "LotVerdict",
    "LotOutcome",
    "Transition",
    "SwitchingState",
    "code_letter",
    "table_lookup",
    "plan",
    "double_table_lookup",
    "double_plan",
    "double_verdict",
    "zero_tolerance_plan",
    "class_plans",
    "lot_verdict",
    "oc_curve",
    "tighter_accept_number",
]
