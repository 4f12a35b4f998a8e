"""``goldenvision station``: the end-of-line station (hot folder or camera, operator page)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register_commands"]


def register_commands(app: typer.Typer) -> None:
    """Add ``station`` to a Typer app."""

    @app.command("station")
    def station_cmd(
        golden: Path = typer.Option(..., "--golden", help="The sealed golden package (verified on load)."),
        db: str = typer.Option(..., "--db", help="Results store: a SQLite file or URL, or a PostgreSQL URL."),
        watch: Path | None = typer.Option(None, "--watch", help="Hot folder the camera software writes photos into."),
        camera: str | None = typer.Option(
            None, "--camera", help="Camera: a device index, an RTSP/HTTP URL, a video file, or genicam:PRODUCER.cti."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address of the operator page."),
        port: int = typer.Option(8750, "--port", help="Port of the operator page (0: any free port)."),
        context: list[str] | None = typer.Option(
            None, "--context", help="Capture context KEY=VALUE for every unit (repeatable): shift=B, lot=L7, operator=ana."),
        name: str = typer.Option("station", "--name", help="This station's name (the context's 'station')."),
        quota_mb: float | None = typer.Option(
            None, "--evidence-quota-mb", help="Disk quota for kept photos; the oldest go first (never the store)."),
        log_file: Path | None = typer.Option(None, "--log", help="Write the JSON log here instead of stderr."),
        drain: bool = typer.Option(False, "--drain", help="Judge what is waiting, then exit."),
        station: Path | None = typer.Option(
            None, "--station", help="Fitted station profile (JSON from 'calibrate geometry/color') applied to every photo."),
        label_dataset: Path | None = typer.Option(
            None, "--label-dataset", help="gv dataset the operator page's labels go to (for 'train --resume'); "
                                          "without it the page offers no labelling."),
    ) -> None:
        """Run a station: every photo judged against the golden and stored exactly once.

        Photos are claimed from the hot folder into processing/, then moved to done/ or
        failed/ once their result is stored; a crash at any moment, then a restart, leaves
        every photo in the store exactly once. SIGTERM finishes the unit in hand, then exits.
        """
        from .context import parse_pairs
        from .station.runner import run_station

        if (watch is None) == (camera is None) and camera is None:
            raise typer.BadParameter("give --watch DIR (a hot folder) or --camera SRC")
        calibration = None
        if station is not None:
            from .calibration.applied import load_station_calibration

            calibration = load_station_calibration(station)
        run_station(golden, db, watch=watch, camera=camera, host=host, port=port, context=parse_pairs(context),
                    station_name=name, evidence_quota_mb=quota_mb, log_file=log_file, drain=drain,
                    calibration=calibration, label_dataset=label_dataset)
