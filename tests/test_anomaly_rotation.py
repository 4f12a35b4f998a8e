"""Round elements turned in their seat (a faceted stone in its bezel): undone, never at a defect's cost."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from goldenvision.anomaly import AnomalyModel
from goldenvision.anomaly.local_shift import apply_shift_field
from goldenvision.anomaly.rotation import find_round_elements, rotation_field
from goldenvision.spec import AnomalyZone

H, W = 200, 240
SCALE = 0.125  # mm per px
STONE = (120.0, 96.0, 24.0)  # cx, cy, r px
BEZEL = 6.0  # px
GOLD = np.array([214.0, 172.0, 92.0])
SAPPHIRE = np.array([40.0, 70.0, 170.0])
SS = 4  # supersampling


def pendant(turn_deg: float = 0.0, *, missing: bool = False, seed: int = 0) -> np.ndarray:
    """A gold plate (rounded corners, faint brushing) with a faceted stone in a polished bezel.

    The stone's crown has eight facets, alternately light and dark (±35 %), turned by ``turn_deg``."""
    hs, ws = H * SS, W * SS
    y, x = np.mgrid[0:hs, 0:ws].astype(np.float32) / SS
    img = np.zeros((hs, ws, 3), np.float32) + 30.0
    # the plate: rounded rectangle 200 x 160 px, corner radius 30 px
    px, py = np.abs(x - W / 2) - (100 - 30), np.abs(y - H / 2) - (80 - 30)
    plate = np.hypot(np.maximum(px, 0), np.maximum(py, 0)) + np.minimum(np.maximum(px, py), 0) - 30 <= 0
    img[plate] = GOLD
    cx, cy, r = STONE
    rho = np.hypot(x - cx, y - cy)
    bezel = (rho > r) & (rho <= r + BEZEL)
    img[bezel] = np.minimum(GOLD * 1.15, 255)
    th = np.arctan2(y - cy, x - cx) + np.deg2rad(turn_deg)
    sector = np.floor((th % (2 * np.pi)) / (np.pi / 4)).astype(int)
    light = np.where((sector % 2 == 0) & (rho > 0.45 * r), 1.35, np.where(rho > 0.45 * r, 0.65, 1.0))
    stone = rho <= r
    if missing:  # the empty seat: a dark cavity
        img[stone] = 22.0
    else:
        img[stone] = (SAPPHIRE[None, :] * light[stone][:, None])
    img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    img += rng.normal(0, 1.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def zone(defect_type: str = "plating") -> AnomalyZone:
    return AnomalyZone(name="face", region=[[25, 25], [215, 25], [215, 175], [25, 175]], defect_type=defect_type,
                       min_area_mm2=0.5)


@functools.cache  # one fit per zone type for the module's tests, which only score the models and read their state
def model(defect_type: str = "plating") -> AnomalyModel:
    return AnomalyModel.fit([pendant(seed=s) for s in range(3)], [zone(defect_type)], scale_mm_per_px=SCALE)


def test_the_stone_is_found_and_the_rounded_corners_are_not():
    m = model()
    found = m.round_["face"]
    assert len(found) == 1, found
    cx, cy, r = found[0]
    assert abs(cx - STONE[0]) <= 1.0 and abs(cy - STONE[1]) <= 1.0
    assert STONE[2] - 2.0 <= r <= STONE[2] + BEZEL + 1.0  # the stone's or the bezel's edge
    # other zone types: no element turns
    assert model("other").round_ == {}


def test_find_round_elements_refuses_an_empty_zone_and_a_plain_surface():
    gray = np.full((H, W), 180, np.float32)
    assert find_round_elements(gray, np.zeros((H, W), bool), min_radius_px=4, max_radius_px=40) == []
    assert find_round_elements(gray, np.ones((H, W), bool), min_radius_px=4, max_radius_px=40) == []


@pytest.mark.parametrize("turn", [-17.0, 11.0])
def test_the_field_turns_the_stone_back(turn):
    g = cv2.cvtColor(pendant(), cv2.COLOR_RGB2GRAY).astype(np.float32)
    u = cv2.cvtColor(pendant(turn, seed=5), cv2.COLOR_RGB2GRAY).astype(np.float32)
    hot = np.abs(u - g) > 20
    field = rotation_field(g, u, hot, [STONE], trunc=32.0)
    assert field is not None
    fx, fy = field
    # outside the disc and its taper nothing moves
    y, x = np.mgrid[0:H, 0:W]
    far = np.hypot(x - STONE[0], y - STONE[1]) > STONE[2] + 3
    assert np.abs(fx[far]).max() == 0 and np.abs(fy[far]).max() == 0
    # the unit shows the golden's crown at angle a + turn at angle a, so the point at radius 20 px
    # on the +x axis samples the unit at angle -turn (modulo the facets' period, 45 deg)
    dx, dy = float(fx[int(STONE[1]), int(STONE[0]) + 20]), float(fy[int(STONE[1]), int(STONE[0]) + 20])
    ang = np.rad2deg(np.arctan2(dy, 20 + dx))
    assert np.hypot(20 + dx, dy) == pytest.approx(20.0, abs=0.05)  # a turn, not a shift
    assert (ang + turn + 22.5) % 45 - 22.5 == pytest.approx(0.0, abs=1.5)
    back, _ = apply_shift_field(u, np.ones((H, W), bool), field)
    disc = np.hypot(x - STONE[0], y - STONE[1]) <= STONE[2] - 2
    assert np.abs(back - g)[disc].mean() < 0.3 * np.abs(u - g)[disc].mean()


def test_a_turned_stone_is_no_defect_in_a_plating_zone():
    unit = pendant(20.0, seed=7)
    r = model().score(unit)
    assert not r.defects, [(d.bbox, d.score) for d in r.defects]
    # the cause: without the turn back (a zone type whose elements may not turn) the facets are flagged
    r_other = model("other").score(unit)
    assert r_other.defects and max(d.score for d in r_other.defects) > 1.5


def test_a_missing_stone_is_still_found():
    r = model().score(pendant(missing=True, seed=7))
    cx, cy, _ = STONE
    hits = [d for d in r.defects if d.bbox[0] <= cx <= d.bbox[2] and d.bbox[1] <= cy <= d.bbox[3]]
    assert hits and hits[0].score > 3.0


def test_a_scratch_beside_a_turned_stone_is_still_found():
    unit = pendant(20.0, seed=7)
    cv2.line(unit, (60, 140), (100, 150), (150, 120, 64), 2)  # a dark scratch on the plate
    r = model().score(unit)
    assert any(d.bbox[0] <= 80 <= d.bbox[2] and d.bbox[1] <= 145 <= d.bbox[3] for d in r.defects)
    # and the stone's facets are not reported with it
    cx, cy, rs = STONE
    assert not [d for d in r.defects if d.bbox[0] < cx + rs and d.bbox[2] > cx - rs and d.bbox[1] < cy + rs
                and d.bbox[3] > cy - rs]


def test_round_elements_survive_the_state():
    m = model()
    m2 = AnomalyModel.from_state(m.to_state())
    assert m2.round_ == m.round_
    unit = pendant(20.0, seed=7)
    assert m2.score(unit).score == pytest.approx(m.score(unit).score, abs=1e-6)


def test_zoo_pendants_with_their_stones_turned_pass_and_a_missing_stone_fails(tmp_path):
    """The zoo's jewellery lot (seed 0): the centre stone's facets sit at each unit's own rotation."""
    import goldenvision as gv
    from goldenvision import demo

    lot = demo.generate_lot(tmp_path, family="jewellery", mode="station", seed=0, n_golden=3, n_units=8, size=0.5)
    inspector = gv.Inspector(gv.seal([str(p) for p in lot.golden_paths], lot.spec_path))
    assert len(inspector.models.anomaly.round_["face"]) >= 1
    units = {u["unit_id"]: u for u in lot.truth["units"]}
    golden_phase = 0.5
    turned = [p for p in lot.unit_paths if not units[p.stem]["defects"]
              and abs(dict(units[p.stem]["variation"])["facet_phase"] - golden_phase) > 0.3]
    assert turned  # units whose facets are turned by more than 0.3 of a facet against the golden's
    for p in turned:
        assert not inspector.inspect(str(p)).defects, p.stem
    (bad,) = [p for p in lot.unit_paths if [d["type"] for d in units[p.stem]["defects"]] == ["missing_stone"]]
    r = inspector.inspect(str(bad))
    (d,) = units[bad.stem]["defects"]
    assert any(f.zone == "stones" and f.bbox[0] <= d["bbox"][2] and d["bbox"][0] <= f.bbox[2] for f in r.defects)
