"""API keys: made once, stored as hashes, checked in constant time, scoped, rate-limited.

A key reads ``gv_<key_id>_<secret>``: ``key_id`` (public, 12 hex) finds the row, the secret
(32 random bytes, URL-safe base64) is stored only as its SHA-256. A salted slow hash is not
needed: the secret is 256 random bits, not a password a person chose. Comparison uses
:func:`hmac.compare_digest`.

Roles: ``viewer`` reads; ``inspector`` also creates lots and uploads photos and goldens;
``admin`` does everything, whatever its scopes. Scopes ``product:P`` and ``supplier:S``
restrict a key to those products and suppliers (a key with no product scope is not limited
by product, and likewise for suppliers).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store.core import for_writing

from ..errors import GoldenVisionError
from .tables import ApiKey

__all__ = ["ROLES", "KeyInfo", "new_key", "list_keys", "revoke_key", "authenticate", "RateLimiter", "AuthError"]

ROLES = ("viewer", "inspector", "admin")
_KEY_RE = re.compile(r"^gv_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
_SCOPE_RE = re.compile(r"^(product|supplier):(.+)$")


class AuthError(GoldenVisionError, ValueError):
    """A key or scope given to the key tools is malformed."""


@dataclass(frozen=True)
class KeyInfo:
    """An authenticated key: who it is and what it may touch."""

    key_id: str
    name: str
    role: str
    products: frozenset[str] = field(default_factory=frozenset)
    suppliers: frozenset[str] = field(default_factory=frozenset)

    def may(self, action: str) -> bool:
        """``read`` for every role; ``write`` for inspectors and admins; ``admin`` for admins."""
        return {"read": True, "write": self.role in ("inspector", "admin"), "admin": self.role == "admin"}[action]

    def covers(self, *, product: str | None = None, supplier: str | None = None) -> bool:
        """Whether the key's scopes include this product and supplier."""
        if self.role == "admin":
            return True
        if self.products and (product is None or product not in self.products):
            return False
        if self.suppliers and supplier is not None and supplier not in self.suppliers:
            return False
        if self.suppliers and supplier is None and not self.products:
            return False
        return True


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _parse_scopes(scopes: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"product": [], "supplier": []}
    for s in scopes:
        m = _SCOPE_RE.match(s or "")
        if not m or not m.group(2).strip():
            raise AuthError(f"--scope {s!r}: expected product:NAME or supplier:NAME")
        out[m.group(1)].append(m.group(2).strip())
    return out


def new_key(engine: Any, name: str, *, role: str = "inspector", scopes: list[str] | None = None) -> tuple[str, str]:
    """Make a key; returns (key_id, the full key). The full key is shown once and never stored."""
    if role not in ROLES:
        raise AuthError(f"--role {role!r}: expected one of {', '.join(ROLES)}")
    if not name or not name.strip() or len(name) > 200:
        raise AuthError(f"name {name!r}: expected 1-200 characters")
    parsed = _parse_scopes(scopes or [])
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with Session(for_writing(engine)) as s, s.begin():
        s.add(ApiKey(key_id=key_id, secret_sha256=hashlib.sha256(secret.encode()).hexdigest(), name=name.strip(),
                     role=role, scopes=parsed, created_utc=_utcnow(), revoked_utc=None))
    return key_id, f"gv_{key_id}_{secret}"


def list_keys(engine: Any) -> list[dict[str, Any]]:
    """Every key (never a secret): key_id, name, role, scopes, created and revoked times."""
    with Session(engine) as s:
        return [{"key_id": k.key_id, "name": k.name, "role": k.role, "scopes": k.scopes,
                 "created_utc": k.created_utc.isoformat() + "Z",
                 "revoked_utc": None if k.revoked_utc is None else k.revoked_utc.isoformat() + "Z"}
                for k in s.scalars(select(ApiKey).order_by(ApiKey.created_utc))]


def revoke_key(engine: Any, key_id: str) -> bool:
    """Revoke a key by its id; False when no such key exists."""
    with Session(for_writing(engine)) as s, s.begin():
        k = s.get(ApiKey, key_id)
        if k is None:
            return False
        if k.revoked_utc is None:
            k.revoked_utc = _utcnow()
        return True


_DUMMY = hashlib.sha256(b"no such key").hexdigest()


def authenticate(engine: Any, presented: str | None) -> KeyInfo | None:
    """The key's info, or None for a missing, malformed, unknown, wrong or revoked key.

    The secret's hash is compared in constant time, and an unknown key id costs the same
    comparison, so timing tells nothing about which part was wrong.
    """
    if not presented:
        return None
    m = _KEY_RE.match(presented.strip())
    if not m:
        return None
    key_id, secret = m.groups()
    with Session(engine) as s:
        row = s.get(ApiKey, key_id)
        stored = row.secret_sha256 if row is not None else _DUMMY
        ok = hmac.compare_digest(hashlib.sha256(secret.encode()).hexdigest(), stored)
        if row is None or not ok or row.revoked_utc is not None:
            return None
        scopes = row.scopes or {}
        return KeyInfo(key_id=row.key_id, name=row.name, role=row.role,
                       products=frozenset(scopes.get("product", [])), suppliers=frozenset(scopes.get("supplier", [])))


class RateLimiter:
    """A token bucket per key: ``rate_per_s`` sustained, ``burst`` at once."""

    def __init__(self, rate_per_s: float = 20.0, burst: int = 100) -> None:
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True
