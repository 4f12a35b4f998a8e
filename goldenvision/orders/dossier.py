"""The order's dossier: one tamper-evident, signed file with the whole evidence chain.

``<PO>.dossier`` is a ZIP written canonically (members stored uncompressed, sorted, with fixed
timestamps and attributes), so the file's bytes are a function of its members alone.
``manifest.json`` lists the SHA-256 of every member; ``signatures/*.json`` hold Ed25519
signatures (RFC 8032) over the canonical JSON of ``{purpose, po, manifest_sha256, role, signer,
signed_utc}``. :func:`verify_dossier` checks every member's hash, that nothing was added or
removed, that the file is exactly the canonical packing of its members (so a flipped byte
anywhere, framing included, is refused), and every signature; with trusted keys, a
signature by any other key is refused.

Members: ``order.json`` (the order and its timeline), ``golden.json`` (the golden's id and
signatures), ``pps.json`` (proposals and signed decisions), ``lots.json`` (each lot's plan,
sample and verdict), ``drift.json`` (alarms across the order's units), ``recommendation.json``
(release of the balance payment, in words), ``evidence/*.jpg`` (failing units beside the
golden) and ``view.html`` (the human-readable view, also written beside the file with a PDF).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from ..errors import IntegrityError, OutputExistsError
from .core import show_order

__all__ = ["write_dossier", "verify_dossier", "countersign", "DossierCheck", "recommend", "focus_metrics"]

FORMAT = "goldenvision-dossier/1"
_DATE = (1980, 1, 1, 0, 0, 0)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _pretty(obj: Any) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def _pack(members: Mapping[str, bytes]) -> bytes:
    """The canonical ZIP of ``members``: stored, sorted by name, fixed dates and attributes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            z.writestr(info, members[name])
    return buf.getvalue()


def _sig_message(po: str, manifest_sha256: str, role: str, signer: str, signed_utc: str) -> bytes:
    return _canon({"purpose": "goldenvision-dossier", "po": po, "manifest_sha256": manifest_sha256, "role": role,
                   "signer": signer, "signed_utc": signed_utc})


def _signature_member(po: str, manifest_sha256: str, key: Any, *, role: str, signer: str,
                      passphrase: str | None) -> tuple[str, bytes]:
    from .. import signing

    priv = signing.load_private_key(key, passphrase=passphrase)
    kid = signing.key_id(priv)
    utc = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    sig = signing.sign(_sig_message(po, manifest_sha256, role, signer, utc), priv)
    body = {"role": role, "signer": signer, "key_id": kid, "signed_utc": utc,
            "public_key": base64.b64encode(signing.public_key_raw(priv)).decode(),
            "signature": base64.b64encode(sig).decode()}
    return f"signatures/{kid}-{role}.json", _pretty(body)


