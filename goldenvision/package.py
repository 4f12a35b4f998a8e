"""The sealed golden package: one signed, versioned, tamper-evident file.

A package is a zip archive that goldenvision writes byte for byte itself (no timestamps,
no extra fields, no comment, fixed attributes), so that a reader can account for **every
byte** of the file:

``manifest.json``
    Canonical JSON (``sort_keys``, separators ``(',', ':')``, UTF-8): format version, golden
    id (uuid4), product, spec revision, capture conditions, station profile id, creation
    time (UTC, ISO 8601), software and model versions, the predecessor's golden id and
    manifest SHA-256 when re-sealed, and the SHA-256 and size of every other member.
``spec.json``, ``meta.json``, ``profile.json`` (if any)
    JSON; ``meta.json`` never holds the load-time ``meta["package"]`` record.
``images/reference.png``, ``images/capture_XX.png``
    Lossless 8-bit RGB PNG, stored (PNG is already compressed).
``states/<stage>/<key path>.npy`` and ``states/<stage>/state.json``
    Fitted stage models: arrays as ``.npy`` (``allow_pickle=False``; nothing is ever
    pickled), the JSON-able rest in ``state.json`` where each array is replaced by
    ``{"$npy": "<member name>"}``. Nested dicts (and lists) of arrays flatten to key paths
    joined by ``/``, each component percent-encoded.
``signatures/<role>-<keyid>.json``
    Ed25519 signatures (see below); not listed in the manifest, so that a second party can
    countersign (:func:`add_signature`) without changing what the first party signed.

**Signatures.** Each signature record holds ``role`` (buyer | factory | inspector | other),
``key_id`` (first 16 hex of SHA-256 of the raw public key), ``public_key`` (raw, base64),
``signer``, ``signed_utc`` and ``signature`` (base64). The Ed25519 signature covers the
canonical JSON of ``{purpose, golden_id, manifest_sha256, role, signer, signed_utc,
key_id}``: the manifest bytes through their SHA-256, and the claims of the record, so a
signature cannot be relabelled from ``factory`` to ``buyer``.

**Verification on load.** The zip structure is parsed strictly (every header field has its
one allowed value or must match its twin; members are contiguous; names are safe relative
ASCII paths without ``..``); each member's CRC-32 and the manifest's SHA-256 and size must
match; no member may be unlisted (except ``signatures/``); every signature must verify;
with ``trusted_keys`` every signature must be made by a trusted key and every required role
signed by one (:class:`~goldenvision.errors.UntrustedSignatureError` otherwise); member count,
total size and image pixels are limited (zip bombs). Every failure raises
:class:`~goldenvision.errors.IntegrityError` naming the file, member, role or key.

References: PKWARE APPNOTE.TXT 6.3.10 (zip format); RFC 8032 (Ed25519); FIPS 180-4 (SHA-256).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import os
import re
import struct
import sys
import tempfile
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence
from urllib.parse import quote, unquote

import cv2
import numpy as np

from . import signing
from .errors import InputNotFoundError, IntegrityError, ModelError, SpecError, UntrustedSignatureError
from .spec import load_spec

if TYPE_CHECKING:
    from .golden import GoldenSample

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DEFAULT_MAX_MEMBERS",
    "DEFAULT_MAX_TOTAL_BYTES",
    "DEFAULT_MAX_PIXELS",
    "PackageNotFoundError",
    "SigningKey",
    "MemberCheck",
    "SignatureCheck",
    "VerificationReport",
    "FieldChange",
    "StateChange",
    "SignatureChange",
    "GoldenDiff",
    "canonical_json",
    "save_golden",
    "load_golden",
    "verify_golden",
    "add_signature",
    "diff_golden",
    "golden_provenance",
]

FORMAT = "goldenvision.golden"
FORMAT_VERSION = 1
SIGNATURE_PURPOSE = "goldenvision.golden.signature.v1"

#: Most members a package may hold (zip-bomb limit).
DEFAULT_MAX_MEMBERS = 10_000
#: Largest total uncompressed size of all members, bytes (zip-bomb limit; zip32 needs < 4 GiB).
DEFAULT_MAX_TOTAL_BYTES = 2 * 1024**3
#: Largest width x height of a packaged image (decompression-bomb limit).
DEFAULT_MAX_PIXELS = 50_000_000

MANIFEST = "manifest.json"


class PackageNotFoundError(InputNotFoundError, IntegrityError):
    """The golden package file does not exist (also a FileNotFoundError and an IntegrityError)."""


SIGNATURES_DIR = "signatures/"

# --------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes: ``sort_keys``, separators ``(',', ':')``, UTF-8, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _plain(obj: Any, where: str) -> Any:
    """Turn numpy scalars/arrays and tuples into JSON types; refuse what JSON cannot hold."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, np.generic):
        return _plain(obj.item(), where)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise IntegrityError(f"{where}: expected a JSON-able value, got an ndarray of dtype {obj.dtype}")
        return obj.tolist()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if isinstance(k, (int, float, np.integer)) and not isinstance(k, bool):
                k = str(k.item() if isinstance(k, np.generic) else k)  # as json.dumps does (YAML marker ids)
            elif not isinstance(k, str):
                raise IntegrityError(f"{where}: expected string or number keys, got key {k!r} ({type(k).__name__})")
            if k in out:
                raise IntegrityError(f"{where}: key {k!r} appears twice once keys are strings")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "isoformat"):  # date / datetime from YAML
        return obj.isoformat()
    raise IntegrityError(f"{where}: expected a JSON-able value, got {type(obj).__name__}")


