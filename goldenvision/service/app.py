"""The inspectors' upload service: goldens, lots, photos in; verdicts, lot verdicts and reports out.

``create_app(db_url, data_dir)`` builds the FastAPI application; ``goldenvision serve`` runs it
with uvicorn. Every operation needs ``Authorization: Bearer KEY`` (or the sign-in cookie the
pages set), except ``/health``, the OpenAPI docs and the sign-in page: a missing or wrong key
gets 401, an out-of-scope request 403, a key over its rate 429.

Uploads are capped before the multipart parser runs (``Content-Length`` and the streamed
body alike), spooled to disk, hashed while they are copied, and checked for an image's pixel
count before they are accepted. File names are reduced to a safe base name and every path
is resolved and checked to lie under ``--data``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store.core import for_writing
from ..store.models import Result, Unit

from ..errors import GoldenVisionError
from .auth import KeyInfo, RateLimiter, authenticate
from .scoring import make_scorer
from .tables import Lot, LotPhoto
from .uploads import MalformedUpload, PhotoStream, boundary_of

__all__ = ["create_app", "Limits"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
COOKIE = "gv_key"
#: Bytes of an upload handed to the multipart parser at a time.
_FEED_BYTES = 2**20


@dataclass(frozen=True)
class Limits:
    """Caps on what one request may bring."""

    max_request_bytes: int = 512 * 2**20
    max_file_bytes: int = 64 * 2**20
    max_files_per_request: int = 200
    max_image_pixels: int = 40_000_000
    max_golden_bytes: int = 512 * 2**20
    rate_per_s: float = 50.0
    burst: int = 200


def safe_name(name: str | None) -> str:
    """A client's file name reduced to a safe base name (no folders, no leading dots)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _SAFE.sub("_", base).lstrip("._")[:120]
    return base or "upload"


