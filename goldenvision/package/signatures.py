"""Ed25519 signatures of a golden package: the signed claims, making, checking and trust.

A signature covers the manifest through its SHA-256 plus the record's own claims (see
:mod:`goldenvision.package`). Keys and keyrings live in :mod:`goldenvision.signing`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

from .. import signing
from ..errors import IntegrityError, UntrustedSignatureError
from .container import (
    FORMAT_VERSION,
    SIGNATURE_PURPOSE,
    SIGNATURES_DIR,
    _parse_json,
    _utc_now,
    canonical_json,
)


@dataclass(frozen=True)
class SigningKey:
    """A private key, the role it signs in and the signer's name.

    ``private_key`` is an ``Ed25519PrivateKey``, PKCS#8 PEM bytes or a ``.key`` path.
    """

    private_key: Any
    role: str
    signer: str
    passphrase: bytes | str | None = None


def _as_signing_key(item: Any) -> SigningKey:
    if isinstance(item, SigningKey):
        return item
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        key, role = item[0], item[1]
        signer = item[2] if len(item) == 3 else role
        return SigningKey(key, role, signer)
    raise IntegrityError(f"sign_with: expected SigningKey or (key, role[, signer]) tuples, got {type(item).__name__}")


def _signature_payload(record: dict[str, Any]) -> bytes:
    return canonical_json({
        "purpose": SIGNATURE_PURPOSE,
        "golden_id": record["golden_id"],
        "manifest_sha256": record["manifest_sha256"],
        "role": record["role"],
        "signer": record["signer"],
        "signed_utc": record["signed_utc"],
        "key_id": record["key_id"],
    })


def _make_signature(manifest: dict[str, Any], manifest_sha256: str, sk: SigningKey) -> tuple[str, bytes, dict]:
    if sk.role not in signing.ROLES:
        raise IntegrityError(f"role: expected one of {list(signing.ROLES)}, got {sk.role!r}")
    if not isinstance(sk.signer, str) or not sk.signer.strip():
        raise IntegrityError(f"signer: expected a non-empty name, got {sk.signer!r}")
    priv = signing.load_private_key(sk.private_key, passphrase=sk.passphrase)
    pub = priv.public_key()
    record: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "golden_id": manifest["golden_id"],
        "manifest_sha256": manifest_sha256,
        "role": sk.role,
        "signer": sk.signer,
        "signed_utc": _utc_now(),
        "key_id": signing.key_id(pub),
        "public_key": base64.b64encode(signing.public_key_raw(pub)).decode("ascii"),
    }
    record["signature"] = base64.b64encode(signing.sign(_signature_payload(record), priv)).decode("ascii")
    name = f"{SIGNATURES_DIR}{sk.role}-{record['key_id']}.json"
    return name, canonical_json(record), record


@dataclass(frozen=True)
class SignatureCheck:
    """A signature that verified over the manifest.

    ``trusted`` is None when no trusted keys were given, else whether a trusted key (allowed
    for this role) made it.
    """

    member: str
    role: str
    key_id: str
    signer: str
    signed_utc: str
    trusted: bool | None


def _check_signature(name: str, content: bytes, manifest: dict, manifest_sha: str, where: str) -> dict[str, Any]:
    label = f"{where}: signature {name!r}"
    rec = _parse_json(content, label)
    if not isinstance(rec, dict):
        raise IntegrityError(f"{label}: expected a JSON object")
    try:
        if canonical_json(rec) != content:
            raise IntegrityError(f"{label}: expected canonical JSON; it was re-encoded or edited")
    except ValueError as exc:
        raise IntegrityError(f"{label}: not canonical JSON ({exc})") from None
    needed = ("golden_id", "manifest_sha256", "role", "signer", "signed_utc", "key_id", "public_key", "signature")
    missing = [k for k in needed if not isinstance(rec.get(k), str)]
    if missing:
        raise IntegrityError(f"{label}: fields {missing} missing or not strings")
    role, kid = rec["role"], rec["key_id"]
    if role not in signing.ROLES:
        raise IntegrityError(f"{label}: role {role!r}, expected one of {list(signing.ROLES)}")
    try:
        raw_pub = base64.b64decode(rec["public_key"], validate=True)
        sig = base64.b64decode(rec["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError(f"{label}: public_key/signature are not valid base64") from None
    if len(raw_pub) != 32:
        raise IntegrityError(f"{label}: public key of {len(raw_pub)} bytes, expected 32 (Ed25519)")
    real_kid = hashlib.sha256(raw_pub).hexdigest()[:16]
    if kid != real_kid:
        raise IntegrityError(f"{label}: key_id {kid} does not match its public key (id {real_kid})")
    if name != f"{SIGNATURES_DIR}{role}-{kid}.json":
        raise IntegrityError(f"{label}: expected member name {SIGNATURES_DIR}{role}-{kid}.json for role {role!r}")
    if rec["golden_id"] != manifest["golden_id"] or rec["manifest_sha256"] != manifest_sha:
        raise IntegrityError(f"{label}: role {role!r} key {kid} signed manifest {rec['manifest_sha256'][:16]}... "
                             f"of golden {rec['golden_id']}, expected manifest {manifest_sha[:16]}... of golden "
                             f"{manifest['golden_id']}: the manifest changed after signing")
    if not signing.verify(_signature_payload(rec), sig, raw_pub):
        raise IntegrityError(f"{label}: role {role!r} key {kid}: Ed25519 signature is not valid over the manifest")
    out = dict(rec)
    out["member"] = name
    out["raw_public_key"] = raw_pub
    return out


def _trusted_for(rec: dict[str, Any], keyring: list[signing.TrustedKey]) -> bool:
    for tk in keyring:
        if tk.key_id == rec["key_id"] and signing.public_key_raw(tk.public_key) == rec["raw_public_key"]:
            if tk.role is None or tk.role == rec["role"]:
                return True
    return False


def _check_trust(where: str, records: Sequence[dict[str, Any]], spec_roles: Sequence[str], trusted_keys: Any,
                 require_roles: Sequence[str] | None) -> tuple[tuple[SignatureCheck, ...], tuple[str, ...]]:
    """Trust of verified signature ``records`` (see :func:`_check_signature`): the checks and the required roles.

    Raises UntrustedSignatureError when a required role is missing or, with ``trusted_keys``, when a
    required role has no trusted signature or any signature is not from a trusted key.
    """
    keyring = None if trusted_keys is None else signing.load_keyring(trusted_keys)
    required = tuple(dict.fromkeys(list(spec_roles) + list(require_roles or ())))
    checks = tuple(
        SignatureCheck(r["member"], r["role"], r["key_id"], r["signer"], r["signed_utc"],
                       None if keyring is None else _trusted_for(r, keyring))
        for r in records
    )
    present = ", ".join(f"{c.role} (key {c.key_id}{'' if c.trusted is not False else ', untrusted'})"
                        for c in checks) or "none"
    for role in required:
        of_role = [c for c in checks if c.role == role]
        if not of_role:
            raise UntrustedSignatureError(f"{where}: required signature role {role!r} is missing; signatures present: "
                                          f"{present}")
        if keyring is not None and not any(c.trusted for c in of_role):
            keys = ", ".join(c.key_id for c in of_role)
            raise UntrustedSignatureError(f"{where}: required signature role {role!r} is signed by key {keys}, which "
                                          f"is not a trusted key for that role")
    if keyring is not None and not required and not any(c.trusted for c in checks):
        raise UntrustedSignatureError(f"{where}: trusted keys were given but no signature is from a trusted key; "
                                      f"signatures present: {present}")
    untrusted = [c for c in checks if keyring is not None and not c.trusted]
    if untrusted:
        names = "; ".join(f"{c.member} (role {c.role!r}, key {c.key_id}, signer {c.signer!r})" for c in untrusted)
        raise UntrustedSignatureError(f"{where}: signature {names} is not made by a trusted key for its role; "
                                      "with trusted keys every signature must be trusted")
    return checks, required
