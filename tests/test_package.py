"""Tests of the sealed golden package: round trip, tamper evidence, signatures, revisions, CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from goldenvision import package, signing
from goldenvision.cli import app
from goldenvision.errors import IntegrityError, ModelError
from goldenvision.golden import GoldenSample, load_golden
from goldenvision.spec import load_spec

SPEC = {"product": "x", "anomaly_zones": [{"name": "all"}]}


def make_golden(seed: int = 0, spec: dict | None = None) -> GoldenSample:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    caps = [ref.copy(), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)]
    states = {
        "anomaly": {
            "mean": np.zeros((48, 64), np.float32),
            "threshold": 1.5,
            "zones": {"all": {"std": np.full((4, 4), 2.0, np.float64), "count": 3}},
        },
        "registration": {"kp": rng.random((10, 2)), "method": "sift", "levels": [np.arange(3), np.arange(2)]},
    }
    meta = {
        "golden_lab": {"all": [52.1, 3.2, -4.5]},
        "capture_conditions": {"illuminant": "D65", "exposure_ms": 8.0},
        "model_versions": {"anomaly": "variation-1"},
    }
    profile = {"id": "lightbox-demo", "scale_mm_per_px": 0.125, "markers": {"centers_mm": {0: [8.0, 8.0]}}}
    return GoldenSample(load_spec(spec or SPEC), ref, caps, states=states, meta=meta, profile=profile)


@pytest.fixture(scope="module")
def keys():
    out = {}
    for role in ("buyer", "factory", "inspector"):
        priv, pub = signing.new_keypair(f"{role}1", role)
        out[role] = (signing.load_private_key(priv), pub)
    return out


@pytest.fixture(scope="module")
def sealed(tmp_path_factory, keys):
    """A package signed by the factory, and its bytes."""
    path = tmp_path_factory.mktemp("pkg") / "x.golden"
    make_golden().save(path, sign_with=[(keys["factory"][0], "factory", "Acme Factory")])
    return path, path.read_bytes()


def reseal(src, dst, mutate):
    """Rewrite a package with ``mutate(entries)`` applied and the manifest re-hashed (no signatures)."""
    entries = package._read_zip(src.read_bytes(), str(src), max_members=10_000, max_total_bytes=2**31)
    manifest = json.loads(entries.pop("manifest.json"))
    entries = {k: v for k, v in entries.items() if not k.startswith("signatures/")}
    mutate(entries, manifest)
    manifest["members"] = {n: package._member_entry(n, b) for n, b in entries.items()}
    package._write_zip(dst, [("manifest.json", package.canonical_json(manifest))] + sorted(entries.items()))
    return dst


# ---------------------------------------------------------------------------- round trip


def test_round_trip_is_exact(sealed, keys):
    path, _ = sealed
    g0 = make_golden()
    g = load_golden(path, trusted_keys=[keys["factory"][1]])
    assert g.spec == g0.spec
    np.testing.assert_array_equal(g.reference, g0.reference)
    assert len(g.captures) == 2
    for a, b in zip(g.captures, g0.captures):
        np.testing.assert_array_equal(a, b)
    an, an0 = g.states["anomaly"], g0.states["anomaly"]
    assert an["mean"].dtype == np.float32 and an["mean"].shape == (48, 64)
    np.testing.assert_array_equal(an["mean"], an0["mean"])
    assert an["threshold"] == 1.5
    np.testing.assert_array_equal(an["zones"]["all"]["std"], an0["zones"]["all"]["std"])
    assert an["zones"]["all"]["count"] == 3
    np.testing.assert_array_equal(g.states["registration"]["kp"], g0.states["registration"]["kp"])
    assert [x.tolist() for x in g.states["registration"]["levels"]] == [[0, 1, 2], [0, 1]]
    assert g.states["registration"]["method"] == "sift"
    # JSON keys are strings: YAML marker ids 0.. come back as "0".. (load_profile takes both)
    assert g.profile == dict(g0.profile, markers={"centers_mm": {"0": [8.0, 8.0]}})
    assert {k: v for k, v in g.meta.items() if k != "package"} == g0.meta


def test_layout_and_manifest(sealed):
    path, data = sealed
    with zipfile.ZipFile(path) as z:  # a standard zip reader agrees (interoperability)
        assert z.testzip() is None
        infos = {i.filename: i for i in z.infolist()}
        manifest_bytes = z.read("manifest.json")
    assert infos["images/reference.png"].compress_type == zipfile.ZIP_STORED
    assert infos["states/anomaly/mean.npy"].compress_type == zipfile.ZIP_DEFLATED
    assert "states/anomaly/zones/all/std.npy" in infos
    assert "states/registration/levels/1.npy" in infos
    assert not any(n.endswith((".pkl", ".pickle")) for n in infos)
    m = json.loads(manifest_bytes)
    assert manifest_bytes == package.canonical_json(m)
    assert m["product"] == "x" and m["revision"] == "A" and m["station_profile_id"] == "lightbox-demo"
    assert m["capture_conditions"] == {"illuminant": "D65", "exposure_ms": 8.0}
    assert m["model_versions"] == {"anomaly": "variation-1"} and m["predecessor"] is None
    assert m["created_utc"].endswith("Z")
    listed = set(m["members"])
    assert listed == {n for n in infos if n != "manifest.json" and not n.startswith("signatures/")}
    with zipfile.ZipFile(path) as z:
        for n, info in m["members"].items():
            b = z.read(n)
            assert (info["sha256"], info["size"]) == (hashlib.sha256(b).hexdigest(), len(b))
    sig_names = [n for n in infos if n.startswith("signatures/")]
    assert len(sig_names) == 1 and sig_names[0].startswith("signatures/factory-")


def test_provenance_before_and_after(sealed):
    g = make_golden()
    p = g.provenance()
    assert p["golden_id"] is None and p["sealed"] is False and p["manifest_sha256"] is None
    assert p["product"] == "x" and p["revision"] == "A" and p["station_profile_id"] == "lightbox-demo"
    path, data = sealed
    g = load_golden(path)
    p = g.provenance()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        mbytes = z.read("manifest.json")
    assert p["sealed"] is True
    assert p["golden_id"] == json.loads(mbytes)["golden_id"] == g.meta["package"]["golden_id"]
    assert p["manifest_sha256"] == hashlib.sha256(mbytes).hexdigest() == g.meta["package"]["manifest_sha256"]
    assert p["model_versions"] == {"anomaly": "variation-1"} and p["software_version"]
    assert p["signatures"][0]["role"] == "factory" and p["signatures"][0]["signer"] == "Acme Factory"
    assert p["created_utc"] == json.loads(mbytes)["created_utc"]


# ---------------------------------------------------------------------------- tamper evidence


def _layout(data: bytes):
    """(name, header range, data range) per member, the central directory range and the end record range."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
        cd_start = z.start_dir
    members = []
    for i in infos:
        start = i.header_offset + 30 + len(i.filename)
        members.append((i.filename, range(i.header_offset, start), range(start, start + i.compress_size)))
    return members, range(cd_start, len(data) - 22), range(len(data) - 22, len(data))


