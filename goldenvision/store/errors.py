"""Errors of the results store; each also inherits the matching built-in exception."""

from __future__ import annotations

from ..errors import GoldenVisionError

__all__ = ["StoreError", "StoreUnavailableError", "SchemaVersionError", "ContextError", "ResultDataError"]


class StoreError(GoldenVisionError, ValueError):
    """A store URL or a store argument is invalid (e.g. a malformed database URL)."""


class StoreUnavailableError(GoldenVisionError, ConnectionError):
    """The database cannot be reached or opened (server down, file in a missing folder, no driver)."""


class SchemaVersionError(GoldenVisionError, RuntimeError):
    """The database schema is not one this goldenvision can use (a newer revision, or not a store)."""


class ContextError(GoldenVisionError, TypeError, ValueError):
    """A unit's context (product, lot, station, ...) has an unknown field or a value of the wrong type."""


class ResultDataError(GoldenVisionError, ValueError):
    """A unit result cannot be stored: a key is missing or a value is malformed."""
