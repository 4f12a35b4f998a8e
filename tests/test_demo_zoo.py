"""Tests of the demo's product zoo: each family renders what its ground truth says, in both photo modes."""

from __future__ import annotations

import dataclasses
import json

import colour
import cv2
import numpy as np
import pytest

from goldenvision import demo
from goldenvision.demo import zoo
from goldenvision.demo.scene import _CAM_PX_PER_MM
from goldenvision.errors import SpecError
from goldenvision.spec import load_spec

SIZE = 0.4
FAMILIES = sorted(zoo.FAMILIES)
D65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]


def _apply(h, pts):
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    xyw = pts @ np.asarray(h)[:, :2].T + np.asarray(h)[:, 2]
    return xyw[:, :2] / xyw[:, 2:3]


def _linear(rgb8):
    v = rgb8.astype(np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _lab_of_linear(lin):
    enc = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(np.clip(lin, 0, None), 1 / 2.4) - 0.055)
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(enc, illuminant=D65), illuminant=D65)


def _inside(poly, pts) -> bool:
    c = np.asarray(poly, np.float32).reshape(-1, 1, 2)
    return all(cv2.pointPolygonTest(c, (float(x), float(y)), False) >= 0 for x, y in pts)


def _clean(u, **kw):
    """The unit photographed without noise, JPEG, uneven light or gains (geometry kept)."""
    return dataclasses.replace(u, noise_sigma=0.0, jpeg_quality=0, gains=(1.0, 1.0, 1.0), light=(0.0, 0.0, 0.0), **kw)


def _mask(shape, poly_px):
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(poly_px)).astype(np.int32)], 1)
    return cv2.erode(m, np.ones((3, 3), np.uint8)) > 0


@pytest.fixture(scope="module", params=[(f, m) for f in FAMILIES for m in zoo.MODES], ids=lambda p: f"{p[0]}-{p[1]}")
def lot(request, tmp_path_factory):
    fam, mode = request.param
    return demo.generate_lot(tmp_path_factory.mktemp(f"{fam}_{mode}"), family=fam, mode=mode, seed=3, n_golden=3,
                             n_units=5, size=0.3)


# --------------------------------------------------------------------------------------
# Lots: files, spec, truth
# --------------------------------------------------------------------------------------
def test_lot_files_spec_and_truth(lot):
    t = lot.truth
    ext = ".png" if t["mode"] == "station" else ".jpg"
    assert [p.name for p in lot.golden_paths] == [f"golden_{i:02d}{ext}" for i in range(3)]
    assert [p.name for p in lot.unit_paths] == [f"unit_{i:03d}{ext}" for i in range(5)]
    for p in lot.golden_paths + lot.unit_paths:
        img = cv2.imread(str(p))
        assert img.shape == (360, 480, 3), p
    spec = load_spec(lot.spec_path)
    fam = zoo.FAMILIES[t["family"]]
    assert [c.name for c in spec.colors] == list(fam.color_zones)
    assert [d.name for d in spec.dimensions] == list(fam.dimensions)
    assert [z.name for z in spec.anomaly_zones] == list(fam.anomaly_zones)
    assert (spec.station is not None) == (t["mode"] == "station")
    assert t["n_pass"] + t["n_fail"] == 5 and t["n_fail"] == 2
    for u in t["units"]:
        assert (u["expected_verdict"] == "fail") == bool(u["failing_checks"]) == (u["fault"] != "none")
        assert json.loads((lot.out_dir / "lot" / f"{u['unit_id']}.json").read_text()) == u
        for name, c in u["colors"].items():
            ok = c["delta_e_target"] <= c["tolerance_de00"] and c["delta_e_golden"] <= c["tolerance_de00"]
            assert ok == (f"color:{name}" not in u["failing_checks"])
        for name, v in u["dimensions"].items():
            d = fam.dimensions[name]
            assert (abs(v - d["nominal"]) <= d["tol"]) == (f"dimension:{name}" not in u["failing_checks"])
            if u["fault"] == "dimension" and f"dimension:{name}" in u["failing_checks"]:
                assert 1.7 * d["tol"] <= abs(v - d["nominal"]) <= 2.2 * d["tol"] + 1e-9


