"""``goldenvision serve`` (the upload service) and ``goldenvision apikey`` (its keys)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

__all__ = ["register_commands"]


def register_commands(app: typer.Typer) -> None:
    """Add ``serve`` and ``apikey new|list|revoke`` to a Typer app."""

    @app.command("serve")
    def serve_cmd(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(8760, "--port", help="Port to listen on."),
        db: str = typer.Option(..., "--db", help="Results store: a SQLite file or URL, or a PostgreSQL URL."),
        data: Path = typer.Option(..., "--data", help="Folder for uploaded goldens, photos and reports."),
        scheduler: str | None = typer.Option(
            None, "--scheduler", help="Dask scheduler address, or local[:N] for a LocalCluster of N workers "
                                      "(default: score in this process). Start a real cluster's workers with "
                                      "MALLOC_ARENA_MAX=1 in their environment, as the LocalCluster's are."),
        trust: list[Path] | None = typer.Option(
            None, "--trust", help="Public key (repeatable): uploaded goldens must carry a signature it verifies."),
        station: Path | None = typer.Option(
            None, "--station", help="Fitted station profile (JSON from 'calibrate geometry/color') applied to every photo."),
    ) -> None:
        """Run the upload service: OpenAPI docs at /docs, pages at /ui/login."""
        try:
            import uvicorn

            from .service import create_app
        except ImportError as exc:
            raise ImportError("the upload service needs the 'service' extra: pip install 'goldenvision[service]'") from exc
        if station is not None:
            import os

            from .calibration.applied import load_station_calibration
            from .service.scoring import STATION_PROFILE_ENV

            load_station_calibration(station)  # refuse a bad profile now, not at the first upload
            os.environ[STATION_PROFILE_ENV] = str(station.resolve())
        application = create_app(db, data, scheduler=scheduler, trust=[str(p) for p in trust] if trust else None)
        uvicorn.run(application, host=host, port=port, log_level="info")

    keys_app = typer.Typer(help="API keys of the upload service (shown once, stored as hashes).", no_args_is_help=True)
    app.add_typer(keys_app, name="apikey")

    @keys_app.command("new")
    def apikey_new(
        name: str = typer.Argument(..., help="Who the key is for, e.g. 'QIMA inspector Shenzhen'."),
        scope: list[str] | None = typer.Option(None, "--scope", help="product:NAME or supplier:NAME (repeatable)."),
        role: str = typer.Option("inspector", "--role", help="inspector, viewer or admin."),
        db: str = typer.Option(..., "--db", help="The service's store."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Make a key and print it once: it is stored only as a hash and cannot be shown again."""
        from .service import new_key
        from .store import open_store

        store = open_store(db)
        try:
            key_id, key = new_key(store.engine, name, role=role, scopes=scope or [])
        finally:
            store.close()
        if as_json:
            typer.echo(json.dumps({"key_id": key_id, "key": key, "role": role, "scopes": scope or []}))
        else:
            typer.echo(key)
            typer.echo(f"key id {key_id}, role {role}, scopes {', '.join(scope or []) or 'none'}: "
                       "store the key now; it is not shown again", err=True)

    @keys_app.command("list")
    def apikey_list(
        db: str = typer.Option(..., "--db", help="The service's store."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List keys (ids, names, roles, scopes; never a secret)."""
        from .service import list_keys
        from .store import open_store

        store = open_store(db)
        try:
            keys = list_keys(store.engine)
        finally:
            store.close()
        if as_json:
            typer.echo(json.dumps(keys))
            return
        for k in keys:
            scopes = ", ".join(f"{kind}:{v}" for kind, vals in (k["scopes"] or {}).items() for v in vals) or "-"
            state = f"revoked {k['revoked_utc']}" if k["revoked_utc"] else "active"
            typer.echo(f"{k['key_id']}  {k['role']:<9} {state:<8} {k['name']}  [{scopes}]")

    @keys_app.command("revoke")
    def apikey_revoke(
        key_id: str = typer.Argument(..., help="The key's id (the 12 hex after 'gv_')."),
        db: str = typer.Option(..., "--db", help="The service's store."),
    ) -> None:
        """Revoke a key: it is refused from the next request on."""
        from .service import revoke_key
        from .store import open_store

        store = open_store(db)
        try:
            ok = revoke_key(store.engine, key_id)
        finally:
            store.close()
        if not ok:
            typer.echo(f"error: no key with id {key_id!r}", err=True)
            raise typer.Exit(66)
        typer.echo(f"revoked {key_id}")
