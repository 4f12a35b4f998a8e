"""Patch-feature aggregation and inputs of the feature methods (the backbone only where marked)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from goldenvision.anomaly import AnomalyConfig, AnomalyModel, backbone_available
from goldenvision.anomaly import zone_features as ZF
from goldenvision.spec import AnomalyZone


def test_pool_features_is_the_neighbourhood_mean():
    f = np.zeros((7, 9, 10), np.float32)
    f[3, 4, :] = 9.0
    p = ZF.pool_features(f, 1)
    assert p.shape == f.shape and p.dtype == np.float32
    np.testing.assert_allclose(p[2:5, 3:6], 1.0, atol=1e-6)  # 9 spread over the 3 x 3 cells
    assert p[0, 0].max() == 0.0 and p[3, 6].max() == 0.0
    assert ZF.pool_features(f, 0) is f


def test_cell_evidence_is_averaged_so_a_region_outscores_a_single_cell():
    img = np.full((64, 64, 3), 128, np.uint8)
    model = AnomalyModel.fit([img] * 3, [AnomalyZone(name="z", method="variation")],
                             config=AnomalyConfig(feature_scale=1.0))
    one = np.zeros((8, 8), np.float32)
    one[4, 4] = 1.0
    block = np.zeros((8, 8), np.float32)
    block[3:6, 3:6] = 1.0
    s_one, s_block = ZF.cells_to_px(model, one).max(), ZF.cells_to_px(model, block).max()
    assert s_one < 0.5 * s_block and s_block > 0.5


def _good_cells(rng: np.random.Generator, shape=(60, 40)) -> np.ndarray:
    """A normalised good cell map: about 1.0 with independent cell noise."""
    return (1.0 + 0.3 * rng.standard_normal(shape)).astype(np.float32)


def _nulls(goods: list[np.ndarray]) -> np.ndarray:
    return np.median([[s.max() for s in ZF.shape_maps(g)] for g in goods], axis=0).astype(np.float32)


def test_line_evidence_adds_up_along_a_thin_crack_at_any_orientation():
    rng = np.random.default_rng(0)
    goods = [_good_cells(rng) for _ in range(40)]
    null = _nulls(goods)
    assert null.shape == (2,) and null[1] < null[0]  # averaging along a line is quieter
    good_max = max(ZF.aggregate_cells(g, null).max() for g in goods)
    good_iso = max(ZF.aggregate_cells(g).max() for g in goods)
    for angle in (0.0, 30.0, 90.0, 135.0):
        crack = _good_cells(rng)
        t = np.deg2rad(angle)
        for s in np.arange(-10, 11):  # a one-cell-wide line 21 cells long, 1.0 above the goods
            y, x = int(round(30 + s * np.sin(t))), int(round(20 + s * np.cos(t)))
            if 0 <= y < 60 and 0 <= x < 40:
                crack[y, x] += 1.0
        agg = ZF.aggregate_cells(crack, null)
        assert agg.max() > 1.12 * good_max, angle
        y, x = np.unravel_index(np.argmax(agg), agg.shape)
        assert abs(y - 30) <= 11 and abs(x - 20) <= 11
        # the isotropic average alone does not lift the crack above the goods' maxima
        assert ZF.aggregate_cells(crack).max() < 1.15 * good_iso


def test_round_defects_are_still_found_by_the_isotropic_shape():
    rng = np.random.default_rng(1)
    goods = [_good_cells(rng) for _ in range(40)]
    null = _nulls(goods)
    good_max = max(ZF.aggregate_cells(g, null).max() for g in goods)
    stain = _good_cells(rng)
    stain[28:32, 18:22] += 1.2  # a round 4 x 4 cell stain
    agg = ZF.aggregate_cells(stain, null)
    assert agg.max() > 1.3 * good_max
    iso, line = ZF.shape_maps(stain)
    assert iso.max() / null[0] > line.max() / null[1]  # it is the isotropic shape that finds it
    # without nulls (a model from before the shapes) the map is the isotropic average alone
    np.testing.assert_array_equal(ZF.aggregate_cells(stain), iso)


def test_feature_input_fills_pixels_without_unit_data_with_the_golden_mean():
    rng = np.random.default_rng(2)
    golden = rng.integers(60, 200, (48, 40, 3)).astype(np.uint8)
    model = AnomalyModel.fit([golden] * 3, [AnomalyZone(name="z", method="variation")],
                             config=AnomalyConfig(feature_scale=1.0, blur_sigma_px=0))
    unit = np.clip(golden.astype(np.float32) * 1.25, 0, 255).astype(np.uint8)  # brighter light
    unit[0] = 0  # a warp's black fill on the first row
    valid = np.ones((48, 40), bool)
    valid[0] = False
    out = ZF.gain_corrected(model, unit, valid)
    mean = np.clip(model.mean_ + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out[0], mean[0])  # the fill is replaced by the golden
    assert np.abs(out[1:].astype(int) - golden[1:].astype(int)).max() <= 2  # the gain is removed elsewhere


def _variation_model(shape=(64, 64)) -> AnomalyModel:
    img = np.full(shape + (3,), 128, np.uint8)
    return AnomalyModel.fit([img] * 3, [AnomalyZone(name="z", method="variation")],
                            config=AnomalyConfig(feature_scale=1.0))


def test_clipped_pixels_mark_their_cells_unless_the_photo_is_mostly_clipped():
    model = _variation_model()
    img = np.full((64, 64, 3), 180, np.uint8)
    img[20:27, 41:46] = (255, 252, 251)  # a specular spot, JPEG-rounded below the top level
    img[50, 10, 1] = 250  # one clipped channel is enough
    cells = ZF.clipped_cells(model, img, (8, 8))
    expect = np.zeros((8, 8), bool)
    expect[2:4, 5] = True
    expect[6, 1] = True
    np.testing.assert_array_equal(cells, expect)
    img[:] = 249  # just below the clip level: nothing is marked
    assert not ZF.clipped_cells(model, img, (8, 8)).any()
    img[:, :40] = 255  # an overexposed photo (62 % of the cells): scored as it is
    assert not ZF.clipped_cells(model, img, (8, 8)).any()


def test_no_data_cells_carry_no_evidence_and_stay_out_of_the_banks():
    bank = np.arange(3 * 2 * 2 * 4, dtype=np.float32).reshape(3, 2, 2, 4)
    bank[0, 0, 0] = np.nan
    bank[:, 1, 1] = np.nan  # no image has data there
    out = ZF._nan_free(bank.copy())
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[0, 0, 0], bank[1, 0, 0])  # a sample with data at the same cell
    np.testing.assert_array_equal(out[1:, 0, 0], bank[1:, 0, 0])
    model = _variation_model()
    cells = np.zeros((8, 8), np.float32)
    cells[3:6, 3:6] = 2.0
    with_gap = cells.copy()
    with_gap[3:6, 3:6] = np.nan
    assert ZF.cells_to_px(model, with_gap).max() == 0.0  # a no-data cell scores nothing
    assert ZF.cells_to_px(model, cells).max() > 1.0


def _grain(h: int, w: int, seed: int) -> np.ndarray:
    """Leather-like grain: blurred noise, different each call (as ``test_anomaly.texture``)."""
    n = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5)
    return np.clip(np.array([120, 80, 50], np.float32) + 18 * (n / n.std())[..., None], 0, 255).astype(np.uint8)


@pytest.mark.skipif(not backbone_available(), reason="ONNX backbone not shipped")
def test_a_clipped_specular_spot_is_no_evidence_but_a_stain_still_is(monkeypatch):
    cfg = AnomalyConfig(feature_scale=1.0, texture_bank=500)
    caps = [_grain(128, 160, s) for s in range(5)]
    cv2.circle(caps[1], (40, 30), 6, (255, 255, 255), -1)  # a golden capture with a glint
    zone = AnomalyZone(name="leather", defect_type="finish", method="texture")
    model = AnomalyModel.fit(caps, [zone], config=cfg)
    assert np.isfinite(model.tex_banks_["leather"].astype(np.float32)).all()
    assert all(np.isfinite(v).all() for v in model.feat_norms_.values())
    glint = _grain(128, 160, 97)
    cv2.circle(glint, (80, 64), 20, (255, 255, 255), -1)  # a specular highlight: the sensor clipped
    assert model.score(glint).score < 1.0
    stain = _grain(128, 160, 97)
    cv2.circle(stain, (80, 64), 20, (60, 40, 30), -1)  # a dark stain of the same size: a defect
    assert model.score(stain).score >= 1.0
    monkeypatch.setattr(ZF, "CLIP_LEVEL", 256)  # without the clip mask the glint was a defect
    assert AnomalyModel.fit(caps, [zone], config=cfg).score(glint).score >= 1.0


@pytest.mark.skipif(not backbone_available(), reason="ONNX backbone not shipped")
def test_a_mirrored_margin_gives_edge_cells_mirrored_context_not_zero_padding():
    from goldenvision.anomaly import get_backbone
    from goldenvision.errors import ImageError

    bb = get_backbone()
    img = _grain(192, 256, 3)
    plain = bb.features(img, tile_px=1024)
    framed = bb.features(img, tile_px=1024, margin_px=32)
    assert framed.shape == plain.shape == (24, 32, 152)
    # the same as running the backbone on the explicitly mirrored image and cropping 4 cells
    ref = bb.features(np.pad(img, ((32, 32), (32, 32), (0, 0)), mode="reflect"), tile_px=1024)[4:-4, 4:-4]
    assert np.allclose(framed, ref, atol=1e-5)
    # inside, far from the frame, the margin changes little; at the frame edge it is what differs
    d = np.abs(framed - plain).mean(axis=-1)
    assert d[0].mean() > 3 * d[10:14, 12:20].mean()
    with pytest.raises(ImageError, match="margin_px"):
        bb.features(img, margin_px=10)


@pytest.mark.skipif(not backbone_available(), reason="ONNX backbone not shipped")
def test_flip_averaged_features_of_a_mirrored_image_are_the_mirrored_features():
    from goldenvision.anomaly import get_backbone

    img = _grain(96, 128, 5)
    cv2.line(img, (20, 10), (60, 80), (30, 20, 10), 3)  # an oblique stroke: not mirror-symmetric
    f = ZF.flip_averaged_features(img, tile_px=1024)
    g = ZF.flip_averaged_features(np.ascontiguousarray(img[:, ::-1]), tile_px=1024)
    assert f.shape == g.shape == (12, 16, 152) and f.dtype == np.float32
    np.testing.assert_allclose(g[:, ::-1], f, atol=1e-4)
    plain = get_backbone().features(img, tile_px=1024)
    mirror = get_backbone().features(np.ascontiguousarray(img[:, ::-1]), tile_px=1024)[:, ::-1]
    assert np.abs(mirror - plain).mean() > 0.1  # the backbone alone is not mirror-equivariant
    np.testing.assert_allclose(f, 0.5 * (plain + mirror), atol=1e-4)
    # a width that is no multiple of 16: padded before mirroring, so each cell keeps its place
    odd = img[:, :100]
    fo = ZF.flip_averaged_features(odd, tile_px=1024)
    assert fo.shape == (12, 13, 152)
    padded = np.pad(odd, ((0, 0), (0, 12), (0, 0)), mode="reflect")
    ref = 0.5 * (get_backbone().features(padded, tile_px=1024)
                 + get_backbone().features(np.ascontiguousarray(padded[:, ::-1]), tile_px=1024)[:, ::-1])
    np.testing.assert_allclose(fo, ref[:, :13], atol=1e-4)


def _old_state_scores_without(plain: AnomalyModel, new: AnomalyModel, key: str, unit: np.ndarray) -> None:
    """A state saved before config option ``key`` (no key) loads with it off and scores as ``plain``
    (fitted with it off) does; a state saved with it (``new``) keeps it on."""
    st = plain.to_state()
    del st["config"][key]
    old = AnomalyModel.from_state(st)
    assert not getattr(old.config, key)
    assert old.score(unit).score == pytest.approx(plain.score(unit).score, rel=1e-6)
    assert getattr(AnomalyModel.from_state(new.to_state()).config, key)


@pytest.mark.skipif(not backbone_available(), reason="ONNX backbone not shipped")
def test_texture_models_average_flips_by_default_and_old_states_keep_scoring_without():
    caps = [_grain(64, 96, s) for s in range(4)]
    zone = AnomalyZone(name="leather", defect_type="finish", method="texture")
    assert AnomalyConfig().feature_flips
    flipped = AnomalyModel.fit(caps, [zone], config=AnomalyConfig(feature_scale=1.0, texture_bank=200))
    unit = _grain(64, 96, 50)
    expect = ZF.pool_features(ZF.flip_averaged_features(unit, tile_px=1024)) @ ZF.projection(152, 64)
    np.testing.assert_allclose(ZF.unit_features(flipped, unit), expect, atol=1e-4)
    # a golden sealed before the option has no key in its state: its banks were fitted without
    # flips, so it must score without them (as when it was sealed), not with the new default
    plain = AnomalyModel.fit(caps, [zone], config=AnomalyConfig(feature_scale=1.0, texture_bank=200,
                                                                feature_flips=False))
    _old_state_scores_without(plain, flipped, "feature_flips", unit)
    # a registered part judged at the same place keeps features that tell a pattern from its mirror
    from goldenvision.anomaly import get_backbone

    part = AnomalyModel.fit(caps, [AnomalyZone(name="plate", method="patchcore")],
                            config=AnomalyConfig(feature_scale=1.0))
    assert not ZF.uses_flips(part) and ZF.uses_flips(flipped)
    expect = ZF.pool_features(get_backbone().features(unit, tile_px=1024)) @ ZF.projection(152, 64)
    np.testing.assert_allclose(ZF.unit_features(part, unit), expect, atol=1e-4)


class _BlockMeanBackbone:
    """A stand-in backbone: each 8 x 8 px cell's grey mean in all 152 channels (stride 8)."""

    threads = 1

    def features(self, image: np.ndarray, *, tile_px: int = 512, overlap_px: int = 96, margin_px: int = 0):
        h, w = image.shape[:2]
        H, W = -(-h // 8) * 8, -(-w // 8) * 8
        g = np.pad(image.astype(np.float32).mean(axis=2), ((0, H - h), (0, W - w)), mode="edge")
        cells = g.reshape(H // 8, 8, W // 8, 8).mean(axis=(1, 3))
        return np.repeat(cells[..., None], 152, axis=-1)


def test_fine_level_keeps_the_strongest_of_the_four_finer_cells(monkeypatch):
    from goldenvision.anomaly import backbone as B

    monkeypatch.setitem(B._cache, "default", _BlockMeanBackbone())
    img = np.full((64, 96, 3), 100, np.uint8)
    model = AnomalyModel.fit([img] * 2, [AnomalyZone(name="z", method="variation")],
                             config=AnomalyConfig(feature_scale=0.5))
    assert ZF.has_fine_level(model)
    unit = img.copy()
    unit[37, 50:58] = 228  # a 1 px line along one 8 px cell of the photo (x 48-55 and 56-63)
    f = ZF.fine_level(model, unit, (4, 6))
    assert f.shape == (4, 6, ZF.FINE_CHANNELS) and f.dtype == np.float32
    # the line lies in photo cells (4, 6) and (4, 7): both in feature cell (2, 3) (16 px cells)
    hot = np.zeros((4, 6), bool)
    hot[2, 3] = True
    np.testing.assert_allclose(f[~hot], 100.0, atol=1e-4)
    assert f[2, 3, 0] == pytest.approx(100 + 128 * 6 / 64, abs=1e-3)  # 6 of the cell's 64 px at 228
    # the coarse cell of the half-scale image dilutes the line over 4x the area
    coarse = _BlockMeanBackbone().features(cv2.resize(unit, (48, 32), interpolation=cv2.INTER_AREA))
    assert coarse[2, 3, 0] - 100 == pytest.approx((f[2, 3, 0] - 100) / 3, abs=1e-3)  # 8 of 256 px
    # without the option, or when the photo holds no finer image, there is no fine level
    assert not ZF.has_fine_level(AnomalyModel.fit([img] * 2, [AnomalyZone(name="z", method="variation")],
                                                  config=AnomalyConfig(feature_scale=0.5, fine_features=False)))
    assert not ZF.has_fine_level(AnomalyModel.fit([img] * 2, [AnomalyZone(name="z", method="variation")],
                                                  config=AnomalyConfig(feature_scale=0.75)))


@pytest.mark.skipif(not backbone_available(), reason="ONNX backbone not shipped")
def test_feature_models_carry_the_fine_level_and_old_states_keep_scoring_without():
    caps = [_grain(96, 128, s) for s in range(6)]
    zone = AnomalyZone(name="leather", defect_type="finish", method="texture")
    assert AnomalyConfig().fine_features
    fine = AnomalyModel.fit(caps, [zone], config=AnomalyConfig(feature_scale=0.5, texture_bank=300))
    unit = _grain(96, 128, 50)
    half = cv2.resize(unit, (64, 48), interpolation=cv2.INTER_AREA)
    coarse = ZF.flip_averaged_features(half, tile_px=1024)
    full = ZF.flip_averaged_features(unit, tile_px=1024)[..., : ZF.FINE_CHANNELS]
    fl = full.reshape(6, 2, 8, 2, -1).max(axis=(1, 3))
    expect = ZF.pool_features(np.concatenate([coarse, fl], axis=-1)) @ ZF.projection(152 + ZF.FINE_CHANNELS, 64)
    np.testing.assert_allclose(ZF.unit_features(fine, unit), expect, atol=1e-4)
    # a golden sealed before the option has no key in its state: its banks were fitted without the
    # fine level, so it must score without it (as when it was sealed), not with the new default
    plain = AnomalyModel.fit(caps, [zone], config=AnomalyConfig(feature_scale=0.5, texture_bank=300,
                                                                fine_features=False))
    np.testing.assert_allclose(ZF.unit_features(plain, unit),
                               ZF.pool_features(coarse) @ ZF.projection(152, 64), atol=1e-4)
    _old_state_scores_without(plain, fine, "fine_features", unit)
