"""ISO 2859-1 tables: sample size code letters (Table 1), single (2-A/B/C) and double (3-A/B/C) plans.

The package turns a lot size, an AQL and an inspection level into the sampling plan of
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

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import SpecError
from ..spec import AQL_VALUES


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
