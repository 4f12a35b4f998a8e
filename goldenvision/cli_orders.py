"""``goldenvision order ...`` and ``goldenvision pps ...``: the order's evidence chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

__all__ = ["register_commands"]


def _store(db: str):  # noqa: ANN202
    from .store import open_store

    return open_store(db)


def register_commands(app: typer.Typer) -> None:
    """Add ``order new|show|dossier|verify|countersign`` and ``pps`` to a Typer app."""
    from .errors import InputNotFoundError

    order_app = typer.Typer(help="Purchase orders: golden, PPS, DUPRO and PSI lots, the signed dossier.",
                            no_args_is_help=True)
    app.add_typer(order_app, name="order")

    @order_app.command("new")
    def order_new(
        po: str = typer.Argument(..., help="The purchase order number."),
        supplier: str = typer.Option(..., "--supplier", help="The supplier (factory)."),
        product: str = typer.Option(..., "--product", help="The product; must match the golden's spec."),
        quantity: int = typer.Option(..., "--quantity", help="Units ordered."),
        golden: Path = typer.Option(..., "--golden", help="The sealed golden package the order is made against."),
        db: str = typer.Option(..., "--db", help="The results store."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Open an order against a sealed golden."""
        from .orders import new_order

        with _store(db) as st:
            out = new_order(st, po, supplier=supplier, product=product, quantity=quantity, golden_path=golden)
        typer.echo(json.dumps(out) if as_json else f"order {po} opened: {quantity} x {product} from {supplier}, "
                                                  f"golden {out['golden_id']}")

    @order_app.command("show")
    def order_show(
        po: str = typer.Argument(..., help="The purchase order number."),
        db: str = typer.Option(..., "--db", help="The results store."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """The order's state and its timeline of events."""
        from .orders import show_order

        with _store(db) as st:
            o = show_order(st, po, with_drift=True)
        if as_json:
            typer.echo(json.dumps(o))
            return
        typer.echo(f"order {o['po']}: {o['quantity']} x {o['product']} from {o['supplier']}; state {o['state']}")
        if o["focus"]:
            typer.echo(f"watch: {', '.join(o['focus'])}")
        for e in o["timeline"]:
            what = {"opened": lambda e: f"opened against golden {e['golden_id']}",
                    "pps_proposed": lambda e: f"PPS submission {e['submission']} proposed {e['outcome']}: "
                                              + "; ".join(e["reasons"]),
                    "pps_decided": lambda e: f"PPS decision {e['outcome']} by {e['signer']}: {e['comment']}",
                    "lot": lambda e: f"lot {e['lot'].get('lot_id')} ({e['lot'].get('inspection_type') or e['lot'].get('type')}): "
                                     f"{(e['lot'].get('verdict') or {}).get('decision', 'pending')}"}.get(
                e["kind"], lambda e: e["kind"])(e)
            typer.echo(f"  {e['utc']}  {what}")
        for a in o["drift_alarms"]:
            typer.echo(f"  drift: {a['metric']}{' (watched)' if a.get('focus') else ''}: {a['direction']} "
                       f"({a['rule']}), since {Path(str(a['first_unit'])).name}")

    @order_app.command("dossier")
    def order_dossier(
        po: str = typer.Argument(..., help="The purchase order number."),
        db: str = typer.Option(..., "--db", help="The results store."),
        out: Path = typer.Option(..., "--out", help="Folder for <PO>.dossier, <PO>.html and <PO>.pdf."),
        key: Optional[Path] = typer.Option(None, "--sign", help="Sign with this private key."),
        role: str = typer.Option("buyer", "--role", help="The signer's role."),
        signer: Optional[str] = typer.Option(None, "--signer", help="The signer's name (default: the key file's stem)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing dossier."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Write the order's tamper-evident dossier with its HTML and PDF views."""
        from .orders import write_dossier

        sign = [(key, role, signer or key.stem)] if key else []
        with _store(db) as st:
            p = write_dossier(st, po, out, sign_with=sign, force=force)
        info = {"dossier": str(p.dossier), "html": str(p.html), "pdf": str(p.pdf), "manifest_sha256": p.manifest_sha256}
        typer.echo(json.dumps(info) if as_json else f"dossier: {p.dossier}\nviews: {p.html}, {p.pdf}")

    @order_app.command("verify")
    def order_verify(
        file: Path = typer.Argument(..., help="A <PO>.dossier file."),
        trust: Optional[list[Path]] = typer.Option(None, "--trust", help="Trusted public key (repeatable): every "
                                                   "signature must then be made by one of them."),
        require_role: Optional[list[str]] = typer.Option(None, "--require-role", help="A role that must have signed."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Check every hash and signature of a dossier; exit 1 on any change or untrusted signature."""
        from .orders import verify_dossier

        if not file.is_file():
            raise InputNotFoundError(f"{file}: no such dossier")
        check = verify_dossier(file, trusted_keys=[str(t) for t in trust] if trust else None,
                               require_roles=require_role or ())
        if as_json:
            typer.echo(json.dumps(check.to_dict()))
        else:
            typer.echo(f"{'OK' if check.ok else 'REFUSED'} {file}: order {check.po}, "
                       f"{len(check.signatures)} signature(s)")
            for s in check.signatures:
                typer.echo(f"  signed by {s['signer']} ({s['role']}), key {s['key_id']}: "
                           f"{'valid' if s['valid'] else 'INVALID'}"
                           + ("" if s["trusted"] is None else (", trusted" if s["trusted"] else ", NOT trusted")))
            for p in check.problems:
                typer.echo(f"  problem: {p}")
        raise typer.Exit(0 if check.ok else 1)

    @order_app.command("countersign")
    def order_countersign(
        file: Path = typer.Argument(..., help="A <PO>.dossier file."),
        key: Path = typer.Option(..., "--key", help="Your private key."),
        role: str = typer.Option(..., "--role", help="Your role (buyer, factory, inspector)."),
        signer: Optional[str] = typer.Option(None, "--signer", help="Your name (default: the key file's stem)."),
    ) -> None:
        """Add your signature to an intact dossier."""
        from .orders import countersign

        check = countersign(file, key, role=role, signer=signer or key.stem)
        typer.echo(f"countersigned {file}: {len(check.signatures)} signature(s)")

    @app.command("pps", context_settings={"allow_extra_args": False})
    def pps_cmd(
        args: list[str] = typer.Argument(..., help="PO IMAGES... to review a PPS, or: decide PO."),
        db: str = typer.Option(..., "--db", help="The results store."),
        outcome: Optional[str] = typer.Option(None, "--outcome", help="decide: approve, approve_with_comments or resubmit."),
        comment: str = typer.Option("", "--comment", help="decide: the buyer's comment."),
        focus: Optional[list[str]] = typer.Option(
            None, "--focus", help="decide: what later inspections watch, e.g. color:panel:lightness (repeatable)."),
        key: Optional[Path] = typer.Option(None, "--key", help="decide: the buyer's private key (required)."),
        signer: Optional[str] = typer.Option(None, "--signer", help="decide: the buyer's name."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Pre-production sample: `pps PO IMAGES...` proposes an outcome; `pps decide PO --outcome ... --key KEY` records the buyer's signed decision.

        Exit code of the review: 0 approve, 2 approve with comments, 1 resubmit.
        """
        from .orders import decide_pps, review_pps

        if args[0] == "decide":
            if len(args) != 2:
                raise typer.BadParameter("usage: pps decide PO --outcome ... --key KEY")
            with _store(db) as st:
                d = decide_pps(st, args[1], outcome=outcome or "", comment=comment, focus=focus or [],
                               key=key, signer=signer or (key.stem if key else None))
            typer.echo(json.dumps(d) if as_json else f"PPS decision recorded for {args[1]}: {d['outcome']} "
                                                     f"(signed by {d['signer']}, key {d['key_id']})")
            return
        if len(args) < 2:
            raise typer.BadParameter("usage: pps PO IMAGES...")
        images = [Path(a) for a in args[1:]]
        missing = [str(p) for p in images if not p.is_file()]
        if missing:
            raise InputNotFoundError(f"no such photo: {', '.join(missing)}")
        with _store(db) as st:
            p = review_pps(st, args[0], images)
        if as_json:
            typer.echo(json.dumps(p.to_dict()))
        else:
            typer.echo(f"proposed: {p.outcome}")
            for r in p.reasons:
                typer.echo(f"  - {r}")
            for c in p.characteristics:
                typer.echo(f"  {c.kind:<9} {c.name:<16} {c.worst_share:6.0%} of tolerance (worst {c.worst_unit}): {c.detail}")
        raise typer.Exit({"approve": 0, "approve_with_comments": 2, "resubmit": 1}[p.outcome])
