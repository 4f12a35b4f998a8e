"""A coarse JPEG's rounding is read from the photo's own pixels and widens the anomaly stage's
floor where the compression can have made the evidence (goldenvision.jpeg_noise, .anomaly.unit_noise)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import goldenvision as gv
from goldenvision.anomaly.unit_noise import extra_floor2, unit_extra_var
from goldenvision.errors import ImageError
from goldenvision.jpeg_noise import GRID_PHASES, error_variance, jpeg_info, pixel_quality, recompressed, table_of_quality

from synthetic import panel_photo, spec_with_panel


def _scene(seed: int = 0) -> np.ndarray:
    """A 480 x 640 photo with texture of several scales and printed edges."""
    rng = np.random.default_rng(seed)
    base = np.zeros((480, 640, 3), np.float32)
    for s, a in ((1.0, 14.0), (3.0, 20.0), (8.0, 30.0)):
        base += cv2.GaussianBlur(rng.normal(0, a, (480, 640, 3)).astype(np.float32), (0, 0), s) * s
    out = np.clip(base + 128.0, 0, 255).astype(np.uint8)
    cv2.putText(out, "GOLDEN 0123", (40, 300), cv2.FONT_HERSHEY_SIMPLEX, 3.0, (20, 30, 200), 8)
    return out


def _jpeg(rgb: np.ndarray, q: int) -> bytes:
    ok, b = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    assert ok
    return b.tobytes()


def _decode(data: bytes) -> np.ndarray:
    return np.ascontiguousarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1])


@pytest.mark.parametrize("q", [40, 60, 75, 90])
def test_the_quality_is_read_from_the_pixels_whatever_the_file_is_now(q: int) -> None:
    img = _scene()
    data = _jpeg(img, q)
    info = jpeg_info(data)
    assert info is not None and abs(info.quality - q) <= 1  # the file's own tables
    decoded = _decode(data)
    read = pixel_quality(decoded)
    assert read is not None and abs(read - q) <= 2, (q, read)
    # decoded and saved again at 100 (or handed over as an array): the lattice is still in the pixels
    again = pixel_quality(_decode(_jpeg(decoded, 100)))
    assert again is not None and abs(again - read) <= 1, (read, again)


def test_a_photo_never_compressed_shows_no_quality() -> None:
    assert pixel_quality(_scene()) is None
    assert pixel_quality(_decode(_jpeg(_scene(), 97))) is None  # finer than 96: nothing to say
    assert jpeg_info(cv2.imencode(".png", _scene())[1].tobytes()) is None


def test_the_error_variance_grows_with_the_steps_and_counts_only_their_excess() -> None:
    img = _scene()
    v60 = error_variance(_decode(_jpeg(img, 60)), table_of_quality(60))
    v90 = error_variance(_decode(_jpeg(img, 90)), table_of_quality(90))
    assert v60.shape == img.shape and v60.dtype == np.float32
    assert float(v60.mean()) > 2.0 * float(v90.mean()) > 0.0
    # against its own tables as the reference nothing is left
    assert float(error_variance(_decode(_jpeg(img, 60)), table_of_quality(60), reference=table_of_quality(60)).max()) == 0.0
    # measured: the actual rounding error, seen through the same blur, is of the predicted size
    d60 = _decode(_jpeg(img, 60))
    err = cv2.GaussianBlur(d60.astype(np.float32), (0, 0), 1.0) - cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0)
    ratio = float((err**2).mean()) / float(v60.mean())
    assert 0.2 < ratio < 2.0, ratio


def test_a_plain_block_gets_next_to_nothing_and_a_busy_one_its_steps() -> None:
    img = np.full((64, 64, 3), 150, np.uint8)
    img[:, 32:] = _scene()[:64, :32]  # busy right half
    dec = _decode(_jpeg(img, 50))
    v = error_variance(dec, table_of_quality(50))
    assert float(v[:, :16].max()) < 0.6  # the plain blocks: the DC's rounding alone
    assert float(v[:, 40:].mean()) > 5.0 * float(v[:, :16].max())


def test_the_extra_floor_is_held_for_one_call_only() -> None:
    sl = (slice(2, 6), slice(1, 4))
    assert extra_floor2(sl, (4, 3)) is None
    ex = np.arange(10 * 8 * 3, dtype=np.float32).reshape(10, 8, 3)
    with unit_extra_var(ex):
        got = extra_floor2(sl, (4, 3))
        assert got is not None and np.array_equal(got, ex[sl])
        assert extra_floor2(sl, (5, 3)) is None  # not this crop's shape
        half = extra_floor2(sl, (4, 3), 0.5)
        assert half is not None and np.allclose(half, ex[sl] * 0.5)
    assert extra_floor2(sl, (4, 3)) is None


@pytest.fixture(scope="module")
def panel_inspector() -> gv.Inspector:
    return gv.Inspector(gv.seal([panel_photo(s) for s in (1, 2, 3)], spec_with_panel()))


def test_a_coarse_jpeg_is_recorded_and_lowers_the_evidence_where_it_rounds(panel_inspector) -> None:
    photo = panel_photo(9)
    r_png = panel_inspector.inspect(photo)
    assert r_png.provenance["jpeg"] == {"pixel_quality": None, "floor_quality": 80, "extra_noise_rms": 0.0}
    r = panel_inspector.inspect(_jpeg(photo, 55))
    rec = r.provenance["jpeg"]
    assert rec["pixel_quality"] is not None and abs(rec["pixel_quality"] - 55) <= 2
    assert rec["extra_noise_rms"] > 0.5 and r.anomaly_score is not None
    # the model itself: the same warped unit scores lower with the extra floor, never higher
    ev = panel_inspector.evidence(_jpeg(photo, 55))
    model = panel_inspector.models.anomaly
    plain = model.score(ev["warped"], ev["valid"])
    extra = np.full((*ev["warped"].shape[:2], 3), 16.0, np.float32)
    wider = model.score(ev["warped"], ev["valid"], extra_var=extra)
    assert all(wider.zone_scores[k] <= plain.zone_scores[k] + 1e-6 for k in plain.zone_scores)
    assert sum(wider.zone_scores.values()) < sum(plain.zone_scores.values())
    with pytest.raises(ImageError, match="extra_var"):
        model.score(ev["warped"], ev["valid"], extra_var=extra[:5])


def test_a_photo_compressed_past_judging_goes_to_review_saying_so(panel_inspector) -> None:
    r = panel_inspector.inspect(_jpeg(panel_photo(9), 25))
    assert r.verdict.value == "review"
    said = [x for x in r.reasons if "JPEG" in x]
    assert len(said) == 1 and "colour and surface not judged" in said[0] and "quality 80 or more" in said[0], r.reasons
    assert r.color == () and r.anomaly_score is None
    ok = panel_inspector.inspect(_jpeg(panel_photo(9), 70))
    assert not any("JPEG" in x for x in ok.reasons) and ok.anomaly_score is not None


def test_recompressed_is_a_jpeg_of_that_quality_at_each_grid_phase() -> None:
    img = _scene(3)
    for q in (50, 85):
        at0 = recompressed(img, q)
        assert at0.shape == img.shape and at0.dtype == np.uint8
        read = pixel_quality(at0)
        assert read is not None and abs(read - q) <= 2
        moved = recompressed(img, q, (4, 8))
        err0 = np.abs(at0.astype(int) - img).mean()
        assert 0 < np.abs(moved.astype(int) - img).mean() < 2 * err0  # as close to the photo, not where it was
        assert not np.array_equal(moved, at0)  # the content met the grid elsewhere
    assert len(set(GRID_PHASES)) == 8 and {dx % 8 for dx, _ in GRID_PHASES} >= {0, 2, 4, 6}


def test_a_jpeg_widens_each_dimension_by_what_its_rounding_moves_the_golden_by(monkeypatch) -> None:
    from test_measure_colour_axis import photo, spec

    blue = (55.0, -8.0, -30.0)  # a red print on a ground of nearly its lightness: read on the colour axis
    insp = gv.Inspector(gv.seal([photo(blue, s) for s in range(3)], spec()))
    assert "print_diameter" in insp.golden.meta["dimension_gray_weights"]
    unit = _jpeg(photo(blue, 9), 60)
    r = insp.inspect(unit)
    ju = r.provenance["jpeg"]["dimension_uncertainty_mm"]
    assert set(ju) == {"print_diameter"} and ju["print_diameter"] > 0
    read = r.provenance["jpeg"]["pixel_quality"]
    assert set(insp._jpeg_dim_u) == {5 * int(read // 5)}  # the quality taken down to a step of 5
    # the same photo read without the term: the reading is the same, its uncertainty the smaller one
    calls: list[float] = []
    real = insp._jpeg_dimension_uncertainty
    monkeypatch.setattr(insp, "_jpeg_dimension_uncertainty", lambda q: calls.append(q) or {})
    bare = insp.inspect(unit)
    d1, d0 = r.dimensions[0], bare.dimensions[0]
    assert calls and d1.measured_mm == d0.measured_mm
    exact = insp._jpeg_dim_u[5 * int(read // 5)]["print_diameter"]  # (the record is rounded to 0.1 um)
    assert exact == pytest.approx(ju["print_diameter"], abs=6e-5)
    assert d1.uncertainty_mm == pytest.approx(np.hypot(d0.uncertainty_mm, exact), rel=1e-9)
    monkeypatch.setattr(insp, "_jpeg_dimension_uncertainty", real)
    # qualities within one step share the golden's readings; a photo never compressed gets none
    again = insp.inspect(_jpeg(photo(blue, 10), 60))
    assert 5 * int(again.provenance["jpeg"]["pixel_quality"] // 5) == 5 * int(read // 5)
    assert len(insp._jpeg_dim_u) == 1
    png = insp.inspect(photo(blue, 10))
    assert "dimension_uncertainty_mm" not in png.provenance["jpeg"]


def test_a_dimension_read_on_the_grey_gets_no_jpeg_term() -> None:
    from test_measure_colour_axis import photo, spec

    light, dark = (80.0, 0.0, 5.0), (30.0, 0.0, 0.0)  # a dark disc on a light ground: the grey reads it
    insp = gv.Inspector(gv.seal([photo(light, s, disc_lab=dark) for s in range(3)], spec()))
    assert insp.golden.meta["dimension_gray_weights"] == {}
    r = insp.inspect(_jpeg(photo(light, 9, disc_lab=dark), 60))
    assert r.provenance["jpeg"]["pixel_quality"] is not None
    assert "dimension_uncertainty_mm" not in r.provenance["jpeg"] and insp._jpeg_dim_u == {}
    assert r.dimensions and r.dimensions[0].uncertainty_mm is not None