def test_same_seed_same_bytes(tmp_path):
    for mode in zoo.MODES:
        a = demo.generate_lot(tmp_path / f"a{mode}", family="label", mode=mode, seed=4, n_golden=1, n_units=1, size=0.3)
        b = demo.generate_lot(tmp_path / f"b{mode}", family="label", mode=mode, seed=4, n_golden=1, n_units=1, size=0.3)
        for p, q in zip(a.golden_paths + a.unit_paths, b.golden_paths + b.unit_paths):
            assert p.read_bytes() == q.read_bytes()
        c = demo.generate_lot(tmp_path / f"c{mode}", family="label", mode=mode, seed=5, n_golden=1, n_units=1, size=0.3)
        assert c.unit_paths[0].read_bytes() != a.unit_paths[0].read_bytes()


def test_golden_of_several_units(tmp_path):
    """golden_units="several": captures 1.. are other good units (own grain, tone, size), capture 0
    is the golden unit as with "one"; the wallet's station lot does the same with its own grain."""
    fam = zoo.FAMILIES["wood"]
    one = [zoo.zoo_golden_capture(fam, i, 2, "handheld") for i in range(3)]
    sev = [zoo.zoo_golden_capture(fam, i, 2, "handheld", "several") for i in range(3)]
    assert sev[0] == one[0] and len({u.texture_seed for u in one}) == 1
    assert len({u.texture_seed for u in sev}) == 3
    for a, b in zip(one[1:], sev[1:]):
        # the same photo (pose, camera, light), another unit in it
        assert (a.pose, a.camera, a.gains) == (b.pose, b.camera, b.gains)
        assert a.labs != b.labs and a.dims != b.dims and b.defects == () and b.fault == "none"
    lots = {k: demo.generate_lot(tmp_path / k, family="wallet", mode="station", seed=1, n_golden=2, n_units=1, size=0.3,
                                 golden_units=k) for k in ("one", "several")}
    g = {k: [cv2.imread(str(p)).astype(np.int16) for p in lot.golden_paths] for k, lot in lots.items()}
    assert np.array_equal(g["one"][0], g["several"][0])
    assert np.abs(g["one"][1] - g["several"][1]).mean() > 0.3  # another grain in the same photo
    with pytest.raises(SpecError, match="golden_units"):
        demo.generate_lot(tmp_path / "x", family="label", golden_units="many", n_golden=1, n_units=1, size=0.3)


def test_bad_family_or_mode_is_refused(tmp_path):
    with pytest.raises(SpecError, match="family"):
        demo.generate_lot(tmp_path, family="teapot")
    with pytest.raises(SpecError, match="mode"):
        demo.generate_lot(tmp_path, family="label", mode="drone")
    with pytest.raises(SpecError, match="kind"):
        zoo.FAMILIES["part"].defect_footprint(zoo.ZooDefect("dent"), zoo.FAMILIES["part"].golden_unit())


def test_handheld_photos_vary_as_specified(tmp_path):
    fam = zoo.FAMILIES["label"]
    units = [zoo.make_zoo_unit(fam, i, "none", 9, "handheld") for i in range(30)]
    cams = np.array([u.camera for u in units])
    assert np.abs(cams[:, 0]).max() <= 15.0 and np.abs(cams[:, 0]).max() > 10.0
    assert np.abs(cams[:, 1:3]).max() <= 7.0 and np.hypot(cams[:, 1], cams[:, 2]).max() < 10.0
    assert 0.9 <= cams[:, 3].min() and cams[:, 3].max() <= 1.1 and np.ptp(cams[:, 3]) > 0.1
    assert {u.marker for u in units} == {"none", "aruco", "ruler"}
    assert all(80 <= u.jpeg_quality <= 94 for u in units)
    # the physical unit does not depend on the photo mode
    s = zoo.make_zoo_unit(fam, 3, "smear", 9, "station")
    h = zoo.make_zoo_unit(fam, 3, "smear", 9, "handheld")
    assert (s.labs, s.dims, s.variation, s.texture_seed, s.defects) == (h.labs, h.dims, h.variation, h.texture_seed, h.defects)


