"""The speed-ups of the per-unit path keep their results exactly: the warp's maps and valid mask,
the plain-PNG decoder, and a photo decoded once and handed on as a LoadedImage."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from goldenvision.errors import ImageError
from goldenvision.imageio import LoadedImage, load_image, read_image, sha256_of
from goldenvision.registration.warp import warp_to_reference
from goldenvision.results import RegistrationResult


def _naive_warp(moving: np.ndarray, h: np.ndarray, flow: np.ndarray | None, hh: int, ww: int):
    """The straightforward full-grid formulation the fast warp must reproduce bit for bit."""
    ys, xs = np.mgrid[0:hh, 0:ww].astype(np.float32)
    px, py = (xs, ys) if flow is None else (xs + flow[..., 0], ys + flow[..., 1])
    hi = np.linalg.inv(h)
    den = hi[2, 0] * px + hi[2, 1] * py + hi[2, 2]
    mx = ((hi[0, 0] * px + hi[0, 1] * py + hi[0, 2]) / den).astype(np.float32)
    my = ((hi[1, 0] * px + hi[1, 1] * py + hi[1, 2]) / den).astype(np.float32)
    warped = cv2.remap(moving, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    h_m, w_m = moving.shape[:2]
    valid = (mx >= 0) & (mx <= w_m - 1) & (my >= 0) & (my <= h_m - 1) & (den > 0)
    return warped, valid


@pytest.mark.parametrize("projective", [False, True])
@pytest.mark.parametrize("with_flow", [False, True])
def test_warp_matches_full_grid_formulation(projective: bool, with_flow: bool) -> None:
    rng = np.random.default_rng(3)
    moving = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    hh, ww = 80, 130
    h = np.array([[0.98, 0.05, -4.3], [-0.04, 1.02, 6.1], [0.0, 0.0, 1.0]])
    if projective:
        h[2, :2] = (2e-4, -3e-4)
    flow = rng.normal(0, 0.8, (hh, ww, 2)).astype(np.float32) if with_flow else None
    reg = RegistrationResult(h, True, 0.1, flow=flow)
    warped, valid = warp_to_reference(moving, reg, (hh, ww))
    ref_w, ref_v = _naive_warp(moving, h, flow, hh, ww)
    assert warped.dtype == np.uint8 and warped.shape == (hh, ww, 3)
    assert np.array_equal(valid, ref_v)
    assert np.array_equal(warped, ref_w)
    assert 0.3 < valid.mean() < 1.0  # the frame edges are outside, the middle inside


def test_warp_gray_float32_and_shift_edges() -> None:
    moving = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    h = np.array([[1.0, 0.0, 2.5], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # unit shifted 2.5 px right
    warped, valid = warp_to_reference(moving, RegistrationResult(h, True, 0.0), (20, 30))
    # golden x maps to unit x - 2.5: valid needs x - 2.5 in [0, 29], so x in [3, 30]
    assert valid[:, :3].sum() == 0 and valid[:, 3:].all()
    assert warped[5, 10] == pytest.approx(moving[5, 7] * 0.5 + moving[5, 8] * 0.5)


def _png(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", **kw)
    return buf.getvalue()


def test_plain_png_decodes_to_pillows_pixels() -> None:
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    data = _png(rgb)
    out = read_image(data)
    assert out.dtype == np.uint8 and np.array_equal(out, rgb)
    assert np.array_equal(out, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    # an alpha channel still goes through Pillow: composited over white
    rgba = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    assert (read_image(_png(rgba)) == 255).all()


def test_truncated_plain_png_still_refused() -> None:
    rgb = np.random.default_rng(6).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _png(rgb)
    with pytest.raises(ImageError, match="corrupt or truncated"):
        read_image(data[: len(data) // 2])


def test_loaded_image_is_handed_on_unchanged() -> None:
    rgb = np.full((8, 9, 3), 7, np.uint8)
    loaded = load_image(_png(rgb), name="unit.png")
    assert load_image(loaded) is loaded
    assert read_image(loaded) is loaded.rgb
    assert sha256_of(loaded) == loaded.sha256
    # a hand-made one with 16-bit pixels is converted like any array
    wide = LoadedImage(rgb=np.full((2, 2, 3), 65535, np.uint16), sha256="x", name="w", nbytes=24)
    assert load_image(wide).rgb.dtype == np.uint8 and (load_image(wide).rgb == 255).all()
    with pytest.raises(ImageError, match="max_pixels"):
        load_image(loaded, max_pixels=10)


def test_caliper_solver_matches_least_squares_exactly(monkeypatch) -> None:
    """The erf edge fits through leastsq give bit for bit what least_squares(method="lm") gave."""
    from scipy.optimize import least_squares
    from scipy.special import erf

    import goldenvision.measure.calipers as cal

    def reference(fun, jac, p0):
        try:
            r = least_squares(fun, p0, jac=jac, method="lm", xtol=1e-10, ftol=1e-10, max_nfev=200)
        except (ValueError, np.linalg.LinAlgError):
            return None
        return r.x, r.fun, r.jac

    rng = np.random.default_rng(11)
    x = np.arange(160, dtype=np.float64)
    profiles = []
    for _ in range(6):  # two or three blurred steps (a strap, a gap), noise
        edges = np.sort(rng.uniform(20, 140, rng.integers(2, 4)))
        steps = rng.choice([-1.0, 1.0], edges.size) * rng.uniform(30, 90, edges.size)
        y = 100 + sum(s * 0.5 * (1 + erf((x - e) / (np.sqrt(2) * rng.uniform(1.0, 2.5)))) for e, s in zip(edges, steps))
        profiles.append(y + rng.normal(0, 1.5, x.size))

    def fits():
        return [[(e.position_px, e.contrast, e.sigma_px, e.uncertainty_px, e.residual)
                 for e in cal.find_edges(p, sigma_px=1.5)] for p in profiles]

    new = fits()
    monkeypatch.setattr(cal, "_solve_lm", reference)
    old = fits()
    assert sum(len(f) for f in new) >= 12 and all(np.isfinite(e[1]) for f in new for e in f)  # erf fits ran
    assert new == old


def test_png_with_exif_orientation_still_turned() -> None:
    """A PNG whose eXIf chunk says "rotate" is not taken by the plain-PNG path."""
    from goldenvision.imageio import _png_has_exif

    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    data = _png(rgb, exif=exif.tobytes())
    assert _png_has_exif(data) and not _png_has_exif(_png(rgb))
    out = read_image(data)
    assert out.shape == (6, 4, 3)
    assert np.array_equal(out, np.asarray(Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_270)))


def test_set_thread_pools_sizes_the_blas_pools() -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    from goldenvision.errors import SpecError
    from goldenvision.pipeline import set_thread_pools

    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    assert blas  # numpy (and scipy) bring one
    before = {i["filepath"]: i["num_threads"] for i in blas}
    try:
        set_thread_pools(blas_threads=1)
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
        set_thread_pools(opencv_threads=cv2.getNumThreads())  # leaves BLAS as it is
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
        for bad in (0, -1, 1.5, True, "2"):
            with pytest.raises(SpecError, match="blas_threads"):
                set_thread_pools(blas_threads=bad)  # type: ignore[arg-type]
    finally:
        for path, n in before.items():
            threadpool_limits(limits={path: n})
    assert {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == before
