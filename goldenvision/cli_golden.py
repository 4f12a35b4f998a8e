"""Command-line tools for sealed golden packages: keys, verify, diff, sign, detectability.

The lead wires these into the ``goldenvision`` entry point with
``register_commands(app)``. Each command parses, calls the API, prints; errors are raised
and the root command group of :mod:`goldenvision.cli` turns them into one line
``error: <cause>`` on stderr (a JSON object on stdout with ``--json``) and the exit code of
:mod:`goldenvision.exit_codes` (65 tampered, 66 missing, 77 untrusted).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import package, signing
from .errors import InputNotFoundError

__all__ = ["register_commands"]


_UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _usage(message: str) -> NoReturn:
    raise _UsageError(message)


def _exists(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputNotFoundError(f"{path}: {what} not found")
    return path


def _passphrase(env: Optional[str]) -> Optional[str]:
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        _usage(f"--passphrase-env {env}: expected the passphrase in environment variable {env}, it is unset or empty")
    return value


def _trust(paths: Optional[list[Path]]) -> Any:
    return [str(_exists(p, "trusted key or keyring")) for p in paths] if paths else None


def register_commands(app: typer.Typer) -> None:
    """Add ``keys new``, ``verify``, ``diff`` and ``sign`` to a Typer app."""
    keys_app = typer.Typer(help="Make Ed25519 signing keys for buyer, factory and inspector.", no_args_is_help=True)

    @keys_app.command("new")
    def keys_new(
        name: str = typer.Argument(..., help="Key owner name; files NAME.key and NAME.pub are written."),
        role: str = typer.Option(..., "--role", help=f"One of {', '.join(signing.ROLES)}."),
        out: Path = typer.Option(Path("."), "--out", help="Directory for the key files."),
        passphrase_env: Optional[str] = typer.Option(
            None, "--passphrase-env", help="Environment variable holding a passphrase to encrypt the private key."
        ),
    ) -> None:
        """Make a key pair: NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (share this one)."""
        key_path, pub_path = signing.write_keypair(out, name, role, passphrase=_passphrase(passphrase_env))
        kid = signing.key_id(pub_path)
        console = Console()
        console.print(f"[green]private key[/green] {key_path} (keep it secret)")
        console.print(f"[green]public key[/green]  {pub_path}  role {role}  key id [bold]{kid}[/bold]")

    app.add_typer(keys_app, name="keys")

    @app.command("verify")
    def verify_cmd(
        pkg: Path = typer.Argument(..., help="The .golden package."),
        trust: Optional[list[Path]] = typer.Option(
            None, "--trust",
            help="Trusted keyring directory or .pub file (repeatable); then every signature must be made by a "
                 "trusted key (exit 77 naming the one that is not).",
        ),
        require_role: Optional[list[str]] = typer.Option(
            None, "--require-role", help="Role that must have signed (repeatable), besides the spec's."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Verify a golden package: every member hash, every signature, trust and required roles."""
        report = package.verify_golden(_exists(pkg, "golden package"), trusted_keys=_trust(trust),
                                       require_roles=require_role or None)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=1))
            return
        console = Console()
        console.print(f"[bold green]OK[/bold green] {pkg}: golden {report.golden_id}, product {report.product} "
                      f"rev {report.revision}, created {report.created_utc}")
        console.print(f"manifest sha256 {report.manifest_sha256}")
        if report.predecessor:
            console.print(f"supersedes golden {report.predecessor['golden_id']} "
                          f"(manifest {report.predecessor['manifest_sha256'][:16]}...)")
        table = Table(title=f"{len(report.members)} members checked (sha256 and size)")
        table.add_column("member")
        table.add_column("bytes", justify="right")
        table.add_column("sha256")
        for m in report.members:
            table.add_row(m.name, str(m.size), m.sha256[:16] + "...")
        console.print(table)
        sig = Table(title=f"{len(report.signatures)} signatures valid"
                          + (f"; required roles: {', '.join(report.required_roles)}" if report.required_roles else ""))
        for col in ("role", "key id", "signer", "signed (UTC)", "trusted"):
            sig.add_column(col)
        for s in report.signatures:
            trusted = "-" if s.trusted is None else ("yes" if s.trusted else "no")
            sig.add_row(s.role, s.key_id, s.signer, s.signed_utc, trusted)
        console.print(sig)

    @app.command("diff")
    def diff_cmd(
        a: Path = typer.Argument(..., help="The older .golden package."),
        b: Path = typer.Argument(..., help="The newer .golden package."),
        trust: Optional[list[Path]] = typer.Option(None, "--trust", help="Trusted keyring (repeatable)."),
        as_json: bool = typer.Option(False, "--json", help="Print the diff as JSON."),
    ) -> None:
        """Show what changed between two golden packages: spec, images, thresholds, model states, signatures."""
        ga = package.load_golden(_exists(a, "golden package"), trusted_keys=_trust(trust))
        gb = package.load_golden(_exists(b, "golden package"), trusted_keys=_trust(trust))
        d = package.diff_golden(ga, gb)
        if as_json:
            typer.echo(json.dumps(d.to_dict(), indent=1, default=str))
            return
        console = Console()
        for i, line in enumerate(d.lines()):
            console.print(line, style="bold" if i == 0 else None, markup=False, highlight=False)

    @app.command("detectability")
    def detectability_cmd(
        pkg: Path = typer.Argument(..., help="The .golden package."),
        area: Optional[float] = typer.Option(
            None, "--area", min=0.0, help="Test this defect area (mm²) instead of each zone's min_area_mm2."),
        sites: int = typer.Option(8, "--sites", min=1, max=64, help="Test sites per zone, kind and contrast."),
        trust: Optional[list[Path]] = typer.Option(None, "--trust", help="Trusted keyring (repeatable)."),
        as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    ) -> None:
        """How small a defect each anomaly zone finds: spec-minimum spots and removals implanted into
        the golden and scored like units (probability of detection per zone)."""
        from .anomaly.detectability import detectability
        from .pipeline import Inspector

        golden = package.load_golden(_exists(pkg, "golden package"), trusted_keys=_trust(trust))
        model = Inspector(golden).models.anomaly
        res = detectability(model, golden.reference, n_sites=sites, area_mm2=area)
        scale = model.scale_mm_per_px
        warnings = {k: v.warning(scale) for k, v in res.items()} if scale else {}
        if as_json:
            typer.echo(json.dumps({"scale_mm_per_px": scale, "zones": {k: {**v.to_dict(), "warning": warnings.get(k)}
                                                                       for k, v in res.items()}}, indent=1))
            return
        console = Console()
        if not res:
            console.print("no zone to test: the golden has no scale (mm per px) or no zone sets min_area_mm2")
            return
        table = Table(title=f"probability of detection at {scale:.4f} mm/px ({sites} sites per kind)")
        for col in ("zone", "area mm²", "px across", "spots: POD by ΔL*", "spots found from", "part gone: POD"):
            table.add_column(col)
        for k, v in res.items():
            table.add_row(k, f"{v.area_mm2:g}", f"{2 * v.radius_px:.1f}",
                          ", ".join(f"{dl:g}: {100 * p:.0f} %" for dl, p in v.pod_spot.items()) or "-",
                          "-" if v.spot_contrast_dl is None else f"ΔL* {v.spot_contrast_dl:g}",
                          "-" if v.pod_gone is None else f"{100 * v.pod_gone:.0f} %")
        console.print(table)
        for w in warnings.values():
            if w:
                console.print(f"[yellow]warning[/yellow] {w}", highlight=False)

    @app.command("sign")
    def sign_cmd(
        pkg: Path = typer.Argument(..., help="The .golden package to countersign (rewritten in place)."),
        key: Path = typer.Option(..., "--key", help="Private key file (NAME.key)."),
        role: str = typer.Option(..., "--role", help=f"One of {', '.join(signing.ROLES)}."),
        signer: Optional[str] = typer.Option(None, "--signer", help="Signer name (default: the key file name)."),
        passphrase_env: Optional[str] = typer.Option(None, "--passphrase-env", help="Variable holding the passphrase."),
    ) -> None:
        """Countersign a golden package; the manifest the others signed stays unchanged."""
        s = package.add_signature(_exists(pkg, "golden package"), _exists(key, "private key"), role,
                                  signer or key.stem, passphrase=_passphrase(passphrase_env))
        Console().print(f"[green]signed[/green] {pkg} as {s.role} ({s.signer}), key id {s.key_id}, {s.signed_utc}")