# --------------------------------------------------------------------------------------
# Defects: inside their zones, change pixels only there, visible
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_defect_boxes_inside_their_zones(family):
    fam = zoo.FAMILIES[family]
    for mode in zoo.MODES:
        for kind in fam.defect_zone:
            for seed in range(6):
                u = zoo.make_zoo_unit(fam, seed, kind, seed, mode)
                t = zoo.zoo_truth(fam, u, seed, SIZE)
                (d,) = t["defects"]
                zone = zoo.golden_px_of(fam, mode, seed, SIZE, fam.anomaly_zones[d["zone"]]["polygon_mm"])
                x1, y1, x2, y2 = d["bbox"]
                # the box's part on the product lies in the zone (a zone is drawn on the product: an
                # edge defect's axis-aligned box on a round outline reaches past it onto the ground)
                body = zoo.golden_px_of(fam, mode, seed, SIZE, fam.outline_mm) if fam.outline_mm else None
                corners = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
                on_body = [p for p in corners if body is None or _inside(body, [p])]
                assert _inside(zone, on_body + [((x1 + x2) / 2, (y1 + y2) / 2)]), (family, mode, kind, seed, d["bbox"])
                assert d["area_mm2"] > 0.3 and x2 > x1 and y2 > y1


#: Grey levels a defect changes at least (clean photo, size 0.5), where a family's defect is fainter
#: than 12 by design: a short-shot lug of the black rubber sole shows only as its missing relief
#: (lug top +2-3 L*, walls ±3.5 L*: some 9 grey levels at L* 27).
_MIN_VISIBLE = {("sole", "short_shot"): 6}


@pytest.mark.parametrize("family", FAMILIES)
def test_defect_changes_pixels_only_inside_its_bbox(family):
    fam = zoo.FAMILIES[family]
    for kind in fam.defect_zone:
        u = _clean(zoo.make_zoo_unit(fam, 1, kind, 2, "station"))
        bad = zoo.photograph_unit(fam, u, 0.5).astype(int)
        good = zoo.photograph_unit(fam, dataclasses.replace(u, defects=()), 0.5).astype(int)
        diff = np.abs(bad - good).max(axis=2)
        box, _ = fam.defect_footprint(u.defects[0], u)
        cam = _apply(zoo.camera_of(u, 0.5) @ zoo.pose_of(u), [(box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])])
        ys, xs = np.nonzero(diff > 1)
        assert xs.size > 0 and diff.max() >= _MIN_VISIBLE.get((family, kind), 12), (kind, diff.max())  # visible
        assert xs.min() >= cam[:, 0].min() - 1.5 and xs.max() <= cam[:, 0].max() + 1.5, kind
        assert ys.min() >= cam[:, 1].min() - 1.5 and ys.max() <= cam[:, 1].max() + 1.5, kind


# --------------------------------------------------------------------------------------
# Colour and production variation
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", zoo.MODES)
def test_zone_mean_lab_is_the_true_lab(family, mode):
    fam = zoo.FAMILIES[family]
    u = zoo.make_zoo_unit(fam, 5, "none", 1, mode)
    # hand-held: gains and uneven light divided out, JPEG off (its loss is not a surface colour)
    u = dataclasses.replace(u, noise_sigma=0.0, jpeg_quality=0)
    rgb = zoo.photograph_unit(fam, u, 0.5)
    lin = _linear(rgb) / np.asarray(u.gains) / zoo.light_field(u, 0.5)[..., None]
    lab = _lab_of_linear(lin)
    h = zoo.camera_of(u, 0.5) @ zoo.pose_of(u)
    for name, z in fam.color_zones.items():
        m = _mask(rgb.shape[:2], _apply(h, z["polygon_mm"]))
        de = float(colour.difference.delta_E_CIE2000(lab[m].mean(axis=0), np.array(u.lab(name))))
        assert de < 0.25, (name, de)


@pytest.mark.parametrize("family", FAMILIES)
def test_good_units_differ_as_production_does(family):
    fam = zoo.FAMILIES[family]
    goods = [zoo.make_zoo_unit(fam, i, "none", 8, "station") for i in range(4)]
    assert len({u.texture_seed for u in goods}) == 4 and len({u.variation for u in goods}) == 4
    assert len({u.labs for u in goods}) == 4 and len({u.dims for u in goods}) == 4
    g = fam.golden_unit()
    # photographed alike (golden pose, nominal camera), their surfaces still differ
    imgs = [zoo.photograph_unit(fam, _clean(u, pose=g.pose, camera=g.camera), SIZE).astype(int) for u in goods]
    h = zoo.camera_of(goods[0], SIZE) @ zoo.zoo_pose(mode="station")
    inner = np.asarray(fam.outline_mm) * 0.8
    m = _mask(imgs[0].shape[:2], _apply(h, inner))
    for a in range(4):
        for b in range(a + 1, 4):
            assert np.abs(imgs[a] - imgs[b])[m].mean() > 0.3


