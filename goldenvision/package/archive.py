"""Saving, loading, verifying and countersigning golden packages (see :mod:`goldenvision.package`)."""

from __future__ import annotations

import io
import os
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

import cv2
import numpy as np

from ..errors import IntegrityError, SpecError
from ..golden import GoldenSample
from ..spec import load_spec
from .container import (
    _DEFLATED,
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_TOTAL_BYTES,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    SIGNATURES_DIR,
    PackageNotFoundError,
    _json_member,
    _member_entry,
    _method_for,
    _parse_json,
    _plain,
    _read_zip,
    _sha256,
    _stored_bytes,
    _utc_now,
    _write_zip,
    canonical_json,
)
from .signatures import (
    SignatureCheck,
    SigningKey,
    _as_signing_key,
    _check_signature,
    _check_trust,
    _make_signature,
)
from .states import (
    _component,
    _decode_png,
    _encode_png,
    _join_state,
    _npy_bytes,
    _split_state,
)


def _predecessor_link(predecessor: Any) -> dict[str, str] | None:
    if predecessor is None:
        return None
    if isinstance(predecessor, dict):
        pkg = predecessor
    elif isinstance(predecessor, (str, os.PathLike)):
        pkg = verify_golden(predecessor).to_dict()
    else:  # a GoldenSample
        pkg = (getattr(predecessor, "meta", None) or {}).get("package") or {}
    gid, msha = pkg.get("golden_id"), pkg.get("manifest_sha256")
    if not isinstance(gid, str) or not isinstance(msha, str) or not re.fullmatch(r"[0-9a-f]{64}", msha):
        raise IntegrityError("predecessor: expected a loaded or saved GoldenSample, a package path, or a dict with "
                             f"golden_id and manifest_sha256; got {type(predecessor).__name__} without them")
    return {"golden_id": gid, "manifest_sha256": msha}


def _station_profile_id(golden: "GoldenSample") -> str | None:
    if isinstance(golden.profile, dict) and golden.profile.get("id") is not None:
        return str(golden.profile["id"])
    for k in ("station_profile_id", "profile_id"):
        if golden.meta.get(k) is not None:
            return str(golden.meta[k])
    return None


def _software_version() -> str:
    from .. import __version__

    return str(__version__)


