"""Exit codes of the ``goldenvision`` command line, in one place.

Verdicts use 0, 1 and 2; a tool error uses a sysexits(3) code of 64 or more, so that a line
script never mistakes a broken call (missing golden, corrupt package, usage error) for a
judgement of the unit.

========  ===========  ===================================================================
code      name         meaning
========  ===========  ===================================================================
0         PASS         unit passed / lot accepted / command succeeded
1         FAIL         unit failed / lot rejected (``batch``: at least one unit failed)
2         REVIEW       unit needs review / lot pending (``batch``: no fail, one or more review)
64        USAGE        the command line is wrong (unknown option, missing argument, bad value)
65        DATAERR      bad input data: corrupt or tampered golden, invalid spec, unreadable image
66        NOINPUT      an input does not exist: photo, folder, golden package, key, results file
70        SOFTWARE     internal error (a bug): please report it with the traceback
73        CANTCREAT    output exists and ``--force`` was not given, or it cannot be created
74        IOERR        reading or writing failed (disk full, I/O error)
77        NOPERM       a signature is not from a trusted key, or permission denied
130       INTERRUPTED  interrupted (Ctrl-C) or input ended at a prompt (shell convention 128 + SIGINT)
========  ===========  ===================================================================

References: sysexits.h (4.4BSD), the codes 64-78.
"""

from __future__ import annotations

from enum import IntEnum
from collections.abc import Iterable

from .errors import (
    GoldenVisionError,
    InputNotFoundError,
    ModelError,
    OutputExistsError,
    UntrustedSignatureError,
)

__all__ = ["ExitCode", "exit_code_for", "verdict_exit_code", "worst_verdict_exit_code", "lot_exit_code",
           "EXIT_CODES_HELP"]


class ExitCode(IntEnum):
    """Process exit status of every ``goldenvision`` command."""

    PASS = 0
    FAIL = 1
    REVIEW = 2
    USAGE = 64
    DATAERR = 65
    NOINPUT = 66
    SOFTWARE = 70
    CANTCREAT = 73
    IOERR = 74
    NOPERM = 77
    INTERRUPTED = 130


#: Exception type -> exit code, first match wins (subclasses before their bases).
ERROR_EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (OutputExistsError, ExitCode.CANTCREAT),
    (UntrustedSignatureError, ExitCode.NOPERM),
    (InputNotFoundError, ExitCode.NOINPUT),
    (FileNotFoundError, ExitCode.NOINPUT),
    (NotADirectoryError, ExitCode.NOINPUT),
    (FileExistsError, ExitCode.CANTCREAT),
    (PermissionError, ExitCode.NOPERM),
    (ModelError, ExitCode.SOFTWARE),
    (GoldenVisionError, ExitCode.DATAERR),  # SpecError, ImageError, IntegrityError, CalibrationError, ...
    (OSError, ExitCode.IOERR),
)

_VERDICT_CODES = {"pass": ExitCode.PASS, "fail": ExitCode.FAIL, "review": ExitCode.REVIEW}
_LOT_CODES = {"accept": ExitCode.PASS, "reject": ExitCode.FAIL, "pending": ExitCode.REVIEW}


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code of a command that stopped on ``exc``.

    Parameters
    ----------
    exc : BaseException
        A goldenvision error, an OS error, or anything else (an internal error).

    Returns
    -------
    ExitCode
        The first match in :data:`ERROR_EXIT_CODES`, else ``SOFTWARE`` (70).
    """
    for kind, code in ERROR_EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return ExitCode.SOFTWARE


def _value(v: object) -> str:
    return str(getattr(v, "value", v))


def verdict_exit_code(verdict: object) -> ExitCode:
    """0 for ``pass``, 1 for ``fail``, 2 for ``review`` (a :class:`~goldenvision.results.Verdict` or its value)."""
    try:
        return _VERDICT_CODES[_value(verdict)]
    except KeyError:
        raise ValueError(f"verdict: expected one of {sorted(_VERDICT_CODES)}, got {verdict!r}") from None


def worst_verdict_exit_code(verdicts: Iterable[object]) -> ExitCode:
    """Exit code of a batch: 1 if any unit failed, else 2 if any needs review, else 0 (also for none)."""
    codes = {verdict_exit_code(v) for v in verdicts}
    if ExitCode.FAIL in codes:
        return ExitCode.FAIL
    if ExitCode.REVIEW in codes:
        return ExitCode.REVIEW
    return ExitCode.PASS


def lot_exit_code(decision: object) -> ExitCode:
    """0 for a lot ``accept``, 1 for ``reject``, 2 for ``pending`` (units under review could change it)."""
    try:
        return _LOT_CODES[_value(decision)]
    except KeyError:
        raise ValueError(f"lot decision: expected one of {sorted(_LOT_CODES)}, got {decision!r}") from None


#: The table for ``--help`` (click keeps paragraphs separated by blank lines; \b keeps lines).
EXIT_CODES_HELP = (
    "Exit codes: 0 pass/accept, 1 fail/reject, 2 review/pending (batch: the worst verdict found, "
    "fail over review over pass); tool errors: 64 usage, 65 bad data (corrupt or tampered golden, "
    "invalid spec), 66 missing input, 70 internal error, 73 output exists (use --force) or cannot be "
    "created, 74 I/O error, 77 untrusted signature or permission denied, 130 interrupted. With --json an error is "
    'printed on stdout as {"error": {"code": N, "kind": "...", "message": "..."}}.'
)
