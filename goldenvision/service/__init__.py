"""The inspectors' upload service (FastAPI): see :func:`goldenvision.service.app.create_app`."""

from .app import Limits, create_app, safe_name
from .auth import KeyInfo, authenticate, list_keys, new_key, revoke_key

__all__ = ["create_app", "Limits", "safe_name", "KeyInfo", "authenticate", "new_key", "list_keys", "revoke_key"]
