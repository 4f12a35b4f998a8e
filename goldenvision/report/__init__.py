"""Inspection reports a buyer acts on: self-contained HTML and multi-page PDF.

:func:`build_report` computes the content once (lot verdict in plain words, evidence
images); :func:`write_report` (HTML) and :func:`write_pdf_report` (PDF) render it and record the
written files' SHA-256 in ``SHA256SUMS`` beside them (returned as a :class:`WrittenReport`).
"""

from .checksums import SUMS_NAME, WrittenReport, read_sha256sums, record_sha256, sha256_file
from .data import ReportData, build_report, color_shift_words, lot_summary
from .html import render_report, write_report
from .pdf import layout_pdf, write_pdf_report

__all__ = ["ReportData", "build_report", "color_shift_words", "lot_summary", "render_report", "write_report",
           "write_pdf_report", "layout_pdf", "WrittenReport", "SUMS_NAME", "read_sha256sums", "record_sha256",
           "sha256_file"]
