"""ISO 2859-1 attribute sampling: code letters, single and double plans, switching, OC curves.

This module turns a lot size, an AQL and an inspection level into the sampling plan of
ISO 2859-1:1999 (identical in its tables to ANSI/ASQ Z1.4-2003 and MIL-STD-105E), judges
a lot from the number of nonconforming units found in the sample, keeps the switching
rules (normal / tightened / reduced / discontinued) per supplier and product, and computes
operating-characteristic (OC) curves.

Tables are data, written out row by row below, in the layout of the standard:

* ``_TABLE_1``: sample size code letters (ISO 2859-1 Table 1, Z1.4 Table I).
* ``_TABLE_2A`` / ``_TABLE_2B`` / ``_TABLE_2C``: single sampling, normal / tightened /
  reduced inspection (ISO Tables 2-A, 2-B, 2-C; Z1.4 Tables II-A, II-B, II-C).
* ``_TABLE_3A`` / ``_TABLE_3B`` / ``_TABLE_3C``: double sampling, normal / tightened /
  reduced (ISO Tables 3-A, 3-B, 3-C; Z1.4 Tables III-A, III-B, III-C).

Row string tokens, one per AQL column of :data:`AQL_COLUMNS` (0.010 ... 1000):

* ``"Ac/Re"``: acceptance and rejection numbers of that cell;
* ``"v"``: arrow down, use the first sampling plan below the arrow (larger sample);
* ``"^"``: arrow up, use the first sampling plan above the arrow (smaller sample);
* ``"."``: no plan in this cell (only in the extra row ``S`` of Table 2-B);
* double tables: ``"Ac1/Re1:Ac2/Re2"`` (second-stage numbers are cumulative) and ``"*"``
  ("use the corresponding single sampling plan").

When an arrow is followed, the code letter **and** the sample size of the plan it points
to are used (ISO 2859-1:1999 clause 10.2; the footnotes of Tables 2-A..2-C).

Sources and cross-checks
------------------------
The tables were typed from the published ISO 2859-1 / ANSI/ASQ Z1.4 tables and checked
cell by cell (after resolving arrows) against the resolved single- and double-sampling
matrices of the public R package "AQLSchemes" (J. Lawson; as redistributed in
github.com/fjgonzalezmgt/AQLSchemesCust, files ``R/AAZ14Single.R`` and ``R/AAZ14Double.R``):
0 mismatches over 3 x 16 x 26 single cells and 2 x 16 x 26 double cells, apart from one
obvious typo in that source (second-stage Re 26 for Ac 26 in the normal double table
at AQL 100, which must be 27). Table 3-C was checked the same way against that file's
reduced double matrices (``ANSIASQDoubleReducedss``, ``AADoubleReducedac``,
``AADoubleReducedre``, commit c42ea7d): 0 mismatches over 16 x 26 cells. No second
public machine-readable copy of Table 3-C / III-C was found; its structure was also checked
against Table 2-C (each reduced double plan sits exactly where 2-C has the matching single
plan: 0/2 <-> 0/2:0/2, 1/3 <-> 0/3:0/4, ..., 21/24 <-> 11/17:26/30; 0/1 <-> ``*``). Table 1 was also checked against two further public
transcriptions (a Z1.4 markdown reference table and the "aqlIso2859.js" port of an Excel
calculator); all three agree.

Reduced inspection
------------------
Table 2-C here is the reduced table with a gap between Ac and Re (0/2, 1/3, 1/4, 2/5,
3/6, 5/8, 7/10, 10/13, ...) as printed in ANSI/ASQ Z1.4-2003 Table II-C and ISO 2859-1:1989.
When the number of nonconforming units exceeds Ac but does not reach Re, the lot is
accepted but normal inspection is reinstated (:attr:`Decision.accept_reinstate_normal`).
Table 3-C has the same gap at the second stage (e.g. 0/3:0/4, 3/8:8/12): a cumulative
count with Ac2 < d1 + d2 < Re2 accepts the lot and reinstates normal inspection.
We could not check a primary copy of the 1999 edition's Table 2-C: if it closes the
gap, only the Re column of :data:`_TABLE_2C` changes.

References
----------
ISO 2859-1:1999, Sampling procedures for inspection by attributes - Part 1: Sampling
schemes indexed by acceptance quality limit (AQL) for lot-by-lot inspection.
ANSI/ASQ Z1.4-2003 (R2018), Sampling Procedures and Tables for Inspection by Attributes.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

from .errors import SpecError
from .spec import AQL_VALUES

__all__ = [
    "AQL_COLUMNS",
    "LEVELS",
    "SEVERITIES",
    "CODE_LETTERS",
    "SAMPLE_SIZES",
    "REDUCED_SAMPLE_SIZES",
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

#: The AQL columns of Tables 2 and 3, in percent nonconforming (<= 10) or nonconformities
#: per 100 units (all columns).
AQL_COLUMNS: tuple[float, ...] = tuple(AQL_VALUES)

#: Inspection levels: special S-1..S-4 and general I, II, III (Table 1 columns, in order).
LEVELS: tuple[str, ...] = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")

#: Inspection severities of the switching scheme.
SEVERITIES: tuple[str, ...] = ("normal", "tightened", "reduced")

#: Code letters of Tables 2 and 3 (``S`` appears only in Table 2-B, AQL 0.025).
CODE_LETTERS: str = "ABCDEFGHJKLMNPQR"

#: Sample size per code letter, normal and tightened inspection (Tables 2-A, 2-B).
SAMPLE_SIZES: dict[str, int] = {
    "A": 2, "B": 3, "C": 5, "D": 8, "E": 13, "F": 20, "G": 32, "H": 50, "J": 80,
    "K": 125, "L": 200, "M": 315, "N": 500, "P": 800, "Q": 1250, "R": 2000, "S": 3150,
}

#: Sample size per code letter under reduced inspection (Table 2-C).
REDUCED_SAMPLE_SIZES: dict[str, int] = {
    "A": 2, "B": 2, "C": 2, "D": 3, "E": 5, "F": 8, "G": 13, "H": 20, "J": 32,
    "K": 50, "L": 80, "M": 125, "N": 200, "P": 315, "Q": 500, "R": 800,
}

#: Sample size of EACH of the two samples of a double plan, per code letter (Tables 3-A,
#: 3-B; letter A has no double plan, S only in 3-B).
DOUBLE_SAMPLE_SIZES: dict[str, int] = {
    "B": 2, "C": 3, "D": 5, "E": 8, "F": 13, "G": 20, "H": 32, "J": 50, "K": 80,
    "L": 125, "M": 200, "N": 315, "P": 500, "Q": 800, "R": 1250, "S": 2000,
}

#: Sample size of EACH of the two samples of a reduced double plan (Table 3-C; letters A, B,
#: C have no reduced double plan).
REDUCED_DOUBLE_SAMPLE_SIZES: dict[str, int] = {
    "D": 2, "E": 3, "F": 5, "G": 8, "H": 13, "J": 20, "K": 32, "L": 50, "M": 80,
    "N": 125, "P": 200, "Q": 315, "R": 500,
}

# ISO 2859-1:1999 Table 1 (= Z1.4 Table I): lot size range, then S-1 S-2 S-3 S-4 I II III.
_TABLE_1: tuple[str, ...] = (
    "2 8 A A A A A A B",
    "9 15 A A A A A B C",
    "16 25 A A B B B C D",
    "26 50 A B B C C D E",
    "51 90 B B C C C E F",
    "91 150 B B C D D F G",
    "151 280 B C D E E G H",
    "281 500 B C D E F H J",
    "501 1200 C C E F G J K",
    "1201 3200 C D E G H K L",
    "3201 10000 C D F G J L M",
    "10001 35000 C D F H K M N",
    "35001 150000 D E G J L N P",
    "150001 500000 D E G J M P Q",
    "500001 inf D E H K N Q R",
)

# Columns: 0.010 0.015 0.025 0.040 0.065 0.10 0.15 0.25 0.40 0.65 1.0 1.5 2.5 4.0 6.5
#          10 15 25 40 65 100 150 250 400 650 1000
_TABLE_2A: dict[str, str] = {
    "A": "v v v v v v v v v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31",
    "B": "v v v v v v v v v v v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31 44/45",
    "C": "v v v v v v v v v v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31 44/45 ^",
    "D": "v v v v v v v v v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31 44/45 ^ ^",
    "E": "v v v v v v v v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31 44/45 ^ ^ ^",
    "F": "v v v v v v v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^",
    "G": "v v v v v v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^ ^",
    "H": "v v v v v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^ ^ ^",
    "J": "v v v v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "K": "v v v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "L": "v v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "M": "v v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "N": "v v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "P": "v 0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "Q": "0/1 ^ v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "R": "^ ^ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
}

_TABLE_2B: dict[str, str] = {
    "A": "v v v v v v v v v v v v v v v v v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28",
    "B": "v v v v v v v v v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28 41/42",
    "C": "v v v v v v v v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28 41/42 ^",
    "D": "v v v v v v v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28 41/42 ^ ^",
    "E": "v v v v v v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28 41/42 ^ ^ ^",
    "F": "v v v v v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^",
    "G": "v v v v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^ ^",
    "H": "v v v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^ ^ ^",
    "J": "v v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "K": "v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "L": "v v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "M": "v v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "N": "v v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "P": "v v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "Q": "v 0/1 v v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "R": "0/1 ^ v 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "S": ". . 1/2 . . . . . . . . . . . . . . . . . . . . . . .",
}

_TABLE_2C: dict[str, str] = {
    "A": "v v v v v v v v v v v v v v 0/1 v v 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31",
    "B": "v v v v v v v v v v v v v 0/1 ^ v 0/2 1/3 2/4 3/5 5/6 7/8 10/11 14/15 21/22 30/31",
    "C": "v v v v v v v v v v v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 14/17 21/24 30/31",
    "D": "v v v v v v v v v v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 14/17 21/24 ^ ^",
    "E": "v v v v v v v v v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 14/17 21/24 ^ ^ ^",
    "F": "v v v v v v v v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^",
    "G": "v v v v v v v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^ ^",
    "H": "v v v v v v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^ ^ ^",
    "J": "v v v v v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "K": "v v v v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "L": "v v v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "M": "v v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "N": "v v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "P": "v 0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "Q": "0/1 ^ v 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "R": "^ ^ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
}

_TABLE_3A: dict[str, str] = {
    "A": "* * * * * * * * * * * * * * * * * * * * * * * * * *",
    "B": "v v v v v v v v v v v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 17/22:37/38 25/31:56/57",
    "C": "v v v v v v v v v v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 17/22:37/38 25/31:56/57 ^",
    "D": "v v v v v v v v v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 17/22:37/38 25/31:56/57 ^ ^",
    "E": "v v v v v v v v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 17/22:37/38 25/31:56/57 ^ ^ ^",
    "F": "v v v v v v v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^",
    "G": "v v v v v v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^ ^",
    "H": "v v v v v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^ ^ ^",
    "J": "v v v v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "K": "v v v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "L": "v v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "M": "v v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "N": "v v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "P": "v * ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "Q": "* ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "R": "^ ^ 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:8/9 5/9:12/13 7/11:18/19 11/16:26/27 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
}

_TABLE_3B: dict[str, str] = {
    "A": "* * * * * * * * * * * * * * * v v v * * * * * * * *",
    "B": "v v v v v v v v v v v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 15/20:34/35 23/29:52/53",
    "C": "v v v v v v v v v v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 15/20:34/35 23/29:52/53 ^",
    "D": "v v v v v v v v v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 15/20:34/35 23/29:52/53 ^ ^",
    "E": "v v v v v v v v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 15/20:34/35 23/29:52/53 ^ ^ ^",
    "F": "v v v v v v v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^",
    "G": "v v v v v v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^ ^",
    "H": "v v v v v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^ ^ ^",
    "J": "v v v v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "K": "v v v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "L": "v v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "M": "v v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "N": "v v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "P": "v v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "Q": "v * v v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "R": "* ^ v 0/2:1/2 0/3:3/4 1/4:4/5 2/5:6/7 3/7:11/12 6/10:15/16 9/14:23/24 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "S": ". . 0/2:1/2 . . . . . . . . . . . . . . . . . . . . . . .",
}

# ISO 2859-1 Table 3-C (= Z1.4 Table III-C): double sampling, reduced inspection.
# "Ac1/Re1:Ac2/Re2" with cumulative second-stage numbers; the gap Ac2 < d1 + d2 < Re2 means
# "accept, reinstate normal inspection". Rows A, B and C have no double plan ("*": use the
# single plan of Table 2-C) except C at AQL 6.5, which points down to D.
# Checked cell by cell (arrows followed) against the reduced double matrices of AQLSchemes
# (github.com/fjgonzalezmgt/AQLSchemesCust, R/AAZ14Double.R): see tests/test_aql.py.
_TABLE_3C: dict[str, str] = {
    "A": "* * * * * * * * * * * * * * * * * * * * * * * * * *",
    "B": "* * * * * * * * * * * * * * * * * * * * * * * * * *",
    "C": "* * * * * * * * * * * * * * v * * * * * * * * * * *",
    "D": "v v v v v v v v v v v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 7/12:18/22 11/17:26/30 ^ ^",
    "E": "v v v v v v v v v v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 7/12:18/22 11/17:26/30 ^ ^ ^",
    "F": "v v v v v v v v v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^",
    "G": "v v v v v v v v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^ ^",
    "H": "v v v v v v v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^ ^ ^",
    "J": "v v v v v v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "K": "v v v v v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "L": "v v v v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "M": "v v v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "N": "v v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "P": "v * ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "Q": "* ^ v 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
    "R": "^ ^ 0/2:0/2 0/3:0/4 0/4:1/5 0/4:3/6 1/5:4/7 2/7:6/9 3/8:8/12 5/10:12/16 ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^ ^",
}


def _parse_table_1() -> tuple[tuple[int, float, dict[str, str]], ...]:
    rows = []
    for line in _TABLE_1:
        lo, hi, *letters = line.split()
        rows.append((int(lo), math.inf if hi == "inf" else int(hi), dict(zip(LEVELS, letters))))
    return tuple(rows)


_T1 = _parse_table_1()

_SINGLE_TABLES = {"normal": (_TABLE_2A, "2-A"), "tightened": (_TABLE_2B, "2-B"), "reduced": (_TABLE_2C, "2-C")}
_DOUBLE_TABLES = {"normal": (_TABLE_3A, "3-A"), "tightened": (_TABLE_3B, "3-B"), "reduced": (_TABLE_3C, "3-C")}

# Acceptance-number sequence of Table 2-A; "one step tighter" (clause 9.3.3.2) maps Ac to the
# previous entry of this sequence (same code letter, next smaller AQL column).
_NORMAL_AC_SEQUENCE = (0, 1, 2, 3, 5, 7, 10, 14, 21, 30, 44)


def _tokens(table: Mapping[str, str]) -> dict[str, list[str]]:
    out = {}
    for letter, row in table.items():
        toks = row.split()
        if len(toks) != len(AQL_COLUMNS):  # guards the data itself, checked at import
            raise AssertionError(f"table row {letter}: {len(toks)} cells, expected {len(AQL_COLUMNS)}")
        out[letter] = toks
    return out


_SINGLE = {k: _tokens(t) for k, (t, _) in _SINGLE_TABLES.items()}
_DOUBLE = {k: _tokens(t) for k, (t, _) in _DOUBLE_TABLES.items()}


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise SpecError(f"level={level!r}; expected one of {list(LEVELS)}")
    return level


def _check_severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise SpecError(f"severity={severity!r}; expected one of {list(SEVERITIES)}")
    return severity


def _check_lot_size(lot_size: Any) -> int:
    if isinstance(lot_size, bool) or not isinstance(lot_size, (int, np.integer)) or lot_size < 2:
        raise SpecError(f"lot_size={lot_size!r}; expected an integer >= 2 (ISO 2859-1 Table 1 starts at 2)")
    return int(lot_size)


def _aql_index(aql: Any) -> int:
    try:
        value = float(aql)
    except (TypeError, ValueError):
        raise SpecError(f"aql={aql!r}; expected a number from the ISO 2859-1 series {list(AQL_COLUMNS)}") from None
    for i, a in enumerate(AQL_COLUMNS):
        if abs(value - a) <= 1e-9 * max(1.0, a):
            return i
    if value == 0:
        raise SpecError(
            "aql=0; zero tolerance has no column in Tables 2/3: use zero_tolerance_plan(other_plan) "
            "(or class_plans(), which does it for a critical AQL of 0)"
        )
    raise SpecError(f"aql={aql!r}; expected one of the ISO 2859-1 preferred AQLs {list(AQL_COLUMNS)}")


def code_letter(lot_size: int, level: str = "II") -> str:
    """Sample size code letter of ISO 2859-1:1999 Table 1.

    Parameters
    ----------
    lot_size : int
        Number of units in the lot, >= 2.
    level : {"S-1", "S-2", "S-3", "S-4", "I", "II", "III"}
        Inspection level; general level II unless the spec says otherwise.

    Returns
    -------
    str
        One of ``"A"`` ... ``"R"`` (no I and no O, as in the standard).
    """
    n = _check_lot_size(lot_size)
    _check_level(level)
    for lo, hi, letters in _T1:
        if lo <= n <= hi:
            return letters[level]
    raise AssertionError("Table 1 covers every lot size >= 2")  # pragma: no cover


class Decision(str, enum.Enum):
    """Outcome of a lot (or of one defect class) under a sampling plan."""

    accept = "accept"
    reject = "reject"
    #: Reduced inspection, Ac < d < Re (Table 2-C footnote): accept, reinstate normal inspection.
    accept_reinstate_normal = "accept_reinstate_normal"
    #: Double sampling, Ac1 < d1 < Re1: draw the second sample.
    second_sample = "second_sample"
    #: Units awaiting review could still change the outcome (see :func:`goldenvision.lots.judge_lot`).
    pending = "pending"

    def __str__(self) -> str:
        return self.value

    @property
    def accepted(self) -> bool:
        """True for ``accept`` and ``accept_reinstate_normal``."""
        return self in (Decision.accept, Decision.accept_reinstate_normal)


@dataclass(frozen=True, slots=True)
class SamplingPlan:
    """A single sampling plan chosen from ISO 2859-1 Tables 1 and 2.

    Unpacks as ``code_letter, sample_size, accept, reject`` (the four values of the
    ARCHITECTURE contract ``gv.aql.plan(...)``) through :meth:`__iter__`; every other
    field is available by name.

    Attributes
    ----------
    code_letter : str
        Code letter of the plan actually used, i.e. after following arrows.
    sample_size : int
        Units to inspect; equals ``lot_size`` when ``inspect_all``.
    accept, reject : int
        Acceptance number Ac and rejection number Re (nonconforming units in the sample).
    lot_size : int
    aql : float
        In percent nonconforming, or nonconformities per 100 units for AQL > 10;
        0.0 for a zero-tolerance plan (:func:`zero_tolerance_plan`).
    level, severity : str
    inspect_all : bool
        True when the table's sample size equals or exceeds the lot size: 100 % inspection
        (footnote of Tables 2-A..2-C). Ac and Re are kept from the table, so the lot is
        judged on its whole content with the same criterion.
    table_code_letter : str
        Code letter from Table 1, before arrows were followed.
    table_sample_size : int
        Sample size of the selected plan before the 100 % rule.
    table : str
        ``"2-A"``, ``"2-B"``, ``"2-C"`` or ``"zero-tolerance"``.
    """

    code_letter: str
    sample_size: int
    accept: int
    reject: int
    lot_size: int
    aql: float
    level: str
    severity: str
    inspect_all: bool
    table_code_letter: str
    table_sample_size: int
    table: str

    def __iter__(self) -> Iterator[Any]:
        """Yield ``code_letter, sample_size, accept, reject`` (tuple unpacking)."""
        yield self.code_letter
        yield self.sample_size
        yield self.accept
        yield self.reject

    def decide(self, nonconforming: int) -> Decision:
        """Decision for ``nonconforming`` units found in the sample.

        ``d <= Ac`` accept; ``d >= Re`` reject; ``Ac < d < Re`` (only in reduced Table 2-C)
        accept and reinstate normal inspection.
        """
        d = _check_count(nonconforming, "nonconforming", self.sample_size)
        if d <= self.accept:
            return Decision.accept
        if d >= self.reject:
            return Decision.reject
        return Decision.accept_reinstate_normal

    def to_dict(self) -> dict[str, Any]:
        return {
            "code_letter": self.code_letter,
            "sample_size": self.sample_size,
            "accept": self.accept,
            "reject": self.reject,
            "lot_size": self.lot_size,
            "aql": self.aql,
            "level": self.level,
            "severity": self.severity,
            "inspect_all": self.inspect_all,
            "table_code_letter": self.table_code_letter,
            "table_sample_size": self.table_sample_size,
            "table": self.table,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SamplingPlan:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def _check_count(value: Any, name: str, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= upper:
        raise SpecError(f"{name}={value!r}; expected an integer in [0, {upper}]")
    return int(value)


def _resolve(rows: Mapping[str, list[str]], order: str, letter: str, col: int) -> tuple[str, str]:
    """Follow arrows from (letter, column) to the first cell holding a plan."""
    k = order.index(letter)
    for _ in range(len(order) + 1):
        tok = rows[order[k]][col]
        if tok == "v":
            k += 1
        elif tok == "^":
            k -= 1
        elif tok == ".":
            raise AssertionError(f"arrow led to an empty cell at {order[k]}, column {col}")  # pragma: no cover
        else:
            return order[k], tok
        if not 0 <= k < len(order):
            raise AssertionError(f"arrow from {letter}, column {col} leaves the table")  # pragma: no cover
    raise AssertionError("arrow cycle")  # pragma: no cover


def table_lookup(letter: str, aql: float, severity: str = "normal") -> tuple[str, int, int, int]:
    """Plan of a code letter and AQL in Table 2-A/2-B/2-C, arrows followed.

    Returns
    -------
    tuple
        ``(code_letter, sample_size, accept, reject)`` of the plan the cell leads to
        (``code_letter`` may differ from ``letter`` when an arrow was followed). The lot
        size plays no part: see :func:`plan` for the 100 % inspection rule.
    """
    _check_severity(severity)
    order = CODE_LETTERS + ("S" if severity == "tightened" else "")
    if letter not in CODE_LETTERS:
        raise SpecError(f"letter={letter!r}; expected one of {list(CODE_LETTERS)}")
    col = _aql_index(aql)
    used, tok = _resolve(_SINGLE[severity], order, letter, col)
    ac, re_ = (int(x) for x in tok.split("/"))
    n = (REDUCED_SAMPLE_SIZES if severity == "reduced" else SAMPLE_SIZES)[used]
    return used, n, ac, re_


def plan(lot_size: int, aql: float, level: str = "II", severity: str = "normal") -> SamplingPlan:
    """Single sampling plan of ISO 2859-1:1999 for a lot.

    Parameters
    ----------
    lot_size : int
        Units in the lot (>= 2).
    aql : float
        Acceptance quality limit from the preferred series :data:`AQL_COLUMNS`: percent
        nonconforming for AQL <= 10, nonconformities per 100 units for every column.
    level : str
        Inspection level, ``"II"`` by default.
    severity : {"normal", "tightened", "reduced"}
        Inspection severity of the switching scheme (Tables 2-A, 2-B, 2-C).

    Returns
    -------
    SamplingPlan
        Unpacks as ``code_letter, sample_size, accept, reject``.

    Notes
    -----
    Arrows are followed to the first plan below (``v``) or above (``^``) and that plan's
    code letter and sample size are used. When the resulting sample size equals or
    exceeds the lot size, every unit is inspected (``inspect_all=True``,
    ``sample_size = lot_size``) and Ac/Re of the plan are kept.

    Examples
    --------
    >>> tuple(plan(1000, 2.5))
    ('J', 80, 5, 6)
    """
    n_lot = _check_lot_size(lot_size)
    _check_level(level)
    _check_severity(severity)
    col = _aql_index(aql)
    base = code_letter(n_lot, level)
    letter, n, ac, re_ = table_lookup(base, AQL_COLUMNS[col], severity)
    return SamplingPlan(
        code_letter=letter,
        sample_size=min(n, n_lot),
        accept=ac,
        reject=re_,
        lot_size=n_lot,
        aql=AQL_COLUMNS[col],
        level=level,
        severity=severity,
        inspect_all=n >= n_lot,
        table_code_letter=base,
        table_sample_size=n,
        table=_SINGLE_TABLES[severity][1],
    )


def zero_tolerance_plan(sampling: SamplingPlan) -> SamplingPlan:
    """Zero-tolerance plan (AQL 0, e.g. critical defects) on the sample of another plan.

    The same units as ``sampling`` are inspected; any nonconforming unit rejects the lot
    (Ac 0, Re 1). ISO 2859-1 has no AQL 0 column; this is the buyer practice the spec's
    ``aql: {critical: 0}`` stands for.
    """
    if not isinstance(sampling, SamplingPlan):
        raise SpecError(f"sampling: expected a SamplingPlan, got {type(sampling).__name__}")
    return SamplingPlan(
        code_letter=sampling.code_letter,
        sample_size=sampling.sample_size,
        accept=0,
        reject=1,
        lot_size=sampling.lot_size,
        aql=0.0,
        level=sampling.level,
        severity=sampling.severity,
        inspect_all=sampling.inspect_all,
        table_code_letter=sampling.table_code_letter,
        table_sample_size=sampling.table_sample_size,
        table="zero-tolerance",
    )


def class_plans(
    lot_size: int, aqls: Mapping[str, float] | Any, *, level: str | None = None, severity: str = "normal"
) -> dict[str, SamplingPlan]:
    """One plan per defect class (critical, major, minor) from their AQLs.

    Parameters
    ----------
    lot_size : int
    aqls : mapping or :class:`goldenvision.spec.AqlSettings`
        AQL per class name; an ``AqlSettings`` also supplies ``level``.
    level : str, optional
        Overrides the level of ``aqls``; ``"II"`` when neither gives one.
    severity : str

    Returns
    -------
    dict[str, SamplingPlan]
        A class with AQL 0 gets :func:`zero_tolerance_plan` on the major plan's sample (or,
        when major is 0 too, on the minor plan's, or else on the Table 1 letter's own
        sample size with Ac 0).
    """
    if hasattr(aqls, "critical") and hasattr(aqls, "level"):
        lvl = level or aqls.level
        mapping = {"critical": aqls.critical, "major": aqls.major, "minor": aqls.minor}
    elif isinstance(aqls, Mapping):
        lvl = level or "II"
        mapping = dict(aqls)
    else:
        raise SpecError(f"aqls: expected a mapping class -> AQL or an AqlSettings, got {type(aqls).__name__}")
    if not mapping:
        raise SpecError("aqls: expected at least one defect class, got none")
    plans: dict[str, SamplingPlan] = {}
    for name, value in mapping.items():
        if float(value) != 0.0:
            plans[name] = plan(lot_size, value, lvl, severity)
    for name, value in mapping.items():
        if float(value) == 0.0:
            anchor = next((plans[k] for k in ("major", "minor") if k in plans), None)
            if anchor is None and plans:
                anchor = next(iter(plans.values()))
            if anchor is None:  # every class at AQL 0: Table 1 letter's own sample
                n_lot = _check_lot_size(lot_size)
                letter = code_letter(n_lot, lvl)
                n = (REDUCED_SAMPLE_SIZES if severity == "reduced" else SAMPLE_SIZES)[letter]
                anchor = SamplingPlan(letter, min(n, n_lot), 0, 1, n_lot, 0.0, lvl, severity, n >= n_lot, letter, n, "zero-tolerance")
            plans[name] = zero_tolerance_plan(anchor)
    return {name: plans[name] for name in mapping}


def tighter_accept_number(accept: int) -> int:
    """Acceptance number of the same code letter one AQL step tighter (Table 2-A sequence).

    Used by the switching score (ISO 2859-1:1999 clause 9.3.3.2) for plans with Ac >= 2.
    """
    if accept not in _NORMAL_AC_SEQUENCE or accept < 2:
        raise SpecError(f"accept={accept!r}; expected an acceptance number >= 2 of Table 2-A {list(_NORMAL_AC_SEQUENCE[2:])}")
    return _NORMAL_AC_SEQUENCE[_NORMAL_AC_SEQUENCE.index(accept) - 1]


# --------------------------------------------------------------------------- double sampling


@dataclass(frozen=True, slots=True)
class DoubleSamplingPlan:
    """A double sampling plan of ISO 2859-1 Tables 3-A / 3-B / 3-C.

    Two samples of ``first_sample_size`` and ``second_sample_size`` units; the numbers of
    the second stage are cumulative (first + second sample). When the table says ``*``
    ("use the corresponding single sampling plan") or the lot is too small, ``is_single``
    is True, ``second_sample_size`` is 0 and the first stage is that single plan.
    """

    code_letter: str
    first_sample_size: int
    second_sample_size: int
    accept_1: int
    reject_1: int
    accept_2: int
    reject_2: int
    lot_size: int
    aql: float
    level: str
    severity: str
    inspect_all: bool
    is_single: bool
    table_code_letter: str
    table: str

    def verdict(self, d1: int, d2: int | None = None) -> Decision:
        """Decision from the first-sample count ``d1`` and, if drawn, the second ``d2``.

        ``d1 <= Ac1`` accept; ``d1 >= Re1`` reject; otherwise the second sample is needed
        (``Decision.second_sample`` when ``d2`` is None) and ``d1 + d2 <= Ac2`` accepts,
        ``d1 + d2 >= Re2`` rejects, and ``Ac2 < d1 + d2 < Re2`` (only in reduced Table 3-C)
        accepts and reinstates normal inspection.
        """
        d1 = _check_count(d1, "d1", self.first_sample_size)
        if d1 <= self.accept_1:
            if d2 is not None:
                raise SpecError(f"d2={d2!r}; expected None: the lot is accepted on the first sample (d1={d1} <= Ac1={self.accept_1})")
            return Decision.accept
        if d1 >= self.reject_1:
            if d2 is not None:
                raise SpecError(f"d2={d2!r}; expected None: the lot is rejected on the first sample (d1={d1} >= Re1={self.reject_1})")
            return Decision.reject
        if d2 is None:
            return Decision.second_sample
        d2 = _check_count(d2, "d2", self.second_sample_size)
        total = d1 + d2
        if total <= self.accept_2:
            return Decision.accept
        if total >= self.reject_2:
            return Decision.reject
        return Decision.accept_reinstate_normal  # Table 3-C gap (footnote of Z1.4 III-C)

    double_verdict = verdict

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def double_table_lookup(letter: str, aql: float, severity: str = "normal") -> tuple[str, int, int, int, int, int] | None:
    """Cell of Table 3-A/3-B/3-C for a code letter and AQL, arrows followed.

    Returns
    -------
    tuple or None
        ``(code_letter, n, Ac1, Re1, Ac2, Re2)`` with ``n`` the size of EACH sample and
        cumulative second-stage numbers, or None for ``*`` ("use the corresponding single
        sampling plan"). Under reduced inspection (Table 3-C) ``Re2 - Ac2`` may exceed 1
        (the "accept, reinstate normal" gap) and ``n`` is from
        :data:`REDUCED_DOUBLE_SAMPLE_SIZES`.
    """
    _check_severity(severity)
    if letter not in CODE_LETTERS:
        raise SpecError(f"letter={letter!r}; expected one of {list(CODE_LETTERS)}")
    col = _aql_index(aql)
    order = CODE_LETTERS + ("S" if severity == "tightened" else "")
    used, tok = _resolve(_DOUBLE[severity], order, letter, col)
    if tok == "*":
        return None
    first, second = tok.split(":")
    ac1, re1 = (int(x) for x in first.split("/"))
    ac2, re2 = (int(x) for x in second.split("/"))
    sizes = REDUCED_DOUBLE_SAMPLE_SIZES if severity == "reduced" else DOUBLE_SAMPLE_SIZES
    return used, sizes[used], ac1, re1, ac2, re2


def double_plan(lot_size: int, aql: float, level: str = "II", severity: str = "normal") -> DoubleSamplingPlan:
    """Double sampling plan of ISO 2859-1:1999 Table 3-A (normal), 3-B (tightened) or 3-C (reduced).

    Parameters are those of :func:`plan`. Under reduced inspection a cumulative count
    with ``Ac2 < d1 + d2 < Re2`` accepts the lot and reinstates normal inspection
    (:meth:`DoubleSamplingPlan.verdict` returns ``Decision.accept_reinstate_normal``).

    Notes
    -----
    * ``*`` cells (and every cell of letter A) mean "use the corresponding single sampling
      plan": the returned plan has ``is_single=True`` and carries :func:`plan`'s numbers.
    * If the first sample would equal or exceed the lot, the single plan's 100 %
      inspection is used (``is_single=True``, ``inspect_all=True``). If only the two
      samples together exceed the lot, the second sample is the rest of the lot.
    """
    n_lot = _check_lot_size(lot_size)
    _check_level(level)
    _check_severity(severity)
    base = code_letter(n_lot, level)
    cell = double_table_lookup(base, aql, severity)
    if cell is None or cell[1] >= n_lot:
        single = plan(n_lot, aql, level, severity)
        return DoubleSamplingPlan(
            code_letter=single.code_letter, first_sample_size=single.sample_size, second_sample_size=0,
            accept_1=single.accept, reject_1=single.reject, accept_2=single.accept, reject_2=single.reject,
            lot_size=n_lot, aql=single.aql, level=level, severity=severity, inspect_all=single.inspect_all,
            is_single=True, table_code_letter=base, table=single.table,
        )
    letter, n, ac1, re1, ac2, re2 = cell
    return DoubleSamplingPlan(
        code_letter=letter, first_sample_size=n, second_sample_size=min(n, n_lot - n),
        accept_1=ac1, reject_1=re1, accept_2=ac2, reject_2=re2, lot_size=n_lot, aql=AQL_COLUMNS[_aql_index(aql)],
        level=level, severity=severity, inspect_all=False, is_single=False, table_code_letter=base,
        table=_DOUBLE_TABLES[severity][1],
    )


def double_verdict(plan_: DoubleSamplingPlan, d1: int, d2: int | None = None) -> Decision:
    """Function form of :meth:`DoubleSamplingPlan.verdict`."""
    if not isinstance(plan_, DoubleSamplingPlan):
        raise SpecError(f"plan: expected a DoubleSamplingPlan, got {type(plan_).__name__}")
    return plan_.verdict(d1, d2)


# --------------------------------------------------------------------------- lot verdicts


@dataclass(frozen=True, slots=True)
class ClassResult:
    """One defect class of a lot: its plan, the count found and the class decision.

    ``nonconforming`` counts nonconforming UNITS whose most serious class is this one
    (per-class counting of ISO 2859-1 clause 3.1.6: a unit with a critical and a minor
    flaw counts once, as critical). ``unresolved`` counts sampled units still under review.
    """

    defect_class: str
    plan: SamplingPlan
    nonconforming: int
    decision: Decision
    unresolved: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "defect_class": self.defect_class,
            "plan": self.plan.to_dict(),
            "nonconforming": self.nonconforming,
            "unresolved": self.unresolved,
            "decision": self.decision.value,
        }


@dataclass(frozen=True, slots=True)
class LotVerdict:
    """Lot decision over all defect classes.

    ``decision`` is ``reject`` if any class rejects; ``pending`` if units under review could
    still change it; ``accept_reinstate_normal`` if all classes accept and at least one
    fell in the reduced-inspection gap; else ``accept``.
    """

    decision: Decision
    classes: tuple[ClassResult, ...]
    unresolved: int = 0
    reasons: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.decision.accepted

    @property
    def reinstate_normal(self) -> bool:
        return self.decision is Decision.accept_reinstate_normal

    def by_class(self) -> dict[str, ClassResult]:
        return {c.defect_class: c for c in self.classes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "accepted": self.accepted,
            "unresolved": self.unresolved,
            "classes": [c.to_dict() for c in self.classes],
            "reasons": list(self.reasons),
        }


def _class_outcome(p: SamplingPlan, count: int, unresolved: int) -> Decision:
    outcomes = {p.decide(min(d, p.sample_size)) for d in range(count, count + unresolved + 1)}
    return outcomes.pop() if len(outcomes) == 1 else Decision.pending


def _combine(decisions: list[Decision]) -> Decision:
    if Decision.reject in decisions:
        return Decision.reject
    if Decision.pending in decisions:
        return Decision.pending
    if Decision.accept_reinstate_normal in decisions:
        return Decision.accept_reinstate_normal
    return Decision.accept


def lot_verdict(
    results_by_class: Mapping[str, int],
    plans: Mapping[str, SamplingPlan],
    *,
    unresolved_by_class: Mapping[str, int] | None = None,
) -> LotVerdict:
    """Judge a lot from nonconforming-unit counts per defect class.

    Parameters
    ----------
    results_by_class : mapping str -> int
        Nonconforming units found per class, each unit counted once in its most serious
        class. A class missing here counts 0.
    plans : mapping str -> SamplingPlan
        Plan per class (e.g. from :func:`class_plans`). Every key of ``results_by_class``
        must have a plan.
    unresolved_by_class : mapping str -> int, optional
        Sampled units of each class's sample still under review. A class is ``pending``
        when resolving them could change its decision (some count in
        ``[d, d + unresolved]`` gives another decision).

    Returns
    -------
    LotVerdict
    """
    if not plans:
        raise SpecError("plans: expected at least one defect class plan, got none")
    unknown = sorted(set(results_by_class) - set(plans))
    if unknown:
        raise SpecError(f"results_by_class: classes {unknown} have no plan; expected keys among {sorted(plans)}")
    unresolved_by_class = dict(unresolved_by_class or {})
    classes: list[ClassResult] = []
    reasons: list[str] = []
    for name, p in plans.items():
        if not isinstance(p, SamplingPlan):
            raise SpecError(f"plans[{name!r}]: expected a SamplingPlan, got {type(p).__name__}")
        d = _check_count(results_by_class.get(name, 0), f"results_by_class[{name!r}]", p.sample_size)
        u = _check_count(unresolved_by_class.get(name, 0), f"unresolved_by_class[{name!r}]", p.sample_size)
        if d + u > p.sample_size:
            raise SpecError(f"class {name!r}: {d} nonconforming + {u} unresolved exceed the sample of {p.sample_size}")
        decision = _class_outcome(p, d, u)
        classes.append(ClassResult(name, p, d, decision, u))
        label = "AQL 0 (zero tolerance)" if p.aql == 0 else f"AQL {p.aql:g}"
        reasons.append(
            f"{name}: {d} nonconforming in {p.sample_size} ({label}, Ac {p.accept} Re {p.reject})"
            + (f", {u} under review" if u else "")
            + f" -> {decision.value}"
        )
    return LotVerdict(
        decision=_combine([c.decision for c in classes]),
        classes=tuple(classes),
        unresolved=max((c.unresolved for c in classes), default=0),
        reasons=tuple(reasons),
    )


# --------------------------------------------------------------------------- switching rules


@dataclass(frozen=True, slots=True)
class LotOutcome:
    """What the switching rules need to know about one lot on original inspection.

    Attributes
    ----------
    accepted : bool
        Lot accepted on original inspection (resubmitted lots do not count).
    nonconforming : int, optional
        Count in the sample (single sampling); needed for the switching score when Ac >= 2.
    accept_number : int, optional
        Ac of the plan used; with ``nonconforming`` decides "+3 or reset" (clause 9.3.3.2).
    double_accepted_on_first : bool, optional
        Double sampling: lot accepted after the first sample (+3, else reset).
    score_points : int, optional
        Switching-score points already worked out (0 = reset, 2 or 3); overrides the
        three fields above. :meth:`from_verdict` fills it for multi-class lots.
    reinstate_normal : bool
        Reduced inspection gap (Ac < d < Re): accepted, but normal is reinstated.
    production_irregular : bool
        Production irregular or delayed (reduced -> normal, clause 9.3.4 b).
    other_conditions : bool
        Other conditions warrant normal inspection (clause 9.3.4 c).
    lot_id : str, optional
    """

    accepted: bool
    nonconforming: int | None = None
    accept_number: int | None = None
    double_accepted_on_first: bool | None = None
    score_points: int | None = None
    reinstate_normal: bool = False
    production_irregular: bool = False
    other_conditions: bool = False
    lot_id: str | None = None

    @classmethod
    def from_verdict(cls, verdict: LotVerdict, *, lot_id: str | None = None, **flags: bool) -> LotOutcome:
        """Outcome of a judged lot, with the switching-score points of all its classes.

        Each AQL class earns points as in clause 9.3.3.2 (Ac >= 2: 3 if the count would
        have been accepted one AQL step tighter; Ac 0/1: 2 if the class accepted); the
        lot earns the smallest of them, and 0 (reset) if the lot is not accepted or any
        class earns 0. Zero-tolerance classes (AQL 0) only act through acceptance.
        """
        if verdict.decision is Decision.pending:
            raise SpecError("verdict: decision is 'pending'; resolve units under review before recording the lot")
        points = []
        for c in verdict.classes:
            if c.plan.aql == 0:
                continue
            if c.plan.accept >= 2:
                points.append(3 if c.nonconforming <= tighter_accept_number(c.plan.accept) else 0)
            else:
                points.append(2 if c.decision.accepted else 0)
        score = min(points) if (points and verdict.accepted) else 0
        return cls(verdict.accepted, score_points=score, reinstate_normal=verdict.reinstate_normal,
                   lot_id=lot_id, **flags)


@dataclass(frozen=True, slots=True)
class Transition:
    """Result of recording one lot: severity before and after, and why it changed."""

    lot_index: int
    before: str
    after: str
    reason: str = ""
    switching_score: int | None = None

    @property
    def switched(self) -> bool:
        return self.before != self.after

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_STATES = ("normal", "tightened", "reduced", "discontinued")


@dataclass
class SwitchingState:
    """ISO 2859-1:1999 clause 9 switching rules for one supplier and product.

    States: ``normal`` (start), ``tightened``, ``reduced``, ``discontinued``.

    * normal -> tightened: 2 lots not accepted among 5 or fewer consecutive lots on
      original inspection (9.3.1).
    * tightened -> normal: 5 consecutive lots accepted (9.3.2).
    * tightened -> discontinued: the lots not accepted while on tightened inspection
      (since the switch to tightened) reach 5 (9.4). :meth:`resume` restarts with
      tightened inspection once the supplier has acted.
    * normal -> reduced: switching score >= 30 (9.3.3) AND ``production_steady`` AND
      ``authority_approves_reduced`` (flags, default True). Score: 0 at the start of normal
      inspection; for single sampling with Ac >= 2, +3 if the lot would have been
      accepted with the AQL one step tighter, else reset to 0; with Ac 0 or 1, +2 if
      accepted, else reset to 0; for double sampling +3 if accepted after the first
      sample, else reset to 0.
    * reduced -> normal: a lot not accepted, a lot accepted in the Table 2-C gap,
      production irregular or delayed, or other conditions (9.3.4).

    Use ``state.severity`` for the next lot's plan, then :meth:`record` its outcome.
    """

    supplier: str = ""
    product: str = ""
    severity: str = "normal"
    switching_score: int = 0
    production_steady: bool = True
    authority_approves_reduced: bool = True
    recent_normal: list[bool] = field(default_factory=list)
    tightened_accept_run: int = 0
    tightened_not_accepted: int = 0
    lots_recorded: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.severity not in _STATES:
            raise SpecError(f"severity={self.severity!r}; expected one of {list(_STATES)}")

    def _score_increment(self, o: LotOutcome) -> int | None:
        """Points for the switching score, or None for "reset to 0"."""
        if o.score_points is not None:
            if o.score_points not in (0, 2, 3):
                raise SpecError(f"lot_result.score_points={o.score_points!r}; expected 0 (reset), 2 or 3")
            return o.score_points or None
        if o.double_accepted_on_first is not None:
            return 3 if o.double_accepted_on_first else None
        if not o.accepted:
            return None
        ac = o.accept_number
        if ac is None:
            raise SpecError("lot_result.accept_number: expected the plan's Ac (needed for the switching score on normal inspection), got None")
        if ac <= 1:
            return 2
        if o.nonconforming is None:
            raise SpecError("lot_result.nonconforming: expected the count in the sample (Ac >= 2 needs it for the switching score), got None")
        return 3 if o.nonconforming <= tighter_accept_number(ac) else None

    def record(self, lot_result: LotOutcome | LotVerdict) -> Transition:
        """Record one lot inspected at ``self.severity``; return the transition.

        Parameters
        ----------
        lot_result : LotOutcome or LotVerdict
            A :class:`LotVerdict` is turned into a :class:`LotOutcome` with
            :meth:`LotOutcome.from_verdict`.
        """
        if isinstance(lot_result, LotVerdict):
            lot_result = LotOutcome.from_verdict(lot_result)
        if not isinstance(lot_result, LotOutcome):
            raise SpecError(f"lot_result: expected a LotOutcome or LotVerdict, got {type(lot_result).__name__}")
        if self.severity == "discontinued":
            raise SpecError("severity='discontinued'; acceptance inspection is discontinued (ISO 2859-1 9.4): call resume() after corrective action")
        o = lot_result
        self.lots_recorded += 1
        before = self.severity
        reason = ""
        score: int | None = None
        if before == "normal":
            inc = self._score_increment(o)
            self.switching_score = 0 if inc is None else self.switching_score + inc
            score = self.switching_score
            self.recent_normal = (self.recent_normal + [o.accepted])[-5:]
            if self.recent_normal.count(False) >= 2:
                self._enter("tightened")
                reason = "2 lots not accepted within 5 or fewer consecutive lots (9.3.1)"
            elif self.switching_score >= 30 and self.production_steady and self.authority_approves_reduced:
                self._enter("reduced")
                reason = "switching score reached 30, production steady, reduced approved (9.3.3)"
        elif before == "tightened":
            if o.accepted:
                self.tightened_accept_run += 1
            else:
                self.tightened_accept_run = 0
                self.tightened_not_accepted += 1
            if self.tightened_not_accepted >= 5:
                self._enter("discontinued")
                reason = "5 lots not accepted while on tightened inspection (9.4)"
            elif self.tightened_accept_run >= 5:
                self._enter("normal")
                reason = "5 consecutive lots accepted on tightened inspection (9.3.2)"
        else:  # reduced
            causes = []
            if not o.accepted:
                causes.append("a lot was not accepted")
            if o.reinstate_normal:
                causes.append("Ac exceeded without reaching Re")
            if o.production_irregular:
                causes.append("production irregular or delayed")
            if o.other_conditions:
                causes.append("other conditions warrant normal inspection")
            if causes:
                self._enter("normal")
                reason = "; ".join(causes) + " (9.3.4)"
        if score is None and self.severity == "normal":
            score = self.switching_score
        t = Transition(self.lots_recorded, before, self.severity, reason, score)
        self.log.append({"lot_id": o.lot_id, "accepted": o.accepted, **t.to_dict()})
        return t

    def _enter(self, severity: str) -> None:
        self.severity = severity
        self.switching_score = 0
        self.recent_normal = []
        self.tightened_accept_run = 0
        if severity == "tightened":
            self.tightened_not_accepted = 0

    def resume(self, reason: str = "supplier corrective action accepted") -> Transition:
        """Resume inspection after discontinuation, on tightened inspection (9.4)."""
        if self.severity != "discontinued":
            raise SpecError(f"severity={self.severity!r}; resume() expects 'discontinued'")
        self._enter("tightened")
        t = Transition(self.lots_recorded, "discontinued", "tightened", reason)
        self.log.append({"lot_id": None, "accepted": None, **t.to_dict()})
        return t

    def to_dict(self) -> dict[str, Any]:
        return {
            "supplier": self.supplier,
            "product": self.product,
            "severity": self.severity,
            "switching_score": self.switching_score,
            "production_steady": self.production_steady,
            "authority_approves_reduced": self.authority_approves_reduced,
            "recent_normal": list(self.recent_normal),
            "tightened_accept_run": self.tightened_accept_run,
            "tightened_not_accepted": self.tightened_not_accepted,
            "lots_recorded": self.lots_recorded,
            "log": [dict(e) for e in self.log],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SwitchingState:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise SpecError(f"SwitchingState: unknown keys {unknown}; expected among {sorted(cls.__dataclass_fields__)}")
        return cls(**{k: (list(v) if isinstance(v, list) else v) for k, v in d.items()})


# --------------------------------------------------------------------------- OC curves


def _binom_or_poisson_cdf(k: np.ndarray | int, n: int, p: np.ndarray, poisson: bool) -> np.ndarray:
    if poisson:
        return stats.poisson.cdf(k, n * p)
    return stats.binom.cdf(k, n, p)


def oc_curve(
    sampling: SamplingPlan | DoubleSamplingPlan,
    p: Any,
    *,
    model: Literal["auto", "binomial", "poisson"] = "auto",
) -> np.ndarray:
    """Probability of acceptance Pa of a plan at process quality ``p``.

    Parameters
    ----------
    sampling : SamplingPlan or DoubleSamplingPlan
    p : array_like of float
        Fraction nonconforming in [0, 1] (binomial), or mean nonconformities PER UNIT
        (>= 0; 0.05 = 5 per 100 units) for the Poisson model.
    model : {"auto", "binomial", "poisson"}
        ``auto`` uses the Poisson model when the plan's AQL > 10 (those columns are
        nonconformities per 100 units, ISO 2859-1 clause 12), else the binomial model
        (Type B OC: sampling from a process, lot size ignored).

    Returns
    -------
    ndarray of float64, same shape as ``p``
        Pa in [0, 1]: probability that the lot is accepted, ``P(d <= Re - 1)`` (equal to
        ``P(d <= Ac)`` except for the reduced-inspection gap plans, whose lots with
        ``Ac < d < Re`` are accepted too). For a double plan
        ``Pa = P(d1 <= Ac1) + sum_{d1=Ac1+1}^{Re1-1} P(d1) P(d2 <= Re2 - 1 - d1)``
        (``Re2 - 1 = Ac2`` in Tables 3-A/3-B; in Table 3-C the second-stage gap counts as
        accepted, like the single-plan gap).
    """
    if model not in ("auto", "binomial", "poisson"):
        raise SpecError(f"model={model!r}; expected 'auto', 'binomial' or 'poisson'")
    if not isinstance(sampling, (SamplingPlan, DoubleSamplingPlan)):
        raise SpecError(f"sampling: expected a SamplingPlan or DoubleSamplingPlan, got {type(sampling).__name__}")
    arr = np.asarray(p, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise SpecError("p: expected finite values >= 0")
    poisson = model == "poisson" or (model == "auto" and sampling.aql > 10)
    if not poisson and np.any(arr > 1):
        raise SpecError(f"p: expected fractions nonconforming in [0, 1] for the binomial model, got max {arr.max():g}")
    if isinstance(sampling, SamplingPlan):
        return np.asarray(_binom_or_poisson_cdf(sampling.reject - 1, sampling.sample_size, arr, poisson), dtype=np.float64)
    s = sampling
    pa = _binom_or_poisson_cdf(s.accept_1, s.first_sample_size, arr, poisson)
    if s.is_single or s.second_sample_size == 0:
        return np.asarray(pa, dtype=np.float64)
    for d1 in range(s.accept_1 + 1, s.reject_1):
        if poisson:
            pd1 = stats.poisson.pmf(d1, s.first_sample_size * arr)
        else:
            pd1 = stats.binom.pmf(d1, s.first_sample_size, arr)
        pa = pa + pd1 * _binom_or_poisson_cdf(s.reject_2 - 1 - d1, s.second_sample_size, arr, poisson)
    return np.clip(np.asarray(pa, dtype=np.float64), 0.0, 1.0)
