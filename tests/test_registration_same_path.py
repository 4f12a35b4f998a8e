"""A refinement on its way to an alignment already refused as undetermined stops early
(:func:`goldenvision.registration.refine._refine`'s ``known``), and the answer is the one the
whole refinement gave."""

from __future__ import annotations

import numpy as np
import pytest

from goldenvision.registration import RefusalCode, register
from goldenvision.registration import align as align_mod
from goldenvision.registration import refine as refine_mod
from goldenvision.registration.align import _pyramid
from goldenvision.registration._base import _corner_diff, _n_levels_for
from goldenvision.registration.model import RegistrationModel

from test_registration import similarity, textured, warp


def _count_refines(monkeypatch) -> list[object]:
    calls: list[object] = []
    real = refine_mod._refine

    def counted(*a, **kw):
        out = real(*a, **kw)
        calls.append(out)
        return out

    monkeypatch.setattr(refine_mod, "_refine", counted)
    return calls


def test_a_start_on_a_known_path_stops_and_otherwise_refines_as_before():
    ref = textured(5)
    mov = warp(ref, similarity(2.0, 1.02, 6.0, -4.0), noise=2.0)
    model = RegistrationModel.fit(ref)
    mpyr = _pyramid(mov, _n_levels_for(mov.shape))
    g0 = similarity(0.0, 1.0, 4.0, -2.0)  # reference -> moving, a few px off
    whole = refine_mod._refine(model, mpyr, g0, affine=False)
    assert isinstance(whole, refine_mod._Fine) and whole.path and len(whole.path) >= 2
    assert min(whole.path) == whole.final_level
    # the same start with an unrelated path known: the same alignment, to the bit
    other = {lvl: np.array([[1, 0, 40.0], [0, 1, 0], [0, 0, 1]]) for lvl in whole.path}
    again = refine_mod._refine(model, mpyr, g0, affine=False, known=[other])
    assert isinstance(again, refine_mod._Fine) and np.array_equal(again.g, whole.g)
    # another start that reaches the known path above the last level stops there, at its alignment
    g1 = similarity(0.3, 1.0, 5.0, -3.0)
    stopped = refine_mod._refine(model, mpyr, g1, affine=False, known=[whole.path])
    assert isinstance(stopped, refine_mod._Known)
    h_end = np.linalg.inv(whole.g)
    assert _corner_diff(stopped.h, h_end / h_end[2, 2], model.shape_hw_) < 2.0
    # without the known path it ends where the first did
    full = refine_mod._refine(model, mpyr, g1, affine=False)
    assert isinstance(full, refine_mod._Fine)
    assert _corner_diff(np.linalg.inv(full.g), np.linalg.inv(whole.g), model.shape_hw_) < 0.5


def test_an_undetermined_part_is_refused_alike_with_fewer_whole_refinements(monkeypatch):
    """A faint, blurred texture pins one alignment, but too loosely (0.31 px predicted): every
    Fourier-Mellin start reaches the one the first refused. (A plain bar is no such case: it
    slides, and each start ends elsewhere along it.)"""
    import cv2

    bar = np.clip(128 + 0.45 * (cv2.GaussianBlur(textured(7).astype(np.float32), (0, 0), 8) - 110), 0, 255)
    bar = bar.astype(np.uint8)
    mov = warp(bar, similarity(3.0, 1.0, 4.0, 9.0), noise=3.0)
    model = RegistrationModel.fit(bar)
    calls = _count_refines(monkeypatch)
    early = register(bar, mov, model=model)
    n_early = sum(isinstance(c, refine_mod._Fine) for c in calls)
    stops = sum(isinstance(c, refine_mod._Known) for c in calls)
    calls.clear()
    monkeypatch.setattr(refine_mod, "_SAME_ALIGNMENT_PX", -1.0)  # never the same: every refinement whole
    whole = register(bar, mov, model=model)
    n_whole = sum(isinstance(c, refine_mod._Fine) for c in calls)
    assert not early.ok and not whole.ok
    assert early.refusal is whole.refusal is RefusalCode.UNDETERMINED
    assert stops >= 1 and n_early + stops <= n_whole + 1 and n_early < n_whole
    assert "refused above" in early.reason


@pytest.mark.parametrize("seed", [3, 11])
def test_a_part_that_aligns_aligns_the_same(seed, monkeypatch):
    ref = textured(seed)
    mov = warp(ref, similarity(25.0, 0.93, 10.0, -6.0, persp=(2e-5, -1e-5)), noise=2.0)
    model = RegistrationModel.fit(ref)
    a = register(ref, mov, model=model)
    monkeypatch.setattr(refine_mod, "_SAME_ALIGNMENT_PX", -1.0)
    b = register(ref, mov, model=model)
    assert a.ok and b.ok and np.allclose(a.homography, b.homography)


def test_the_scale_search_stops_once_two_starts_agree_on_a_loose_alignment(monkeypatch):
    """The faint texture again: a Fourier-Mellin peak's start reaches a loose alignment (every check
    passed but its predicted precision) and the first scale-search group's starts reach it too; the
    second group looks for nothing the first did not find. With the stops off, both groups run."""
    import cv2

    ref = np.clip(128 + 0.45 * (cv2.GaussianBlur(textured(7).astype(np.float32), (0, 0), 8) - 110), 0, 255)
    ref = ref.astype(np.uint8)
    mov = warp(ref, similarity(3.0, 1.0, 4.0, 9.0), noise=3.0)
    model = RegistrationModel.fit(ref)
    searches = [0]
    real = align_mod._scale_search_candidates

    def counted(*a, **kw):
        searches[0] += 1
        return real(*a, **kw)

    monkeypatch.setattr(align_mod, "_scale_search_candidates", counted)
    early = register(ref, mov, model=model)
    n_early, searches[0] = searches[0], 0
    monkeypatch.setattr(refine_mod, "_SAME_ALIGNMENT_PX", -1.0)
    whole = register(ref, mov, model=model)
    assert early.refusal is whole.refusal is RefusalCode.UNDETERMINED
    assert n_early == 1 and searches[0] == 2