def _json_member(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8")


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{what}: expected UTF-8 JSON, could not parse it ({exc})") from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------
# The zip container, written and read strictly
# --------------------------------------------------------------------------------------

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # 30 bytes (APPNOTE 4.3.7)
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes (APPNOTE 4.3.12)
_EOCD = struct.Struct("<IHHHHIIH")  # 22 bytes (APPNOTE 4.3.16)
_SIG_LOCAL, _SIG_CENTRAL, _SIG_EOCD = 0x04034B50, 0x02014B50, 0x06054B50
_VERSION = 20  # 2.0: deflate; also "version made by" (MS-DOS attributes)
_DOS_TIME, _DOS_DATE = 0, (0 << 9) | (1 << 5) | 1  # 1980-01-01 00:00:00: packages carry no file times
_STORED, _DEFLATED = 0, 8
_NAME_RE = re.compile(r"^[A-Za-z0-9%._\-]+(/[A-Za-z0-9%._\-]+)*$")


def _method_for(name: str) -> int:
    """Stored for PNG (already compressed) and for what is signed; deflate for JSON and npy."""
    if name.endswith(".png") or name == MANIFEST or name.startswith(SIGNATURES_DIR):
        return _STORED
    return _DEFLATED


def _check_name(name: str, where: str) -> None:
    parts = name.split("/")
    if (
        not name
        or len(name) > 512
        or name.startswith("/")
        or not _NAME_RE.match(name)
        or any(p in (".", "..") for p in parts)
    ):
        raise IntegrityError(
            f"{where}: member name {name!r}: expected a relative path of [A-Za-z0-9%._-] parts without "
            "'..', '.' or a leading '/'"
        )


def _deflate(content: bytes) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    return comp.compress(content) + comp.flush()


def _stored_bytes(name: str, content: bytes) -> bytes:
    """The bytes a member occupies in the zip: raw deflate stream or the content itself."""
    return _deflate(content) if _method_for(name) == _DEFLATED else content


def _member_entry(name: str, content: bytes, stored: bytes | None = None) -> dict[str, Any]:
    """Manifest entry: content sha256 and size; for deflated members also those of the stored
    deflate stream, so that no stored bit (not even deflate padding) escapes the hashes."""
    entry: dict[str, Any] = {"sha256": _sha256(content), "size": len(content)}
    if _method_for(name) == _DEFLATED:
        stored = _stored_bytes(name, content) if stored is None else stored
        entry["zip_sha256"] = _sha256(stored)
        entry["zip_size"] = len(stored)
    return entry


def _write_zip(path: Path, members: Sequence[tuple[str, bytes] | tuple[str, bytes, bytes]]) -> None:
    """Write members ``(name, content[, stored bytes])`` as a canonical zip, atomically (temp + rename).

    Without the stored bytes, deflated members are compressed here; passing them keeps a
    package's deflate streams byte for byte when it is rewritten (countersigning).
    """
    local_parts: list[bytes] = []
    central_parts: list[bytes] = []
    offset = 0
    for member in members:
        name, content = member[0], member[1]
        _check_name(name, str(path))
        bname = name.encode("ascii")
        method = _method_for(name)
        data = member[2] if len(member) == 3 else _stored_bytes(name, content)  # type: ignore[misc]
        crc = zlib.crc32(content) & 0xFFFFFFFF
        header = _LOCAL.pack(_SIG_LOCAL, _VERSION, 0, method, _DOS_TIME, _DOS_DATE, crc, len(data), len(content),
                             len(bname), 0)
        local_parts += [header, bname, data]
        central_parts += [
            _CENTRAL.pack(_SIG_CENTRAL, _VERSION, _VERSION, 0, method, _DOS_TIME, _DOS_DATE, crc, len(data),
                          len(content), len(bname), 0, 0, 0, 0, 0, offset),
            bname,
        ]
        offset += len(header) + len(bname) + len(data)
    cd = b"".join(central_parts)
    if offset + len(cd) >= 2**32 or len(members) >= 2**16:
        raise IntegrityError(f"{path}: package too large for a zip32 file ({offset} bytes, {len(members)} members)")
    eocd = _EOCD.pack(_SIG_EOCD, 0, 0, len(members), len(members), len(cd), offset, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in local_parts:
                f.write(part)
            f.write(cd)
            f.write(eocd)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_zip(
    data: bytes, where: str, *, max_members: int, max_total_bytes: int, stored_out: dict[str, bytes] | None = None
) -> dict[str, bytes]:
    """Parse a package zip strictly and return {name: content} in file order.

    ``stored_out``, when given, receives {name: stored bytes} (the deflate streams as found).
    """
    tamper = "the package is corrupt or was tampered with"
    if len(data) < _EOCD.size:
        raise IntegrityError(f"{where}: expected a golden package (zip), got {len(data)} bytes (empty or truncated)")
    sig, disk, cd_disk, n_disk, n, cd_size, cd_offset, comment_len = _EOCD.unpack_from(data, len(data) - _EOCD.size)
    if sig != _SIG_EOCD:
        if data[:4] == b"PK\x03\x04":
            raise IntegrityError(f"{where}: zip end record not found at the end of the file: truncated, "
                                 f"has trailing bytes, or {tamper}")
        raise IntegrityError(f"{where}: expected a golden package (zip), got a file starting {data[:8]!r}")
    if (disk, cd_disk, comment_len) != (0, 0, 0) or n_disk != n:
        raise IntegrityError(f"{where}: zip end record: expected one disk, {n} entries and no comment; {tamper}")
    if n > max_members:
        raise IntegrityError(f"{where}: {n} members exceed the limit of {max_members} (zip bomb?)")
    cd_end = len(data) - _EOCD.size
    if cd_offset + cd_size != cd_end:
        raise IntegrityError(f"{where}: zip central directory at {cd_offset}+{cd_size} does not end at the end "
                             f"record ({cd_end}); truncated, has extra bytes, or {tamper}")
    out: dict[str, bytes] = {}
    pos, expected_local, total = cd_offset, 0, 0
    for i in range(n):
        if pos + _CENTRAL.size > cd_end:
            raise IntegrityError(f"{where}: zip central directory entry {i} runs past its end; {tamper}")
        (sig, made_by, version, flags, method, mtime, mdate, crc, csize, usize, nlen, xlen, clen, dstart, iattr, eattr,
         loff) = _CENTRAL.unpack_from(data, pos)
        raw_name = data[pos + _CENTRAL.size: pos + _CENTRAL.size + nlen]
        try:
            name = raw_name.decode("ascii")
        except UnicodeDecodeError:
            name = raw_name.decode("ascii", "replace")
        _check_name(name, where)
        label = f"{where}: member {name!r}"
        if (sig, made_by, version, flags, mtime, mdate, xlen, clen, dstart, iattr, eattr) != (
            _SIG_CENTRAL, _VERSION, _VERSION, 0, _DOS_TIME, _DOS_DATE, 0, 0, 0, 0, 0
        ):
            raise IntegrityError(f"{label}: central directory header differs from the canonical one; {tamper}")
        if method != _method_for(name):
            raise IntegrityError(f"{label}: compression method {method}, expected {_method_for(name)}; {tamper}")
        if loff != expected_local:
            raise IntegrityError(f"{label}: local header at offset {loff}, expected {expected_local}; {tamper}")
        if name in out:
            raise IntegrityError(f"{label}: appears twice; {tamper}")
        total += usize
        if total > max_total_bytes:
            raise IntegrityError(f"{where}: members total more than {max_total_bytes} bytes uncompressed (zip bomb?)")
        pos += _CENTRAL.size + nlen
        if loff + _LOCAL.size + nlen > cd_offset:
            raise IntegrityError(f"{label}: local header runs into the central directory; {tamper}")
        local = _LOCAL.unpack_from(data, loff)
        if local != (_SIG_LOCAL, _VERSION, 0, method, _DOS_TIME, _DOS_DATE, crc, csize, usize, nlen, 0) or \
                data[loff + _LOCAL.size: loff + _LOCAL.size + nlen] != raw_name:
            raise IntegrityError(f"{label}: local header does not match the central directory; {tamper}")
        start = loff + _LOCAL.size + nlen
        expected_local = start + csize
        if expected_local > cd_offset:
            raise IntegrityError(f"{label}: data runs into the central directory; {tamper}")
        raw = data[start:expected_local]
        if method == _STORED:
            if csize != usize:
                raise IntegrityError(f"{label}: stored with {csize} bytes but declares {usize}; {tamper}")
            content = raw
        else:
            d = zlib.decompressobj(-15)
            try:
                content = d.decompress(raw, usize + 1)
            except zlib.error as exc:
                raise IntegrityError(f"{label}: deflate data is corrupt ({exc}); {tamper}") from None
            if len(content) != usize or not d.eof or d.unused_data or d.unconsumed_tail:
                raise IntegrityError(f"{label}: deflate data does not decode to exactly {usize} bytes; {tamper}")
        got_crc = zlib.crc32(content) & 0xFFFFFFFF
        if got_crc != crc:
            raise IntegrityError(f"{label}: CRC-32 {got_crc:08x}, expected {crc:08x}; {tamper}")
        out[name] = content
        if stored_out is not None:
            stored_out[name] = raw
    if pos != cd_end:
        raise IntegrityError(f"{where}: zip central directory has {cd_end - pos} unaccounted bytes; {tamper}")
    if expected_local != cd_offset:
        raise IntegrityError(f"{where}: {cd_offset - expected_local} unaccounted bytes before the central directory; "
                             f"{tamper}")
    return out


# --------------------------------------------------------------------------------------
# Images and states
# --------------------------------------------------------------------------------------


def _encode_png(rgb: np.ndarray, what: str) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise IntegrityError(f"{what}: PNG encoding failed")
    return buf.tobytes()


def _decode_png(data: bytes, what: str, max_pixels: int) -> np.ndarray:
    if len(data) < 33 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise IntegrityError(f"{what}: expected a PNG image")
    width, height, depth, ctype = struct.unpack(">IIBB", data[16:26])
    if depth != 8 or ctype != 2:
        raise IntegrityError(f"{what}: expected 8-bit RGB PNG, got bit depth {depth}, colour type {ctype}")
    if width * height > max_pixels or width == 0 or height == 0:
        raise IntegrityError(f"{what}: {width} x {height} px, expected 1 to {max_pixels} pixels (bomb?)")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if bgr is None or bgr.shape != (height, width, 3) or bgr.dtype != np.uint8:
        raise IntegrityError(f"{what}: PNG does not decode to {height} x {width} x 3 uint8")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


_NPY = "$npy"


def _component(key: Any, where: str) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    if not isinstance(key, str) or not key:
        raise ModelError(f"{where}: expected non-empty string keys, got {key!r}")
    return quote(key, safe="-_.") if key not in (".", "..") else quote(key, safe="-_").replace(".", "%2E")


def _split_state(stage: str, state: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """Replace every ndarray in ``state`` by ``{"$npy": member}``; return (json tree, arrays)."""
    prefix = f"states/{_component(stage, 'states')}"
    arrays: dict[str, np.ndarray] = {}

    def walk(obj: Any, parts: list[str], where: str) -> Any:
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject or obj.dtype.kind not in "biufcSUMm":
                raise ModelError(f"{where}: ndarray of dtype {obj.dtype} cannot be sealed without pickle; "
                                 "expected a numeric, bool or string dtype")
            if not parts:
                raise ModelError(f"{where}: expected a dict of values, got a bare ndarray")
            member = f"{prefix}/{'/'.join(parts)}.npy"
            if member in arrays or member == f"{prefix}/state.json":
                raise ModelError(f"{where}: key path collides with another member ({member})")
            arrays[member] = obj
            return {_NPY: member}
        if isinstance(obj, np.generic):
            return walk(obj.item(), parts, where)
        if isinstance(obj, dict):
            if _NPY in obj:
                raise ModelError(f"{where}: key {_NPY!r} is reserved by the package format")
            return {k: walk(v, parts + [_component(k, where)], f"{where}[{k!r}]") for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [walk(v, parts + [str(i)], f"{where}[{i}]") for i, v in enumerate(obj)]
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        raise ModelError(f"{where}: expected an ndarray or a JSON-able value, got {type(obj).__name__}")

    if not isinstance(state, dict):
        raise ModelError(f"states[{stage!r}]: expected a dict (a model's to_state()), got {type(state).__name__}")
    tree = walk(state, [], f"states[{stage!r}]")
    return tree, arrays


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _join_state(tree: Any, arrays: dict[str, np.ndarray], where: str, used: set[str]) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {_NPY}:
            member = tree[_NPY]
            if member not in arrays:
                raise IntegrityError(f"{where}: refers to array member {member!r}, which the package does not hold")
            used.add(member)
            return arrays[member]
        return {k: _join_state(v, arrays, where, used) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join_state(v, arrays, where, used) for v in tree]
    return tree


# --------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------


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
    from . import __version__

    return str(__version__)


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


def _check_trust(opened: _Opened, spec_roles: Sequence[str], trusted_keys: Any,
                 require_roles: Sequence[str] | None) -> tuple[tuple[SignatureCheck, ...], tuple[str, ...]]:
    where = opened.where
    keyring = None if trusted_keys is None else signing.load_keyring(trusted_keys)
    required = tuple(dict.fromkeys(list(spec_roles) + list(require_roles or ())))
    checks = tuple(
        SignatureCheck(r["member"], r["role"], r["key_id"], r["signer"], r["signed_utc"],
                       None if keyring is None else _trusted_for(r, keyring))
        for r in opened.signatures
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
    checks, required = _check_trust(opened, _spec_roles(opened), trusted_keys, require_roles)
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
    from .golden import GoldenSample

    opened = _open_package(path, max_members=max_members, max_total_bytes=max_total_bytes)
    checks, required = _check_trust(opened, _spec_roles(opened), trusted_keys, require_roles)
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
        golden = GoldenSample(spec=spec, reference=reference, captures=captures, states=states, meta=meta,
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


# --------------------------------------------------------------------------------------
# Provenance and diff
# --------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class FieldChange:
    """A JSON field that differs: ``path`` like ``colors[panel].tolerance_de00``."""

    path: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class StateChange:
    """A stage-state entry that differs.

    ``kind`` is ``added``, ``removed``, ``array`` (values changed; ``stats`` holds shape,
    dtype, mean of old/new and mean/max absolute difference when shapes agree) or ``value``
    (a JSON value, ``old`` -> ``new``). ``threshold`` marks keys naming a threshold.
    """

    stage: str
    key: str
    kind: str
    old: Any = None
    new: Any = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> bool:
        return "threshold" in self.key.lower()

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "key": self.key, "kind": self.kind, "old": _plain_or_summary(self.old),
                "new": _plain_or_summary(self.new), "stats": self.stats, "threshold": self.threshold}


def _plain_or_summary(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return {"shape": list(v.shape), "dtype": str(v.dtype)}
    return v


@dataclass(frozen=True)
class SignatureChange:
    """A signing key whose signatures differ between two packages.

    ``kind`` is ``added`` (the key signs only ``b``), ``removed`` (only ``a``) or ``changed``
    (it signs both, in other roles or under another signer name). Roles are sorted tuples.
    """

    key_id: str
    kind: str
    old_roles: tuple[str, ...] = ()
    new_roles: tuple[str, ...] = ()
    old_signer: str | None = None
    new_signer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "kind": self.kind, "old_roles": list(self.old_roles),
                "new_roles": list(self.new_roles), "old_signer": self.old_signer, "new_signer": self.new_signer}

    def line(self) -> str:
        if self.kind == "added":
            return f"signature added: key {self.key_id} ({self.new_signer}) as {', '.join(self.new_roles)}"
        if self.kind == "removed":
            return f"signature removed: key {self.key_id} ({self.old_signer}) as {', '.join(self.old_roles)}"
        return (f"signature changed: key {self.key_id} {self.old_signer} as {', '.join(self.old_roles)} -> "
                f"{self.new_signer} as {', '.join(self.new_roles)}")


def _signers(golden: "GoldenSample") -> dict[str, tuple[tuple[str, ...], str | None]]:
    """key id -> (sorted roles, signer names joined) of a loaded/saved golden's signatures."""
    by_key: dict[str, tuple[set[str], set[str]]] = {}
    for sig in (golden.meta.get("package") or {}).get("signatures", []):
        roles, names = by_key.setdefault(str(sig["key_id"]), (set(), set()))
        roles.add(str(sig["role"]))
        names.add(str(sig["signer"]))
    return {k: (tuple(sorted(r)), ", ".join(sorted(n)) or None) for k, (r, n) in by_key.items()}


def _signature_changes(a: "GoldenSample", b: "GoldenSample") -> tuple[SignatureChange, ...]:
    sa, sb = _signers(a), _signers(b)
    out = []
    for kid in sorted(set(sa) | set(sb)):
        if kid not in sa:
            out.append(SignatureChange(kid, "added", new_roles=sb[kid][0], new_signer=sb[kid][1]))
        elif kid not in sb:
            out.append(SignatureChange(kid, "removed", old_roles=sa[kid][0], old_signer=sa[kid][1]))
        elif sa[kid] != sb[kid]:
            out.append(SignatureChange(kid, "changed", sa[kid][0], sb[kid][0], sa[kid][1], sb[kid][1]))
    return tuple(out)


@dataclass(frozen=True)
class GoldenDiff:
    """What changed from golden ``a`` to golden ``b`` (see :func:`diff_golden`)."""

    a_id: str | None
    b_id: str | None
    a_revision: str
    b_revision: str
    b_follows_a: bool
    spec: tuple[FieldChange, ...]
    reference_changed: bool
    reference_mean_abs_diff: float | None
    captures_changed: tuple[int, ...]
    captures_added: tuple[int, ...]
    captures_removed: tuple[int, ...]
    states: tuple[StateChange, ...]
    meta: tuple[FieldChange, ...]
    profile: tuple[FieldChange, ...]
    signatures: tuple[SignatureChange, ...] = ()

    @property
    def identical(self) -> bool:
        """True when nothing but the package identity (id, time, signatures) differs."""
        return not (self.spec or self.reference_changed or self.captures_changed or self.captures_added
                    or self.captures_removed or self.states or self.meta or self.profile)

    @property
    def thresholds(self) -> tuple[StateChange, ...]:
        return tuple(c for c in self.states if c.threshold)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a_id": self.a_id, "b_id": self.b_id, "a_revision": self.a_revision, "b_revision": self.b_revision,
            "b_follows_a": self.b_follows_a, "identical": self.identical,
            "spec": [c.to_dict() for c in self.spec],
            "images": {
                "reference_changed": self.reference_changed,
                "reference_mean_abs_diff": self.reference_mean_abs_diff,
                "captures_changed": list(self.captures_changed),
                "captures_added": list(self.captures_added),
                "captures_removed": list(self.captures_removed),
            },
            "states": [c.to_dict() for c in self.states],
            "thresholds": [c.to_dict() for c in self.thresholds],
            "meta": [c.to_dict() for c in self.meta],
            "profile": [c.to_dict() for c in self.profile],
            "signatures": [c.to_dict() for c in self.signatures],
        }

    def lines(self) -> list[str]:
        """Human-readable summary, one change per line."""
        out = [f"golden {self.a_id or '(unsaved)'} rev {self.a_revision} -> {self.b_id or '(unsaved)'} "
               f"rev {self.b_revision}" + ("  (b supersedes a)" if self.b_follows_a else "")]
        if self.identical:
            out.append("no changes in spec, images, states, meta or profile")
        out += [f"spec {c.path}: {c.old!r} -> {c.new!r}" for c in self.spec]
        if self.reference_changed:
            mad = ("shape changed" if self.reference_mean_abs_diff is None
                   else f"mean |diff| {self.reference_mean_abs_diff:.3f} (0-255)")
            out.append(f"reference image changed: {mad}")
        if self.captures_changed:
            out.append(f"captures changed: {list(self.captures_changed)}")
        if self.captures_added:
            out.append(f"captures added: {list(self.captures_added)}")
        if self.captures_removed:
            out.append(f"captures removed: {list(self.captures_removed)}")
        for c in self.states:
            tag = "threshold " if c.threshold else ""
            if c.kind == "array":
                s = c.stats
                extra = (f"mean |diff| {s['mean_abs_diff']:.4g}, max |diff| {s['max_abs_diff']:.4g}"
                         if "mean_abs_diff" in s else f"shape {s.get('old_shape')} -> {s.get('new_shape')}")
                out.append(f"state {c.stage}/{c.key}: {tag}array changed ({extra})")
            elif c.kind == "value":
                out.append(f"state {c.stage}/{c.key}: {tag}{c.old!r} -> {c.new!r}")
            else:
                out.append(f"state {c.stage}/{c.key}: {c.kind}")
        out += [f"meta {c.path}: {c.old!r} -> {c.new!r}" for c in self.meta]
        out += [f"profile {c.path}: {c.old!r} -> {c.new!r}" for c in self.profile]
        out += [c.line() for c in self.signatures]
        return out


def _json_diff(a: Any, b: Any, path: str, out: list[FieldChange]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                out.append(FieldChange(p, None, b[k]))
            elif k not in b:
                out.append(FieldChange(p, a[k], None))
            else:
                _json_diff(a[k], b[k], p, out)
        return
    if isinstance(a, list) and isinstance(b, list):
        named = all(isinstance(x, dict) and isinstance(x.get("name"), str) for x in a + b)
        if named and len({x["name"] for x in a}) == len(a) and len({x["name"] for x in b}) == len(b):
            da, db = {x["name"]: x for x in a}, {x["name"]: x for x in b}
            for k in list(da) + [k for k in db if k not in da]:
                p = f"{path}[{k}]"
                if k not in da:
                    out.append(FieldChange(p, None, db[k]))
                elif k not in db:
                    out.append(FieldChange(p, da[k], None))
                else:
                    _json_diff(da[k], db[k], p, out)
            return
        if len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                _json_diff(x, y, f"{path}[{i}]", out)
            return
    if not _same_value(a, b):
        out.append(FieldChange(path, a, b))


def _flatten_state(obj: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            _flatten_state(v, f"{prefix}/{k}" if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)) and any(isinstance(v, (np.ndarray, dict)) for v in obj):
        for i, v in enumerate(obj):
            _flatten_state(v, f"{prefix}/{i}", out)
    else:
        out[prefix] = obj


def _array_stats(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    s: dict[str, Any] = {"old_shape": list(a.shape), "new_shape": list(b.shape), "old_dtype": str(a.dtype),
                         "new_dtype": str(b.dtype)}
    numeric = a.dtype.kind in "biuf" and b.dtype.kind in "biuf"
    if numeric:
        s["old_mean"] = float(np.mean(a)) if a.size else None
        s["new_mean"] = float(np.mean(b)) if b.size else None
        if a.shape == b.shape and a.size:
            d = np.abs(a.astype(np.float64) - b.astype(np.float64))
            s["mean_abs_diff"] = float(np.nanmean(d)) if np.isfinite(d).any() else float("nan")
            s["max_abs_diff"] = float(np.nanmax(d)) if np.isfinite(d).any() else float("nan")
            same = (a == b) | (np.isnan(a.astype(np.float64)) & np.isnan(b.astype(np.float64)))
            s["changed_elements"] = int(np.count_nonzero(~same))
    return s


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _image_hash(img: np.ndarray) -> str:
    h = hashlib.sha256(f"{img.shape}{img.dtype}".encode())
    h.update(np.ascontiguousarray(img).tobytes())
    return h.hexdigest()


def diff_golden(a: "GoldenSample", b: "GoldenSample") -> GoldenDiff:
    """What changed from golden sample ``a`` to ``b``.

    Parameters
    ----------
    a, b : GoldenSample
        Typically two loaded revisions.

    Returns
    -------
    GoldenDiff
        Spec field changes (``colors[panel].tolerance_de00: 1.5 -> 1.2``; list items with a
        ``name`` are matched by name); images (captures changed by content hash, the mean
        absolute pixel difference of the references in 0-255 units when their shapes agree);
        stage states per stage and key path (arrays with summary statistics, JSON values old
        -> new; keys naming a threshold are flagged); meta (without the package record) and
        profile changes; signing keys added, removed or changed (roles, signer name); and
        whether ``b``'s predecessor is ``a`` (same golden id and manifest SHA-256).
    """
    spec_changes: list[FieldChange] = []
    _json_diff(a.spec.to_dict(), b.spec.to_dict(), "", spec_changes)
    ref_changed = _image_hash(a.reference) != _image_hash(b.reference)
    mad = None
    if a.reference.shape == b.reference.shape:
        mad = float(np.mean(cv2.absdiff(a.reference, b.reference)))
    ha, hb = [_image_hash(c) for c in a.captures], [_image_hash(c) for c in b.captures]
    n = min(len(ha), len(hb))
    states: list[StateChange] = []
    for stage in list(a.states) + [s for s in b.states if s not in a.states]:
        fa: dict[str, Any] = {}
        fb: dict[str, Any] = {}
        _flatten_state(a.states.get(stage, {}), "", fa)
        _flatten_state(b.states.get(stage, {}), "", fb)
        for key in list(fa) + [k for k in fb if k not in fa]:
            if key not in fb:
                states.append(StateChange(stage, key, "removed", old=fa[key]))
            elif key not in fa:
                states.append(StateChange(stage, key, "added", new=fb[key]))
            elif not _same_value(fa[key], fb[key]):
                va, vb = fa[key], fb[key]
                if isinstance(va, np.ndarray) and isinstance(vb, np.ndarray):
                    states.append(StateChange(stage, key, "array", old=va, new=vb, stats=_array_stats(va, vb)))
                else:
                    states.append(StateChange(stage, key, "value", old=_plain_or_summary(va),
                                              new=_plain_or_summary(vb)))
    meta_changes: list[FieldChange] = []
    _json_diff(_plain({k: v for k, v in a.meta.items() if k != "package"}, "a.meta"),
               _plain({k: v for k, v in b.meta.items() if k != "package"}, "b.meta"), "", meta_changes)
    profile_changes: list[FieldChange] = []
    _json_diff(_plain(a.profile, "a.profile"), _plain(b.profile, "b.profile"), "", profile_changes)
    pa, pb = a.meta.get("package") or {}, b.meta.get("package") or {}
    pred = pb.get("predecessor") or {}
    follows = bool(pa.get("golden_id")) and pred.get("golden_id") == pa.get("golden_id") and \
        pred.get("manifest_sha256") == pa.get("manifest_sha256")
    return GoldenDiff(
        a_id=pa.get("golden_id"), b_id=pb.get("golden_id"), a_revision=a.spec.revision, b_revision=b.spec.revision,
        b_follows_a=follows, spec=tuple(spec_changes), reference_changed=ref_changed, reference_mean_abs_diff=mad,
        captures_changed=tuple(i for i in range(n) if ha[i] != hb[i]),
        captures_added=tuple(range(n, len(hb))), captures_removed=tuple(range(n, len(ha))),
        states=tuple(states), meta=tuple(meta_changes), profile=tuple(profile_changes),
        signatures=_signature_changes(a, b),
    )
