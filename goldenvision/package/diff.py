"""What changed between two golden samples: spec, images, states, meta, profile and signatures."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .container import _plain

if TYPE_CHECKING:
    from ..golden import GoldenSample

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
