"""The conditions a unit was inspected under (lot, shift, material batch, ...).

A station or service passes them to :meth:`goldenvision.Inspector.inspect`; they are checked
here and recorded on :attr:`goldenvision.results.UnitResult.context`, so that results can be
grouped and traced (which lot, which hide batch, which shift) without guessing from file names.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import SpecError

__all__ = ["CONTEXT_KEYS", "validate_context", "sidecar_path", "read_sidecar", "parse_pairs"]

#: Context keys a station or service knows, with the JSON type each must have. Other keys
#: are allowed with a str value (a site's own labels); see :func:`validate_context`.
CONTEXT_KEYS: dict[str, type] = {
    "product": str,
    "lot": str,
    "station": str,
    "shift": str,
    "operator": str,
    "material_batch": str,
    "ambient_temp_c": float,
    "humidity_pct": float,
}


def validate_context(context: Mapping[str, Any] | None) -> dict[str, str | float]:
    """Check the conditions a unit was inspected under, as recorded on its result.

    Parameters
    ----------
    context : mapping of str to str or number, or None
        Known keys (:data:`CONTEXT_KEYS`): ``product``, ``lot``, ``station``, ``shift``,
        ``operator``, ``material_batch`` (str); ``ambient_temp_c`` (number, degrees Celsius)
        and ``humidity_pct`` (number in [0, 100], relative humidity in percent). Any other
        key is allowed with a str value.

    Returns
    -------
    dict
        A new dict in the caller's key order; numbers as float.

    Raises
    ------
    SpecError
        Not a mapping, a key that is not a non-empty str, or a value of the wrong type
        (a bool is not a number; NaN and infinities are refused); the message names the key.
    """
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise SpecError("context: expected a mapping of str keys to str or number values, "
                        f"got {type(context).__name__}")
    out: dict[str, str | float] = {}
    for key, value in context.items():
        if not isinstance(key, str) or not key:
            raise SpecError(f"context: keys must be non-empty str, got {key!r}")
        expected = CONTEXT_KEYS.get(key, str)
        got = f"{type(value).__name__} {value!r}"
        if expected is str:
            if not isinstance(value, str):
                known = "" if key in CONTEXT_KEYS else f" (a key of your own; known keys: {', '.join(CONTEXT_KEYS)})"
                raise SpecError(f"context[{key!r}]: expected a str{known}, got {got}")
            out[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(f"context[{key!r}]: expected a finite number, got {got}")
        if key == "humidity_pct" and not 0.0 <= value <= 100.0:
            raise SpecError(f"context['humidity_pct']: expected a relative humidity in [0, 100] %, got {value!r}")
        out[key] = float(value)
    return out


def sidecar_path(photo: "str | os.PathLike[str]") -> Path | None:
    """The capture-context sidecar of a photo: ``photo.jpg.json`` beside it (the photo's full
    name plus ``.json``; a plain ``photo.json`` is left alone: other tools, the demo among
    them, keep their own data there)."""
    p = Path(photo)
    cand = p.with_name(p.name + ".json")
    return cand if cand.is_file() else None


def read_sidecar(photo: "str | os.PathLike[str]") -> dict[str, Any]:
    """The context a sidecar JSON beside ``photo`` gives (empty without one), checked.

    Raises
    ------
    SpecError
        The sidecar is not a JSON object of context fields (the message names the file).
    """
    side = sidecar_path(photo)
    if side is None:
        return {}
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"{side}: not a readable JSON context sidecar ({exc})") from None
    if not isinstance(data, dict):
        raise SpecError(f"{side}: expected a JSON object of context fields, got {type(data).__name__}")
    try:
        return validate_context(data)
    except SpecError as exc:
        raise SpecError(f"{side}: {exc}") from None


def parse_pairs(items: "list[str] | None") -> dict[str, Any]:
    """``KEY=VALUE`` strings (the CLI's ``--context``) -> checked context; numbers for the
    numeric keys (``ambient_temp_c=23.5``)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError(f"--context {item!r}: expected KEY=VALUE, e.g. shift=B")
        if CONTEXT_KEYS.get(key) is float:
            try:
                out[key] = float(value)
            except ValueError:
                raise SpecError(f"--context {item!r}: {key} expects a number") from None
        else:
            out[key] = value
    return validate_context(out)
