"""Versioned, hashed and signable defect-detector bundles (no torch).

A bundle is a directory::

    model.onnx        the detector graph; its metadata_props hold the classes and thresholds
    MODEL_CARD.md     data hash, classes, metrics, date, software versions
    manifest.json     format, name, version, classes, thresholds, data hash, metrics and the
                      sha256 of every file above
    signatures/       optional Ed25519 signatures of the manifest (``<role>-<key id>.json``)

The bundle's identity is ``bundle_sha256``, the SHA-256 of the canonical JSON of the manifest
(which pins every file by its hash). A spec names a bundle by path and this hash. Signatures
reuse the golden's keys (:mod:`goldenvision.signing`): a signature covers the purpose, the
bundle hash, the role, the signer and the date.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import signing
from ..errors import InputNotFoundError, IntegrityError, UntrustedSignatureError
from ..package.container import _utc_now, canonical_json

FORMAT = "goldenvision-detector-bundle/1"
SIGNATURE_PURPOSE = "goldenvision-detector-bundle-signature/1"
MODEL_FILE = "model.onnx"
CARD_FILE = "MODEL_CARD.md"
MANIFEST_FILE = "manifest.json"
SIGNATURES_DIR = "signatures"
#: Keys of the ONNX metadata_props the bundle writes (and the loader checks against the manifest).
META_CLASSES = "goldenvision.classes"
META_THRESHOLDS = "goldenvision.thresholds"
META_VERSION = "goldenvision.version"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_sha256(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(manifest)).hexdigest()


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """A verified bundle: where it is, its manifest and identity, and who signed it."""

    path: Path
    manifest: dict[str, Any]
    bundle_sha256: str
    signatures: tuple[dict[str, Any], ...]

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.manifest["classes"])

    @property
    def thresholds(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.manifest["thresholds"].items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "version": self.version,
            "bundle_sha256": self.bundle_sha256,
            "classes": list(self.classes),
            "thresholds": self.thresholds,
            "signed_by": [f"{s['role']}:{s['signer']}" for s in self.signatures],
        }


def write_manifest(bundle_dir: Path, *, name: str, version: str, classes: list[str], thresholds: dict[str, float],
                   extra: dict[str, Any]) -> str:
    """Hash the bundle's files into ``manifest.json``; returns the bundle sha256."""
    files = {}
    for fname in (MODEL_FILE, CARD_FILE):
        p = bundle_dir / fname
        if not p.is_file():
            raise InputNotFoundError(f"{p}: bundle file missing")
        files[fname] = file_sha256(p)
    manifest = {
        "format": FORMAT,
        "name": name,
        "version": version,
        "created_utc": _utc_now(),
        "classes": list(classes),
        "thresholds": {k: float(v) for k, v in thresholds.items()},
        "files": files,
        **extra,
    }
    (bundle_dir / MANIFEST_FILE).write_bytes(canonical_json(manifest) + b"\n")
    return manifest_sha256(manifest)


