"""Adversarial tests of the upload service: keys, scopes, limits, hostile names, rate limits."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from goldenvision.service import Limits, create_app, new_key, revoke_key, safe_name
from synthetic import SPEC, png_bytes, product

OPEN = {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@pytest.fixture(scope="module")
def golden_pkg(tiny_golden_pkg) -> Path:
    return tiny_golden_pkg


@pytest.fixture(scope="module")
def svc_root(tmp_path_factory) -> Path:
    """The folder whose ``data/`` every test's service uses. Each test has its own database (its own
    keys, lots and rate limits) and its own lot folder; the uploaded golden lands at the same path
    each time, so the service process loads its Inspector once for the module, not once per test."""
    return tmp_path_factory.mktemp("svc")


@pytest.fixture()
def svc(tmp_path, golden_pkg, svc_root):
    limits = Limits(max_request_bytes=3 * 2**20, max_file_bytes=2 * 2**20, max_files_per_request=5,
                    max_image_pixels=500_000, rate_per_s=5.0, burst=40)
    app = create_app(f"sqlite:///{tmp_path / 's.db'}", svc_root / "data", limits=limits)
    engine = app.state.store.engine
    k = {
        "admin": new_key(engine, "admin", role="admin")[1],
        "insp": new_key(engine, "insp", role="inspector", scopes=[f"product:{SPEC['product']}", "supplier:ACME"])[1],
        "viewer": new_key(engine, "viewer", role="viewer", scopes=[f"product:{SPEC['product']}"])[1],
        "other": new_key(engine, "other", role="inspector", scopes=["product:handbag"])[1],
    }
    with TestClient(app) as client:
        h = {"Authorization": f"Bearer {k['admin']}"}
        gid = client.post("/api/goldens", headers=h, files={"file": ("g.golden", golden_pkg.read_bytes())}).json()["golden_id"]
        lot = client.post("/api/lots", headers=h, json={"product": SPEC["product"], "golden_id": gid, "lot_size": 50,
                                                         "supplier": "ACME"}).json()
        up = client.post(f"/api/lots/{lot['lot_id']}/photos", headers=h,
                         files={"files": ("u.png", png_bytes(product(3)), "image/png")}).json()
        yield client, k, {"golden_id": gid, "lot_id": lot["lot_id"], "sha": up["accepted"][0]["image_sha256"]}, svc_root


def _operations(client) -> list[tuple[str, str]]:
    ops = []
    for path, item in client.app.openapi()["paths"].items():
        for method in item:
            ops.append((method.upper(), path))
    return ops


def _call(client, method, path, ids, headers, *, as_other=False):
    url = path.replace("{lot_id}", ids["lot_id"]).replace("{sha}", ids["sha"])
    kw: dict = {"headers": headers}
    if method == "POST" and path == "/api/lots":
        kw["json"] = {"product": SPEC["product"], "golden_id": ids["golden_id"], "lot_size": 50}
    elif method == "POST" and path.endswith("/photos"):
        kw["files"] = {"files": ("x.png", png_bytes(product(9)), "image/png")}
    elif method == "POST" and path == "/api/goldens":
        kw["files"] = {"file": ("g.golden", ids["golden_bytes"])}
    elif method == "POST" and path.endswith("/label"):
        kw["json"] = {"good": True}
    elif method == "GET" and path in ("/api/lots", "/api/goldens", "/api/labels") and as_other:
        url += f"?product={SPEC['product']}"
    return client.request(method, url, **kw)


def test_every_operation_needs_a_valid_key_and_its_scope(svc, golden_pkg):
    client, k, ids, _ = svc
    ids = dict(ids, golden_bytes=golden_pkg.read_bytes())
    ops = [op for op in _operations(client) if op[1] not in OPEN]
    assert len(ops) >= 8, ops
    for method, path in ops:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer gv_000000000000_" + "x" * 43},
                        {"Authorization": k["admin"]}):  # no "Bearer"
            r = _call(client, method, path, ids, headers)
            assert r.status_code == 401, (method, path, headers, r.status_code, r.text)
            assert r.headers.get("www-authenticate") == "Bearer"
        r = _call(client, method, path, ids, {"Authorization": f"Bearer {k['other']}"}, as_other=True)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    # open endpoints stay open
    for path in ("/health", "/openapi.json", "/docs", "/ui/login"):
        assert client.get(path).status_code == 200


def test_roles_and_revocation(svc):
    client, k, ids, tmp = svc
    v = {"Authorization": f"Bearer {k['viewer']}"}
    assert client.get(f"/api/lots/{ids['lot_id']}", headers=v).status_code == 200
    r = client.post(f"/api/lots/{ids['lot_id']}/photos", headers=v, files={"files": ("x.png", png_bytes(product(4)))})
    assert r.status_code == 403
    key_id = k["viewer"].split("_")[1]
    assert revoke_key(client.app.state.store.engine, key_id)
    assert client.get(f"/api/lots/{ids['lot_id']}", headers=v).status_code == 401


def test_keys_are_stored_only_as_hashes(svc):
    client, k, _, _ = svc
    with client.app.state.store.engine.connect() as c:
        dump = " ".join(str(row) for row in c.execute(text("SELECT * FROM api_keys")))
    for key in k.values():
        secret = key.split("_", 2)[2]
        assert secret not in dump
        assert key.split("_")[1] in dump  # the public id is there


def test_request_size_is_capped_before_parsing(svc):
    client, k, ids, _ = svc
    h = {"Authorization": f"Bearer {k['insp']}"}
    big = b"\x00" * (4 * 2**20)
    r = client.post(f"/api/lots/{ids['lot_id']}/photos", headers=h, files={"files": ("big.png", big)})
    assert r.status_code == 413
    # a streamed (chunked) body without Content-Length is cut off as well
    def gen():
        for _ in range(8):
            yield b"-" * 2**20
    r = client.post(f"/api/lots/{ids['lot_id']}/photos", headers={**h, "Content-Type": "multipart/form-data; boundary=x"},
                    content=gen())
    assert r.status_code == 413


def test_file_count_pixel_and_type_limits(svc):
    client, k, ids, tmp = svc
    h = {"Authorization": f"Bearer {k['insp']}"}
    # past the per-request file limit (5 here), files are not stored and each is named with the reason;
    # the first five arrived before the sixth and are stored and scoring
    many = [("files", (f"u{i}.png", png_bytes(product(20 + i)), "image/png")) for i in range(7)]
    r = client.post(f"/api/lots/{ids['lot_id']}/photos", headers=h, files=many)
    assert r.status_code == 200
    assert [a["file"] for a in r.json()["accepted"]] == [f"u{i}.png" for i in range(5)]
    assert [x["file"] for x in r.json()["rejected"]] == ["u5.png", "u6.png"]
    assert all("limit of 5 files per request" in x["reason"] for x in r.json()["rejected"])
    stored = {p.name for p in (tmp / "data" / "lots" / ids["lot_id"]).iterdir()}
    assert not any("u5.png" in n or "u6.png" in n for n in stored) and not any(n.startswith(".") for n in stored)
    import cv2
    import numpy as np

    huge = cv2.imencode(".png", np.zeros((800, 800, 3), np.uint8))[1].tobytes()  # 640 000 px > 500 000
    r = client.post(f"/api/lots/{ids['lot_id']}/photos", headers=h,
                    files=[("files", ("huge.png", huge, "image/png")), ("files", ("notes.png", b"not an image", "image/png"))])
    assert r.status_code == 200
    why = {x["file"]: x["reason"] for x in r.json()["rejected"]}
    assert "pixels" in why["huge.png"] and "not an image" in why["notes.png"] and r.json()["accepted"] == []


def test_hostile_file_names_never_escape_the_data_folder(svc):
    client, k, ids, tmp = svc
    h = {"Authorization": f"Bearer {k['insp']}"}
    names = ["../../x.png", "..\\..\\y.png", "/etc/passwd.png", ".hidden.png", "a/../../../z.png", "\x00evil.png"]
    for i, n in enumerate(names):
        r = client.post(f"/api/lots/{ids['lot_id']}/photos", headers=h,
                        files={"files": (n, png_bytes(product(40 + i)), "image/png")})
        assert r.status_code == 200, (n, r.text)
    data = (tmp / "data").resolve()
    outside = [p for p in tmp.rglob("*.png") if not p.resolve().is_relative_to(data)]
    assert outside == []
    assert not (tmp / "x.png").exists() and not Path("/etc/passwd.png").exists()
    for n in [*names, "", "..", "....png"]:
        s = safe_name(n)
        assert "/" not in s and "\\" not in s and not s.startswith(".") and s


def test_tampered_or_foreign_golden_is_refused_with_the_reason(svc, golden_pkg):
    client, k, _, _ = svc
    h = {"Authorization": f"Bearer {k['admin']}"}
    src = zipfile.ZipFile(io.BytesIO(golden_pkg.read_bytes()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(".json") and "manifest" not in info.filename:
                data = data.replace(b"tiny-part", b"tiny-pArt")
            out.writestr(info, data)
    r = client.post("/api/goldens", headers=h, files={"file": ("t.golden", buf.getvalue())})
    assert r.status_code == 422 and "golden refused" in r.json()["detail"]
    r = client.post("/api/goldens", headers=h, files={"file": ("junk.golden", b"PK\x03\x04 not a zip")})
    assert r.status_code == 422


def test_each_key_is_rate_limited(svc):
    client, k, ids, _ = svc
    h = {"Authorization": f"Bearer {k['viewer']}"}
    codes = [client.get(f"/api/lots/{ids['lot_id']}", headers=h).status_code for _ in range(60)]
    assert 429 in codes and codes[0] == 200
    # another key is not slowed by this one
    assert client.get("/api/lots", headers={"Authorization": f"Bearer {k['admin']}"}).status_code == 200
