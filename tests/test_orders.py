"""The order's evidence chain: PPS proposals, signed decisions, lots, the tamper-evident dossier."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import pytest

import goldenvision as gv
from goldenvision import signing
from goldenvision.orders import (OrderError, attach_lot, countersign, decide_pps, new_order, review_pps, show_order,
                                 verify_dossier, write_dossier)
from goldenvision.errors import OutputExistsError
from goldenvision.orders.core import decision_message
from goldenvision.store import open_store
from synthetic import PANEL_RGB, panel_lab, panel_photo, png_bytes, spec_with_panel


def _shade_for_de00(target: float) -> tuple[int, int, int]:
    """The panel colour darkened until its ΔE00 from the panel target is about ``target``."""
    base = panel_lab()
    best = None
    for k in range(0, 40):
        rgb = tuple(max(0, v - k) for v in PANEL_RGB)
        de = float(gv.delta_e_2000(panel_lab(rgb), base))
        if best is None or abs(de - target) < abs(best[1] - target):
            best = (rgb, de)
    assert abs(best[1] - target) < 0.4, best
    return best[0]


@pytest.fixture(scope="module")
def golden_pkg(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("g") / "panel.golden"
    g = gv.seal([panel_photo(0, shift=(0, 0)), panel_photo(1, shift=(2, 1)), panel_photo(2, shift=(-1, 2))],
                spec_with_panel())
    g.save(out)
    return out


@pytest.fixture()
def store(tmp_path):
    st = open_store(f"sqlite:///{tmp_path / 'o.db'}")
    yield st
    st.close()


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name, role in (("buyer", "buyer"), ("factory", "factory")):
        priv, pub = signing.new_keypair(name, role)
        (d / f"{name}.key").write_bytes(priv)
        (d / f"{name}.pub").write_bytes(pub)
        out[name] = d / f"{name}.key"
        out[name + ".pub"] = d / f"{name}.pub"
    return out


def _photos(tmp: Path, imgs) -> list[Path]:
    paths = []
    for i, img in enumerate(imgs):
        p = tmp / f"pps_{i}.png"
        p.write_bytes(png_bytes(img))
        paths.append(p)
    return paths


def test_pps_of_good_units_is_approved_and_a_3de_shade_is_sent_back(store, golden_pkg, tmp_path):
    new_order(store, "PO-1", supplier="ACME", product="tiny-panel", quantity=500, golden_path=golden_pkg)
    good = _photos(tmp_path, [panel_photo(10 + i) for i in range(3)])
    p = review_pps(store, "PO-1", good)
    assert p.outcome == "approve", p.reasons
    panel = next(c for c in p.characteristics if c.kind == "color")
    assert panel.worst_share < 0.7
    off = _shade_for_de00(3.0)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = _photos(bad_dir, [panel_photo(20), panel_photo(21, rgb=off), panel_photo(22)])
    p2 = review_pps(store, "PO-1", bad)
    assert p2.outcome == "resubmit"
    assert any("panel" in r and "darker" in r for r in p2.reasons), p2.reasons
    panel = next(c for c in p2.characteristics if c.kind == "color")
    assert 1.6 < panel.worst_share * 1.5 < 4.0  # ΔE00 about 3 against a tolerance of 1.5
    tl = show_order(store, "PO-1")["timeline"]
    assert [e["kind"] for e in tl] == ["opened", "pps_proposed", "pps_proposed"]
    assert [e["submission"] for e in tl[1:]] == [1, 2]  # a resubmitted PPS keeps its history


def test_bad_input_is_refused_and_changes_nothing(store, golden_pkg, tmp_path):
    with pytest.raises(OrderError, match="product"):
        new_order(store, "PO-2", supplier="ACME", product="handbag", quantity=10, golden_path=golden_pkg)
    with pytest.raises(OrderError, match="no such PO"):
        show_order(store, "PO-404")
    new_order(store, "PO-2", supplier="ACME", product="tiny-panel", quantity=10, golden_path=golden_pkg)
    review_pps(store, "PO-2", _photos(tmp_path, [panel_photo(30)]))
    before = show_order(store, "PO-2")
    with pytest.raises(OrderError, match="key"):
        decide_pps(store, "PO-2", outcome="approve")
    with pytest.raises(OrderError, match="outcome"):
        decide_pps(store, "PO-2", outcome="maybe", key=b"x")
    assert show_order(store, "PO-2") == before


def test_signed_decision_focus_lots_dossier_and_tamper_evidence(store, golden_pkg, tmp_path, keys):
    new_order(store, "PO-3", supplier="ACME", product="tiny-panel", quantity=200, golden_path=golden_pkg)
    review_pps(store, "PO-3", _photos(tmp_path, [panel_photo(40 + i) for i in range(2)]))
    d = decide_pps(store, "PO-3", outcome="approve_with_comments", comment="watch the panel lightness",
                   focus=["color:panel:lightness"], key=keys["buyer"], signer="buyer QC")
    msg = decision_message("PO-3", d["submission"], d["outcome"], d["comment"], d["focus"], d["signer"], d["signed_utc"])
    assert signing.verify(msg, base64.b64decode(d["signature"]), keys["buyer.pub"])
    order = show_order(store, "PO-3")
    assert order["state"] == "pps_approved" and order["focus"] == ["color:panel:lightness"]
    attach_lot(store, "PO-3", {"lot_id": "PSI-1", "inspection_type": "psi", "lot_size": 200, "seed": 3,
                               "sample_ids": [str(i) for i in range(32)], "verdict": {"decision": "accept"}})
    paths = write_dossier(store, "PO-3", tmp_path / "out", sign_with=[(keys["buyer"], "buyer", "buyer QC")])
    assert paths.dossier.name == "PO-3.dossier" and paths.html.exists() and paths.pdf.stat().st_size > 5000
    html = paths.html.read_text()
    assert "Release the balance payment" in html and "PSI-1" in html and "watch the panel lightness" in html
    check = verify_dossier(paths.dossier)
    assert check.ok, check.problems
    check = countersign(paths.dossier, keys["factory"], role="factory", signer="ACME QA")
    assert check.ok and sorted(s["role"] for s in check.signatures) == ["buyer", "factory"]
    # trust: both keys trusted -> ok; only the factory's -> the buyer's signature is refused
    assert verify_dossier(paths.dossier, trusted_keys=[keys["buyer.pub"], keys["factory.pub"]]).ok
    only_factory = verify_dossier(paths.dossier, trusted_keys=[keys["factory.pub"]])
    assert not only_factory.ok and any("no trusted key" in p for p in only_factory.problems)
    with pytest.raises(OutputExistsError, match="exists"):
        write_dossier(store, "PO-3", tmp_path / "out")

    raw = paths.dossier.read_bytes()
    # flip one byte inside every member's stored data: each is refused
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        infos = z.infolist()
    assert len(infos) >= 9
    for info in infos:
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        pos = start + info.file_size // 2
        bad = bytearray(raw)
        bad[pos] ^= 0x01
        paths.dossier.write_bytes(bytes(bad))
        assert not verify_dossier(paths.dossier).ok, info.filename
    # and any byte of the container's framing (every 53rd byte of the whole file)
    for pos in range(0, len(raw), 53):
        bad = bytearray(raw)
        bad[pos] ^= 0xFF
        paths.dossier.write_bytes(bytes(bad))
        assert not verify_dossier(paths.dossier).ok, pos
    paths.dossier.write_bytes(raw)
    assert verify_dossier(paths.dossier).ok


def test_focus_names_the_metrics_later_inspections_watch():
    from goldenvision.orders.dossier import focus_metrics

    assert focus_metrics(["color:panel:lightness", "color:logo", "dimension:strap_width", "anomaly:buckle"]) == {
        "color.panel.dL", "color.logo.de00", "dimension.strap_width.mm", "anomaly.buckle.score"}
