"""Labelling uploaded units in the service: an inspector's label becomes training data.

=====================================================  ==========================================
``POST /api/lots/{id}/units/{sha}/label``               label a unit of the lot (inspector role):
                                                        ``{"good": bool, "defects": [{"box",
                                                        "class", "severity"}], "frame":
                                                        "picture" | "golden"}``; boxes in px of
                                                        the unit's ``evidence.jpg`` (default) or
                                                        of the golden
``GET /api/labels``                                     the labelled datasets, one per product
=====================================================  ==========================================

Each product's labels go to the gv dataset ``DATA/labels/<product>/`` (golden px, the golden's
reference as template, grouped by lot), which ``goldenvision train --resume`` reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from .tables import LotPhoto

__all__ = ["add_label_routes", "labels_dir"]


def labels_dir(data: Path, product: str) -> Path:
    """The gv dataset folder of a product's labels under the service's data folder."""
    from .app import safe_name

    return data / "labels" / safe_name(product)


def add_label_routes(app: FastAPI, *, engine: Any, data: Path, key_dep: Any, lot_row: Any, need: Any) -> None:
    """Add the labelling endpoints (see the module's table)."""
    from ..labelling import LabelError, boxes_from_mapping, known_classes, label_unit

    @app.post("/api/lots/{lot_id}/units/{sha}/label", tags=["labels"])
    async def label(lot_id: str, sha: str, request: Request, info: Any = Depends(key_dep)) -> dict[str, Any]:
        """Add an inspector's label of one unit of the lot to the product's training dataset.

        Body: ``{"good": bool, "defects": [{"box": [x1, y1, x2, y2], "class": str,
        "severity": "critical" | "major" | "minor"}], "frame": "picture" | "golden"}``.
        """
        from starlette.concurrency import run_in_threadpool

        lot = lot_row(lot_id, info, "write")  # the key and its scope first, then the body
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise HTTPException(404, "no such unit")
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, "expected a JSON object") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "expected a JSON object")
        return await run_in_threadpool(_label, lot, sha, body, info)

    def _label(lot: Any, sha: str, body: dict[str, Any], info: Any) -> dict[str, Any]:
        from ..station.evidence import picture_to_golden
        from .app import _inside, safe_name
        from .scoring import _inspector

        lot_id = lot.lot_id
        with Session(engine) as s:
            photo = s.scalar(select(LotPhoto).where(LotPhoto.lot_id == lot_id, LotPhoto.image_sha256 == sha))
        if photo is None:
            raise HTTPException(404, "no such unit")
        try:
            boxes, classes, sevs = boxes_from_mapping(body.get("defects") or [])
            frame = body.get("frame", "picture")
            if frame not in ("picture", "golden"):
                raise LabelError("frame: expected 'picture' or 'golden'")
            ins = _inspector(str(data / "goldens" / f"{safe_name(lot.golden_id)}.golden"))
            if frame == "picture":
                shape = ins.golden.reference.shape[:2]
                boxes = [list(picture_to_golden(b, shape)) for b in boxes]
            path = _inside(data, Path(photo.path))
            out = label_unit(labels_dir(data, lot.product), path, inspector=ins, boxes=boxes, classes=classes,
                             severities=sevs, good=bool(body.get("good", False)), group=lot_id,
                             source=f"service {info.name}", image_name=photo.file)
        except LabelError as exc:
            raise HTTPException(400, str(exc)) from None
        except HTTPException:
            raise
        except Exception as exc:  # a unit that cannot be aligned, an unreadable photo: said, never a crash  # noqa: BLE001
            raise HTTPException(422, f"{type(exc).__name__}: {exc}") from None
        out.pop("dataset", None)  # the server's folder is not the client's business
        return {"lot_id": lot_id, "product": lot.product, "file": photo.file, **out}

    @app.get("/api/labels", tags=["labels"])
    def list_labels(product: str | None = None, info: Any = Depends(key_dep)) -> list[dict[str, Any]]:
        """The labelled datasets this key may read (or one product's): images, boxes, class counts."""
        from ..datasets import load_dataset
        from .app import safe_name

        need(info, "read", product=product)
        root = data / "labels"
        out: list[dict[str, Any]] = []
        for d in sorted(root.iterdir()) if root.is_dir() else []:
            if not (d / "dataset.json").is_file() or (product is not None and d.name != safe_name(product)):
                continue
            try:
                ds = load_dataset(d, "gv")
            except Exception as exc:  # noqa: BLE001 - one broken dataset must not hide the others
                out.append({"product": d.name, "error": str(exc)})
                continue
            if not info.covers(product=d.name):
                continue
            out.append({"product": d.name, "n_samples": len(ds.samples), "n_annotations": ds.n_annotations,
                        "classes": list(ds.classes), "class_counts": dict(ds.class_counts()),
                        "known_classes": known_classes(d)})
        return out
