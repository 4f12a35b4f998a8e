"""Colour files: colour libraries (CSV of named Lab) and measured spectra (CGATS.17, CxF3).

References
----------
.. [CGATS17] ANSI CGATS.17-2009, Graphic technology - Exchange format for colour and
   process control data using XML or ASCII text.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ..errors import SpecError
from .adaptation import adapt_lab
from .spectral import SpectralSample

__all__ = ["load_color_library", "read_cgats", "read_cxf"]

def _read_source(path_or_text: "str | Path", what: str) -> tuple[str, str]:
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return "<text>", path_or_text
    if not isinstance(path_or_text, (str, Path)):
        raise SpecError(f"{what}: expected a path or text, got {type(path_or_text).__name__}")
    p = Path(path_or_text)
    try:
        return str(p), p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpecError(f"{what} {p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{what} {p}: cannot read ({exc})") from None


_LIB_COLUMNS = {"name": "name", "l": "L", "l*": "L", "a": "a", "a*": "a", "b": "b", "b*": "b",
                "illuminant": "illuminant", "observer": "observer"}


def load_color_library(path_or_text: "str | Path") -> dict[str, tuple[float, float, float]]:
    """Read a colour library CSV ``name,L,a,b[,illuminant][,observer]`` into name -> Lab D65.

    Parameters
    ----------
    path_or_text : str or Path
        A file path, or the CSV text itself (any string containing a newline). A header row is
        required (column names case-insensitive; ``L*``, ``a*``, ``b*`` accepted). Blank lines
        and lines starting with ``#`` are skipped.

    Returns
    -------
    dict of str to (L*, a*, b*)
        CIELAB D65; entries with ``illuminant`` D50 (or another CIE illuminant) are adapted with
        Bradford (:func:`adapt_lab`). ``observer`` (2 or 10, default 10) selects the white
        points; CIELAB cannot be converted between observers without spectra, so it is not.

    Raises
    ------
    SpecError
        Missing header columns, a malformed row, a value out of range or a repeated name; the
        message names the source and the line number.
    """
    src, text = _read_source(path_or_text, "colour library")
    rows = [(i, line) for i, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise SpecError(f"colour library {src}: expected a header 'name,L,a,b' and rows, got no content")
    hline, header = rows[0]
    cols = [c.strip().lower() for c in next(csv.reader([header]))]
    mapped = [_LIB_COLUMNS.get(c) for c in cols]
    if None in mapped or len(set(mapped)) != len(mapped) or not {"name", "L", "a", "b"} <= set(mapped):
        raise SpecError(
            f"colour library {src} line {hline}: expected a header with columns name, L, a, b "
            f"(optional illuminant, observer), got {cols}"
        )
    pos = {m: k for k, m in enumerate(mapped)}
    out: dict[str, tuple[float, float, float]] = {}
    for lineno, line in rows[1:]:
        fields = [f.strip() for f in next(csv.reader([line]))]
        where = f"colour library {src} line {lineno}"
        if len(fields) != len(cols):
            raise SpecError(f"{where}: expected {len(cols)} fields ({', '.join(cols)}), got {len(fields)}")
        name = fields[pos["name"]]
        if not name:
            raise SpecError(f"{where}: expected a colour name, got an empty field")
        try:
            L, a, b = (float(fields[pos[c]]) for c in ("L", "a", "b"))
        except ValueError:
            raise SpecError(
                f"{where}: expected numbers for L, a, b, got {[fields[pos[c]] for c in ('L', 'a', 'b')]}"
            ) from None
        if not (0.0 <= L <= 100.0 and -200.0 <= a <= 200.0 and -200.0 <= b <= 200.0):
            raise SpecError(f"{where}: expected L* in [0, 100] and a*, b* in [-200, 200], got {[L, a, b]}")
        illum = fields[pos["illuminant"]].upper() if "illuminant" in pos and fields[pos["illuminant"]] else "D65"
        obs_s = fields[pos["observer"]] if "observer" in pos and fields[pos["observer"]] else "10"
        try:
            observer = int(float(obs_s))
        except ValueError:
            observer = -1
        if observer not in (2, 10):
            raise SpecError(f"{where}: expected observer 2 or 10, got {obs_s!r}")
        if name in out:
            raise SpecError(f"{where}: colour name {name!r} repeats an earlier row")
        lab = np.array([L, a, b])
        if illum != "D65":
            try:
                lab = adapt_lab(lab, source_illuminant=illum, target_illuminant="D65", observer=observer)
            except SpecError as exc:
                raise SpecError(f"{where}: {exc}") from None
        out[name] = (float(lab[0]), float(lab[1]), float(lab[2]))
    return out


_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_SPECTRAL_FIELD = re.compile(r"^(?:SPECTRAL_NM|SPECTRAL_|NM|R)_?(\d{3,4})(?:\.\d+)?$", re.IGNORECASE)


def _tokens(line: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in _TOKEN.finditer(line)]


def read_cgats(path_or_text: "str | Path", *, percent: bool | None = None) -> list[SpectralSample]:
    """Read reflectance spectra from CGATS.17 ASCII text [CGATS17]_.

    Parameters
    ----------
    path_or_text : str or Path
        A file path, or the text itself (any string containing a newline): keywords, then
        ``BEGIN_DATA_FORMAT`` / field names / ``END_DATA_FORMAT`` and ``BEGIN_DATA`` / rows /
        ``END_DATA``, as exported by X-Rite i1Profiler or Barbieri (the first table of the file). Spectral fields are
        ``SPECTRAL_NM380`` (also ``SPECTRAL_380``, ``nm380``, ``R380``); ``SAMPLE_ID`` and
        ``SAMPLE_NAME`` are optional. Other fields (LAB_L, ...) are ignored.
    percent : bool or None, optional
        Whether the values are in percent (0..100). None: inferred only when unambiguous:
        all values <= 1.5 -> factor, any value > 1.5 -> percent.

    Returns
    -------
    list of SpectralSample
        Reflectance factor 0..1, one per data row, in file order.

    Raises
    ------
    SpecError
        Missing sections, no spectral fields, a row with the wrong number of fields or a
        non-numeric value, or a NUMBER_OF_SETS / NUMBER_OF_FIELDS mismatch; the message names
        the source and the line number.
    """
    src, text = _read_source(path_or_text, "CGATS")
    fields: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    n_sets: tuple[int, int] | None = None
    n_fields: tuple[int, int] | None = None
    state = "header"
    fmt_line = data_line = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"CGATS {src} line {lineno}"
        upper = line.split()[0].upper()
        if state == "header":
            if upper == "BEGIN_DATA_FORMAT":
                state, fmt_line, fields = "format", lineno, []
            elif upper == "BEGIN_DATA":
                if fields is None:
                    raise SpecError(f"{where}: expected BEGIN_DATA_FORMAT before BEGIN_DATA")
                state, data_line = "data", lineno
            elif upper in ("NUMBER_OF_SETS", "NUMBER_OF_FIELDS"):
                parts = line.split()
                try:
                    val = (lineno, int(parts[1]))
                except (IndexError, ValueError):
                    raise SpecError(f"{where}: expected '{upper} <integer>', got {line!r}") from None
                if upper == "NUMBER_OF_SETS":
                    n_sets = val
                else:
                    n_fields = val
        elif state == "format":
            if upper == "END_DATA_FORMAT":
                state = "header"
            else:
                assert fields is not None
                fields.extend(_tokens(line))
        elif state == "data":
            if upper == "END_DATA":
                state = "done"
            else:
                rows.append((lineno, _tokens(line)))
        # state == "done": trailing keywords are ignored
    if fields is None:
        raise SpecError(f"CGATS {src}: expected a BEGIN_DATA_FORMAT ... END_DATA_FORMAT section, got none")
    if state == "format":
        raise SpecError(f"CGATS {src} line {fmt_line}: BEGIN_DATA_FORMAT has no END_DATA_FORMAT")
    if state == "data":
        raise SpecError(f"CGATS {src} line {data_line}: BEGIN_DATA has no END_DATA")
    if not data_line:
        raise SpecError(f"CGATS {src}: expected a BEGIN_DATA ... END_DATA section, got none")
    if n_fields is not None and n_fields[1] != len(fields):
        raise SpecError(
            f"CGATS {src} line {n_fields[0]}: NUMBER_OF_FIELDS says {n_fields[1]}, the data format has {len(fields)}"
        )
    if n_sets is not None and n_sets[1] != len(rows):
        raise SpecError(f"CGATS {src} line {n_sets[0]}: NUMBER_OF_SETS says {n_sets[1]}, the data has {len(rows)} rows")
    upper_fields = [f.upper() for f in fields]
    spec_cols: list[tuple[float, int]] = []
    for k, f in enumerate(fields):
        m = _SPECTRAL_FIELD.match(f)
        if m:
            spec_cols.append((float(m.group(1)), k))
    if len(spec_cols) < 3:
        raise SpecError(
            f"CGATS {src} line {fmt_line}: expected spectral fields SPECTRAL_NM380... (or nm380...), got {fields}"
        )
    spec_cols.sort()
    wl = np.array([w for w, _ in spec_cols])
    if np.any(np.diff(wl) <= 0):
        raise SpecError(f"CGATS {src} line {fmt_line}: repeated spectral wavelengths {wl.tolist()}")
    id_col = upper_fields.index("SAMPLE_ID") if "SAMPLE_ID" in upper_fields else None
    name_col = upper_fields.index("SAMPLE_NAME") if "SAMPLE_NAME" in upper_fields else None
    values = np.empty((len(rows), len(spec_cols)))
    ids: list[str] = []
    names: list[str] = []
    for r, (lineno, toks) in enumerate(rows):
        where = f"CGATS {src} line {lineno}"
        if len(toks) != len(fields):
            raise SpecError(f"{where}: expected {len(fields)} values (one per field), got {len(toks)}")
        for c, (_w, k) in enumerate(spec_cols):
            try:
                values[r, c] = float(toks[k])
            except ValueError:
                raise SpecError(f"{where}: field {fields[k]}: expected a number, got {toks[k]!r}") from None
        if not np.all(np.isfinite(values[r])):
            raise SpecError(f"{where}: expected finite spectral values, got {values[r].tolist()}")
        ids.append(toks[id_col] if id_col is not None else str(r + 1))
        names.append(toks[name_col] if name_col is not None else ids[-1])
    if percent is None:
        percent = bool(values.size and np.max(values) > 1.5)
    if percent:
        values = values / 100.0
    return [SpectralSample(i, n, wl.copy(), values[r].copy()) for r, (i, n) in enumerate(zip(ids, names))]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_cxf(path_or_text: "str | Path") -> list[SpectralSample]:
    """Read reflectance spectra from a CxF3 file (ISO 17972-1, X-Rite Color Exchange Format).

    Parameters
    ----------
    path_or_text : str or Path
        A file path, or the XML text itself (any string containing a newline or starting with
        ``<``). Every ``Object`` of the ``ObjectCollection`` that has a
        ``ColorValues/ReflectanceSpectrum`` gives one sample (its first spectrum); the
        wavelengths start at the spectrum's ``StartWL`` and step by the ``Increment`` of its
        ``ColorSpecification``'s ``WavelengthRange`` (10 nm when not stated). Element names
        are matched without their namespace.

    Returns
    -------
    list of SpectralSample
        Reflectance factor 0..1 (CxF's unit), ``sample_id`` = the object's ``Id``,
        ``name`` = its ``Name``.

    Raises
    ------
    SpecError
        Not well-formed XML (with line and column), no spectra, or a spectrum with a
        non-numeric value or missing ``StartWL`` (naming the object).
    """
    import xml.etree.ElementTree as ET

    if isinstance(path_or_text, str) and ("\n" in path_or_text or path_or_text.lstrip().startswith("<")):
        src, text = "<text>", path_or_text
    else:
        src, text = _read_source(path_or_text, "CxF")
    try:
        root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ET.ParseError as exc:
        line, col = exc.position
        raise SpecError(f"CxF {src} line {line} column {col}: not well-formed XML ({exc})") from None
    increments: dict[str, float] = {}
    for el in root.iter():
        if _local(el.tag) == "ColorSpecification" and el.get("Id") is not None:
            for sub in el.iter():
                if _local(sub.tag) == "WavelengthRange" and sub.get("Increment") is not None:
                    try:
                        increments[el.get("Id", "")] = float(sub.get("Increment", "10"))
                    except ValueError:
                        raise SpecError(
                            f"CxF {src}: ColorSpecification {el.get('Id')!r}: Increment expected a number, "
                            f"got {sub.get('Increment')!r}"
                        ) from None
    out: list[SpectralSample] = []
    for obj in root.iter():
        if _local(obj.tag) != "Object":
            continue
        spectrum = next((e for e in obj.iter() if _local(e.tag) == "ReflectanceSpectrum"), None)
        if spectrum is None:
            continue
        name = obj.get("Name") or obj.get("Id") or f"object {len(out) + 1}"
        where = f"CxF {src}: object {name!r}"
        try:
            values = np.array([float(v) for v in (spectrum.text or "").split()])
        except ValueError:
            raise SpecError(f"{where}: ReflectanceSpectrum expected numbers, got {(spectrum.text or '')[:60]!r}") from None
        start = spectrum.get("StartWL")
        if start is None:
            raise SpecError(f"{where}: ReflectanceSpectrum has no StartWL attribute")
        try:
            start_nm = float(start)
        except ValueError:
            raise SpecError(f"{where}: StartWL expected a number, got {start!r}") from None
        step = increments.get(spectrum.get("ColorSpecification", ""), 10.0)
        if values.size < 3 or not np.all(np.isfinite(values)):
            raise SpecError(f"{where}: expected at least 3 finite reflectance values, got {values.size}")
        out.append(SpectralSample(obj.get("Id") or str(len(out) + 1), name,
                                  start_nm + step * np.arange(values.size), values))
    if not out:
        raise SpecError(f"CxF {src}: expected Objects with ColorValues/ReflectanceSpectrum, found none")
    return out
