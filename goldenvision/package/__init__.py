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

**Modules.** :mod:`.container` (constants, canonical JSON, the strict zip reader and writer),
:mod:`.states` (PNG images, ``.npy`` arrays and state JSON trees), :mod:`.signatures`
(signature records, checking, trust), :mod:`.archive` (save, load, verify, countersign,
provenance), :mod:`.diff` (what changed between two golden samples). Every public name is
importable from ``goldenvision.package``.
"""

from __future__ import annotations

from .archive import (
    MemberCheck,
    VerificationReport,
    add_signature,
    golden_provenance,
    load_golden,
    save_golden,
    verify_golden,
)
from .container import (
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_TOTAL_BYTES,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    SIGNATURE_PURPOSE,
    SIGNATURES_DIR,
    PackageNotFoundError,
    canonical_json,
)
from .diff import FieldChange, GoldenDiff, SignatureChange, StateChange, diff_golden
from .signatures import SignatureCheck, SigningKey

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DEFAULT_MAX_MEMBERS",
    "DEFAULT_MAX_TOTAL_BYTES",
    "DEFAULT_MAX_PIXELS",
    "MANIFEST",
    "SIGNATURE_PURPOSE",
    "SIGNATURES_DIR",
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

# Private helpers, re-exported for the tests that build hostile packages byte for byte.
from .container import _member_entry as _member_entry  # noqa: E402
from .container import _read_zip as _read_zip  # noqa: E402
from .container import _write_zip as _write_zip  # noqa: E402
from .states import _npy_bytes as _npy_bytes  # noqa: E402
