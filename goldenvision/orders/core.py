"""Purchase orders in the store: open, PPS proposal and signed decision, lots attached, timeline.

Every change is one transaction that also appends an event to the order's timeline, so
``show_order`` reads the whole history: a resubmitted PPS keeps its earlier proposals and
decisions, lots keep their verdicts in the order they were attached.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store.core import for_writing

from ..errors import GoldenVisionError, IntegrityError
from .pps import OUTCOMES, PpsProposal, propose
from .tables import Order, OrderEvent

__all__ = ["OrderError", "new_order", "show_order", "review_pps", "decide_pps", "attach_lot", "FOCUS_KINDS",
           "decision_message"]

#: What a PPS decision may ask later inspections to watch: ``color:<zone>[:lightness|chroma|hue]``,
#: ``dimension:<name>``, ``anomaly:<zone>``.
FOCUS_KINDS = ("color", "dimension", "anomaly")


class OrderError(GoldenVisionError, ValueError):
    """An order operation refused: unknown PO, wrong product, missing key, bad outcome."""


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _event(s: Session, po: str, kind: str, payload: Mapping[str, Any], actor: str | None = None) -> None:
    s.add(OrderEvent(po=po, kind=kind, utc=_utcnow(), actor=actor, payload=json.loads(json.dumps(payload))))


def _get(s: Session, po: str) -> Order:
    order = s.get(Order, po)
    if order is None:
        known = [o for o in s.scalars(select(Order.po).limit(20))]
        raise OrderError(f"order {po!r}: no such PO in the store (known: {', '.join(known) or 'none'})")
    return order


def _golden_id(golden: Any) -> str:
    gid = (golden.meta.get("package") or {}).get("golden_id")
    if not gid:
        raise IntegrityError("golden: not a sealed package (no golden_id); save and load it first")
    return str(gid)


def new_order(store: Any, po: str, *, supplier: str, product: str, quantity: int, golden_path: str | Path) -> dict[str, Any]:
    """Open an order against a sealed golden; the golden must be of the order's product."""
    from ..package import load_golden

    if not po or not po.strip() or len(po) > 200:
        raise OrderError(f"PO {po!r}: expected 1-200 characters")
    if not supplier or not supplier.strip():
        raise OrderError("--supplier: expected the supplier's name")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise OrderError(f"--quantity {quantity!r}: expected a positive whole number of units")
    golden = load_golden(golden_path)
    if golden.spec.product != product:
        raise OrderError(f"golden {golden_path}: it is of product {golden.spec.product!r}, the order is for {product!r}")
    gid = _golden_id(golden)
    pkg = golden.meta.get("package") or {}
    store.record_golden(gid, product, pkg)
    with Session(for_writing(store.engine)) as s, s.begin():
        if s.get(Order, po) is not None:
            raise OrderError(f"order {po!r} exists already")
        s.add(Order(po=po, supplier=supplier.strip(), product=product, quantity=quantity, golden_id=gid,
                    golden_path=str(Path(golden_path).resolve()), state="open", focus=[], created_utc=_utcnow()))
        s.flush()
        _event(s, po, "opened", {"supplier": supplier, "product": product, "quantity": quantity, "golden_id": gid,
                                 "golden_signatures": [{k: sig.get(k) for k in ("role", "key_id", "signer")}
                                                       for sig in pkg.get("signatures", [])]})
    return show_order(store, po)


def show_order(store: Any, po: str, *, with_drift: bool = False) -> dict[str, Any]:
    """The order, its state, focus list and timeline (oldest event first); with ``with_drift``,
    also ``drift_alarms`` over the units of its lots (see :mod:`goldenvision.orders.dossier`)."""
    order = _order_dict(store, po)
    if with_drift:
        from .dossier import _drift_alarms

        lot_ids = sorted({str(e["lot"].get("lot_id")) for e in order["timeline"] if e["kind"] == "lot"})
        order["drift_alarms"] = _drift_alarms(store, order, lot_ids)
    return order


def _order_dict(store: Any, po: str) -> dict[str, Any]:
    with Session(store.engine) as s:
        o = _get(s, po)
        events = s.scalars(select(OrderEvent).where(OrderEvent.po == po).order_by(OrderEvent.id)).all()
        return {
            "po": o.po, "supplier": o.supplier, "product": o.product, "quantity": o.quantity,
            "golden_id": o.golden_id, "golden_path": o.golden_path, "state": o.state, "focus": list(o.focus or []),
            "created_utc": o.created_utc.isoformat() + "Z",
            "timeline": [{"kind": e.kind, "utc": e.utc.isoformat() + "Z", "actor": e.actor, **e.payload} for e in events],
        }


