"""Scoring uploaded photos: in the service's process, or on a Dask distributed cluster.

Workers receive file paths, never pixel arrays; each worker process loads a golden's
:class:`~goldenvision.pipeline.Inspector` once and keeps it. Every task reads the photo's
bytes once, hashes them, judges them and commits the result to the store by (image sha256,
golden id): a task that Dask re-runs after a worker died replaces its own row and duplicates
nothing. Dask tasks are keyed by golden and sha256 too, so the same photo submitted twice is
one task.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["score_photo", "warm", "InProcessScorer", "DaskScorer", "make_scorer"]

_inspectors: dict[str, Any] = {}
_stores: dict[str, Any] = {}
_lock = threading.Lock()


def _in_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


#: Environment variable naming a fitted station profile (``serve --station``) applied to every photo;
#: an environment variable so that Dask worker processes started by the service see it too.
STATION_PROFILE_ENV = "GOLDENVISION_STATION_PROFILE"


#: Environment of the LocalCluster's worker processes, set by each nanny before its worker starts.
#: ``MALLOC_ARENA_MAX=1``: a Dask task runs on a worker thread, not the main thread, and glibc
#: gives such a thread its own malloc arena, whose heaps it trims and unmaps as image-sized
#: arrays come and go; the pages are then faulted in and zeroed afresh. Measured per task with
#: getrusage on the task thread, demo lot at 1600x1200, 2-core machine under a load of 9-12:
#: 6,000-9,000 minor page faults and 17-80 ms of kernel time per photo (the more, the busier the
#: machine: zeroing pages competes for memory bandwidth), and the worker's CPU per photo 305-385
#: ms; with one arena, under 100 faults, 2 ms of kernel time and 274-291 ms. A worker runs one task at a time, so its threads hardly
#: compete for the one arena. A worker started by hand for ``--scheduler ADDRESS`` should be
#: started with the same variable.
WORKER_ENV: dict[str, str] = {"MALLOC_ARENA_MAX": "1"}


def _station_calibration() -> Any:
    path = os.environ.get(STATION_PROFILE_ENV)
    if not path:
        return None
    from ..calibration.applied import load_station_calibration

    return load_station_calibration(path)


def _inspector(golden_path: str) -> Any:
    """This process's Inspector for a golden, loaded on first use and kept. In a Dask worker
    (one per core) OpenCV's pool and the backbone's onnxruntime session are set to one thread, so workers do not oversubscribe cores."""
    with _lock:
        ins = _inspectors.get(golden_path)
        if ins is None:
            from ..package import load_golden
            from ..pipeline import Inspector, set_thread_pools

            if _in_dask_worker():
                from ..anomaly.backbone import set_backbone_threads

                set_thread_pools(opencv_threads=1, blas_threads=1)
                set_backbone_threads(1)
            ins = _inspectors[golden_path] = Inspector(load_golden(golden_path), calibration=_station_calibration())
        return ins


def warm(golden_path: str) -> bool:
    """Load the golden's Inspector in this process now (before the first photo arrives)."""
    _inspector(golden_path)
    return True


def _warm_worker(golden_path: str) -> bool:
    """:func:`warm` on a Dask worker through ``Client.run`` (where ``get_worker`` finds no task):
    the worker's pools are sized to one thread first, as for its tasks."""
    from ..anomaly.backbone import set_backbone_threads
    from ..pipeline import set_thread_pools

    with _lock:
        if golden_path not in _inspectors:
            set_thread_pools(opencv_threads=1, blas_threads=1)
            set_backbone_threads(1)
    return warm(golden_path)


def _store(db_url: str) -> Any:
    with _lock:
        st = _stores.get(db_url)
        if st is None:
            from ..store import open_store

            st = _stores[db_url] = open_store(db_url)
        return st


def score_photo(golden_path: str, photo_path: str, db_url: str, golden_id: str, file: str,
                context: Mapping[str, Any]) -> dict[str, Any]:
    """Judge one stored photo and commit its result; returns a short summary.

    Runs wherever it is scheduled (this process or a Dask worker). Never raises for a bad
    photo: the pipeline turns it into a ``review`` result with the reason.
    """
    with open(photo_path, "rb") as f:
        data = f.read()
    sha = hashlib.sha256(data).hexdigest()
    ins = _inspector(golden_path)
    result = ins.inspect(data, context=dict(context), unit_id=file)
    row = result.to_dict()
    _store(db_url).record_result(row, golden_id=golden_id, file=file, image_sha256=sha, context=dict(context))
    return {"image_sha256": sha, "file": file, "verdict": row["verdict"]}


class InProcessScorer:
    """One background thread in the service's process (the default without ``--scheduler``)."""

    def __init__(self, workers: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="score")

    def submit(self, golden_path: str, photo_path: str, db_url: str, golden_id: str, file: str,
               context: Mapping[str, Any], *, sha256: str | None = None) -> Future:
        return self._pool.submit(score_photo, golden_path, photo_path, db_url, golden_id, file, dict(context))

    def warm(self, golden_path: str) -> None:
        """Load the golden's Inspector before the first photo."""
        self._pool.submit(warm, golden_path).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


class DaskScorer:
    """Tasks on Dask distributed: a LocalCluster of ``n_workers`` processes, or a scheduler address."""

    def __init__(self, address: str | None = None, *, n_workers: int = 2) -> None:
        from distributed import Client, LocalCluster

        self._cluster = None
        if address is None:
            import dask

            # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers; a fixed trim threshold
            # also freezes glibc's mmap threshold, so every image-sized array is mmap'd and
            # page-faulted afresh: the pipeline ran about 2x slower in a worker (464 vs 224 ms per
            # demo photo). The workers keep glibc's defaults, with one malloc arena (WORKER_ENV).
            # Dask's statistical profiler samples every worker thread's stack every 10 ms for the
            # dashboard, which the service does not start: off. Measured on the 2-core machine
            # under a load of about 23, an idle worker used 26-28 ms of CPU per second with it and
            # 14-17 ms without.
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                                  **{f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENV.items()},
                                  "distributed.worker.profile.enabled": False}):
                self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None, host="127.0.0.1")
            self.client = Client(self._cluster)
        else:
            self.client = Client(address)
        self._pending: set[Any] = set()
        self._lock = threading.Lock()

    def submit(self, golden_path: str, photo_path: str, db_url: str, golden_id: str, file: str,
               context: Mapping[str, Any], *, sha256: str | None = None) -> Any:
        key = f"score-{golden_id}-{sha256}" if sha256 else None
        fut = self.client.submit(score_photo, golden_path, photo_path, db_url, golden_id, file, dict(context),
                                 key=key, pure=False, retries=2)
        # Dask forgets a task whose last future is dropped: hold each until it is done.
        with self._lock:
            self._pending.add(fut)
        fut.add_done_callback(self._forget)
        return fut

    def warm(self, golden_path: str) -> None:
        """Load the golden's Inspector on every worker now (they keep it)."""
        self.client.run(_warm_worker, golden_path)

    def _forget(self, fut: Any) -> None:
        with self._lock:
            self._pending.discard(fut)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_scorer(scheduler: str | None) -> InProcessScorer | DaskScorer:
    """``None``: in-process; ``local`` or ``local:N``: a LocalCluster of N workers; else an address."""
    if scheduler is None:
        return InProcessScorer()
    if scheduler.startswith("local"):
        _, _, n = scheduler.partition(":")
        return DaskScorer(None, n_workers=int(n or 2))
    return DaskScorer(scheduler)