def save_golden(
    golden: "GoldenSample",
    path: "str | os.PathLike[str]",
    *,
    sign_with: Iterable[Any] = (),
    predecessor: Any = None,
) -> Path:
    """Seal a golden sample into one package file.

    Parameters
    ----------
    golden : GoldenSample
    path : str or PathLike
        Output file (conventionally ``<sku>.golden``); written atomically.
    sign_with : iterable, keyword-only
        :class:`SigningKey` or ``(private_key, role[, signer])`` tuples; each adds a signature.
    predecessor : GoldenSample, path, dict or None, keyword-only
        The package this one supersedes (a loaded/saved GoldenSample, a package path, or a
        dict with ``golden_id`` and ``manifest_sha256``); linked in the manifest.

    Notes
    -----
    ``meta`` and ``profile`` are stored as JSON: numpy scalars and arrays in them become
    numbers and lists, tuples become lists, number keys become strings (``{0: ..}`` ->
    ``{"0": ..}``, as ``json.dumps`` does; ``load_profile`` accepts both). Stage states keep their arrays exactly (``.npy``).

    Returns
    -------
    Path
        The written package. On return ``golden.meta["package"]`` describes it (golden id,
        manifest SHA-256, ...), as after :func:`load_golden`.

    Raises
    ------
    IntegrityError
        A meta/profile value is not JSON-able, a key or role is invalid, the package is too large.
    ModelError
        A stage state holds a value that cannot be sealed without pickle.
    """
    path = Path(path)
    signers = [_as_signing_key(s) for s in sign_with]
    members: dict[str, bytes] = {}
    members["spec.json"] = _json_member(golden.spec.to_dict())
    meta = {k: v for k, v in golden.meta.items() if k != "package"}
    members["meta.json"] = _json_member(_plain(meta, "meta"))
    if golden.profile is not None:
        members["profile.json"] = _json_member(_plain(golden.profile, "profile"))
    members["images/reference.png"] = _encode_png(golden.reference, "reference")
    for i, cap in enumerate(golden.captures):
        members[f"images/capture_{i:02d}.png"] = _encode_png(cap, f"captures[{i}]")
    for stage, state in golden.states.items():
        tree, arrays = _split_state(stage, state)
        for member, arr in arrays.items():
            members[member] = _npy_bytes(arr)
        members[f"states/{_component(stage, 'states')}/state.json"] = _json_member(tree)
    model_versions = golden.meta.get("model_versions", {})
    stored = {name: _stored_bytes(name, b) for name, b in members.items()}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "golden_id": str(uuid.uuid4()),
        "product": golden.spec.product,
        "revision": golden.spec.revision,
        "capture_conditions": _plain(golden.meta.get("capture_conditions"), "meta['capture_conditions']"),
        "station_profile_id": _station_profile_id(golden),
        "created_utc": _utc_now(),
        "software_version": _software_version(),
        "environment": {
            "python": ".".join(map(str, sys.version_info[:3])),
            "numpy": np.__version__,
            "opencv": cv2.__version__,
        },
        "model_versions": _plain(model_versions, "meta['model_versions']"),
        "predecessor": _predecessor_link(predecessor),
        "image_count": {"reference": 1, "captures": len(golden.captures)},
        "members": {name: _member_entry(name, b, stored[name]) for name, b in sorted(members.items())},
    }
    try:
        manifest_bytes = canonical_json(manifest)
    except ValueError as exc:  # NaN or infinity in capture_conditions / model_versions
        raise IntegrityError(
            f"meta: capture_conditions and model_versions must be finite JSON values ({exc})"
        ) from None
    manifest_sha = _sha256(manifest_bytes)
    sigs = {}
    records = []
    for sk in signers:
        name, data, record = _make_signature(manifest, manifest_sha, sk)
        if name in sigs:
            raise IntegrityError(f"sign_with: key {record['key_id']} signs twice in role {sk.role!r}")
        sigs[name] = data
        records.append(record)
    ordered: list[tuple[str, bytes] | tuple[str, bytes, bytes]] = [(MANIFEST, manifest_bytes)]
    ordered += [(n, b, stored[n]) for n, b in sorted(members.items())]
    ordered += sorted(sigs.items())
    _write_zip(path, ordered)
    golden.meta["package"] = _package_record(path, manifest, manifest_sha, records)
    return path


def _package_record(path: Path, manifest: dict, manifest_sha: str, records: list[dict]) -> dict[str, Any]:
    return {
        "path": str(path),
        "golden_id": manifest["golden_id"],
        "manifest_sha256": manifest_sha,
        "format_version": manifest["format_version"],
        "created_utc": manifest["created_utc"],
        "software_version": manifest["software_version"],
        "model_versions": manifest["model_versions"],
        "station_profile_id": manifest["station_profile_id"],
        "predecessor": manifest["predecessor"],
        "signatures": [{"role": r["role"], "key_id": r["key_id"], "signer": r["signer"],
                        "signed_utc": r["signed_utc"]} for r in records],
    }