def review_pps(store: Any, po: str, images: Sequence[Any], *, inspector: Any = None) -> PpsProposal:
    """Inspect the PPS units against the order's golden and record the proposed outcome."""
    from ..package import load_golden
    from ..pipeline import Inspector

    with Session(store.engine) as s:
        o = _get(s, po)
        golden_path, gid, product = o.golden_path, o.golden_id, o.product
    if not images:
        raise OrderError("pps: expected one or more photos of PPS units")
    ins = inspector or Inspector(load_golden(golden_path))
    results = []
    for i, img in enumerate(images):
        name = Path(img).name if isinstance(img, (str, Path)) else f"pps unit {i + 1}"
        r = ins.inspect(img, context={"product": product, "lot": f"{po}/PPS"}, unit_id=name)
        store.record_result(r.to_dict(), golden_id=gid, file=name,
                            image_sha256=(r.provenance or {}).get("image_sha256") or None,
                            context={"product": product, "lot": f"{po}/PPS"})
        results.append(r)
    proposal = propose(results)
    with Session(for_writing(store.engine)) as s, s.begin():
        o = _get(s, po)
        n = 1 + sum(1 for e in s.scalars(select(OrderEvent.kind).where(OrderEvent.po == po)) if e == "pps_proposed")
        o.state = "pps_proposed"
        _event(s, po, "pps_proposed", {"submission": n, **proposal.to_dict()})
    return proposal


def decision_message(po: str, submission: int, outcome: str, comment: str, focus: Sequence[str], signer: str,
                     utc: str) -> bytes:
    """The canonical bytes a PPS decision signature covers."""
    return json.dumps({"purpose": "goldenvision-pps-decision", "po": po, "submission": submission, "outcome": outcome,
                       "comment": comment, "focus": list(focus), "signer": signer, "utc": utc},
                      sort_keys=True, separators=(",", ":")).encode()


def _check_focus(focus: Sequence[str]) -> list[str]:
    out = []
    for f in focus:
        kind, _, rest = f.partition(":")
        if kind not in FOCUS_KINDS or not rest:
            raise OrderError(f"--focus {f!r}: expected color:ZONE[:lightness|chroma|hue], dimension:NAME or anomaly:ZONE")
        if kind == "color" and rest.count(":") == 1 and rest.split(":")[1] not in ("lightness", "chroma", "hue"):
            raise OrderError(f"--focus {f!r}: the colour component is lightness, chroma or hue")
        out.append(f)
    return out


def decide_pps(store: Any, po: str, *, outcome: str, comment: str = "", focus: Sequence[str] = (),
               key: Any = None, passphrase: str | None = None, signer: str | None = None) -> dict[str, Any]:
    """Record the buyer's PPS decision, signed with their Ed25519 key.

    ``focus`` names characteristics later inspections of this order watch (an SPC focus),
    e.g. ``color:panel:lightness`` for "watch the panel lightness".
    """
    from .. import signing

    if outcome not in OUTCOMES:
        raise OrderError(f"--outcome {outcome!r}: expected one of {', '.join(OUTCOMES)}")
    if key is None:
        raise OrderError("pps decide: a decision needs the buyer's signing key (--key KEY)")
    focus = _check_focus(focus)
    priv = signing.load_private_key(key, passphrase=passphrase)
    pub = priv.public_key()
    kid = signing.key_id(pub)
    with Session(for_writing(store.engine)) as s, s.begin():
        o = _get(s, po)
        subs = [e for e in s.scalars(select(OrderEvent).where(OrderEvent.po == po, OrderEvent.kind == "pps_proposed"))]
        if not subs:
            raise OrderError(f"order {po!r}: no PPS has been reviewed yet (run `goldenvision pps {po} IMAGES...`)")
        submission = int(subs[-1].payload.get("submission", len(subs)))
        utc = _utcnow().isoformat() + "Z"
        who = signer or kid
        msg = decision_message(po, submission, outcome, comment, focus, who, utc)
        sig = signing.sign(msg, priv)
        raw = signing.public_key_raw(pub)
        o.state = {"approve": "pps_approved", "approve_with_comments": "pps_approved", "resubmit": "pps_resubmit"}[outcome]
        o.focus = sorted(set(o.focus or []) | set(focus))
        payload = {"submission": submission, "outcome": outcome, "comment": comment, "focus": focus, "signer": who,
                   "key_id": kid, "public_key": base64.b64encode(raw).decode(), "signed_utc": utc,
                   "signature": base64.b64encode(sig).decode()}
        _event(s, po, "pps_decided", payload, actor=who)
    return payload


def attach_lot(store: Any, po: str, lot: Mapping[str, Any], *, golden_id: str | None = None) -> None:
    """Attach a DUPRO or PSI lot (``LotRecord.to_dict()`` or the service's lot JSON) to the order."""
    with Session(for_writing(store.engine)) as s, s.begin():
        o = _get(s, po)
        if golden_id is not None and golden_id != o.golden_id:
            raise OrderError(f"lot {lot.get('lot_id')!r}: judged against golden {golden_id}, the order's golden is "
                             f"{o.golden_id}")
        kind = str(lot.get("inspection_type") or lot.get("type") or "psi")
        o.state = f"{kind}_done"
        _event(s, po, "lot", {"lot": json.loads(json.dumps(lot, default=str))})