# --------------------------------------------------------------------------------------
# Dimensions: the truth is what is rendered
# --------------------------------------------------------------------------------------
def _edge_x(row: np.ndarray, x_true: float, w: int = 4, plateau: int = 3) -> float:
    """Edge position along a row (area method in linear light) near ``x_true``."""
    c = int(np.floor(x_true))
    left = row[c - w - plateau: c - w].mean()
    right = row[c + w + 1: c + w + 1 + plateau].mean()
    win = row[c - w: c + w + 1]
    return c - w - 0.5 + float(np.sum((win - right) / (left - right)))


def test_label_dimensions_are_the_rendered_edges():
    fam = zoo.FAMILIES["label"]
    ppm = _CAM_PX_PER_MM * 0.5
    for i, fault in enumerate(["none", "dimension", "dimension", "none"]):
        u = _clean(zoo.make_zoo_unit(fam, i + 20, fault, 4, "station"), pose=(0.0, 0.0, 0.0),
                   camera=(0.0, 0.0, 0.0, 1.0, 0.0, 0.0))
        lin = _linear(zoo.photograph_unit(fam, u, 0.5)).mean(axis=2)
        h = zoo.camera_of(u, 0.5) @ zoo.pose_of(u)
        # label width along rows through the blank bottom strip
        w_true = u.dim("label_width")
        (xl, y0), (xr, _) = _apply(h, [(-w_true / 2, 19.5), (w_true / 2, 19.5)])
        (_, y1), = _apply(h, [(0.0, 21.5)])
        widths = [(_edge_x(lin[y], xr) - _edge_x(lin[y], xl)) / ppm for y in range(int(np.ceil(y0)), int(y1) + 1)]
        assert np.mean(widths) == pytest.approx(w_true, abs=0.03), (np.mean(widths), w_true)
        # band height along columns at x = 30 mm: the band is a dark bar on paper (area of the bar)
        (xc, yt), (_, yb) = _apply(h, [(30.0, -22.0 + u.var("print_dy_mm")), (30.0, -22.0 + u.var("print_dy_mm") + u.dim("band_height"))])
        col = lin[:, int(round(xc)) - 2: int(round(xc)) + 3].mean(axis=1)
        a, b = int(np.floor(yt)) - 5, int(np.ceil(yb)) + 5
        paper = np.r_[col[a - 3: a], col[b + 1: b + 4]].mean()
        band = col[int(yt) + 5: int(yb) - 5].mean()
        height = float(np.sum((paper - col[a: b + 1]) / (paper - band))) / ppm
        assert height == pytest.approx(u.dim("band_height"), abs=0.03), (height, u.dim("band_height"))


def test_part_dimensions_are_the_rendered_geometry():
    """Widths and diameters from the texture's coverage (exact box-filter areas) and the outer
    edges in the photo (the plate against the platen, area method) where the truth puts them."""
    fam = zoo.FAMILIES["part"]
    for i, fault in enumerate(["none", "dimension", "dimension", "dimension", "none"]):
        u = _clean(zoo.make_zoo_unit(fam, i + 30, fault, 6, "station"), pose=(0.0, 0.0, 0.0),
                   camera=(0.0, 0.0, 0.0, 1.0, 0.0, 0.0))
        rgba, a = zoo.product_texture(fam, u, 0.5)
        alpha = rgba[..., 3].astype(np.float64)
        t = a[0, 0]
        ij = lambda x, y, a=a, t=t: (int(round((y - a[1, 2]) / t)), int(round((x - a[0, 2]) / t)))  # noqa: E731
        r, _ = ij(0.0, 9.8)
        assert alpha[r].sum() * t == pytest.approx(u.dim("part_width"), abs=0.01)
        _, c = ij(14.0, 0.0)
        assert alpha[:, c].sum() * t == pytest.approx(u.dim("part_height"), abs=0.01)
        for name, (cx, cy), half in (("hole_diameter", (28.0, 14.0), 3.2), ("bore_diameter", (0.0, 0.0), 5.8)):
            r0, c0 = ij(cx - half, cy - half)
            r1, c1 = ij(cx + half, cy + half)
            hole_area = (1.0 - alpha[r0:r1, c0:c1]).sum() * t * t
            assert 2 * np.sqrt(hole_area / np.pi) == pytest.approx(u.dim(name), abs=0.01), name
        # the photo: right edge of the plate (bevel in shade) against the platen, rows clear of features
        lin = _linear(zoo.photograph_unit(fam, u, 0.5)).mean(axis=2)
        h = zoo.camera_of(u, 0.5) @ zoo.pose_of(u)
        w = u.dim("part_width")
        ys = [int(round(_apply(h, [(0.0, y)])[0, 1])) for y in np.linspace(-6.0, 6.0, 9)]
        (xr, _), (xl, _) = _apply(h, [(w / 2, 0.0), (-w / 2, 0.0)])
        # area method with plateaus beyond the 0.6 mm bevel: the step is platen -> plastic
        errs_r = [_edge_x(lin[y], xr, w=5, plateau=3) - xr for y in ys]
        errs_l = [_edge_x(lin[y], xl, w=5, plateau=3) - xl for y in ys]
        # the lit / shaded bevel lies inside the window and biases the area estimate by about 0.1 px (< 0.2)
        assert abs(np.mean(errs_r)) < 0.2 and abs(np.mean(errs_l)) < 0.2, (np.mean(errs_l), np.mean(errs_r))