# --------------------------------------------------------------------------------------
# Reading and verifying
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberCheck:
    """A member whose SHA-256 and size matched the manifest."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class VerificationReport:
    """What :func:`verify_golden` checked."""

    path: str
    golden_id: str
    manifest_sha256: str
    product: str
    revision: str
    created_utc: str
    predecessor: dict[str, str] | None
    members: tuple[MemberCheck, ...]
    signatures: tuple[SignatureCheck, ...]
    required_roles: tuple[str, ...]
    manifest: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": True,
            "golden_id": self.golden_id,
            "manifest_sha256": self.manifest_sha256,
            "product": self.product,
            "revision": self.revision,
            "created_utc": self.created_utc,
            "predecessor": self.predecessor,
            "members": [vars(m) for m in self.members],
            "signatures": [vars(s) for s in self.signatures],
            "required_roles": list(self.required_roles),
        }


@dataclass
class _Opened:
    where: str
    entries: dict[str, bytes]
    stored: dict[str, bytes]
    manifest: dict[str, Any]
    manifest_sha: str
    signatures: list[dict[str, Any]]  # records plus "member"
    members: list[MemberCheck]


def _open_package(path: "str | os.PathLike[str]", *, max_members: int, max_total_bytes: int) -> _Opened:
    where = str(path)
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_total_bytes + 64 * 1024 * 1024:
            raise IntegrityError(f"{where}: file of {size} bytes exceeds the package size limit")
        data = p.read_bytes()
    except FileNotFoundError:
        raise PackageNotFoundError(f"{where}: golden package not found") from None
    except IsADirectoryError:
        raise IntegrityError(f"{where}: expected a golden package file, got a directory") from None
    except OSError as exc:
        raise IntegrityError(f"{where}: cannot read golden package ({exc.strerror or exc})") from None
    stored: dict[str, bytes] = {}
    entries = _read_zip(data, where, max_members=max_members, max_total_bytes=max_total_bytes, stored_out=stored)
    if MANIFEST not in entries:
        raise IntegrityError(f"{where}: member {MANIFEST!r} is missing; expected a goldenvision package")
    mbytes = entries[MANIFEST]
    manifest = _parse_json(mbytes, f"{where}: {MANIFEST}")
    if not isinstance(manifest, dict):
        raise IntegrityError(f"{where}: {MANIFEST}: expected a JSON object, got {type(manifest).__name__}")
    try:
        canonical = canonical_json(manifest)
    except ValueError as exc:
        raise IntegrityError(f"{where}: {MANIFEST}: not canonical JSON ({exc})") from None
    if canonical != mbytes:
        raise IntegrityError(f"{where}: {MANIFEST}: expected canonical JSON (sorted keys, no spaces); "
                             "it was re-encoded or edited")
    if manifest.get("format") != FORMAT:
        raise IntegrityError(f"{where}: {MANIFEST}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IntegrityError(f"{where}: {MANIFEST}: format_version {manifest.get('format_version')!r}, this "
                             f"goldenvision reads {FORMAT_VERSION}")
    for key, typ in (("golden_id", str), ("product", str), ("revision", str), ("created_utc", str),
                     ("members", dict)):
        if not isinstance(manifest.get(key), typ):
            raise IntegrityError(f"{where}: {MANIFEST}: field {key!r} missing or not a {typ.__name__}")
    manifest_sha = _sha256(mbytes)
    listed: dict[str, Any] = manifest["members"]
    checks = []
    for name, info in sorted(listed.items()):
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str) \
                or not isinstance(info.get("size"), int):
            raise IntegrityError(f"{where}: {MANIFEST}: entry for {name!r} lacks sha256/size")
        if name == MANIFEST or name.startswith(SIGNATURES_DIR):
            raise IntegrityError(f"{where}: {MANIFEST}: must not list {name!r}")
        if name not in entries:
            raise IntegrityError(f"{where}: member {name!r} listed in the manifest is missing from the package")
        content = entries[name]
        if len(content) != info["size"]:
            raise IntegrityError(f"{where}: member {name!r}: size {len(content)} bytes, manifest says {info['size']}")
        got = _sha256(content)
        if got != info["sha256"]:
            raise IntegrityError(f"{where}: member {name!r}: sha256 {got}, manifest says {info['sha256']}")
        if _method_for(name) == _DEFLATED:
            zsha, zsize = info.get("zip_sha256"), info.get("zip_size")
            if len(stored[name]) != zsize or _sha256(stored[name]) != zsha:
                raise IntegrityError(f"{where}: member {name!r}: stored deflate stream ({len(stored[name])} bytes, "
                                     f"sha256 {_sha256(stored[name])[:16]}...) differs from the manifest's "
                                     f"zip_size {zsize}, zip_sha256 {str(zsha)[:16]}...")
        checks.append(MemberCheck(name, len(content), got))
    sig_records = []
    for name, content in entries.items():
        if name == MANIFEST or name in listed:
            continue
        if not name.startswith(SIGNATURES_DIR):
            raise IntegrityError(f"{where}: member {name!r} is not listed in the manifest (added after sealing?)")
        sig_records.append(_check_signature(name, content, manifest, manifest_sha, where))
    return _Opened(where, entries, stored, manifest, manifest_sha, sig_records, checks)


def _spec_roles(opened: _Opened) -> list[str]:
    if "spec.json" not in opened.entries:
        raise IntegrityError(f"{opened.where}: member 'spec.json' is missing")
    spec = _parse_json(opened.entries["spec.json"], f"{opened.where}: spec.json")
    roles = spec.get("required_signatures", []) if isinstance(spec, dict) else []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise IntegrityError(f"{opened.where}: spec.json: required_signatures must be a list of role names")
    return roles


def _report(path: Any, opened: _Opened, checks: tuple, required: tuple) -> VerificationReport:
    m = opened.manifest
    return VerificationReport(str(path), m["golden_id"], opened.manifest_sha, m["product"], m["revision"],
                              m["created_utc"], m.get("predecessor"), tuple(opened.members), checks, required, m)


def verify_golden(
    path: "str | os.PathLike[str]",
    *,
    trusted_keys: Any = None,
    require_roles: Sequence[str] | None = None,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> VerificationReport:
    """Check a package's structure, hashes and signatures without decoding images or states.

    Parameters are those of :func:`load_golden`.

    Returns
    -------
    VerificationReport

    Raises
    ------
    IntegrityError
        Any check failed; the message names the file and the member, role or key.
    """
    opened = _open_package(path, max_members=max_members, max_total_bytes=max_total_bytes)
    checks, required = _check_trust(opened.where, opened.signatures, _spec_roles(opened), trusted_keys,
                                     require_roles)
    return _report(path, opened, checks, required)


def load_golden(
    path: "str | os.PathLike[str]",
    *,
    trusted_keys: Any = None,
    require_roles: Sequence[str] | None = None,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> "GoldenSample":
    """Load a sealed golden package, verifying it first.

    Parameters
    ----------
    path : str or PathLike
    trusted_keys : keyring directory, ``.pub`` path, or list of keys, optional, keyword-only
        When given, every signature in the package must be made by a trusted key (a key whose
        ``.pub`` names a role counts only for that role), every required role must be signed
        by one, and without required roles at least one signature must be present.
    require_roles : sequence of str, optional, keyword-only
        Roles that must have signed, in addition to ``spec.required_signatures``.
    max_members, max_total_bytes, max_pixels : int, keyword-only
        Zip-bomb limits: member count, total uncompressed bytes, pixels per image.

    Returns
    -------
    GoldenSample
        With ``meta["package"]``: path, golden id, manifest SHA-256, created time, software
        and model versions, station profile id, predecessor and signatures (role, key id, signer).

    Raises
    ------
    IntegrityError
        Not a zip, truncated, any byte changed, a member missing or unlisted, a bad path, a
        signature invalid or untrusted, a required role missing, a limit exceeded.
    """
    opened = _open_package(path, max_members=max_members, max_total_bytes=max_total_bytes)
    checks, required = _check_trust(opened.where, opened.signatures, _spec_roles(opened), trusted_keys,
                                     require_roles)
    where, entries = opened.where, opened.entries
    try:
        spec = load_spec(_parse_json(entries["spec.json"], f"{where}: spec.json"))
    except SpecError as exc:
        raise IntegrityError(f"{where}: spec.json does not validate with this goldenvision ({exc})") from None
    if "meta.json" not in entries or "images/reference.png" not in entries:
        raise IntegrityError(f"{where}: expected members 'meta.json' and 'images/reference.png'")
    meta = _parse_json(entries["meta.json"], f"{where}: meta.json")
    if not isinstance(meta, dict):
        raise IntegrityError(f"{where}: meta.json: expected a JSON object")
    profile = _parse_json(entries["profile.json"], f"{where}: profile.json") if "profile.json" in entries else None
    reference = _decode_png(entries["images/reference.png"], f"{where}: images/reference.png", max_pixels)
    n_caps = sum(1 for n in entries if re.fullmatch(r"images/capture_\d+\.png", n))
    captures = []
    for i in range(n_caps):
        name = f"images/capture_{i:02d}.png"
        if name not in entries:
            raise IntegrityError(f"{where}: expected captures numbered 00..{n_caps - 1:02d}; {name!r} is missing")
        captures.append(_decode_png(entries[name], f"{where}: {name}", max_pixels))
    states: dict[str, dict[str, Any]] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, content in entries.items():
        if name.startswith("states/") and name.endswith(".npy"):
            try:
                arr = np.lib.format.read_array(io.BytesIO(content), allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise IntegrityError(f"{where}: member {name!r}: expected a .npy array without pickle ({exc})") \
                    from None
            arrays[name] = arr
    used: set[str] = set()
    for name, content in entries.items():
        m = re.fullmatch(r"states/([^/]+)/state\.json", name)
        if m:
            stage = unquote(m.group(1))
            tree = _parse_json(content, f"{where}: {name}")
            if not isinstance(tree, dict):
                raise IntegrityError(f"{where}: {name}: expected a JSON object")
            prefix = f"states/{m.group(1)}/"
            own = {k: v for k, v in arrays.items() if k.startswith(prefix)}
            states[stage] = _join_state(tree, own, f"{where}: {name}", used)
    unused = sorted(set(arrays) - used)
    if unused:
        raise IntegrityError(f"{where}: array members {unused} are not referenced by any state.json")
    try:
        golden = GoldenSample(spec=spec, reference=reference, captures=tuple(captures), states=states, meta=meta,
                              profile=profile)
    except ValueError as exc:
        raise IntegrityError(f"{where}: {exc}") from None
    records = [r for r in opened.signatures]
    golden.meta["package"] = _package_record(Path(path), opened.manifest, opened.manifest_sha, records)
    golden.meta["package"]["required_roles"] = list(required)
    golden.meta["package"]["trusted"] = None if trusted_keys is None else True
    return golden


def add_signature(
    path: "str | os.PathLike[str]",
    key: Any,
    role: str,
    signer: str,
    *,
    passphrase: bytes | str | None = None,
) -> SignatureCheck:
    """Countersign an existing package: add ``signatures/<role>-<keyid>.json``.

    The manifest (what the other parties signed) is not changed. The package is verified
    first (hashes and existing signatures, without trust requirements), then rewritten
    atomically.

    Parameters
    ----------
    path : str or PathLike
    key : Ed25519PrivateKey, PEM bytes or ``.key`` path
    role : str
        One of ``buyer``, ``factory``, ``inspector``, ``other``.
    signer : str
        The signing person or organisation.
    passphrase : bytes or str, optional, keyword-only
        For an encrypted private key.

    Returns
    -------
    SignatureCheck
        The new signature.

    Raises
    ------
    IntegrityError
        The package does not verify, the key/role is invalid, or this key already signed in this role.
    """
    opened = _open_package(path, max_members=DEFAULT_MAX_MEMBERS, max_total_bytes=DEFAULT_MAX_TOTAL_BYTES)
    name, data, rec = _make_signature(opened.manifest, opened.manifest_sha, SigningKey(key, role, signer, passphrase))
    if name in opened.entries:
        raise IntegrityError(f"{path}: already signed by key {rec['key_id']} in role {role!r}")
    entries = dict(opened.entries)
    entries[name] = data
    ordered: list[tuple[str, bytes] | tuple[str, bytes, bytes]] = [(MANIFEST, entries.pop(MANIFEST))]
    ordered += [(n, b, opened.stored[n]) for n, b in sorted(entries.items())
                if not n.startswith(SIGNATURES_DIR)]  # deflate streams kept byte for byte
    ordered += sorted((n, b) for n, b in entries.items() if n.startswith(SIGNATURES_DIR))
    _write_zip(Path(path), ordered)
    return SignatureCheck(name, role, rec["key_id"], signer, rec["signed_utc"], None)


def golden_provenance(golden: "GoldenSample") -> dict[str, Any]:
    """The audit-trail record of a golden sample (stored with every unit result).

    Returns
    -------
    dict
        ``golden_id``, ``product``, ``revision`` (spec revision), ``manifest_sha256``,
        ``created_utc``, ``station_profile_id``, ``model_versions``, ``software_version``,
        ``predecessor``, ``signatures`` and ``sealed`` (False, with ``golden_id`` None,
        for a sample never saved or loaded).
    """
    pkg = golden.meta.get("package") or {}
    sealed = bool(pkg.get("golden_id"))
    return {
        "golden_id": pkg.get("golden_id"),
        "sealed": sealed,
        "product": golden.spec.product,
        "revision": golden.spec.revision,
        "manifest_sha256": pkg.get("manifest_sha256"),
        "created_utc": pkg.get("created_utc"),
        "station_profile_id": pkg.get("station_profile_id") if sealed else _station_profile_id(golden),
        "model_versions": pkg.get("model_versions") if sealed else _plain(golden.meta.get("model_versions", {}),
                                                                          "meta['model_versions']"),
        "software_version": pkg.get("software_version") if sealed else _software_version(),
        "predecessor": pkg.get("predecessor"),
        "signatures": [{"role": s["role"], "key_id": s["key_id"], "signer": s["signer"]}
                       for s in pkg.get("signatures", [])],
    }
