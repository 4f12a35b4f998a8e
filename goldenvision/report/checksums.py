"""The report's own SHA-256: ``SHA256SUMS`` beside the written files.

A file cannot carry its own hash, so after report.html / report.pdf are written their
SHA-256 goes into ``SHA256SUMS`` in the same folder, in the format of GNU ``sha256sum``
(``<64 hex>  <file name>``), so ``sha256sum -c SHA256SUMS`` in that folder checks them.
Lines for other files already in ``SHA256SUMS`` are kept; a file's line is replaced
when it is written again, never duplicated.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GoldenVisionError

__all__ = ["SUMS_NAME", "WrittenReport", "sha256_file", "record_sha256", "read_sha256sums"]

SUMS_NAME = "SHA256SUMS"


@dataclass(frozen=True)
class WrittenReport:
    """What :func:`goldenvision.report.write_report` / ``write_pdf_report`` wrote.

    Attributes
    ----------
    html, pdf : Path or None
        The report files written (None when that form was not written).
    sha256 : dict
        Written file path (as str) -> SHA-256 hex of its bytes, as recorded in ``sums``.
    sums : Path
        The ``SHA256SUMS`` file they were recorded in.
    """

    html: Path | None
    pdf: Path | None
    sha256: dict = field(default_factory=dict)
    sums: Path | None = None

    def sha256_of(self, path: "str | Path") -> str:
        """The recorded SHA-256 of one written file."""
        return self.sha256[str(Path(path))]


def sha256_file(path: "str | Path") -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_sha256sums(sums: "str | Path") -> dict[str, str]:
    """File name -> hex from a ``sha256sum``-format file (text or binary mode lines)."""
    out: dict[str, str] = {}
    for n, line in enumerate(Path(sums).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, name = line.partition(" ")
        if not sep or len(digest) != 64 or name[:1] not in (" ", "*"):
            raise GoldenVisionError(f"{sums}: line {n}: expected '<64 hex>  <file name>', got {line!r}")
        out[name[1:]] = digest.lower()
    return out


def record_sha256(paths: Sequence["str | Path"]) -> tuple[Path, dict[str, str]]:
    """Hash the files and record them in ``SHA256SUMS`` in the folder of the first one.

    Parameters
    ----------
    paths : sequence of str or Path
        Files just written; names in ``SHA256SUMS`` are relative to its folder.

    Returns
    -------
    (Path, dict)
        The ``SHA256SUMS`` path, and each given path (as str) -> its SHA-256 hex.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise GoldenVisionError("record_sha256: expected at least one file, got none")
    folder = files[0].parent
    sums = folder / SUMS_NAME
    entries = read_sha256sums(sums) if sums.exists() else {}
    digests: dict[str, str] = {}
    for p in files:
        d = sha256_file(p)
        digests[str(p)] = d
        entries[Path(os.path.relpath(p.resolve(), folder.resolve())).as_posix()] = d
    tmp = sums.with_name(sums.name + ".tmp")
    tmp.write_text("".join(f"{d}  {name}\n" for name, d in sorted(entries.items())), encoding="utf-8")
    os.replace(tmp, sums)
    return sums, digests