def _inside(root: Path, path: Path) -> Path:
    """``path`` resolved, refused unless it lies under ``root``."""
    p = path.resolve()
    if not p.is_relative_to(root.resolve()):
        raise HTTPException(400, f"path {path.name!r} escapes the data folder")
    return p


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse a request body over ``max_bytes`` before anything parses it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return msg

        async def tracking_send(msg: dict) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"detail": f"request body over {self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class LotIn(BaseModel):
    """A lot to inspect (``POST /api/lots``)."""

    product: str = Field(min_length=1, max_length=200)
    golden_id: str = Field(min_length=1, max_length=64)
    lot_size: int = Field(ge=2, le=10_000_000)
    supplier: str | None = Field(default=None, max_length=200)
    po: str | None = Field(default=None, max_length=200)
    type: Literal["dupro", "psi"] = "psi"
    aql: dict[str, Any] | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def create_app(db_url: str, data_dir: str | Path, *, scheduler: str | None = None, limits: Limits | None = None,
               trust: list[str] | None = None) -> FastAPI:
    """The service's FastAPI application.

    Parameters
    ----------
    db_url : str
        The results store (SQLite or PostgreSQL URL); the service's tables live there too.
    data_dir : path
        Uploaded goldens and photos, reports.
    scheduler : str or None
        None: score in this process; ``local[:N]``: a Dask LocalCluster; else a Dask scheduler
        address.
    trust : list of str, optional
        Public keys: an uploaded golden must then carry a signature one of them verifies.
    """
    from ..store import open_store

    limits = limits or Limits()
    data = Path(data_dir).resolve()
    for sub in ("goldens", "lots", "tmp"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    store = open_store(db_url)
    engine = store.engine
    limiter = RateLimiter(limits.rate_per_s, limits.burst)
    state: dict[str, Any] = {"scorer": None}

    def scorer() -> Any:
        if state["scorer"] is None:
            state["scorer"] = make_scorer(scheduler)
        return state["scorer"]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        if state["scorer"] is not None:
            state["scorer"].close()
        store.close()

    app = FastAPI(lifespan=lifespan, title="goldenvision upload service",
                  description="Upload sealed goldens and photos of a lot; get verdicts, the ISO 2859-1 lot verdict "
                              "and the report. Every operation needs `Authorization: Bearer KEY`.",
                  version=_version())
    app.state.store = store
    app.state.limits = limits
    app.state.scorer = scorer

    # -- auth ---------------------------------------------------------------------------
    def key(request: Request) -> KeyInfo:
        header = request.headers.get("authorization", "")
        presented = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
        info = authenticate(engine, presented)
        if info is None:
            raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})
        if not limiter.allow(info.key_id):
            raise HTTPException(429, "rate limit: too many requests for this key", headers={"Retry-After": "1"})
        return info

    def need(info: KeyInfo, action: str, *, product: str | None = None, supplier: str | None = None) -> None:
        if not info.may(action):
            raise HTTPException(403, f"a {info.role} key may not {action}")
        if (product is not None or supplier is not None) and not info.covers(product=product, supplier=supplier):
            raise HTTPException(403, "out of this key's scope")

    def lot_row(lot_id: str, info: KeyInfo, action: str) -> Lot:
        with Session(engine) as s:
            lot = s.get(Lot, lot_id)
            if lot is None:
                raise HTTPException(404, f"no lot {lot_id!r}")
            s.expunge(lot)
        need(info, action, product=lot.product, supplier=lot.supplier)
        return lot

    # -- open endpoints -----------------------------------------------------------------
    @app.get("/health", tags=["open"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "scheduler": scheduler or "in-process"}

    # -- goldens ------------------------------------------------------------------------
    @app.post("/api/goldens", tags=["goldens"])
    async def upload_golden(request: Request, info: KeyInfo = Depends(key)) -> dict[str, Any]:
        """Upload a sealed golden package (multipart field ``file``); verified before it is kept."""
        need(info, "write")
        form = await request.form(max_files=1, max_fields=4)
        up = form.get("file")
        if up is None or not hasattr(up, "read"):
            raise HTTPException(422, "expected a multipart field 'file' with the golden package")
        tmp = data / "tmp" / f"golden-{uuid.uuid4().hex}"
        try:
            await _copy_upload(up, tmp, limits.max_golden_bytes)
            from ..package import load_golden

            try:
                golden = load_golden(tmp, trusted_keys=trust) if trust else load_golden(tmp)
            except GoldenVisionError as exc:
                raise HTTPException(422, f"golden refused: {exc}") from None
            pkg = golden.meta.get("package") or {}
            gid = pkg.get("golden_id")
            if not gid:
                raise HTTPException(422, "golden refused: the package has no golden_id")
            need(info, "write", product=golden.spec.product)
            final = _inside(data, data / "goldens" / f"{safe_name(gid)}.golden")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        store.record_golden(gid, golden.spec.product, pkg)
        return {"golden_id": gid, "product": golden.spec.product, "revision": golden.spec.revision}

    @app.get("/api/goldens", tags=["goldens"])
    def list_goldens(product: str | None = None, info: KeyInfo = Depends(key)) -> list[dict[str, Any]]:
        """Goldens this key may see (optionally of one product)."""
        if product is not None:
            need(info, "read", product=product)
        return [g for g in store.goldens() if info.covers(product=g["product"]) and product in (None, g["product"])]

    # -- lots ---------------------------------------------------------------------------
    @app.post("/api/lots", tags=["lots"])
    def create_lot(body: LotIn, info: KeyInfo = Depends(key)) -> dict[str, Any]:
        """Open a lot: the ISO 2859-1 plan for its size and the seeded sample to photograph."""
        need(info, "write", product=body.product, supplier=body.supplier)
        golden_path = data / "goldens" / f"{safe_name(body.golden_id)}.golden"
        if not golden_path.is_file():
            raise HTTPException(404, f"no golden {body.golden_id!r}: upload it first")
        known = {g["golden_id"]: g for g in store.goldens()}
        if known.get(body.golden_id, {}).get("product") != body.product:
            raise HTTPException(422, f"golden {body.golden_id} is not of product {body.product!r}")
        from ..lots import class_plans, draw_sample, sample_size_for
        from ..spec import AqlSettings

        try:
            aql = AqlSettings(**(body.aql or {}))
            plans = class_plans(body.lot_size, aql)
        except (GoldenVisionError, ValueError) as exc:
            raise HTTPException(422, f"aql: {exc}") from None
        seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
        n = sample_size_for(plans)
        sample = draw_sample([str(i) for i in range(1, body.lot_size + 1)], n, seed=seed)
        plan = {k: {"code_letter": p.code_letter, "sample_size": p.sample_size, "accept": p.accept,
                    "reject": p.reject, "aql": p.aql} for k, p in plans.items()}
        lot_id = f"lot-{uuid.uuid4().hex[:12]}"
        with Session(for_writing(engine)) as s, s.begin():
            s.add(Lot(lot_id=lot_id, product=body.product, golden_id=body.golden_id, lot_size=body.lot_size,
                      supplier=body.supplier, po=body.po, inspection_type=body.type, aql=aql.model_dump(),
                      plan=plan, sample=sample, seed=seed, created_by=info.key_id, created_utc=_utcnow()))
        (data / "lots" / lot_id).mkdir(exist_ok=True)
        if body.po:
            _to_order(body.po, {"lot_id": lot_id, "inspection_type": body.type, "lot_size": body.lot_size,
                                "seed": seed, "sample_ids": sample, "plan": plan, "source": "service",
                                "verdict": {"decision": "pending"}}, body.golden_id)
        return {"lot_id": lot_id, "plan": plan, "sample_size": n, "sample": sample, "seed": seed}

    def _to_order(po: str, lot_doc: dict[str, Any], golden_id: str) -> None:
        """Put a service lot on its purchase order's timeline, when the store has that order."""
        from ..orders import OrderError, attach_lot
        from ..orders.tables import Order

        with Session(engine) as s:
            if s.get(Order, po) is None:
                return
        try:
            attach_lot(store, po, lot_doc, golden_id=golden_id)
        except OrderError as exc:
            raise HTTPException(422, f"po {po!r}: {exc}") from None

    @app.get("/api/lots", tags=["lots"])
    def list_lots(product: str | None = None, info: KeyInfo = Depends(key)) -> list[dict[str, Any]]:
        """Lots this key may see, newest first."""
        if product is not None:
            need(info, "read", product=product)
        with Session(engine) as s:
            rows = s.scalars(select(Lot).order_by(Lot.created_utc.desc())).all()
            return [{"lot_id": r.lot_id, "product": r.product, "supplier": r.supplier, "po": r.po,
                     "type": r.inspection_type, "lot_size": r.lot_size, "created_utc": r.created_utc.isoformat() + "Z"}
                    for r in rows if info.covers(product=r.product, supplier=r.supplier)
                    and product in (None, r.product)]

    @app.post("/api/lots/{lot_id}/photos", tags=["lots"])
    async def upload_photos(lot_id: str, request: Request, info: KeyInfo = Depends(key)) -> dict[str, Any]:
        """Photos of the lot's units (multipart field ``files``, one or more); scored in the background.

        Each photo is stored and submitted for scoring as soon as its part of the body has
        arrived. Files refused (not an image, too many pixels, too large, past the per-request
        file limit) are listed in ``rejected`` with the reason; the rest are ``accepted``.
        """
        lot = lot_row(lot_id, info, "write")
        try:
            boundary = boundary_of(request.headers.get("content-type"))
        except MalformedUpload as exc:
            raise HTTPException(422, f"{exc}; send the photos in the multipart field 'files'") from None
        folder = _inside(data, data / "lots" / safe_name(lot_id))
        folder.mkdir(exist_ok=True)
        golden_path = str(data / "goldens" / f"{safe_name(lot.golden_id)}.golden")
        ctx = {"product": lot.product, "lot": lot_id}
        accepted: list[dict[str, Any]] = []

        def on_file(raw_name: str, tmp: Path, sha: str) -> None:
            """A complete file: check it, record it once, submit it (in a worker thread)."""
            name = safe_name(raw_name)
            try:
                why = _image_problem(tmp, limits.max_image_pixels)
                if why:
                    stream.rejected.append({"file": name, "reason": why})
                    return
                final = _inside(data, folder / f"{sha[:16]}-{name}")
                with Session(for_writing(engine)) as s, s.begin():
                    dup = s.scalar(select(LotPhoto.id).where(LotPhoto.lot_id == lot_id, LotPhoto.image_sha256 == sha))
                    if dup is None:
                        os.replace(tmp, final)
                        s.add(LotPhoto(lot_id=lot_id, image_sha256=sha, file=name, path=str(final), status="queued",
                                       received_utc=_utcnow()))
                if dup is not None:
                    accepted.append({"file": name, "image_sha256": sha, "duplicate": True})
                    return
                fut = scorer().submit(golden_path, str(final), db_url, lot.golden_id, name, ctx, sha256=sha)
                fut.add_done_callback(lambda f, sha=sha: _mark(lot_id, sha, f))
                accepted.append({"file": name, "image_sha256": sha, "duplicate": False})
            except (HTTPException, OSError) as exc:
                stream.rejected.append({"file": name, "reason": str(getattr(exc, "detail", exc))})

        stream = PhotoStream(boundary, folder, max_files=limits.max_files_per_request,
                             max_file_bytes=limits.max_file_bytes, on_file=on_file)
        buf = bytearray()
        try:
            async for chunk in request.stream():
                if not buf and len(chunk) >= _FEED_BYTES:  # a large chunk as it is, without two copies
                    await run_in_threadpool(stream.feed, chunk)
                    continue
                buf += chunk
                if len(buf) >= _FEED_BYTES:  # one hop to a worker thread per MiB, not per network chunk
                    await run_in_threadpool(stream.feed, bytes(buf))
                    buf.clear()
            await run_in_threadpool(stream.feed, bytes(buf))
            await run_in_threadpool(stream.finish)
        except MalformedUpload as exc:
            if not accepted:
                raise HTTPException(422, str(exc)) from None
            stream.rejected.append({"file": None, "reason": f"{exc}: the rest of the request was not read"})
        finally:
            stream.close()
        if stream.files_seen == 0:
            raise HTTPException(422, "expected one or more files in the multipart field 'files'")
        return {"lot_id": lot_id, "accepted": accepted, "rejected": stream.rejected}

    def _mark(lot_id: str, sha: str, fut: Any) -> None:
        """A scoring task ended: a failure is recorded with the reason. A success needs no write
        here: the task committed its result, and :func:`lot_status` reads a photo with a result as
        scored (one write per photo instead of two)."""
        try:
            exc = fut.exception()
        except BaseException as e:  # cancelled  # noqa: BLE001
            exc = e
        if exc is None:
            return
        with Session(for_writing(engine)) as s, s.begin():
            p = s.scalar(select(LotPhoto).where(LotPhoto.lot_id == lot_id, LotPhoto.image_sha256 == sha))
            if p is not None:
                p.status = "scored" if exc is None else "failed"
                p.error = None if exc is None else f"{type(exc).__name__}: {exc}"[:2000]

    @app.get("/api/lots/{lot_id}", tags=["lots"])
    def get_lot(lot_id: str, info: KeyInfo = Depends(key)) -> dict[str, Any]:
        """Progress, every unit with its verdict once scored, and the lot verdict."""
        lot = lot_row(lot_id, info, "read")
        return lot_status(lot)

    def lot_status(lot: Lot) -> dict[str, Any]:
        with Session(engine) as s:
            photos = s.scalars(select(LotPhoto).where(LotPhoto.lot_id == lot.lot_id).order_by(LotPhoto.id)).all()
            # the columns the status shows, not store.results()' whole stored result and metrics:
            # the lot page and API clients poll this while the lot is scored
            q = (select(Unit.image_sha256, Result.verdict, Result.defect_class, Result.reasons)
                 .join(Result, Result.unit_id == Unit.id)
                 .where(Unit.lot == lot.lot_id, Unit.golden_id == lot.golden_id).order_by(Unit.id))
            scored = {sha: {"verdict": v, "defect_class": dc, "reasons": list(rs or [])} for sha, v, dc, rs in s.execute(q)}
        units = []
        for p in photos:
            r = scored.get(p.image_sha256)
            status = "scored" if r is not None else p.status  # a re-run that succeeded after a failure is scored
            units.append({"file": p.file, "image_sha256": p.image_sha256, "status": status,
                          "error": None if r is not None else p.error,
                          "verdict": None if r is None else r["verdict"],
                          "defect_class": None if r is None else r["defect_class"],
                          "reasons": [] if r is None else r["reasons"]})
        n_sample = sum(1 for _ in lot.sample)
        done = [u for u in units if u["verdict"] is not None]
        verdict = _lot_verdict(lot, [scored[u["image_sha256"]] for u in done], n_sample)
        if lot.po and verdict["decision"] != "pending" and lot.lot_id not in state.setdefault("judged", set()):
            state["judged"].add(lot.lot_id)  # the final verdict joins the order's timeline once per process
            _to_order(lot.po, {"lot_id": lot.lot_id, "inspection_type": lot.inspection_type, "lot_size": lot.lot_size,
                               "seed": lot.seed, "sample_ids": lot.sample, "plan": lot.plan, "source": "service",
                               "verdict": verdict}, lot.golden_id)
        return {"lot_id": lot.lot_id, "product": lot.product, "golden_id": lot.golden_id, "lot_size": lot.lot_size,
                "supplier": lot.supplier, "po": lot.po, "type": lot.inspection_type, "plan": lot.plan,
                "sample": lot.sample, "seed": lot.seed,
                "progress": {"received": len(units), "scored": len(done), "sample_size": n_sample,
                             "failed": sum(u["status"] == "failed" for u in units)},
                "units": units, "lot_verdict": verdict}

    @app.get("/api/lots/{lot_id}/report", tags=["lots"], response_class=HTMLResponse)
    def lot_report(lot_id: str, info: KeyInfo = Depends(key)) -> Response:
        """The lot's HTML report (rendered from the stored results)."""
        lot = lot_row(lot_id, info, "read")
        html, _ = _render_report(lot, pdf=False)
        return FileResponse(html, media_type="text/html")

    @app.get("/api/lots/{lot_id}/report.pdf", tags=["lots"])
    def lot_report_pdf(lot_id: str, info: KeyInfo = Depends(key)) -> Response:
        """The lot's PDF report."""
        lot = lot_row(lot_id, info, "read")
        _, pdf = _render_report(lot, pdf=True)
        assert pdf is not None  # asked with pdf=True
        return FileResponse(pdf, media_type="application/pdf", filename=f"{lot_id}.pdf")

    @app.get("/api/lots/{lot_id}/units/{sha}/evidence.jpg", tags=["lots"])
    def unit_evidence(lot_id: str, sha: str, info: KeyInfo = Depends(key)) -> Response:
        """The unit beside the golden, in golden px, with its anomaly heat map."""
        lot = lot_row(lot_id, info, "read")
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise HTTPException(404, "no such unit")
        with Session(engine) as s:
            photo = s.scalar(select(LotPhoto).where(LotPhoto.lot_id == lot_id, LotPhoto.image_sha256 == sha))
        if photo is None:
            raise HTTPException(404, "no such unit")
        from .scoring import _inspector
        from ..station.evidence import side_by_side
        import cv2

        ins = _inspector(str(data / "goldens" / f"{safe_name(lot.golden_id)}.golden"))
        path = _inside(data, Path(photo.path))
        from ..imageio import read_image

        rgb = read_image(path)
        result = ins.inspect(rgb, unit_id=photo.file)
        pic = side_by_side(ins.golden.reference, rgb, result, width=900)
        ok, buf = cv2.imencode(".jpg", pic[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
        return Response(buf.tobytes(), media_type="image/jpeg")

    def _render_report(lot: Lot, *, pdf: bool) -> tuple[Path, Path | None]:
        from ..package import load_golden
        from ..report import write_report

        status = lot_status(lot)
        golden = load_golden(data / "goldens" / f"{safe_name(lot.golden_id)}.golden")
        with Session(engine) as s:
            paths = {p.file: Path(p.path) for p in s.scalars(select(LotPhoto).where(LotPhoto.lot_id == lot.lot_id))}
        rows = [r["result"] for r in store.results(lot=lot.lot_id, golden_id=lot.golden_id)]
        folder = _inside(data, data / "lots" / safe_name(lot.lot_id))
        html = folder / "report.html"
        pdf_path = folder / "report.pdf" if pdf else None
        write_report(html, rows, golden, image_paths=paths,
                     title=f"{lot.inspection_type.upper()} {lot.lot_id}: {lot.product} (lot verdict "
                           f"{status['lot_verdict']['decision']})", pdf_path=pdf_path)
        return html, pdf_path

    from .pages import add_pages

    app.state.endpoints = {"list_goldens": list_goldens, "list_lots": list_lots, "get_lot": get_lot}

    add_pages(app, engine=engine, key_dep=key, cookie=COOKIE)
    from .labels import add_label_routes

    add_label_routes(app, engine=engine, data=data, key_dep=key, lot_row=lot_row, need=need)
    app.add_middleware(BodyLimit, max_bytes=limits.max_request_bytes)
    return app


def _lot_verdict(lot: Lot, scored_rows: list[dict[str, Any]], n_sample: int) -> dict[str, Any]:
    """ISO 2859-1 verdict on the first ``n_sample`` scored photos (upload order); pending before."""
    if len(scored_rows) < n_sample:
        return {"decision": "pending", "why": f"{len(scored_rows)} of the {n_sample} sampled units scored"}
    from ..lots import judge_lot
    from ..results import UnitResult, Verdict
    from ..spec import AqlSettings, Severity

    results = [UnitResult(verdict=Verdict(r["verdict"]), reasons=tuple(r["reasons"]), registration=None,
                          failed_severities=(Severity(r["defect_class"]),) if r["defect_class"] else ())
               for r in scored_rows[:n_sample]]
    v = judge_lot(results, AqlSettings(**lot.aql), lot.lot_size)
    return {"decision": v.decision.value, "why": v.to_dict() if hasattr(v, "to_dict") else str(v)}


async def _copy_upload(up: Any, dest: Path, max_bytes: int) -> str:
    """Copy an upload to ``dest`` in 1 MiB chunks, hashing; refuses past ``max_bytes``."""
    h = hashlib.sha256()
    n = 0
    with open(dest, "wb") as out:
        while True:
            chunk = await up.read(2**20)
            if not chunk:
                break
            n += len(chunk)
            if n > max_bytes:
                raise HTTPException(413, f"file over {max_bytes} bytes")
            h.update(chunk)
            out.write(chunk)
    return h.hexdigest()


def _image_problem(path: Path, max_pixels: int) -> str | None:
    """Why a stored upload is refused (not an image, too many pixels), or None."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        return f"not an image this service reads ({type(exc).__name__})"
    if w * h > max_pixels:
        return f"image of {w}x{h} = {w * h} pixels, over the limit of {max_pixels}"
    return None


def _version() -> str:
    from .. import __version__

    return __version__
