"""The zip container of a golden package: canonical JSON and a zip written and read byte for byte.

See :mod:`goldenvision.package` for the format. Nothing here knows what a golden sample is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
import zlib
from datetime import datetime, UTC
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import numpy as np

from ..errors import InputNotFoundError, IntegrityError

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
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


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
