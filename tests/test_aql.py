"""Tests of goldenvision.aql against ISO 2859-1 / ANSI/ASQ Z1.4 tables, cell by cell.

The literal tables below are an INDEPENDENT copy: they were transcribed from the resolved
(arrows already followed) matrices of the public R package AQLSchemes (J. Lawson;
github.com/fjgonzalezmgt/AQLSchemesCust, R/AAZ14Single.R and R/AAZ14Double.R), not
produced by goldenvision.aql. Each token is ``n:Ac/Re`` (single) or ``n:Ac1,Ac2/Re1,Re2``
(double, cumulative second stage; ``*`` = "use the single sampling plan"), one per AQL
column 0.010 ... 1000. One typo of that source (normal double, AQL 100, Re2 26 where
Ac2 is 26) is corrected to 27.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from goldenvision import aql
from goldenvision.aql import (
    Decision,
    LotOutcome,
    SamplingPlan,
    SwitchingState,
    class_plans,
    code_letter,
    double_plan,
    double_table_lookup,
    lot_verdict,
    oc_curve,
    plan,
    table_lookup,
    zero_tolerance_plan,
)
from goldenvision.errors import SpecError
from goldenvision.spec import AqlSettings

AQLS = [0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5, 4.0, 6.5,
        10, 15, 25, 40, 65, 100, 150, 250, 400, 650, 1000]
LETTERS = "ABCDEFGHJKLMNPQR"

# ISO 2859-1 Table 1 / Z1.4 Table I, typed row by row: (first lot size, last lot size,
# {level: letter}).
TABLE_1 = [
    (2, 8, {"S-1": "A", "S-2": "A", "S-3": "A", "S-4": "A", "I": "A", "II": "A", "III": "B"}),
    (9, 15, {"S-1": "A", "S-2": "A", "S-3": "A", "S-4": "A", "I": "A", "II": "B", "III": "C"}),
    (16, 25, {"S-1": "A", "S-2": "A", "S-3": "B", "S-4": "B", "I": "B", "II": "C", "III": "D"}),
    (26, 50, {"S-1": "A", "S-2": "B", "S-3": "B", "S-4": "C", "I": "C", "II": "D", "III": "E"}),
    (51, 90, {"S-1": "B", "S-2": "B", "S-3": "C", "S-4": "C", "I": "C", "II": "E", "III": "F"}),
    (91, 150, {"S-1": "B", "S-2": "B", "S-3": "C", "S-4": "D", "I": "D", "II": "F", "III": "G"}),
    (151, 280, {"S-1": "B", "S-2": "C", "S-3": "D", "S-4": "E", "I": "E", "II": "G", "III": "H"}),
    (281, 500, {"S-1": "B", "S-2": "C", "S-3": "D", "S-4": "E", "I": "F", "II": "H", "III": "J"}),
    (501, 1200, {"S-1": "C", "S-2": "C", "S-3": "E", "S-4": "F", "I": "G", "II": "J", "III": "K"}),
    (1201, 3200, {"S-1": "C", "S-2": "D", "S-3": "E", "S-4": "G", "I": "H", "II": "K", "III": "L"}),
    (3201, 10000, {"S-1": "C", "S-2": "D", "S-3": "F", "S-4": "G", "I": "J", "II": "L", "III": "M"}),
    (10001, 35000, {"S-1": "C", "S-2": "D", "S-3": "F", "S-4": "H", "I": "K", "II": "M", "III": "N"}),
    (35001, 150000, {"S-1": "D", "S-2": "E", "S-3": "G", "S-4": "J", "I": "L", "II": "N", "III": "P"}),
    (150001, 500000, {"S-1": "D", "S-2": "E", "S-3": "G", "S-4": "J", "I": "M", "II": "P", "III": "Q"}),
    (500001, 10**9, {"S-1": "D", "S-2": "E", "S-3": "H", "S-4": "K", "I": "N", "II": "Q", "III": "R"}),
]

TABLE_2A_RESOLVED = {
    "A": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 3:0/1 2:0/1 5:1/2 3:1/2 2:1/2 2:2/3 2:3/4 2:5/6 2:7/8 2:10/11 2:14/15 2:21/22 2:30/31",
    "B": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 3:0/1 2:0/1 5:1/2 3:1/2 3:2/3 3:3/4 3:5/6 3:7/8 3:10/11 3:14/15 3:21/22 3:30/31 3:44/45",
    "C": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 3:0/1 8:1/2 5:1/2 5:2/3 5:3/4 5:5/6 5:7/8 5:10/11 5:14/15 5:21/22 5:30/31 5:44/45 3:44/45",
    "D": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 13:1/2 8:1/2 8:2/3 8:3/4 8:5/6 8:7/8 8:10/11 8:14/15 8:21/22 8:30/31 8:44/45 5:44/45 3:44/45",
    "E": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 20:1/2 13:1/2 13:2/3 13:3/4 13:5/6 13:7/8 13:10/11 13:14/15 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "F": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 32:1/2 20:1/2 20:2/3 20:3/4 20:5/6 20:7/8 20:10/11 20:14/15 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "G": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 50:1/2 32:1/2 32:2/3 32:3/4 32:5/6 32:7/8 32:10/11 32:14/15 32:21/22 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "H": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 80:1/2 50:1/2 50:2/3 50:3/4 50:5/6 50:7/8 50:10/11 50:14/15 50:21/22 32:21/22 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "J": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 125:1/2 80:1/2 80:2/3 80:3/4 80:5/6 80:7/8 80:10/11 80:14/15 80:21/22 50:21/22 32:21/22 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "K": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 200:1/2 125:1/2 125:2/3 125:3/4 125:5/6 125:7/8 125:10/11 125:14/15 125:21/22 80:21/22 50:21/22 32:21/22 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "L": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 315:1/2 200:1/2 200:2/3 200:3/4 200:5/6 200:7/8 200:10/11 200:14/15 200:21/22 125:21/22 80:21/22 50:21/22 32:21/22 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "M": "1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 500:1/2 315:1/2 315:2/3 315:3/4 315:5/6 315:7/8 315:10/11 315:14/15 315:21/22 200:21/22 125:21/22 80:21/22 50:21/22 32:21/22 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "N": "1250:0/1 800:0/1 500:0/1 315:0/1 800:1/2 500:1/2 500:2/3 500:3/4 500:5/6 500:7/8 500:10/11 500:14/15 500:21/22 315:21/22 200:21/22 125:21/22 80:21/22 50:21/22 32:21/22 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "P": "1250:0/1 800:0/1 500:0/1 1250:1/2 800:1/2 800:2/3 800:3/4 800:5/6 800:7/8 800:10/11 800:14/15 800:21/22 500:21/22 315:21/22 200:21/22 125:21/22 80:21/22 50:21/22 32:21/22 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "Q": "1250:0/1 800:0/1 2000:1/2 1250:1/2 1250:2/3 1250:3/4 1250:5/6 1250:7/8 1250:10/11 1250:14/15 1250:21/22 800:21/22 500:21/22 315:21/22 200:21/22 125:21/22 80:21/22 50:21/22 32:21/22 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
    "R": "1250:0/1 800:0/1 2000:1/2 2000:2/3 2000:3/4 2000:5/6 2000:7/8 2000:10/11 2000:14/15 2000:21/22 1250:21/22 800:21/22 500:21/22 315:21/22 200:21/22 125:21/22 80:21/22 50:21/22 32:21/22 20:21/22 13:21/22 13:30/31 13:44/45 8:44/45 5:44/45 3:44/45",
}

TABLE_2B_RESOLVED = {
    "A": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 3:0/1 8:1/2 5:1/2 3:1/2 2:1/2 2:2/3 2:3/4 2:5/6 2:8/9 2:12/13 2:18/19 2:27/28",
    "B": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 3:0/1 8:1/2 5:1/2 3:1/2 3:2/3 3:3/4 3:5/6 3:8/9 3:12/13 3:18/19 3:27/28 3:41/42",
    "C": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 13:1/2 8:1/2 5:1/2 5:2/3 5:3/4 5:5/6 5:8/9 5:12/13 5:18/19 5:27/28 5:41/42 3:41/42",
    "D": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 20:1/2 13:1/2 8:1/2 8:2/3 8:3/4 8:5/6 8:8/9 8:12/13 8:18/19 8:27/28 8:41/42 5:41/42 3:41/42",
    "E": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 32:1/2 20:1/2 13:1/2 13:2/3 13:3/4 13:5/6 13:8/9 13:12/13 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "F": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 50:1/2 32:1/2 20:1/2 20:2/3 20:3/4 20:5/6 20:8/9 20:12/13 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "G": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 80:1/2 50:1/2 32:1/2 32:2/3 32:3/4 32:5/6 32:8/9 32:12/13 32:18/19 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "H": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 125:1/2 80:1/2 50:1/2 50:2/3 50:3/4 50:5/6 50:8/9 50:12/13 50:18/19 32:18/19 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "J": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 200:1/2 125:1/2 80:1/2 80:2/3 80:3/4 80:5/6 80:8/9 80:12/13 80:18/19 50:18/19 32:18/19 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "K": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 125:0/1 315:1/2 200:1/2 125:1/2 125:2/3 125:3/4 125:5/6 125:8/9 125:12/13 125:18/19 80:18/19 50:18/19 32:18/19 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "L": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 200:0/1 500:1/2 315:1/2 200:1/2 200:2/3 200:3/4 200:5/6 200:8/9 200:12/13 200:18/19 125:18/19 80:18/19 50:18/19 32:18/19 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "M": "2000:0/1 1250:0/1 800:0/1 500:0/1 315:0/1 800:1/2 500:1/2 315:1/2 315:2/3 315:3/4 315:5/6 315:8/9 315:12/13 315:18/19 200:18/19 125:18/19 80:18/19 50:18/19 32:18/19 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "N": "2000:0/1 1250:0/1 800:0/1 500:0/1 1250:1/2 800:1/2 500:1/2 500:2/3 500:3/4 500:5/6 500:8/9 500:12/13 500:18/19 315:18/19 200:18/19 125:18/19 80:18/19 50:18/19 32:18/19 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "P": "2000:0/1 1250:0/1 800:0/1 2000:1/2 1250:1/2 800:1/2 800:2/3 800:3/4 800:5/6 800:8/9 800:12/13 800:18/19 500:18/19 315:18/19 200:18/19 125:18/19 80:18/19 50:18/19 32:18/19 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "Q": "2000:0/1 1250:0/1 3150:1/2 2000:1/2 1250:1/2 1250:2/3 1250:3/4 1250:5/6 1250:8/9 1250:12/13 1250:18/19 800:18/19 500:18/19 315:18/19 200:18/19 125:18/19 80:18/19 50:18/19 32:18/19 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
    "R": "2000:0/1 1250:0/1 3150:1/2 2000:1/2 2000:2/3 2000:3/4 2000:5/6 2000:8/9 2000:12/13 2000:18/19 1250:18/19 800:18/19 500:18/19 315:18/19 200:18/19 125:18/19 80:18/19 50:18/19 32:18/19 20:18/19 13:18/19 13:27/28 13:41/42 8:41/42 5:41/42 3:41/42",
}

TABLE_2C_RESOLVED = {
    "A": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 3:0/1 2:0/1 2:0/1 2:0/1 2:0/2 2:0/2 2:1/2 2:2/3 2:3/4 2:5/6 2:7/8 2:10/11 2:14/15 2:21/22 2:30/31",
    "B": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 3:0/1 2:0/1 2:0/1 2:0/1 2:0/2 2:0/2 2:1/3 2:2/4 2:3/5 2:5/6 2:7/8 2:10/11 2:14/15 2:21/22 2:30/31",
    "C": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 3:0/1 2:0/1 2:0/1 3:0/2 2:0/2 2:1/3 2:1/4 2:2/5 2:3/6 2:5/8 2:7/10 2:10/13 2:14/17 2:21/24 2:30/31",
    "D": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 3:0/1 2:0/1 5:0/2 3:0/2 3:1/3 3:1/4 3:2/5 3:3/6 3:5/8 3:7/10 3:10/13 3:14/17 3:21/24 2:21/24 2:30/31",
    "E": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 3:0/1 8:0/2 5:0/2 5:1/3 5:1/4 5:2/5 5:3/6 5:5/8 5:7/10 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "F": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 5:0/1 13:0/2 8:0/2 8:1/3 8:1/4 8:2/5 8:3/6 8:5/8 8:7/10 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "G": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 8:0/1 20:0/2 13:0/2 13:1/3 13:1/4 13:2/5 13:3/6 13:5/8 13:7/10 13:10/13 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "H": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 13:0/1 32:0/2 20:0/2 20:1/3 20:1/4 20:2/5 20:3/6 20:5/8 20:7/10 20:10/13 13:10/13 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "J": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 20:0/1 50:0/2 32:0/2 32:1/3 32:1/4 32:2/5 32:3/6 32:5/8 32:7/10 32:10/13 20:10/13 13:10/13 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "K": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 32:0/1 80:0/2 50:0/2 50:1/3 50:1/4 50:2/5 50:3/6 50:5/8 50:7/10 50:10/13 32:10/13 20:10/13 13:10/13 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "L": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 50:0/1 125:0/2 80:0/2 80:1/3 80:1/4 80:2/5 80:3/6 80:5/8 80:7/10 80:10/13 50:10/13 32:10/13 20:10/13 13:10/13 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "M": "500:0/1 315:0/1 200:0/1 125:0/1 80:0/1 200:0/2 125:0/2 125:1/3 125:1/4 125:2/5 125:3/6 125:5/8 125:7/10 125:10/13 80:10/13 50:10/13 32:10/13 20:10/13 13:10/13 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "N": "500:0/1 315:0/1 200:0/1 125:0/1 315:0/2 200:0/2 200:1/3 200:1/4 200:2/5 200:3/6 200:5/8 200:7/10 200:10/13 125:10/13 80:10/13 50:10/13 32:10/13 20:10/13 13:10/13 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "P": "500:0/1 315:0/1 200:0/1 500:0/2 315:0/2 315:1/3 315:1/4 315:2/5 315:3/6 315:5/8 315:7/10 315:10/13 200:10/13 125:10/13 80:10/13 50:10/13 32:10/13 20:10/13 13:10/13 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "Q": "500:0/1 315:0/1 800:0/2 500:0/2 500:1/3 500:1/4 500:2/5 500:3/6 500:5/8 500:7/10 500:10/13 315:10/13 200:10/13 125:10/13 80:10/13 50:10/13 32:10/13 20:10/13 13:10/13 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
    "R": "500:0/1 315:0/1 800:0/2 800:1/3 800:1/4 800:2/5 800:3/6 800:5/8 800:7/10 800:10/13 500:10/13 315:10/13 200:10/13 125:10/13 80:10/13 50:10/13 32:10/13 20:10/13 13:10/13 8:10/13 5:10/13 5:14/17 5:21/24 3:21/24 2:21/24 2:30/31",
}

TABLE_3A_RESOLVED = {
    "A": "* * * * * * * * * * * * * * * * * * * * * * * * * *",
    "B": "* * * * * * * * * * * * * * * 3:0,1/2,2 2:0,1/2,2 2:0,3/3,4 2:1,4/4,5 2:2,6/5,7 2:3,8/7,9 2:5,12/9,13 2:7,18/11,19 2:11,26/16,27 2:17,37/22,38 2:25,56/31,57",
    "C": "* * * * * * * * * * * * * * 5:0,1/2,2 3:0,1/2,2 3:0,3/3,4 3:1,4/4,5 3:2,6/5,7 3:3,8/7,9 3:5,12/9,13 3:7,18/11,19 3:11,26/16,27 3:17,37/22,38 3:25,56/31,57 2:25,56/31,57",
    "D": "* * * * * * * * * * * * * 8:0,1/2,2 5:0,1/2,2 5:0,3/3,4 5:1,4/4,5 5:2,6/5,7 5:3,8/7,9 5:5,12/9,13 5:7,18/11,19 5:11,26/16,27 5:17,37/22,38 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "E": "* * * * * * * * * * * * 13:0,1/2,2 8:0,1/2,2 8:0,3/3,4 8:1,4/4,5 8:2,6/5,7 8:3,8/7,9 8:5,12/9,13 8:7,18/11,19 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "F": "* * * * * * * * * * * 20:0,1/2,2 13:0,1/2,2 13:0,3/3,4 13:1,4/4,5 13:2,6/5,7 13:3,8/7,9 13:5,12/9,13 13:7,18/11,19 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "G": "* * * * * * * * * * 32:0,1/2,2 20:0,1/2,2 20:0,3/3,4 20:1,4/4,5 20:2,6/5,7 20:3,8/7,9 20:5,12/9,13 20:7,18/11,19 20:11,26/16,27 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "H": "* * * * * * * * * 50:0,1/2,2 32:0,1/2,2 32:0,3/3,4 32:1,4/4,5 32:2,6/5,7 32:3,8/7,9 32:5,12/9,13 32:7,18/11,19 32:11,26/16,27 20:11,26/16,27 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "J": "* * * * * * * * 80:0,1/2,2 50:0,1/2,2 50:0,3/3,4 50:1,4/4,5 50:2,6/5,7 50:3,8/7,9 50:5,12/9,13 50:7,18/11,19 50:11,26/16,27 32:11,26/16,27 20:11,26/16,27 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "K": "* * * * * * * 125:0,1/2,2 80:0,1/2,2 80:0,3/3,4 80:1,4/4,5 80:2,6/5,7 80:3,8/7,9 80:5,12/9,13 80:7,18/11,19 80:11,26/16,27 50:11,26/16,27 32:11,26/16,27 20:11,26/16,27 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "L": "* * * * * * 200:0,1/2,2 125:0,1/2,2 125:0,3/3,4 125:1,4/4,5 125:2,6/5,7 125:3,8/7,9 125:5,12/9,13 125:7,18/11,19 125:11,26/16,27 80:11,26/16,27 50:11,26/16,27 32:11,26/16,27 20:11,26/16,27 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "M": "* * * * * 315:0,1/2,2 200:0,1/2,2 200:0,3/3,4 200:1,4/4,5 200:2,6/5,7 200:3,8/7,9 200:5,12/9,13 200:7,18/11,19 200:11,26/16,27 125:11,26/16,27 80:11,26/16,27 50:11,26/16,27 32:11,26/16,27 20:11,26/16,27 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "N": "* * * * 500:0,1/2,2 315:0,1/2,2 315:0,3/3,4 315:1,4/4,5 315:2,6/5,7 315:3,8/7,9 315:5,12/9,13 315:7,18/11,19 315:11,26/16,27 200:11,26/16,27 125:11,26/16,27 80:11,26/16,27 50:11,26/16,27 32:11,26/16,27 20:11,26/16,27 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "P": "* * * 800:0,1/2,2 500:0,1/2,2 500:0,3/3,4 500:1,4/4,5 500:2,6/5,7 500:3,8/7,9 500:5,12/9,13 500:7,18/11,19 500:11,26/16,27 315:11,26/16,27 200:11,26/16,27 125:11,26/16,27 80:11,26/16,27 50:11,26/16,27 32:11,26/16,27 20:11,26/16,27 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "Q": "* * 1250:0,1/2,2 800:0,1/2,2 800:0,3/3,4 800:1,4/4,5 800:2,6/5,7 800:3,8/7,9 800:5,12/9,13 800:7,18/11,19 800:11,26/16,27 500:11,26/16,27 315:11,26/16,27 200:11,26/16,27 125:11,26/16,27 80:11,26/16,27 50:11,26/16,27 32:11,26/16,27 20:11,26/16,27 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
    "R": "* * 1250:0,1/2,2 1250:0,3/3,4 1250:1,4/4,5 1250:2,6/5,7 1250:3,8/7,9 1250:5,12/9,13 1250:7,18/11,19 1250:11,26/16,27 800:11,26/16,27 500:11,26/16,27 315:11,26/16,27 200:11,26/16,27 125:11,26/16,27 80:11,26/16,27 50:11,26/16,27 32:11,26/16,27 20:11,26/16,27 13:11,26/16,27 8:11,26/16,27 8:17,37/22,38 8:25,56/31,57 5:25,56/31,57 3:25,56/31,57 2:25,56/31,57",
}

TABLE_3B_RESOLVED = {
    "A": "* * * * * * * * * * * * * * * 5:0,1/2,2 3:0,1/2,2 2:0,1/2,2 * * * * * * * *",
    "B": "* * * * * * * * * * * * * * * 5:0,1/2,2 3:0,1/2,2 2:0,1/2,2 2:0,3/3,4 2:1,4/4,5 2:2,6/5,7 2:3,11/7,12 2:6,15/10,16 2:9,23/14,24 2:15,34/20,35 2:23,52/29,53",
    "C": "* * * * * * * * * * * * * * 8:0,1/2,2 5:0,1/2,2 3:0,1/2,2 3:0,3/3,4 3:1,4/4,5 3:2,6/5,7 3:3,11/7,12 3:6,15/10,16 3:9,23/14,24 3:15,34/20,35 3:23,52/29,53 2:23,52/29,53",
    "D": "* * * * * * * * * * * * * 13:0,1/2,2 8:0,1/2,2 5:0,1/2,2 5:0,3/3,4 5:1,4/4,5 5:2,6/5,7 5:3,11/7,12 5:6,15/10,16 5:9,23/14,24 5:15,34/20,35 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "E": "* * * * * * * * * * * * 20:0,1/2,2 13:0,1/2,2 8:0,1/2,2 8:0,3/3,4 8:1,4/4,5 8:2,6/5,7 8:3,11/7,12 8:6,15/10,16 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "F": "* * * * * * * * * * * 32:0,1/2,2 20:0,1/2,2 13:0,1/2,2 13:0,3/3,4 13:1,4/4,5 13:2,6/5,7 13:3,11/7,12 13:6,15/10,16 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "G": "* * * * * * * * * * 50:0,1/2,2 32:0,1/2,2 20:0,1/2,2 20:0,3/3,4 20:1,4/4,5 20:2,6/5,7 20:3,11/7,12 20:6,15/10,16 20:9,23/14,24 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "H": "* * * * * * * * * 80:0,1/2,2 50:0,1/2,2 32:0,1/2,2 32:0,3/3,4 32:1,4/4,5 32:2,6/5,7 32:3,11/7,12 32:6,15/10,16 32:9,23/14,24 20:9,23/14,24 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "J": "* * * * * * * * 125:0,1/2,2 80:0,1/2,2 50:0,1/2,2 50:0,3/3,4 50:1,4/4,5 50:2,6/5,7 50:3,11/7,12 50:6,15/10,16 50:9,23/14,24 32:9,23/14,24 20:9,23/14,24 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "K": "* * * * * * * 200:0,1/2,2 125:0,1/2,2 80:0,1/2,2 80:0,3/3,4 80:1,4/4,5 80:2,6/5,7 80:3,11/7,12 80:6,15/10,16 80:9,23/14,24 50:9,23/14,24 32:9,23/14,24 20:9,23/14,24 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "L": "* * * * * * 315:0,1/2,2 200:0,1/2,2 125:0,1/2,2 125:0,3/3,4 125:1,4/4,5 125:2,6/5,7 125:3,11/7,12 125:6,15/10,16 125:9,23/14,24 80:9,23/14,24 50:9,23/14,24 32:9,23/14,24 20:9,23/14,24 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "M": "* * * * * 500:0,1/2,2 315:0,1/2,2 200:0,1/2,2 200:0,3/3,4 200:1,4/4,5 200:2,6/5,7 200:3,11/7,12 200:6,15/10,16 200:9,23/14,24 125:9,23/14,24 80:9,23/14,24 50:9,23/14,24 32:9,23/14,24 20:9,23/14,24 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "N": "* * * * 800:0,1/2,2 500:0,1/2,2 315:0,1/2,2 315:0,3/3,4 315:1,4/4,5 315:2,6/5,7 315:3,11/7,12 315:6,15/10,16 315:9,23/14,24 200:9,23/14,24 125:9,23/14,24 80:9,23/14,24 50:9,23/14,24 32:9,23/14,24 20:9,23/14,24 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "P": "* * * 1250:0,1/2,2 800:0,1/2,2 500:0,1/2,2 500:0,3/3,4 500:1,4/4,5 500:2,6/5,7 500:3,11/7,12 500:6,15/10,16 500:9,23/14,24 315:9,23/14,24 200:9,23/14,24 125:9,23/14,24 80:9,23/14,24 50:9,23/14,24 32:9,23/14,24 20:9,23/14,24 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "Q": "* * 2000:0,1/2,2 1250:0,1/2,2 800:0,1/2,2 800:0,3/3,4 800:1,4/4,5 800:2,6/5,7 800:3,11/7,12 800:6,15/10,16 800:9,23/14,24 500:9,23/14,24 315:9,23/14,24 200:9,23/14,24 125:9,23/14,24 80:9,23/14,24 50:9,23/14,24 32:9,23/14,24 20:9,23/14,24 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
    "R": "* * 2000:0,1/2,2 1250:0,1/2,2 1250:0,3/3,4 1250:1,4/4,5 1250:2,6/5,7 1250:3,11/7,12 1250:6,15/10,16 1250:9,23/14,24 800:9,23/14,24 500:9,23/14,24 315:9,23/14,24 200:9,23/14,24 125:9,23/14,24 80:9,23/14,24 50:9,23/14,24 32:9,23/14,24 20:9,23/14,24 13:9,23/14,24 8:9,23/14,24 8:15,34/20,35 8:23,52/29,53 5:23,52/29,53 3:23,52/29,53 2:23,52/29,53",
}


# ----------------------------------------------------------------------------- Table 1


@pytest.mark.parametrize("lo,hi,letters", TABLE_1)
def test_code_letter_every_range_and_level(lo, hi, letters):
    for level, expected in letters.items():
        for n in {lo, hi, (lo + hi) // 2}:
            assert code_letter(n, level) == expected, (n, level)


def test_code_letter_range_edges_change_letter():
    # the first lot size of each range gives a letter different from the last of the previous
    for (_, hi, prev), (lo, _, nxt) in zip(TABLE_1, TABLE_1[1:]):
        assert lo == hi + 1
        assert code_letter(lo, "II") == nxt["II"] != code_letter(hi, "II") == prev["II"]


# ----------------------------------------------------------------------------- Tables 2-A/B/C


def _expected_single(table, letter, col):
    n, acre = table[letter].split()[col].split(":")
    ac, re_ = acre.split("/")
    return int(n), int(ac), int(re_)


@pytest.mark.parametrize(
    "severity,table",
    [("normal", TABLE_2A_RESOLVED), ("tightened", TABLE_2B_RESOLVED), ("reduced", TABLE_2C_RESOLVED)],
)
def test_every_single_cell_matches_independent_copy(severity, table):
    mismatches = []
    for letter in LETTERS:
        for col, a in enumerate(AQLS):
            used, n, ac, re_ = table_lookup(letter, a, severity)
            if (n, ac, re_) != _expected_single(table, letter, col):
                mismatches.append((letter, a, (n, ac, re_), _expected_single(table, letter, col)))
    assert mismatches == []


@pytest.mark.parametrize("severity,table", [("normal", TABLE_3A_RESOLVED), ("tightened", TABLE_3B_RESOLVED)])
def test_every_double_cell_matches_independent_copy(severity, table):
    mismatches = []
    for letter in LETTERS:
        for col, a in enumerate(AQLS):
            tok = table[letter].split()[col]
            cell = double_table_lookup(letter, a, severity)
            if tok == "*":
                ok = cell is None
                got = cell
            else:
                n, rest = tok.split(":")
                acs, res = rest.split("/")
                ac1, ac2 = map(int, acs.split(","))
                re1, re2 = map(int, res.split(","))
                got = None if cell is None else cell[1:]
                ok = got == (int(n), ac1, re1, ac2, re2)
            if not ok:
                mismatches.append((letter, a, got, tok))
    assert mismatches == []


def test_well_known_values():
    # lot 1000, level II -> J, n = 80
    assert code_letter(1000, "II") == "J"
    assert tuple(plan(1000, 2.5)) == ("J", 80, 5, 6)
    assert tuple(plan(1000, 2.5, severity="tightened")) == ("J", 80, 3, 4)
    # reduced J: n = 32, Ac 2 (Table 2-C with the Ac/Re gap of Z1.4 II-C: Re 5)
    assert tuple(plan(1000, 2.5, severity="reduced")) == ("J", 32, 2, 5)
    # arrows: letter A at AQL 1.0 follows the arrow down to n = 13, Ac 0 Re 1 (letter E)
    assert table_lookup("A", 1.0) == ("E", 13, 0, 1)
    # arrow up: J at AQL 0.25 uses H (n = 50) 0/1
    assert table_lookup("J", 0.25) == ("H", 50, 0, 1)
    # tightened S row: R at 0.025 -> n = 3150, 1/2
    assert table_lookup("R", 0.025, "tightened") == ("S", 3150, 1, 2)
    # double 3-A, J at 2.5: n1 = n2 = 50, Ac1 2 Re1 5, Ac2 6 Re2 7
    assert double_table_lookup("J", 2.5) == ("J", 50, 2, 5, 6, 7)
    p = plan(3500, 0.65, "II")
    assert (p.code_letter, p.sample_size, p.accept, p.reject) == ("L", 200, 3, 4)


def test_plan_unpacks_to_four_and_keeps_context():
    p = plan(1000, 2.5, "II", "normal")
    letter, n, ac, re_ = p
    assert (letter, n, ac, re_) == ("J", 80, 5, 6)
    assert isinstance(p, SamplingPlan)
    assert (p.lot_size, p.aql, p.level, p.severity, p.inspect_all, p.table) == (1000, 2.5, "II", "normal", False, "2-A")
    assert SamplingPlan.from_dict(p.to_dict()) == p


def test_hundred_percent_when_sample_reaches_lot():
    # lot 10, level II -> B; AQL 0.10 follows arrows down to K (n = 125) -> inspect all 10
    p = plan(10, 0.10)
    assert p.table_code_letter == "B"
    assert (p.code_letter, p.table_sample_size) == ("K", 125)
    assert p.inspect_all and p.sample_size == 10 and (p.accept, p.reject) == (0, 1)
    # sample equal to the lot also means 100 %: lot 2, letter A (n = 2)
    q = plan(2, 6.5)
    assert q.inspect_all and q.sample_size == 2
    assert not plan(1000, 2.5).inspect_all


def test_sample_sizes_in_plans_are_the_table_series():
    for letter in LETTERS:
        for a in AQLS:
            _, n, ac, re_ = table_lookup(letter, a)
            assert n in aql.SAMPLE_SIZES.values()
            assert 0 <= ac < re_
            _, n, ac, re_ = table_lookup(letter, a, "tightened")
            assert ac < re_


def test_reduced_gap_accepts_but_reinstates_normal():
    p = plan(1000, 2.5, severity="reduced")  # J: n 32, Ac 2, Re 5
    assert p.decide(2) is Decision.accept
    assert p.decide(3) is Decision.accept_reinstate_normal
    assert p.decide(4) is Decision.accept_reinstate_normal
    assert p.decide(5) is Decision.reject
    assert Decision.accept_reinstate_normal.accepted


def test_bad_inputs_name_the_input():
    with pytest.raises(SpecError, match="lot_size"):
        plan(1, 2.5)
    with pytest.raises(SpecError, match="aql"):
        plan(100, 3.0)
    with pytest.raises(SpecError, match="zero tolerance"):
        plan(100, 0)
    with pytest.raises(SpecError, match="level"):
        plan(100, 2.5, level="IV")
    with pytest.raises(SpecError, match="severity"):
        plan(100, 2.5, severity="strict")
    with pytest.raises(SpecError, match="3-C"):
        double_plan(1000, 2.5, severity="reduced")
    with pytest.raises(SpecError, match="nonconforming"):
        plan(1000, 2.5).decide(81)


# ----------------------------------------------------------------------------- double sampling


def test_double_verdicts():
    d = double_plan(1000, 2.5)  # J: 50 + 50, Ac1 2 Re1 5, Ac2 6 Re2 7
    assert (d.first_sample_size, d.second_sample_size) == (50, 50)
    assert d.verdict(2) is Decision.accept
    assert d.verdict(5) is Decision.reject
    assert d.verdict(3) is Decision.second_sample
    assert d.verdict(3, 3) is Decision.accept
    assert d.verdict(3, 4) is Decision.reject
    assert aql.double_verdict(d, 4, 2) is Decision.accept
    with pytest.raises(SpecError, match="d2"):
        d.verdict(1, 0)


def test_double_star_uses_single_plan():
    d = double_plan(1000, 0.15)  # J at 0.15 is "*" in 3-A
    s = plan(1000, 0.15)
    assert d.is_single and d.second_sample_size == 0
    assert (d.code_letter, d.first_sample_size, d.accept_1, d.reject_1) == tuple(s)
    assert d.verdict(0) is Decision.accept and d.verdict(1) is Decision.reject


# ----------------------------------------------------------------------------- lot verdicts


def test_lot_verdict_per_class_and_overall():
    plans = class_plans(1000, AqlSettings(level="II", critical=0.0, major=2.5, minor=4.0))
    assert tuple(plans["major"]) == ("J", 80, 5, 6)
    assert tuple(plans["minor"]) == ("J", 80, 7, 8)
    assert (plans["critical"].sample_size, plans["critical"].accept, plans["critical"].reject) == (80, 0, 1)
    assert plans["critical"].table == "zero-tolerance"
    ok = lot_verdict({"critical": 0, "major": 5, "minor": 7}, plans)
    assert ok.decision is Decision.accept and ok.accepted
    one_critical = lot_verdict({"critical": 1, "major": 0, "minor": 0}, plans)
    assert one_critical.decision is Decision.reject
    assert one_critical.by_class()["critical"].decision is Decision.reject
    minor_over = lot_verdict({"major": 0, "minor": 8}, plans)
    assert minor_over.decision is Decision.reject
    assert [c.decision for c in minor_over.classes] == [Decision.accept, Decision.accept, Decision.reject]
    assert minor_over.to_dict()["classes"][2]["nonconforming"] == 8


def test_lot_verdict_pending_only_when_review_can_change_outcome():
    plans = class_plans(1000, {"major": 2.5})  # Ac 5 Re 6
    assert lot_verdict({"major": 3}, plans, unresolved_by_class={"major": 2}).decision is Decision.accept
    assert lot_verdict({"major": 3}, plans, unresolved_by_class={"major": 3}).decision is Decision.pending
    assert lot_verdict({"major": 6}, plans, unresolved_by_class={"major": 9}).decision is Decision.reject


def test_zero_tolerance_plan_copies_sample():
    z = zero_tolerance_plan(plan(5000, 1.0))
    assert (z.code_letter, z.sample_size, z.accept, z.reject, z.aql) == ("L", 200, 0, 1, 0.0)


# ----------------------------------------------------------------------------- switching rules


def _single(accepted, d=0, ac=5):
    return LotOutcome(accepted=accepted, nonconforming=d, accept_number=ac)


def test_normal_to_tightened_on_two_of_five():
    s = SwitchingState(supplier="acme", product="wallet")
    seq = [True, False, True, False]
    states = [s.record(_single(a, 0 if a else 6)).after for a in seq]
    assert states == ["normal", "normal", "normal", "tightened"]


def test_two_rejections_six_lots_apart_do_not_tighten():
    s = SwitchingState()
    seq = [False, True, True, True, True, False, True]
    assert [s.record(_single(a, 0 if a else 6)).after for a in seq] == ["normal"] * 7


def test_tightened_back_to_normal_after_five_accepts():
    s = SwitchingState(severity="tightened")
    seq = [True, True, False, True, True, True, True, True]
    states = [s.record(_single(a, 0 if a else 4, ac=3)).after for a in seq]
    assert states == ["tightened"] * 7 + ["normal"]
    assert s.switching_score == 0


def test_discontinue_after_five_not_accepted_on_tightened_then_resume():
    s = SwitchingState()
    s.record(_single(False, 6))
    assert s.record(_single(False, 6)).after == "tightened"
    seq = [False, True, False, True, False, False]
    states = [s.record(_single(a, 0 if a else 4, ac=3)).after for a in seq]
    # 5th lot not accepted on tightened (4 runs of accept in between never reach 5) -> discontinued
    assert states == ["tightened", "tightened", "tightened", "tightened", "tightened", "tightened"]
    assert s.record(_single(False, 4, ac=3)).after == "discontinued"
    with pytest.raises(SpecError, match="discontinued"):
        s.record(_single(True))
    assert s.resume().after == "tightened"
    assert s.severity == "tightened" and s.tightened_not_accepted == 0


def test_switching_score_ac_ge_2_and_reduced_after_30():
    s = SwitchingState()
    # Ac 5 (J 2.5): one step tighter Ac is 3; d <= 3 earns 3 points
    ts = [s.record(_single(True, 3)) for _ in range(9)]
    assert [t.switching_score for t in ts] == [3, 6, 9, 12, 15, 18, 21, 24, 27]
    assert s.severity == "normal"
    # accepted with d = 4 (> 3): score resets to 0
    assert s.record(_single(True, 4)).switching_score == 0
    for _ in range(9):
        s.record(_single(True, 1))
    t = s.record(_single(True, 0))
    assert (t.before, t.after, t.switching_score) == ("normal", "reduced", 30)


def test_switching_score_ac_0_or_1_adds_two():
    s = SwitchingState()
    ts = [s.record(LotOutcome(True, 0, 0)) for _ in range(15)]
    assert [t.switching_score for t in ts][:3] == [2, 4, 6]
    assert ts[-1].after == "reduced"


def test_reduced_needs_steady_production_and_approval():
    s = SwitchingState(production_steady=False)
    for _ in range(20):
        s.record(LotOutcome(True, 0, 0))
    assert s.severity == "normal" and s.switching_score == 40
    s.production_steady = True
    assert s.record(LotOutcome(True, 0, 0)).after == "reduced"
    s2 = SwitchingState(authority_approves_reduced=False)
    for _ in range(20):
        s2.record(LotOutcome(True, 0, 0))
    assert s2.severity == "normal"


@pytest.mark.parametrize(
    "outcome",
    [
        LotOutcome(False, 5, 2),
        LotOutcome(True, 3, 2, reinstate_normal=True),
        LotOutcome(True, 0, 2, production_irregular=True),
        LotOutcome(True, 0, 2, other_conditions=True),
    ],
)
def test_reduced_back_to_normal(outcome):
    s = SwitchingState(severity="reduced")
    assert s.record(LotOutcome(True, 0, 2)).after == "reduced"
    t = s.record(outcome)
    assert (t.before, t.after) == ("reduced", "normal")
    assert s.switching_score == 0


def test_state_round_trips_through_dict():
    s = SwitchingState(supplier="acme", product="wallet")
    for a in (True, False, True):
        s.record(_single(a, 0 if a else 6, ac=5))
    d = s.to_dict()
    s2 = SwitchingState.from_dict(d)
    assert s2.to_dict() == d
    assert s2.record(_single(False, 6)).after == "tightened"
    assert len(s2.log) == 4 and s2.log[-1]["reason"].startswith("2 lots not accepted")


def test_record_accepts_a_lot_verdict():
    plans = class_plans(1000, AqlSettings(critical=0, major=2.5, minor=4.0))
    v = lot_verdict({"critical": 0, "major": 2, "minor": 3}, plans)  # major: 2 <= 3, minor: 3 <= 5 -> +3
    s = SwitchingState()
    assert s.record(v).switching_score == 3
    v2 = lot_verdict({"major": 4, "minor": 0}, plans)  # accepted but 4 > 3 -> reset
    assert s.record(v2).switching_score == 0


# ----------------------------------------------------------------------------- OC curves


def test_oc_known_value_and_shape():
    p80 = plan(1000, 2.5)  # n 80, c 5
    pa = oc_curve(p80, [0.0, 0.025])
    assert pa[0] == 1.0
    direct = sum(math.comb(80, k) * 0.025**k * 0.975 ** (80 - k) for k in range(6))
    assert pa[1] == pytest.approx(direct, abs=1e-12)
    assert pa[1] == pytest.approx(stats.binom.cdf(5, 80, 0.025), abs=1e-12)
    assert pa[1] == pytest.approx(0.985, abs=0.001)
    grid = np.linspace(0, 0.3, 61)
    curve = oc_curve(p80, grid)
    assert curve.shape == grid.shape and np.all(np.diff(curve) <= 1e-15)


def test_oc_of_gap_plan_counts_the_gap_as_accepted():
    r = plan(1000, 2.5, severity="reduced")  # n 32, Ac 2, Re 5
    assert oc_curve(r, [0.05])[0] == pytest.approx(stats.binom.cdf(4, 32, 0.05), abs=1e-12)


def test_oc_poisson_for_high_aql():
    p = plan(1000, 25)  # J at AQL 25 (nonconformities per 100 units): arrow up to H, n 50, 21/22
    assert tuple(p) == ("H", 50, 21, 22)
    pa = oc_curve(p, [0.1])
    assert pa[0] == pytest.approx(stats.poisson.cdf(p.accept, p.sample_size * 0.1), abs=1e-12)
    assert oc_curve(p, [0.1], model="binomial")[0] == pytest.approx(stats.binom.cdf(p.accept, p.sample_size, 0.1))


def test_oc_double_plan_matches_enumeration():
    d = double_plan(1000, 2.5)  # 50 + 50, 2/5, 6/7
    p = 0.04
    b = lambda k, n: math.comb(n, k) * p**k * (1 - p) ** (n - k)  # noqa: E731
    expected = sum(b(k, 50) for k in range(3))
    for d1 in (3, 4):
        expected += b(d1, 50) * sum(b(k, 50) for k in range(0, 6 - d1 + 1))
    assert oc_curve(d, [p])[0] == pytest.approx(expected, abs=1e-12)
    assert oc_curve(d, [0.0])[0] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    letter=st.sampled_from(LETTERS),
    a=st.sampled_from(AQLS[:16]),
    sev=st.sampled_from(["normal", "tightened", "reduced"]),
)
def test_oc_monotone_decreasing_for_every_plan(letter, a, sev):
    used, n, ac, re_ = table_lookup(letter, a, sev)
    p = SamplingPlan(used, n, ac, re_, 10**6, a, "II", sev, False, letter, n, "x")
    curve = oc_curve(p, np.linspace(0, 1, 101))
    assert curve[0] == 1.0 and curve[-1] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(curve) <= 1e-12)


def test_tightened_is_never_looser_than_normal_at_the_aql():
    # at p = AQL, the tightened plan accepts no more often than the normal one
    for letter in LETTERS:
        for a in AQLS[:15]:
            _, n_n, ac_n, _ = table_lookup(letter, a)
            _, n_t, ac_t, _ = table_lookup(letter, a, "tightened")
            pa_n = stats.binom.cdf(ac_n, n_n, a / 100)
            pa_t = stats.binom.cdf(ac_t, n_t, a / 100)
            assert pa_t <= pa_n + 1e-12, (letter, a)


def test_switching_score_double_sampling_adds_three_on_first_sample():
    s = SwitchingState()
    assert s.record(LotOutcome(True, double_accepted_on_first=True)).switching_score == 3
    assert s.record(LotOutcome(True, double_accepted_on_first=True)).switching_score == 6
    # accepted only after the second sample: reset
    assert s.record(LotOutcome(True, double_accepted_on_first=False)).switching_score == 0
    with pytest.raises(SpecError, match="unknown keys"):
        SwitchingState.from_dict({"severity": "normal", "colour": "red"})