def recommend(order: Mapping[str, Any], lots: Sequence[Mapping[str, Any]], alarms: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Release of the balance payment, in words, from the PPS decision, the last PSI and drift."""
    decisions = [e for e in order["timeline"] if e["kind"] == "pps_decided"]
    psi = [lot for lot in lots if str(lot.get("inspection_type") or lot.get("type")) == "psi"]
    if not decisions or decisions[-1]["outcome"] == "resubmit":
        why = ("the pre-production sample has not been approved" if not decisions
               else f"the last pre-production sample (submission {decisions[-1]['submission']}) was sent back for resubmission")
        return {"release": False, "words": f"Hold the balance payment: {why}."}
    if not psi:
        return {"release": False, "words": "Hold the balance payment: no pre-shipment inspection (PSI) has been recorded."}
    last = psi[-1]
    decision = str((last.get("verdict") or {}).get("decision") or last.get("decision") or "pending")
    lot_id = last.get("lot_id", "?")
    if decision != "accept":
        return {"release": False,
                "words": f"Hold the balance payment: the pre-shipment inspection of lot {lot_id} was judged {decision}."}
    if alarms:
        names = ", ".join(sorted({f"{a.get('metric')} ({a.get('direction')})" for a in alarms})[:4])
        return {"release": True, "words": f"Release the balance payment: lot {lot_id} passed its pre-shipment inspection "
                                          f"(ISO 2859-1). Ask the supplier to act on the drift seen in production: {names}."}
    approved = "approved" if decisions[-1]["outcome"] == "approve" else "approved with comments"
    return {"release": True, "words": f"Release the balance payment: the PPS was {approved} and lot {lot_id} passed its "
                                      "pre-shipment inspection (ISO 2859-1), with no drift alarm across the order."}


#: A characteristic the PPS decision asked to watch -> the store's metric names.
def focus_metrics(focus: Sequence[str]) -> set[str]:
    """``color:panel:lightness`` -> ``color.panel.dL`` (chroma dC, hue dH, no component: de00),
    ``dimension:strap_width`` -> ``dimension.strap_width.mm``, ``anomaly:buckle`` ->
    ``anomaly.buckle.score``."""
    out = set()
    for f in focus:
        kind, _, rest = f.partition(":")
        name, _, comp = rest.partition(":")
        if kind == "color":
            out.add(f"color.{name}." + {"lightness": "dL", "chroma": "dC", "hue": "dH"}.get(comp, "de00"))
        elif kind == "dimension":
            out.add(f"dimension.{name}.mm")
        elif kind == "anomaly":
            out.add(f"anomaly.{name}.score")
    return out


#: Watched characteristics are charted with an in-control ARL this many times shorter (more
#: sensitive: an alarm sooner, at the price of more false alarms on those few series).
FOCUS_ARL_FACTOR = 10.0


def _drift_alarms(store: Any, order: Mapping[str, Any], lot_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Drift alarms over the order's units (its lots), or [] when too few units to judge.

    The PPS decision's focus list is an SPC focus: those metrics are charted with an in-control
    ARL :data:`FOCUS_ARL_FACTOR` times shorter, and their alarms come first, marked ``focus``.
    """
    try:
        from ..drift import SeriesDesign, detect_drift
    except ImportError:
        return []
    units = [r for r in store.results(product=order["product"]) if (r.get("context") or {}).get("lot") in set(lot_ids)]
    if len(units) < 10:
        return []
    watched = focus_metrics(order.get("focus") or [])
    alarms = [dict(a.to_dict(), focus=False) for a in detect_drift(units, product=order["product"]).alarms
              if a.metric not in watched]
    if watched:
        design = SeriesDesign(arl0=SeriesDesign().arl0 / FOCUS_ARL_FACTOR)
        alarms += [dict(a.to_dict(), focus=True)
                   for a in detect_drift(units, product=order["product"], design=design, metrics=sorted(watched)).alarms]
    return sorted(alarms, key=lambda a: not a["focus"])


def _evidence(store: Any, order: Mapping[str, Any], max_units: int = 24) -> dict[str, bytes]:
    """Failing units beside the golden (JPEG), for units whose photo is still where it was judged."""
    import cv2

    from ..imageio import read_image
    from ..package import load_golden
    from ..pipeline import Inspector
    from ..station.evidence import side_by_side

    out: dict[str, bytes] = {}
    failing = [r for r in store.results(product=order["product"], golden_id=order["golden_id"])
               if r["verdict"] == "fail" and str((r.get("context") or {}).get("lot") or "").startswith(order["po"])]
    ins = None
    for r in failing[:max_units]:
        path = None
        for cand in ((r.get("evidence") or {}).get("photo"), r.get("file")):
            if cand and Path(cand).is_file():
                path = Path(cand)
                break
        if path is None:
            continue
        if ins is None:
            ins = Inspector(load_golden(order["golden_path"]))
        rgb = read_image(path)
        pic = side_by_side(ins.golden.reference, rgb, ins.inspect(rgb, unit_id=path.name), width=1000)
        ok, buf = cv2.imencode(".jpg", pic[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            out[f"evidence/{r['image_sha256'][:16]}-{Path(path).stem}.jpg"] = buf.tobytes()
    return out


@dataclass(frozen=True)
class DossierPaths:
    dossier: Path
    html: Path
    pdf: Path
    manifest_sha256: str


def write_dossier(store: Any, po: str, out_dir: str | Path, *, sign_with: Sequence[tuple[Any, str, str]] = (),
                  passphrase: str | None = None, force: bool = False) -> DossierPaths:
    """Write ``<PO>.dossier`` with ``<PO>.html`` and ``<PO>.pdf`` beside it.

    Parameters
    ----------
    sign_with : sequence of (private key, role, signer name)
        Signatures to add at once (more can be added later with :func:`countersign`).
    """
    from ..package import load_golden

    order = show_order(store, po)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in po)
    target = out / f"{safe}.dossier"
    if target.exists() and not force:
        raise OutputExistsError(f"{target} exists; pass --force to replace it")
    golden = load_golden(order["golden_path"])
    pkg = golden.meta.get("package") or {}
    golden_doc = {"golden_id": order["golden_id"], "product": golden.spec.product, "revision": golden.spec.revision,
                  "manifest_sha256": pkg.get("manifest_sha256"),
                  "signatures": [{k: s.get(k) for k in ("role", "key_id", "signer", "signed_utc")}
                                 for s in pkg.get("signatures", [])]}
    pps = [e for e in order["timeline"] if e["kind"] in ("pps_proposed", "pps_decided")]
    latest: dict[str, Any] = {}  # a lot recorded again (its final verdict after a pending one) keeps its place
    for e in order["timeline"]:
        if e["kind"] == "lot":
            latest[str(e["lot"].get("lot_id"))] = e["lot"]
    lots = list(latest.values())
    lot_ids = [str(lot.get("lot_id")) for lot in lots]
    alarms = _drift_alarms(store, order, lot_ids)
    rec = recommend(order, lots, alarms)
    evidence = _evidence(store, order)
    members: dict[str, bytes] = {
        "order.json": _pretty(order), "golden.json": _pretty(golden_doc), "pps.json": _pretty(pps),
        "lots.json": _pretty(lots), "drift.json": _pretty(alarms), "recommendation.json": _pretty(rec), **evidence,
    }
    from .views import render_html, render_pdf

    html = render_html(order, golden_doc, pps, lots, alarms, rec, evidence)
    members["view.html"] = html.encode()
    manifest = {"format": FORMAT, "po": po, "created_utc": datetime.now(UTC).isoformat(),
                "members": {n: _sha(b) for n, b in sorted(members.items())}}
    members["manifest.json"] = _pretty(manifest)
    msha = _sha(members["manifest.json"])
    for key, role, signer in sign_with:
        name, body = _signature_member(po, msha, key, role=role, signer=signer, passphrase=passphrase)
        members[name] = body
    target.write_bytes(_pack(members))
    html_path = out / f"{safe}.html"
    html_path.write_text(html, encoding="utf-8")
    pdf_path = out / f"{safe}.pdf"
    render_pdf(pdf_path, order, golden_doc, pps, lots, alarms, rec, evidence, manifest_sha256=msha)
    return DossierPaths(target, html_path, pdf_path, msha)


@dataclass(frozen=True)
class DossierCheck:
    """What :func:`verify_dossier` found."""

    ok: bool
    po: str | None
    manifest_sha256: str | None
    problems: tuple[str, ...]
    signatures: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "po": self.po, "manifest_sha256": self.manifest_sha256,
                "problems": list(self.problems), "signatures": list(self.signatures)}


def _read(path: str | Path) -> tuple[bytes, dict[str, bytes]]:
    raw = Path(path).read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            names = z.namelist()
            if len(names) != len(set(names)):
                raise IntegrityError(f"{path}: a member name appears twice")
            return raw, {n: z.read(n) for n in names}
    except Exception as exc:  # a damaged ZIP raises many kinds (NotImplementedError, RuntimeError, zlib.error, ...)
        raise IntegrityError(f"{path}: not a readable dossier container ({type(exc).__name__}: {exc})") from None


def verify_dossier(path: str | Path, *, trusted_keys: Any = None, require_roles: Sequence[str] = ()) -> DossierCheck:
    """Check every hash and signature of a dossier; never raises for a damaged file."""
    from .. import signing

    problems: list[str] = []
    try:
        raw, members = _read(path)
    except IntegrityError as exc:
        return DossierCheck(False, None, None, (str(exc),))
    if "manifest.json" not in members:
        return DossierCheck(False, None, None, ("manifest.json is missing",))
    try:
        manifest = json.loads(members["manifest.json"])
        listed = dict(manifest["members"])
        po = str(manifest["po"])
        if manifest.get("format") != FORMAT:
            problems.append(f"format {manifest.get('format')!r}, expected {FORMAT!r}")
    except (ValueError, KeyError, TypeError) as exc:
        return DossierCheck(False, None, None, (f"manifest.json is not a dossier manifest ({exc})",))
    msha = _sha(members["manifest.json"])
    present = {n for n in members if n != "manifest.json" and not n.startswith("signatures/")}
    for n in sorted(present - set(listed)):
        problems.append(f"member {n} is not in the manifest (added)")
    for n in sorted(set(listed) - present):
        problems.append(f"member {n} is missing (removed)")
    for n in sorted(present & set(listed)):
        if _sha(members[n]) != listed[n]:
            problems.append(f"member {n} was changed (sha256 differs from the manifest)")
    if _pack(members) != raw:
        problems.append("the file is not the canonical packing of its members (altered framing or extra bytes)")
    trusted = signing.load_keyring(trusted_keys) if trusted_keys else None
    sigs = []
    for n in sorted(x for x in members if x.startswith("signatures/")):
        try:
            s = json.loads(members[n])
            pub = base64.b64decode(s["public_key"], validate=True)
            ok = signing.verify(_sig_message(po, msha, s["role"], s["signer"], s["signed_utc"]),
                                base64.b64decode(s["signature"], validate=True), pub)
            kid = signing.key_id(pub)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{n}: not a readable signature ({exc})")
            continue
        entry = {"role": s["role"], "signer": s["signer"], "key_id": kid, "signed_utc": s["signed_utc"],
                 "valid": ok and kid == s.get("key_id"), "trusted": None}
        if not entry["valid"]:
            problems.append(f"{n}: the signature by {s['signer']} ({s['role']}) does not verify")
        if trusted is not None:
            match = [t for t in trusted if t.key_id == kid and (t.role in (None, s["role"]))]
            entry["trusted"] = bool(match)
            if not match:
                problems.append(f"{n}: signed by key {kid} ({s['signer']}, {s['role']}), which no trusted key matches")
        sigs.append(entry)
    for role in require_roles:
        if not any(e["role"] == role and e["valid"] and e["trusted"] is not False for e in sigs):
            problems.append(f"no valid{' trusted' if trusted is not None else ''} signature for the role {role!r}")
    if trusted is not None and not sigs:
        problems.append("trust was required but the dossier carries no signature")
    return DossierCheck(not problems, po, msha, tuple(problems), tuple(sigs))


def countersign(path: str | Path, key: Any, *, role: str, signer: str, passphrase: str | None = None) -> DossierCheck:
    """Add a signature to an intact dossier (e.g. the factory's after the buyer's)."""
    check = verify_dossier(path)
    if not check.ok:
        raise IntegrityError(f"{path}: refusing to countersign a dossier that does not verify: " + "; ".join(check.problems))
    _, members = _read(path)
    name, body = _signature_member(check.po or "", check.manifest_sha256 or "", key, role=role, signer=signer,
                                   passphrase=passphrase)
    members[name] = body
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(_pack(members))
    tmp.replace(path)
    return verify_dossier(path)
