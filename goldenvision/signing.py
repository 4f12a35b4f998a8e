"""Keys and Ed25519 signatures for sealed golden packages.

"Once a sample is right, both sides sign and date it and keep one each": each party
(buyer, factory, inspector) holds an Ed25519 key pair. The private key is a PKCS#8 PEM
file ``<name>.key`` (mode 0600, optionally encrypted with a passphrase); the public key is
a SubjectPublicKeyInfo PEM file ``<name>.pub`` that may carry header lines naming its
owner and role::

    name: acme-buyer
    role: buyer
    -----BEGIN PUBLIC KEY-----
    ...
    -----END PUBLIC KEY-----

A *keyring* is a directory of such ``.pub`` files (or a list of keys). When a trusted key
names a role, a signature made with it counts only for that role, so a trusted factory key
cannot stand in for the buyer.

Ed25519 is the EdDSA of RFC 8032 (Bernstein et al. 2012, doi:10.1007/s13389-012-0027-1),
through the ``cryptography`` package. The key id is the first 16 hex digits of the
SHA-256 of the 32 raw public-key bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import InputNotFoundError, IntegrityError

__all__ = [
    "ROLES",
    "KeyNotFoundError",
    "TrustedKey",
    "new_keypair",
    "write_keypair",
    "load_private_key",
    "load_public_key",
    "load_keyring",
    "public_key_raw",
    "key_id",
    "sign",
    "verify",
]

#: Roles a signature can be made in.
ROLES = ("buyer", "factory", "inspector", "other")

PrivateKeySource = str | os.PathLike | bytes | Ed25519PrivateKey
PublicKeySource = str | os.PathLike | bytes | Ed25519PublicKey | Ed25519PrivateKey

_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class KeyNotFoundError(InputNotFoundError, IntegrityError):
    """A key file or keyring directory does not exist (also a FileNotFoundError and an IntegrityError)."""


@dataclass(frozen=True)
class TrustedKey:
    """A public key the verifier trusts.

    Attributes
    ----------
    public_key : Ed25519PublicKey
    key_id : str
        First 16 hex digits of SHA-256 of the raw public key.
    name : str or None
        Owner, from the ``name:`` header of the ``.pub`` file.
    role : str or None
        When set, signatures by this key count only for this role.
    source : str
        Where the key came from (file path or ``<key>``), for messages.
    """

    public_key: Ed25519PublicKey
    key_id: str
    name: str | None = None
    role: str | None = None
    source: str = "<key>"


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise IntegrityError(f"role: expected one of {list(ROLES)}, got {role!r}")
    return role


def _check_name(name: str) -> str:
    if not name or not set(name) <= _NAME_OK or name.startswith("."):
        raise IntegrityError(f"key name: expected letters, digits, '-', '_' or '.' (not leading), got {name!r}")
    return name


def public_key_raw(public_key: PublicKeySource) -> bytes:
    """The 32 raw bytes of an Ed25519 public key (RFC 8032 encoding)."""
    pk = load_public_key(public_key)
    return pk.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: PublicKeySource) -> str:
    """Key id: the first 16 hex digits of SHA-256 of the raw public key.

    Parameters
    ----------
    public_key : Ed25519PublicKey, Ed25519PrivateKey, PEM bytes, raw 32 bytes or path

    Returns
    -------
    str
        16 lower-case hex digits.
    """
    return hashlib.sha256(public_key_raw(public_key)).hexdigest()[:16]


def _public_pem(public_key: Ed25519PublicKey, *, name: str | None, role: str | None) -> bytes:
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = ""
    if name is not None:
        header += f"name: {name}\n"
    if role is not None:
        header += f"role: {role}\n"
    return header.encode("ascii") + pem


def new_keypair(name: str, role: str, *, passphrase: bytes | str | None = None) -> tuple[bytes, bytes]:
    """Make a new Ed25519 key pair for a signing party.

    Parameters
    ----------
    name : str
        Owner name (letters, digits, ``-``, ``_``, ``.``); written into the public PEM header.
    role : str
        One of :data:`ROLES`; written into the public PEM header.
    passphrase : bytes or str, optional, keyword-only
        Encrypts the private key (PKCS#8, best available encryption) when given.

    Returns
    -------
    (bytes, bytes)
        Private key as PKCS#8 PEM, public key as PEM with ``name:``/``role:`` header lines.
    """
    _check_name(name)
    _check_role(role)
    key = Ed25519PrivateKey.generate()
    if passphrase:
        pw = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
        enc: serialization.KeySerializationEncryption = serialization.BestAvailableEncryption(pw)
    else:
        enc = serialization.NoEncryption()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    return private_pem, _public_pem(key.public_key(), name=name, role=role)


def write_keypair(
    out_dir: "str | os.PathLike[str]", name: str, role: str, *, passphrase: bytes | str | None = None
) -> tuple[Path, Path]:
    """Make a key pair and save it as ``<out_dir>/<name>.key`` (mode 0600) and ``<name>.pub``.

    Refuses to overwrite an existing key file.

    Returns
    -------
    (Path, Path)
        Paths of the private and public key files.
    """
    private_pem, public_pem = new_keypair(name, role, passphrase=passphrase)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = out / f"{name}.key", out / f"{name}.pub"
    for p in (key_path, pub_path):
        if p.exists():
            raise IntegrityError(f"{p}: a key file already exists; expected a new name or another --out directory")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    os.chmod(key_path, 0o600)
    pub_path.write_bytes(public_pem)
    return key_path, pub_path


def _read_source(source: "str | os.PathLike[str] | bytes", what: str) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), f"<{what} bytes>"
    path = Path(source)
    try:
        return path.read_bytes(), str(path)
    except FileNotFoundError:
        raise KeyNotFoundError(f"{path}: {what} file not found") from None
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def load_private_key(source: PrivateKeySource, *, passphrase: bytes | str | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PKCS#8 PEM file or bytes.

    Raises
    ------
    IntegrityError
        Unreadable file, wrong passphrase, or not an Ed25519 key; the message names the file.
    """
    if isinstance(source, Ed25519PrivateKey):
        return source
    data, where = _read_source(source, "private key")
    pw = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    try:
        key = serialization.load_pem_private_key(data, password=pw or None)
    except TypeError as exc:  # encrypted without a passphrase, or a passphrase for a plain key
        raise IntegrityError(f"{where}: {exc}") from None
    except ValueError as exc:
        raise IntegrityError(f"{where}: expected a PKCS#8 PEM Ed25519 private key (right passphrase?), "
                             f"could not load it ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IntegrityError(f"{where}: expected an Ed25519 private key, got {type(key).__name__}")
    return key


def _parse_public(data: bytes, where: str) -> tuple[Ed25519PublicKey, dict[str, str]]:
    headers: dict[str, str] = {}
    if b"-----BEGIN" in data:
        head, _, _ = data.partition(b"-----BEGIN")
        pem = data[len(head):]
        for line in head.decode("utf-8", "replace").splitlines():
            k, sep, v = line.partition(":")
            if sep and k.strip() in ("name", "role"):
                headers[k.strip()] = v.strip()
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as exc:
            raise IntegrityError(f"{where}: expected a PEM Ed25519 public key, could not load it ({exc})") from None
    else:
        raw = data
        if len(raw) != 32:  # not raw bytes (never strip those: 0x20 or 0x0c may end a key); try base64
            try:
                raw = base64.b64decode(data.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise IntegrityError(f"{where}: expected a PEM public key, 32 raw bytes or their base64, "
                                     f"got {len(data)} bytes of something else") from None
        if len(raw) != 32:
            raise IntegrityError(f"{where}: expected a 32-byte raw Ed25519 public key, got {len(raw)} bytes")
        key = Ed25519PublicKey.from_public_bytes(raw)
    if not isinstance(key, Ed25519PublicKey):
        raise IntegrityError(f"{where}: expected an Ed25519 public key, got {type(key).__name__}")
    if "role" in headers and headers["role"] not in ROLES:
        raise IntegrityError(f"{where}: role header: expected one of {list(ROLES)}, got {headers['role']!r}")
    return key, headers


def load_public_key(source: PublicKeySource) -> Ed25519PublicKey:
    """Load an Ed25519 public key.

    Parameters
    ----------
    source : Ed25519PublicKey, Ed25519PrivateKey, path, PEM bytes, raw 32 bytes or their base64
        A private key yields its public half.

    Raises
    ------
    IntegrityError
        The source is not an Ed25519 public key; the message names it.
    """
    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, Ed25519PrivateKey):
        return source.public_key()
    data, where = _read_source(source, "public key")
    return _parse_public(data, where)[0]


def _trusted_from_file(path: Path) -> TrustedKey:
    data, where = _read_source(path, "public key")
    key, headers = _parse_public(data, where)
    return TrustedKey(key, key_id(key), headers.get("name"), headers.get("role"), where)


def load_keyring(source: "str | os.PathLike[str] | Iterable[object]") -> list[TrustedKey]:
    """Load trusted public keys.

    Parameters
    ----------
    source : path or iterable
        A directory (every ``*.pub`` in it), one ``.pub`` file, or an iterable of any mix of
        directories, files, PEM/raw bytes, key objects and :class:`TrustedKey`.

    Returns
    -------
    list of TrustedKey
        Without duplicates (by key id and role).

    Raises
    ------
    IntegrityError
        A path does not exist, a directory holds no ``.pub`` file, or a key does not load.
    """
    items: list[object] = [source] if isinstance(source, (str, os.PathLike)) else list(source)  # type: ignore[arg-type]
    out: list[TrustedKey] = []
    for item in items:
        if isinstance(item, TrustedKey):
            out.append(item)
        elif isinstance(item, (str, os.PathLike)):
            p = Path(item)
            if p.is_dir():
                pubs = sorted(p.glob("*.pub"))
                if not pubs:
                    raise IntegrityError(f"{p}: expected a keyring directory with *.pub files, found none")
                out.extend(_trusted_from_file(q) for q in pubs)
            elif p.is_file():
                out.append(_trusted_from_file(p))
            else:
                raise KeyNotFoundError(f"{p}: trusted key file or directory not found")
        else:
            key = load_public_key(item)  # type: ignore[arg-type]
            out.append(TrustedKey(key, key_id(key)))
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for t in out:
        if (t.key_id, t.role) not in seen:
            seen.add((t.key_id, t.role))
            unique.append(t)
    return unique


def sign(message: bytes, private_key: PrivateKeySource) -> bytes:
    """Ed25519 signature (RFC 8032) of ``message``: 64 bytes."""
    return load_private_key(private_key).sign(bytes(message))


def verify(message: bytes, signature: bytes, public_key: PublicKeySource) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``."""
    try:
        load_public_key(public_key).verify(bytes(signature), bytes(message))
    except InvalidSignature:
        return False
    return True