# --------------------------------------------------------------------------------------
# Hand-held geometry: outline and markers where the truth says
# --------------------------------------------------------------------------------------
def _profile_edge(lin, p_px, n_px, half=6, step=0.25):
    """50 % crossing along the normal through ``p_px`` (linear light, bilinear samples), px from p."""
    s = np.arange(-half, half + step / 2, step)
    pts = p_px[None, :] + s[:, None] * n_px[None, :]
    v = cv2.remap(lin.astype(np.float32), pts[:, 0:1].astype(np.float32), pts[:, 1:2].astype(np.float32), cv2.INTER_LINEAR).ravel()
    a, b = v[: int(2 / step)].mean(), v[-int(2 / step):].mean()
    mid = (a + b) / 2
    k = np.nonzero(np.diff(np.sign(v - mid)))[0]
    k = k[np.argmin(np.abs(s[k]))]
    return s[k] + (mid - v[k]) / (v[k + 1] - v[k]) * step


def test_handheld_outline_and_marker_at_their_true_place():
    fam = zoo.FAMILIES["label"]
    for i in range(3):
        u0 = zoo.make_zoo_unit(fam, i, "none", 12, "handheld")
        u = dataclasses.replace(u0, noise_sigma=0.0, jpeg_quality=0)
        lin = _linear(zoo.photograph_unit(fam, u, 0.5)).mean(axis=2)
        h = zoo.camera_of(u, 0.5) @ zoo.pose_of(u)
        errs = []
        w, hh = u.dim("label_width") / 2, 25.0
        for x_mm, y_mm, nx, ny in ([(-w, y, -1, 0) for y in np.linspace(-15, 18, 8)] + [(w, y, 1, 0) for y in np.linspace(-15, 18, 8)]
                                   + [(x, hh, 0, 1) for x in np.linspace(-30, 30, 8)]):
            p, q = _apply(h, [(x_mm, y_mm), (x_mm + nx, y_mm + ny)])
            n = (q - p) / np.linalg.norm(q - p)
            errs.append(_profile_edge(lin, p, n))
        # the 50 % crossing in linear light sits on the true outline (blur is symmetric)
        assert abs(np.mean(errs)) < 0.1 and np.abs(errs).max() < 0.3, (np.mean(errs), np.abs(errs).max())
        t = zoo.zoo_truth(fam, u0, 12, 0.5)
        if u0.marker == "aruco":
            # the real photo (noise, JPEG, uneven light): OpenCV finds the marker at its true corners
            rgb = zoo.photograph_unit(fam, u0, 0.5)
            params = cv2.aruco.DetectorParameters()
            params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
            det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), params)
            corners, ids, _ = det.detectMarkers(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
            assert ids is not None and ids.ravel().tolist() == [7]
            assert np.abs(corners[0].reshape(4, 2) - np.asarray(t["scale_marker"]["points_px"])).max() < 0.8
        elif u0.marker == "none":
            assert t["scale_marker"] is None
        else:
            assert t["scale_marker"]["kind"] == "ruler" and t["scale_marker"]["size_mm"] == 100.0


def test_handheld_unit_to_golden_is_the_true_registration():
    fam = zoo.FAMILIES["part"]
    u = zoo.make_zoo_unit(fam, 4, "none", 2, "handheld")
    t = zoo.zoo_truth(fam, u, 2, SIZE)
    corners = np.asarray(fam.outline_mm)
    unit_px = _apply(t["camera_homography"], _apply(t["product_pose"], corners))
    golden = zoo.golden_px_of(fam, "handheld", 2, SIZE, corners)
    assert np.abs(_apply(t["unit_to_golden_px"], unit_px) - golden).max() < 1e-6
    # golden_00 is square-on at the nominal scale: the spec's scale is its mm per px
    spec = zoo.build_zoo_spec(fam, "handheld", SIZE, 2)
    d = golden[1] - golden[0]
    assert np.linalg.norm(d) * spec["scale_mm_per_px"] == pytest.approx(72.0, rel=1e-9)


def test_apparel_dimensions_are_the_rendered_edges():
    """Panel width from its cut edges (rows, area method) and the print's diameter from the red
    disc's area (red minus blue channel, linear light), as the truth says."""
    fam = zoo.FAMILIES["apparel"]
    ppm = _CAM_PX_PER_MM * 0.5
    for i, fault in enumerate(["none", "dimension", "dimension", "none"]):
        u = _clean(zoo.make_zoo_unit(fam, i + 40, fault, 5, "station"), pose=(0.0, 0.0, 0.0),
                   camera=(0.0, 0.0, 0.0, 1.0, 0.0, 0.0))
        lin3 = _linear(zoo.photograph_unit(fam, u, 0.5))
        lin = lin3.mean(axis=2)
        h = zoo.camera_of(u, 0.5) @ zoo.pose_of(u)
        w_true = u.dim("panel_width")
        widths = []
        for y_mm in np.linspace(-20.0, 20.0, 41):
            (xl, y), (xr, _) = _apply(h, [(-w_true / 2, y_mm), (w_true / 2, y_mm)])
            y = int(round(y))
            widths.append((_edge_x(lin[y], xr) - _edge_x(lin[y], xl)) / ppm)
        # the weave's relief (1.3 L*) next to the edge scatters each row; the mean is the width
        assert np.mean(widths) == pytest.approx(w_true, abs=0.05), (np.mean(widths), w_true)
        # print disc: red minus blue is ink against fabric; the white "GV" lies well inside, so
        # the disc's area = pixels inside 0.75 r + the ink fraction of each pixel of the ring
        cx, cy = _apply(h, [(8.0 + u.var("print_dx_mm"), -6.0 + u.var("print_dy_mm"))])[0]
        r_true = u.dim("print_diameter") / 2 * ppm
        v = lin3[..., 0] - lin3[..., 2]
        yy, xx = np.mgrid[0: v.shape[0], 0: v.shape[1]]
        rho = np.hypot(xx - cx, yy - cy)
        ink = v[(rho > 0.75 * r_true) & (rho < r_true - 3)].mean()
        fabric = v[(rho > r_true + 3) & (rho < r_true + 8)].mean()
        ring = (rho >= 0.75 * r_true) & (rho <= r_true + 6)
        area = np.sum((v[ring] - fabric) / (ink - fabric)) + np.sum(rho < 0.75 * r_true)
        d_mm = 2 * np.sqrt(area / np.pi) / ppm
        assert d_mm == pytest.approx(u.dim("print_diameter"), abs=0.05), (d_mm, u.dim("print_diameter"))


def _crossing(col: np.ndarray, y_edge: float, inward: int) -> float:
    """Position of the 50 % level between the background (4-6 px outside the edge) and the part
    just inside it (1.5 px in), by linear interpolation along the profile."""
    y = np.arange(col.size, dtype=np.float64)
    outside = np.interp(y_edge - inward * np.array([4.0, 5.0, 6.0]), y, col).mean()
    inside = np.interp(y_edge + inward * 1.5, y, col)
    mid = (outside + inside) / 2
    s = np.arange(-3.0, 3.0001, 0.01)
    v = np.interp(y_edge + inward * s, y, col)
    k = int(np.argmin(np.abs(v - mid)))
    return y_edge + inward * s[k]


def test_hardware_dimensions_are_the_rendered_edges():
    """Chain width across one element and slider width across the body: metal bars on the dark tape,
    each edge at the 50 % level between the tape and the metal's rim (the rims are shaded)."""
    fam = zoo.FAMILIES["hardware"]
    ppm = _CAM_PX_PER_MM * 1.0
    for i, fault in enumerate(["none", "dimension", "dimension"]):
        u = _clean(zoo.make_zoo_unit(fam, i + 50, fault, 7, "station"), pose=(0.0, 0.0, 0.0),
                   camera=(0.0, 0.0, 0.0, 1.0, 0.0, 0.0))
        lin = _linear(zoo.photograph_unit(fam, u, 1.0)).mean(axis=2)
        h = zoo.camera_of(u, 1.0) @ zoo.pose_of(u)
        for name, x_mm in (("chain_width", -25.5 + u.var("chain_phase_mm")), ("slider_width", 15.5)):
            half = u.dim(name) / 2
            (xc, yt), (_, yb) = _apply(h, [(x_mm, -half), (x_mm, half)])
            c = int(round(xc))
            col = lin[:, c - 1: c + 2].mean(axis=1)
            w = (_crossing(col, yb, -1) - _crossing(col, yt, +1)) / ppm
            assert w == pytest.approx(u.dim(name), abs=0.04), (name, w, u.dim(name))


def test_jewellery_dimensions_are_the_rendered_edges():
    """Pendant width at the 50 % level of its dark polished rim against the platen; the centre
    stone's diameter from its dark area inside the flat bezel (facets average out over angles)."""
    fam = zoo.FAMILIES["jewellery"]
    ppm = _CAM_PX_PER_MM * 1.0
    for i, fault in enumerate(["none", "dimension", "dimension"]):
        u = _clean(zoo.make_zoo_unit(fam, i + 60, fault, 8, "station"), pose=(0.0, 0.0, 0.0),
                   camera=(0.0, 0.0, 0.0, 1.0, 0.0, 0.0))
        lin = _linear(zoo.photograph_unit(fam, u, 1.0)).mean(axis=2)
        h = zoo.camera_of(u, 1.0) @ zoo.pose_of(u)
        hw = u.dim("pendant_width") / 2
        widths = []
        for y_mm in np.linspace(1.5, 3.5, 9):
            (xl, y), (xr, _) = _apply(h, [(-hw, y_mm), (hw, y_mm)])
            row = lin[int(round(y))]
            widths.append((_crossing(row, xr, -1) - _crossing(row, xl, +1)) / ppm)
        assert np.mean(widths) == pytest.approx(2 * hw, abs=0.04), (np.mean(widths), 2 * hw)
        (cx, cy), = _apply(h, [(0.0, -5.0)])
        r = u.dim("stone_diameter") / 2 * ppm
        yy, xx = np.mgrid[0: lin.shape[0], 0: lin.shape[1]]
        rho = np.hypot(xx - cx, yy - cy)
        stone = lin[(rho > 0.55 * r) & (rho < r - 2.5)].mean()
        bezel = lin[(rho > r + 1.5) & (rho < r + 0.55 * 0.7 * ppm)].mean()
        ring = (rho >= 0.55 * r) & (rho <= r + 1.5)
        area = np.sum((bezel - lin[ring]) / (bezel - stone)) + np.sum(rho < 0.55 * r)
        d = 2 * np.sqrt(area / np.pi) / ppm
        assert d == pytest.approx(u.dim("stone_diameter"), abs=0.04), (d, u.dim("stone_diameter"))


def test_handheld_frames_hold_product_and_marker_apart():
    """Whatever the hand-held pose: the whole product and its marker are in the frame, and the
    marker (with its quiet zone or strip) never lies on the product."""
    from goldenvision.demo.zoo.camera import zoo_pose

    w, h = 480, 360  # size 0.3
    for name, fam in zoo.FAMILIES.items():
        b = np.asarray(fam.box_mm) + [2.0, 2.0, -2.0, -2.0]  # the texture box less its empty margin
        for i in range(40):
            u = zoo.make_zoo_unit(fam, i, "none", 100 + i, "handheld")
            cam = zoo.camera_of(u, 0.3)
            prod = _apply(cam @ zoo.pose_of(u), [(b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3])])
            assert prod.min() > 0 and prod[:, 0].max() < w - 1 and prod[:, 1].max() < h - 1, (name, i)
            if u.marker == "none":
                continue
            hx, hy = (14.0, 14.0) if u.marker == "aruco" else (57.0, 7.5)
            x, y, ang = u.marker_pose
            mk = _apply(cam @ zoo_pose(ang, x, y, mode="handheld"), [(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)])
            assert mk.min() > 0 and mk[:, 0].max() < w - 1 and mk[:, 1].max() < h - 1, (name, i, u.marker)
            outline = np.asarray(fam.outline_mm, np.float64)
            po = _apply(cam @ zoo.pose_of(u), outline)
            inter, _ = cv2.intersectConvexConvex(po.astype(np.float32), mk.astype(np.float32))
            assert inter == 0.0, (name, i, u.marker)


