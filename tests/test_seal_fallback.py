"""Sealing products whose captures cannot be aligned precisely (issue 13): a smooth part lying at
any angle is placed by its silhouette; a natural product whose outline differs is compared
without alignment. Either way the seal succeeds and says so, in the golden, every result and
the report. A spec that names its alignment still gets the refusal with what to change."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import goldenvision as gv
from goldenvision.errors import RegistrationError
from goldenvision.registration import register
from goldenvision.registration.outline import outline_register, silhouette


def plate(seed: int, *, defect: bool = False, angle: float | None = None, w: int = 320, h: int = 240) -> np.ndarray:
    """A smooth plain moulded plate (an oval with a notch) at any angle on a dark ground."""
    r = np.random.default_rng(seed)
    canvas = np.zeros((260, 260, 3), np.float32)
    m = np.zeros((260, 260), np.uint8)
    cv2.ellipse(m, (130, 130), (100, 54), 0, 0, 360, 1, -1)
    cv2.rectangle(m, (216, 124), (236, 136), 0, -1)
    canvas[m > 0] = (190, 190, 185)
    if defect:
        cv2.circle(canvas, (int(r.uniform(85, 175)), int(r.uniform(112, 148))), 6, (110, 105, 100), -1)
    a = r.uniform(0, 360) if angle is None else angle
    rot = cv2.getRotationMatrix2D((130, 130), a, 1 + 0.02 * r.standard_normal())
    rot[:, 2] += (w / 2 - 130 + r.uniform(-20, 20), h / 2 - 130 + r.uniform(-12, 12))
    img = cv2.warpAffine(canvas, rot, (w, h))
    inside = cv2.warpAffine(m * 255, rot, (w, h)) > 127
    img = np.where(inside[..., None], img, np.float32([50, 50, 60])) + r.normal(0, 2, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def pebble(seed: int, *, w: int = 320, h: int = 240) -> np.ndarray:
    """A natural product: speckled, its outline differs unit to unit, at any angle."""
    r = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, 160, endpoint=False)
    rad = 1 + sum(0.05 * r.standard_normal() * np.cos(k * t + r.uniform(0, 6.3)) for k in range(2, 6))
    a, b, ang = 100 * rad, 66 * rad, r.uniform(0, 2 * np.pi)
    x, y = a * np.cos(t), b * np.sin(t)
    pts = np.stack([w / 2 + x * np.cos(ang) - y * np.sin(ang), h / 2 + x * np.sin(ang) + y * np.cos(ang)], 1)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
    tex = cv2.GaussianBlur(r.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2.0)
    body = np.float32([150, 120, 80]) + 14 * (tex / tex.std())[..., None]
    img = np.where(mask[..., None] > 0, body, np.float32([60, 60, 60]) + r.normal(0, 3, (h, w, 3)))
    return np.clip(img, 0, 255).astype(np.uint8)


BASE = {"revision": "A", "scale_mm_per_px": 0.1, "registration": "auto",
        "anomaly_zones": [{"name": "all", "region": "full", "defect_type": "other", "severity": "major"}]}


def test_outline_register_recovers_any_turn_and_refuses_a_blank_ground():
    ref = plate(0, angle=10.0)
    for turn in (35.0, 170.0, 290.0):
        mov = plate(1, angle=10.0 + turn)
        r = outline_register(ref, mov)
        assert r.ok and r.method == "outline" and r.confidence > 0.95
        # the product's centre lands on the golden's, and the turn is recovered (mod 360) to 2 degrees
        h = r.homography
        got = math.degrees(math.atan2(h[1, 0], h[0, 0]))
        assert abs(((got - turn) + 180) % 360 - 180) < 2.0 or abs(((got + turn) + 180) % 360 - 180) < 2.0
        assert r.rms_px < 2.5
    blank = np.full((240, 320, 3), 90, np.uint8)
    r = outline_register(ref, blank)
    assert not r.ok and "no product" in r.reason
    assert silhouette(blank) is None
    assert register(ref, plate(2), method="outline").method == "outline"


#: a zone drawn over the whole 320 x 240 photo: registration has the whole photo, the ground included
WHOLE_PHOTO = [{"name": "all", "region": [[0, 0], [319, 0], [319, 239], [0, 239]], "defect_type": "other",
                "severity": "major"}]


def test_a_smooth_part_at_any_angle_is_placed_by_its_silhouette_and_judged(tmp_path):
    spec = {**BASE, "product": "plate", "anomaly_zones": WHOLE_PHOTO}
    goldens = [plate(s) for s in range(3)]  # each at its own angle
    with pytest.raises(RegistrationError, match="To seal"):  # naming an alignment keeps the refusal
        gv.seal(goldens, {**spec, "registration": "homography"})
    g = gv.seal(goldens, spec)
    fb = g.meta["alignment_fallback"]
    assert fb["registration"] == "outline" and fb["not_judged"] == [] and fb["spec_registration"] == "auto"
    assert g.spec.registration == "outline"
    ins = gv.Inspector(g)
    good = [ins.inspect(plate(s)) for s in range(100, 106)]
    bad = [ins.inspect(plate(s, defect=True)) for s in range(100, 106)]
    assert [r.verdict.value for r in good] == ["pass"] * 6
    assert [r.verdict.value for r in bad] == ["fail"] * 6
    assert good[0].provenance["alignment_fallback"]["registration"] == "outline"
    # the report says how the units were compared
    from goldenvision.report import write_report

    out = tmp_path / "r.html"
    write_report(out, good[:2] + bad[:1], g)
    assert 'id="alignment-fallback"' in out.read_text()


def test_a_full_zone_gives_registration_the_part_itself_and_it_aligns_precisely():
    # the `full` zone watches the product (sealing._full_zone_region), and registration takes its
    # pose from there: the plate's outline and notch pin it, where the whole photo's plain ground
    # left it to the alignment-free fallback above
    goldens = [plate(s) for s in range(3)]
    g = gv.seal(goldens, {**BASE, "product": "plate", "registration": "homography"})
    assert "alignment_fallback" not in g.meta and g.spec.registration == "homography"
    ins = gv.Inspector(g)
    good = [ins.inspect(plate(s)) for s in range(100, 103)]
    bad = [ins.inspect(plate(s, defect=True)) for s in range(100, 103)]
    assert all(r.registration is not None and r.registration.ok and r.registration.rms_px < 0.3 for r in good)
    assert [r.verdict.value for r in good] == ["pass"] * 3
    assert [r.verdict.value for r in bad] == ["fail"] * 3


def test_a_natural_product_is_compared_without_alignment_and_says_what_is_not_judged():
    spec = {**BASE, "product": "pebble", "colors": [{"name": "body", "region": [[120, 100], [200, 100], [200, 140], [120, 140]],
                                                      "tolerance_de00": 3.0}]}
    goldens = [pebble(s) for s in range(3)]  # the fewest this fallback seals from (sealing.MIN_CAPTURES_WITHOUT_ALIGNMENT)
    g = gv.seal(goldens, spec)
    fb = g.meta["alignment_fallback"]
    assert fb["registration"] == "none" and fb["not_judged"] == ["colour body"]
    assert "cannot be aligned" in fb["why"] and fb["what_to_change"]
    assert g.spec.registration == "none" and not g.spec.colors
    assert [z.method for z in g.spec.anomaly_zones] == ["texture"]
    r = gv.Inspector(g).inspect(pebble(50))
    assert r.verdict.value in ("pass", "fail") and r.provenance["alignment_fallback"]["not_judged"] == ["colour body"]
    assert r.registration is not None and r.registration.method == "none"


def test_without_an_anomaly_zone_the_refusal_stands_with_what_to_change():
    spec = {"product": "pebble", "revision": "A", "registration": "auto",
            "colors": [{"name": "body", "region": [[120, 100], [200, 100], [200, 140], [120, 140]], "tolerance_de00": 3.0}]}
    with pytest.raises(RegistrationError, match="To seal"):
        gv.seal([pebble(s) for s in range(3)], spec)


def test_a_spoilt_first_capture_among_alignable_ones_is_named_not_worked_around():
    from synthetic import SPEC, product

    noise = np.random.default_rng(3).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    with pytest.raises(RegistrationError, match=r"golden capture 1 .*cannot be aligned"):
        gv.seal([product(0), noise, product(2, (1, 1)), product(3, (-1, 0))], SPEC)
