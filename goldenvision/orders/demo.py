"""The whole evidence chain on the demo product, in one call (``goldenvision demo --order``).

Buyer and factory keys are made; the golden is sealed from the demo's golden captures and
signed by both; an order is opened; three good units are reviewed as the PPS and the buyer
signs the decision; the demo lot is judged as a PSI (ISO 2859-1 sample) and attached; the
dossier is written, signed by the buyer and countersigned by the factory, then verified
against both keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DemoOrder", "demo_order"]


@dataclass(frozen=True)
class DemoOrder:
    po: str
    db_url: str
    dossier: Path
    html: Path
    pdf: Path
    verified: bool
    pps_outcome: str
    psi_decision: str
    recommendation: str


def demo_order(out: str | Path, *, seed: int = 0, n_units: int = 24, size: float = 0.5,
               progress: Any = None) -> DemoOrder:
    """Run the demo order into ``out`` (a new or empty folder); returns where everything went."""
    import json
    import zipfile

    from .. import signing
    from ..demo import generate_lot
    from ..lots import judge_sampled_lot
    from ..package import load_golden
    from ..pipeline import Inspector, seal
    from ..store import open_store
    from .core import attach_lot, decide_pps, new_order, review_pps
    from .dossier import verify_dossier, write_dossier

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def step(msg: str) -> None:
        if progress:
            progress(msg)

    step("keys for the buyer and the factory")
    keys = {}
    for name in ("buyer", "factory"):
        priv, pub = signing.new_keypair(f"demo-{name}", name)
        (out / f"{name}.key").write_bytes(priv)
        (out / f"{name}.pub").write_bytes(pub)
        keys[name] = out / f"{name}.key"
    step("rendering the demo product")
    lot = generate_lot(out / "lot", seed=seed, n_golden=3, n_units=n_units, size=size)
    step("sealing the golden (signed by both parties)")
    golden = seal([str(p) for p in lot.golden_paths], lot.spec_path)
    pkg = out / "demo.golden"
    if pkg.exists():
        pkg.unlink()
    golden.save(pkg, sign_with=[(keys["buyer"], "buyer"), (keys["factory"], "factory")])
    golden = load_golden(pkg)
    db_url = f"sqlite:///{out / 'order.db'}"
    po = f"PO-DEMO-{seed}"
    truth = {u["unit_id"]: u for u in lot.truth["units"]}
    good = [p for p in lot.unit_paths if truth.get(p.stem, {}).get("expected_verdict") == "pass"]
    with open_store(db_url) as store:
        step(f"opening order {po}")
        new_order(store, po, supplier="Demo Leather Co.", product=golden.spec.product, quantity=5000, golden_path=pkg)
        ins = Inspector(golden)
        step("reviewing the pre-production sample")
        proposal = review_pps(store, po, good[:3], inspector=ins)
        decide_pps(store, po, outcome=proposal.outcome if proposal.outcome != "resubmit" else "resubmit",
                   comment="PPS matches the sealed sample; keep the panel shade steady", focus=["color:panel:lightness"],
                   key=keys["buyer"], signer="demo buyer")
        step("pre-shipment inspection of the lot")
        results = {}
        for p in lot.unit_paths:
            r = ins.inspect(p, context={"product": golden.spec.product, "lot": f"{po}/PSI-1"}, unit_id=p.name)
            store.record_result(r.to_dict(), golden_id=(golden.meta.get("package") or {})["golden_id"], file=str(p),
                                image_sha256=(r.provenance or {}).get("image_sha256"),
                                context={"product": golden.spec.product, "lot": f"{po}/PSI-1"})
            results[p.stem] = r
        record = judge_sampled_lot(results, golden.spec.aql, lot_id=f"{po}/PSI-1", seed=seed,
                                   inspection_type="psi", completion_fraction=1.0, product=golden.spec.product)
        lot_doc = json.loads(json.dumps(record.to_dict(), default=str))
        attach_lot(store, po, lot_doc)
        step("writing the dossier")
        paths = write_dossier(store, po, out / "dossier", sign_with=[(keys["buyer"], "buyer", "demo buyer")], force=True)
    from .dossier import countersign

    countersign(paths.dossier, keys["factory"], role="factory", signer="demo factory")
    check = verify_dossier(paths.dossier, trusted_keys=[str(out / "buyer.pub"), str(out / "factory.pub")],
                           require_roles=("buyer", "factory"))
    with zipfile.ZipFile(paths.dossier) as z:
        rec = json.loads(z.read("recommendation.json"))
    return DemoOrder(po=po, db_url=db_url, dossier=paths.dossier, html=paths.html, pdf=paths.pdf, verified=check.ok,
                     pps_outcome=proposal.outcome, psi_decision=str(lot_doc.get("verdict", {}).get("decision")),
                     recommendation=rec["words"])