def test_station_unit_to_golden_is_the_true_registration():
    """Station: rectified unit px (the profile's metric frame) -> golden px, exact on material points."""
    fam = zoo.FAMILIES["apparel"]
    u = zoo.make_zoo_unit(fam, 2, "none", 3, "station")
    t = zoo.zoo_truth(fam, u, 3, SIZE)
    prof = demo.demo_profile(SIZE)
    pts = np.asarray(fam.outline_mm, np.float64)
    rectified = prof.mm_to_px(_apply(t["product_pose"], pts))
    assert np.abs(_apply(t["unit_to_golden_px"], rectified) - zoo.golden_px_of(fam, "station", 3, SIZE, pts)).max() < 1e-6
    # and the spec's calipers sit on the golden image of their product-mm centres
    spec = zoo.build_zoo_spec(fam, "station", SIZE, 3)
    for d in spec["dimensions"]:
        src = fam.dimensions[d["name"]]
        c = (src.get("caliper_mm") or src["circle_mm"])["center"]
        tool = d.get("caliper") or d["circle"]
        assert np.allclose(tool["center"], zoo.golden_px_of(fam, "station", 3, SIZE, [c])[0], atol=1e-3)


def test_wallet_handheld_is_the_station_wallet_photographed_by_hand(tmp_path):
    from goldenvision.demo.zoo.wallet import WalletHandheld

    fam = WalletHandheld()
    lot = demo.generate_lot(tmp_path, family="wallet", mode="handheld", seed=2, n_golden=2, n_units=5, size=0.3)
    spec = load_spec(lot.spec_path)
    assert spec.station is None and [c.name for c in spec.colors] == ["panel", "logo"]
    assert all(p.suffix == ".jpg" for p in lot.unit_paths) and lot.truth["n_fail"] == 2
    for kind in ("scratch", "skipped_stitch", "stain", "missing_print"):
        u = zoo.make_zoo_unit(fam, 3, kind, 2, "handheld")
        station = demo._make_unit(3, kind, 2)  # the same physical unit as in the station lot
        assert u.labs == (("panel", station.panel_lab), ("logo", station.logo_lab)) and u.defects == station.defects
        assert u.dim("strap_width") == station.strap_width_mm and u.marker == "none"
        (d,) = zoo.zoo_truth(fam, u, 2, 0.3)["defects"]
        zone = zoo.golden_px_of(fam, "handheld", 2, 0.3, fam.anomaly_zones[d["zone"]]["polygon_mm"])
        x1, y1, x2, y2 = d["bbox"]
        assert _inside(zone, [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]), kind
    # the panel's left edge where the truth puts it
    u = dataclasses.replace(zoo.make_zoo_unit(fam, 1, "none", 2, "handheld"), noise_sigma=0.0, jpeg_quality=0)
    lin = _linear(zoo.photograph_unit(fam, u, 0.5)).mean(axis=2)
    h = zoo.camera_of(u, 0.5) @ zoo.pose_of(u)
    x = -u.dim("panel_width") / 2
    errs = []
    for y in np.linspace(5.0, 28.0, 10):
        p, q = _apply(h, [(x, y), (x - 1.0, y)])
        errs.append(_profile_edge(lin, p, (q - p) / np.linalg.norm(q - p)))
    assert abs(np.mean(errs)) < 0.1, np.mean(errs)


def test_a_lot_of_another_jpeg_quality_photographs_the_same_units_alike() -> None:
    from goldenvision.demo.zoo import FAMILIES as ZOO
    from goldenvision.demo.zoo.lot import UNIT_JPEG_QUALITY, make_zoo_unit

    fam = ZOO["part"]
    for i in range(6):
        a = make_zoo_unit(fam, i, "none", 0, "handheld")
        b = make_zoo_unit(fam, i, "none", 0, "handheld", jpeg_quality=(50, 60))
        assert UNIT_JPEG_QUALITY[0] <= a.jpeg_quality <= UNIT_JPEG_QUALITY[1] and 50 <= b.jpeg_quality <= 60
        assert (a.pose, a.camera, a.light, a.noise_seed, a.gains) == (b.pose, b.camera, b.light, b.noise_seed, b.gains)
    with pytest.raises(SpecError, match="jpeg_quality"):
        make_zoo_unit(fam, 0, "none", 0, "handheld", jpeg_quality=(90, 80))