def _read_manifest(bundle_dir: Path) -> dict[str, Any]:
    p = bundle_dir / MANIFEST_FILE
    if not bundle_dir.is_dir():
        raise InputNotFoundError(f"{bundle_dir}: not a detector bundle directory")
    if not p.is_file():
        raise InputNotFoundError(f"{p}: detector bundle has no manifest")
    try:
        manifest = json.loads(p.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise IntegrityError(f"{p}: format {got!r}; expected {FORMAT!r}")
    for key in ("name", "version", "classes", "thresholds", "files"):
        if key not in manifest:
            raise IntegrityError(f"{p}: manifest lacks {key!r}")
    return manifest


def _signature_payload(rec: dict[str, Any]) -> bytes:
    return canonical_json({k: rec[k] for k in ("purpose", "bundle_sha256", "role", "signer", "signed_utc", "key_id")})


def sign_bundle(bundle: "str | os.PathLike[str]", private_key: Any, *, role: str, signer: str,
                passphrase: bytes | str | None = None) -> Path:
    """Sign a verified bundle's manifest with an Ed25519 key; writes ``signatures/<role>-<key id>.json``."""
    info = verify_bundle(bundle)
    key = signing.load_private_key(private_key, passphrase=passphrase)
    if role not in signing.ROLES:
        raise IntegrityError(f"role={role!r}; expected one of {signing.ROLES}")
    rec: dict[str, Any] = {
        "purpose": SIGNATURE_PURPOSE,
        "bundle_sha256": info.bundle_sha256,
        "role": role,
        "signer": signer,
        "signed_utc": _utc_now(),
        "key_id": signing.key_id(key),
        "public_key": base64.b64encode(signing.public_key_raw(key)).decode(),
    }
    rec["signature"] = base64.b64encode(signing.sign(_signature_payload(rec), key)).decode()
    out = info.path / SIGNATURES_DIR / f"{role}-{rec['key_id']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(canonical_json(rec) + b"\n")
    return out


def _check_signatures(bundle_dir: Path, bundle_sha: str) -> list[dict[str, Any]]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    out = []
    sig_dir = bundle_dir / SIGNATURES_DIR
    for p in sorted(sig_dir.glob("*.json")) if sig_dir.is_dir() else []:
        try:
            rec = json.loads(p.read_bytes())
            raw = base64.b64decode(rec["public_key"], validate=True)
            sig = base64.b64decode(rec["signature"], validate=True)
            pub = Ed25519PublicKey.from_public_bytes(raw)
            payload = _signature_payload(rec)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise IntegrityError(f"{p}: malformed signature record ({exc})") from None
        if rec["purpose"] != SIGNATURE_PURPOSE or rec["bundle_sha256"] != bundle_sha:
            raise IntegrityError(f"{p}: signs bundle {rec.get('bundle_sha256')!r}, this bundle is {bundle_sha}")
        if signing.key_id(pub) != rec["key_id"] or not signing.verify(payload, sig, pub):
            raise IntegrityError(f"{p}: signature does not verify")
        out.append(rec)
    return out


def verify_bundle(
    bundle: "str | os.PathLike[str]",
    *,
    expected_sha256: str | None = None,
    trusted_keys: Any = None,
    required_roles: tuple[str, ...] = (),
) -> BundleInfo:
    """Check a bundle before use; refuse it with :class:`IntegrityError` on any mismatch.

    Checks: the manifest's format and fields; every listed file's sha256; no unlisted file
    beside them (``signatures/`` excepted); the bundle sha256 against ``expected_sha256``
    (a prefix of at least 12 hex digits is accepted); every signature present; with
    ``required_roles``, a signature by a key of ``trusted_keys`` (a keyring) for each role.
    """
    path = Path(bundle).expanduser()
    manifest = _read_manifest(path)
    files = manifest["files"]
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise IntegrityError(f"{path / MANIFEST_FILE}: 'files' must list {MODEL_FILE}")
    for fname, digest in files.items():
        if "/" in fname or "\\" in fname or fname.startswith("."):
            raise IntegrityError(f"{path / MANIFEST_FILE}: file name {fname!r} not allowed")
        p = path / fname
        if not p.is_file():
            raise IntegrityError(f"{p}: listed in the manifest but missing")
        got = file_sha256(p)
        if got != digest:
            raise IntegrityError(f"{p}: sha256 {got} differs from the manifest's {digest} (bundle altered)")
    extra = sorted(p.name for p in path.iterdir() if p.name not in files and p.name not in (MANIFEST_FILE, SIGNATURES_DIR))
    if extra:
        raise IntegrityError(f"{path}: files not in the manifest: {extra}")
    sha = manifest_sha256(manifest)
    if expected_sha256 is not None:
        exp = expected_sha256.lower().strip()
        if len(exp) < 12 or not sha.startswith(exp):
            raise IntegrityError(f"{path}: bundle sha256 {sha} does not match the expected {expected_sha256!r}")
    sigs = _check_signatures(path, sha)
    if required_roles:
        keyring = signing.load_keyring(trusted_keys) if trusted_keys is not None else []
        for role in required_roles:
            ok = any(
                s["role"] == role and any(k.key_id == s["key_id"] and (k.role in (None, role)) for k in keyring) for s in sigs
            )
            if not ok:
                raise UntrustedSignatureError(f"{path}: no signature for role {role!r} by a trusted key")
    return BundleInfo(path, manifest, sha, tuple(sigs))
