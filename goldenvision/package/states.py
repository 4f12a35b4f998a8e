"""Images and fitted stage states as package members: lossless PNG, ``.npy`` arrays, JSON trees.

See :mod:`goldenvision.package` for the layout (``images/``, ``states/<stage>/``).
"""

from __future__ import annotations

import io
import struct
from typing import Any
from urllib.parse import quote

import cv2
import numpy as np

from ..errors import IntegrityError, ModelError

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