def _flipped(data: bytes, pos: int, xor: int = 0xFF) -> bytes:
    b = bytearray(data)
    b[pos] ^= xor
    return bytes(b)


def test_flipping_a_byte_in_every_member_is_detected(sealed, tmp_path):
    _, data = sealed
    members, _, _ = _layout(data)
    assert len(members) == 15  # manifest, 13 listed members, 1 signature
    target = tmp_path / "t.golden"
    for _name, _, rng in members:
        for pos in sorted({rng.start, rng.start + len(rng) // 2, rng.stop - 1}):
            target.write_bytes(_flipped(data, pos))
            with pytest.raises(IntegrityError, match="t.golden"):
                load_golden(target)


def test_flipping_any_header_byte_is_detected(sealed, tmp_path):
    """Every byte of every local header, the whole central directory and the end record."""
    _, data = sealed
    members, cd, eocd = _layout(data)
    positions = [p for _, hdr, _ in members for p in hdr] + list(cd) + list(eocd)
    assert len(positions) > 1000
    target = tmp_path / "t.golden"
    for pos in positions:
        target.write_bytes(_flipped(data, pos))
        with pytest.raises(IntegrityError):
            package.verify_golden(target)


def test_every_value_of_the_last_byte_of_each_deflate_stream_is_detected(sealed, tmp_path):
    """The last byte of a deflate stream holds padding bits that decoders ignore; the
    manifest's zip_sha256 covers them."""
    _, data = sealed
    members, _, _ = _layout(data)
    target = tmp_path / "t.golden"
    deflated = [(n, r) for n, _, r in members if n.endswith((".json", ".npy")) and n != "manifest.json"
                and not n.startswith("signatures/")]
    assert len(deflated) == 10
    for _, rng in deflated:
        for xor in (1, 2, 4, 8, 16, 32, 64, 128, 255):  # every single bit, then the whole byte
            target.write_bytes(_flipped(data, rng.stop - 1, xor))
            with pytest.raises(IntegrityError):
                package.verify_golden(target)


def test_re_deflated_member_with_same_content_is_detected(sealed, tmp_path):
    src, _ = sealed
    stored: dict[str, bytes] = {}
    entries = package._read_zip(src.read_bytes(), "x", max_members=100, max_total_bytes=2**31, stored_out=stored)
    comp = __import__("zlib").compressobj(9, 8, -15, 9, 2)  # another valid stream for the same bytes
    other = comp.compress(entries["meta.json"]) + comp.flush()
    assert other != stored["meta.json"]
    items = [(n, b, other if n == "meta.json" else stored[n]) for n, b in entries.items()]
    package._write_zip(tmp_path / "z.golden", items)
    with pytest.raises(IntegrityError, match="meta.json.*stored deflate stream"):
        load_golden(tmp_path / "z.golden")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frac=st.floats(0, 1, exclude_max=True), xor=st.integers(1, 255))
def test_any_single_byte_change_is_detected(sealed, tmp_path, frac, xor):
    _, data = sealed
    target = tmp_path / "h.golden"
    target.write_bytes(_flipped(data, int(frac * len(data)), xor))
    with pytest.raises(IntegrityError):
        load_golden(target)


def test_not_a_package_truncated_or_extended(sealed, tmp_path):
    _, data = sealed
    t = tmp_path / "bad.golden"
    for blob in (b"", b"hello, not a zip", data[: len(data) // 2], data[:-1], data + b"\0", b"\0" * 100):
        t.write_bytes(blob)
        with pytest.raises(IntegrityError, match="bad.golden"):
            load_golden(t)
    with pytest.raises(IntegrityError, match="not found"):
        load_golden(tmp_path / "missing.golden")


def test_missing_unlisted_and_unsafe_members(sealed, tmp_path):
    src, _ = sealed

    def drop(entries, manifest):
        entries.pop("states/registration/kp.npy")

    p = reseal(src, tmp_path / "a.golden", drop)  # consistent manifest but the state refers to a lost array
    with pytest.raises(IntegrityError, match="kp.npy"):
        load_golden(p)

    entries = package._read_zip(src.read_bytes(), "x", max_members=100, max_total_bytes=2**31)
    extra = list(entries.items()) + [("states/anomaly/extra.npy", package._npy_bytes(np.ones(2)))]
    package._write_zip(tmp_path / "b.golden", extra)
    with pytest.raises(IntegrityError, match="extra.npy.*not listed"):
        load_golden(tmp_path / "b.golden")

    missing = [(n, b) for n, b in entries.items() if n != "meta.json"]
    package._write_zip(tmp_path / "c.golden", missing)
    with pytest.raises(IntegrityError, match="meta.json.*missing"):
        load_golden(tmp_path / "c.golden")

    no_manifest = [(n, b) for n, b in entries.items() if n != "manifest.json"]
    package._write_zip(tmp_path / "d.golden", no_manifest)
    with pytest.raises(IntegrityError, match="manifest.json"):
        load_golden(tmp_path / "d.golden")

    for evil in ("../evil.json", "/etc/passwd", "states/../../x.npy", "a\\b.json"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("manifest.json", b"{}")
            z.writestr(evil, b"x")
        (tmp_path / "e.golden").write_bytes(buf.getvalue())
        with pytest.raises(IntegrityError, match="e.golden"):
            load_golden(tmp_path / "e.golden")


def test_zip_bomb_limits(sealed, tmp_path):
    src, _ = sealed
    with pytest.raises(IntegrityError, match="limit of 5"):
        load_golden(src, max_members=5)
    with pytest.raises(IntegrityError, match="zip bomb"):
        load_golden(src, max_total_bytes=10_000)

    def bomb(entries, manifest):  # 64 MiB of zeros deflate to ~64 KiB
        entries["meta.json"] = b"[" + b" " * (64 * 2**20) + b"]"

    p = reseal(src, tmp_path / "bomb.golden", bomb)
    assert p.stat().st_size < 2**20
    with pytest.raises(IntegrityError, match="zip bomb"):
        load_golden(p, max_total_bytes=16 * 2**20)
    with pytest.raises(IntegrityError, match="pixels"):
        load_golden(src, max_pixels=1000)


def test_pickle_is_never_used(tmp_path, sealed):
    g = make_golden()
    g.states["bad"] = {"obj": np.array([{"a": 1}], dtype=object)}
    with pytest.raises(ModelError, match="obj"):
        g.save(tmp_path / "o.golden")
    src, _ = sealed

    def pickled(entries, manifest):
        buf = io.BytesIO()
        np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        entries["states/registration/kp.npy"] = buf.getvalue()

    p = reseal(src, tmp_path / "p.golden", pickled)
    with pytest.raises(IntegrityError, match="kp.npy"):
        load_golden(p)


# ---------------------------------------------------------------------------- signatures


def test_trust_and_required_roles(tmp_path, keys, sealed):
    src, _ = sealed
    stranger_priv, stranger_pub = signing.new_keypair("stranger", "factory")
    p = tmp_path / "s.golden"
    make_golden().save(p, sign_with=[(stranger_priv, "factory", "Mallory")])
    load_golden(p)  # integrity holds without trust requirements
    with pytest.raises(IntegrityError, match="no signature is from a trusted key"):
        load_golden(p, trusted_keys=[keys["factory"][1]])
    with pytest.raises(IntegrityError, match="required signature role 'factory'.*not a trusted key"):
        load_golden(p, trusted_keys=[keys["factory"][1]], require_roles=["factory"])
    assert load_golden(src, trusted_keys=[keys["factory"][1]]).meta["package"]["trusted"] is True
    with pytest.raises(IntegrityError, match="required signature role 'buyer' is missing"):
        load_golden(src, require_roles=["buyer"])

    # a keyring directory; a key whose .pub names a role counts only for that role
    ring = tmp_path / "ring"
    ring.mkdir()
    (ring / "factory1.pub").write_bytes(keys["factory"][1])
    assert load_golden(src, trusted_keys=ring, require_roles=["factory"])
    q = tmp_path / "q.golden"
    make_golden().save(q, sign_with=[(keys["factory"][0], "buyer", "Acme pretending to be the buyer")])
    with pytest.raises(IntegrityError, match="'buyer'.*not a trusted key"):
        load_golden(q, trusted_keys=ring, require_roles=["buyer"])


def test_every_signature_must_be_trusted_when_keys_are_given(tmp_path, keys):
    from goldenvision.errors import UntrustedSignatureError

    stranger_priv, stranger_pub = signing.new_keypair("stranger", "inspector")
    p = tmp_path / "two.golden"
    make_golden().save(p, sign_with=[(keys["factory"][0], "factory", "Acme"),
                                     (stranger_priv, "inspector", "Unknown Inspector")])
    stranger_id = signing.key_id(stranger_pub)
    assert load_golden(p).meta["package"]["trusted"] is None  # integrity alone holds
    for call in (package.verify_golden, load_golden):
        with pytest.raises(UntrustedSignatureError, match=f"signatures/inspector-{stranger_id}.json"):
            call(p, trusted_keys=[keys["factory"][1]])
    # the factory's trusted signature does not stand in for the inspector role
    with pytest.raises(UntrustedSignatureError, match="'inspector'.*not a trusted key"):
        package.verify_golden(p, trusted_keys=[keys["factory"][1]], require_roles=["inspector"])
    ring = tmp_path / "ring"
    ring.mkdir()
    (ring / "factory.pub").write_bytes(keys["factory"][1])
    r = CliRunner().invoke(app, ["verify", str(p), "--trust", str(ring), "--json"])
    assert r.exit_code == 77, r.output
    err = json.loads(r.stdout)["error"]
    assert err["code"] == 77 and err["kind"] == "UntrustedSignatureError" and stranger_id in err["message"]
    assert "Unknown Inspector" in r.stderr
    r = CliRunner().invoke(app, ["verify", str(p)])  # without --trust: both signatures verify
    assert r.exit_code == 0, r.output


def test_diff_compares_signatures(tmp_path, keys):
    g = make_golden()
    pa, pb, pc = tmp_path / "a.golden", tmp_path / "b.golden", tmp_path / "c.golden"
    g.save(pa, sign_with=[(keys["factory"][0], "factory", "Acme")])
    g.save(pb, sign_with=[(keys["factory"][0], "factory", "Acme"), (keys["buyer"][0], "buyer", "Shop")])
    g.save(pc, sign_with=[(keys["factory"][0], "other", "Acme Labs")])
    a, b, c = load_golden(pa), load_golden(pb), load_golden(pc)
    fid, bid = signing.key_id(keys["factory"][1]), signing.key_id(keys["buyer"][1])
    d = package.diff_golden(a, b)
    assert d.identical  # same content; only who signed differs
    assert [(x.key_id, x.kind, x.new_roles, x.new_signer) for x in d.signatures] == [(bid, "added", ("buyer",), "Shop")]
    back = package.diff_golden(b, a)
    assert [(x.key_id, x.kind, x.old_roles) for x in back.signatures] == [(bid, "removed", ("buyer",))]
    ch = package.diff_golden(a, c).signatures
    assert [(x.key_id, x.kind, x.old_roles, x.new_roles, x.old_signer, x.new_signer) for x in ch] == [
        (fid, "changed", ("factory",), ("other",), "Acme", "Acme Labs")]
    assert not package.diff_golden(a, load_golden(pa)).signatures
    r = CliRunner().invoke(app, ["diff", str(pa), str(pb), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["signatures"][0]["key_id"] == bid
    r = CliRunner().invoke(app, ["diff", str(pa), str(pb)])
    assert f"signature added: key {bid} (Shop) as buyer" in " ".join(r.stdout.split())


def test_spec_required_signatures_and_countersign(tmp_path, keys):
    spec = dict(SPEC, required_signatures=["factory", "buyer"])
    p = tmp_path / "r.golden"
    make_golden(spec=spec).save(p, sign_with=[(keys["factory"][0], "factory", "Acme")])
    manifest_before = zipfile.ZipFile(p).read("manifest.json")
    with pytest.raises(IntegrityError, match="required signature role 'buyer' is missing"):
        load_golden(p)
    with pytest.raises(IntegrityError, match="'buyer' is missing"):
        package.verify_golden(p, require_roles=[])  # the spec's roles still apply
    s = package.add_signature(p, keys["buyer"][0], "buyer", "Buyer QA")
    assert s.role == "buyer" and s.key_id == signing.key_id(keys["buyer"][1])
    assert zipfile.ZipFile(p).read("manifest.json") == manifest_before
    trusted = [keys["factory"][1], keys["buyer"][1]]
    g = load_golden(p, trusted_keys=trusted)
    assert sorted(x["role"] for x in g.meta["package"]["signatures"]) == ["buyer", "factory"]
    report = package.verify_golden(p, trusted_keys=trusted)
    assert report.required_roles == ("factory", "buyer") and all(x.trusted for x in report.signatures)
    with pytest.raises(IntegrityError, match="already signed"):
        package.add_signature(p, keys["buyer"][0], "buyer", "Buyer QA")


def test_signature_cannot_be_relabelled_or_replayed(tmp_path, keys, sealed):
    src, _ = sealed
    entries = package._read_zip(src.read_bytes(), "x", max_members=100, max_total_bytes=2**31)
    (sig_name,) = [n for n in entries if n.startswith("signatures/")]
    rec = json.loads(entries[sig_name])
    forged = dict(rec, role="buyer")
    items = [(n, b) for n, b in entries.items() if n != sig_name]
    items.append((f"signatures/buyer-{rec['key_id']}.json", package.canonical_json(forged)))
    package._write_zip(tmp_path / "f.golden", items)
    with pytest.raises(IntegrityError, match="role 'buyer'.*not valid"):
        load_golden(tmp_path / "f.golden")

    other = tmp_path / "other.golden"
    make_golden(seed=1).save(other)
    o_entries = package._read_zip(other.read_bytes(), "x", max_members=100, max_total_bytes=2**31)
    package._write_zip(tmp_path / "r.golden", list(o_entries.items()) + [(sig_name, entries[sig_name])])
    with pytest.raises(IntegrityError, match="manifest changed after signing"):
        load_golden(tmp_path / "r.golden")


# ---------------------------------------------------------------------------- revisions and diff


def test_revision_link_and_diff(tmp_path, sealed):
    src, _ = sealed
    a = load_golden(src)
    spec_b = dict(SPEC, revision="B", anomaly_zones=[{"name": "all", "sensitivity": 2.0}])
    ref_b = a.reference.copy()
    ref_b[:24] = 0  # known change: mean |diff| = mean of the top half over the whole image / 1
    caps_b = [ref_b.copy(), a.captures[1].copy(), a.captures[1].copy()]
    states_b = {
        "anomaly": dict(a.states["anomaly"], threshold=2.0, mean=np.full((48, 64), 0.25, np.float32)),
        "registration": a.states["registration"],
    }
    b = dataclasses.replace(a, spec=load_spec(spec_b), reference=ref_b, captures=caps_b, states=states_b,
                            meta={k: v for k, v in a.meta.items() if k != "package"})
    pb = tmp_path / "b.golden"
    b.save(pb, predecessor=a)
    b2 = load_golden(pb)
    link = b2.meta["package"]["predecessor"]
    assert link == {"golden_id": a.meta["package"]["golden_id"],
                    "manifest_sha256": a.meta["package"]["manifest_sha256"]}
    assert b2.provenance()["predecessor"] == link
    pc = tmp_path / "c.golden"
    b.save(pc, predecessor=src)  # a package path links the same way
    assert load_golden(pc).meta["package"]["predecessor"] == link

    d = package.diff_golden(a, b2)
    assert d.b_follows_a and not package.diff_golden(b2, a).b_follows_a
    spec_changes = {c.path: (c.old, c.new) for c in d.spec}
    assert spec_changes == {"revision": ("A", "B"), "anomaly_zones[all].sensitivity": (1.0, 2.0)}
    assert d.reference_changed
    expected_mad = float(np.mean(a.reference[:24].astype(np.float64))) * 24 / 48
    assert d.reference_mean_abs_diff == pytest.approx(expected_mad, abs=1e-9)
    assert d.captures_changed == (0,) and d.captures_added == (2,) and d.captures_removed == ()
    by_key = {(c.stage, c.key): c for c in d.states}
    assert set(by_key) == {("anomaly", "threshold"), ("anomaly", "mean")}
    thr = by_key[("anomaly", "threshold")]
    assert (thr.kind, thr.old, thr.new, thr.threshold) == ("value", 1.5, 2.0, True)
    mean = by_key[("anomaly", "mean")]
    assert mean.kind == "array" and mean.stats["mean_abs_diff"] == pytest.approx(0.25)
    assert mean.stats["max_abs_diff"] == pytest.approx(0.25) and mean.stats["changed_elements"] == 48 * 64
    assert d.thresholds == (thr,)
    assert not d.identical and not d.meta and not d.profile
    text = "\n".join(d.lines())
    assert "revision: 'A' -> 'B'" in text and "threshold 1.5 -> 2.0" in text and "supersedes" in text
    json.dumps(d.to_dict())  # JSON-serialisable
    same = package.diff_golden(a, load_golden(src))
    assert same.identical and same.reference_mean_abs_diff == 0.0


# ---------------------------------------------------------------------------- CLI


def test_cli_keys_sign_verify_diff(tmp_path, sealed):
    runner = CliRunner()
    ring = tmp_path / "ring"
    for name, role in (("acme", "factory"), ("shop", "buyer")):
        r = runner.invoke(app, ["keys", "new", name, "--role", role, "--out", str(ring)])
        assert r.exit_code == 0, r.output
    assert (ring / "acme.key").exists() and (ring / "shop.pub").exists()
    p = tmp_path / "c.golden"
    make_golden(spec=dict(SPEC, required_signatures=["factory", "buyer"])).save(
        p, sign_with=[(ring / "acme.key", "factory", "Acme")]
    )
    r = runner.invoke(app, ["verify", str(p), "--trust", str(ring)])
    assert r.exit_code == 77 and "buyer" in r.stderr and r.stderr.startswith("error: ")  # not signed: untrusted
    assert len(r.stderr.strip().splitlines()) == 1
    r = runner.invoke(app, ["sign", str(p), "--key", str(ring / "shop.key"), "--role", "buyer", "--signer", "Shop"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["verify", str(p), "--trust", str(ring), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["ok"] and sorted(s["role"] for s in rep["signatures"]) == ["buyer", "factory"]
    assert all(s["trusted"] for s in rep["signatures"]) and len(rep["members"]) == 13
    r = runner.invoke(app, ["verify", str(p), "--trust", str(ring)])
    assert r.exit_code == 0 and signing.key_id(ring / "shop.pub") in r.stdout

    src, data = sealed
    bad = tmp_path / "bad.golden"
    bad.write_bytes(_flipped(data, len(data) // 3))
    r = runner.invoke(app, ["verify", str(bad)])
    assert r.exit_code == 65 and "bad.golden" in r.stderr  # tampered: bad data

    r = runner.invoke(app, ["diff", str(src), str(p), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert [c["path"] for c in d["spec"]] == ["required_signatures"] and not d["b_follows_a"]
    r = runner.invoke(app, ["diff", str(src), str(src)])
    assert r.exit_code == 0 and "no changes" in r.stdout


# ---------------------------------------------------------------------------- layout


def test_golden_sample_is_frozen_and_save_still_works(tmp_path, keys):
    g = make_golden()
    assert isinstance(g.captures, tuple) and len(g.captures) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.spec = None
    path = g.save(tmp_path / "f.golden", sign_with=[(keys["factory"][0], "factory", "Acme")], predecessor=None)
    assert g.meta["package"]["golden_id"] == load_golden(path).meta["package"]["golden_id"]
    assert g.provenance()["sealed"] is True


def test_no_module_level_import_cycle_between_golden_and_package():
    import ast
    import importlib
    import pathlib

    def top_imports(path):
        tree = ast.parse(pathlib.Path(path).read_text())
        return {(n.module or "", n.level) for n in tree.body if isinstance(n, ast.ImportFrom)}

    golden_mod = importlib.import_module("goldenvision.golden")
    assert not any("package" in m for m, _ in top_imports(golden_mod.__file__))
    pkg_dir = pathlib.Path(package.__file__).parent
    assert ("golden", 2) in top_imports(pkg_dir / "archive.py")  # the one direction: package -> golden
    for f in sorted(pkg_dir.glob("*.py")):
        assert len(f.read_text().splitlines()) < 600, f.name
