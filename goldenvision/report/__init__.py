"""Inspection reports a buyer acts on: self-contained HTML and multi-page PDF.

:func:`build_report` computes the content once (lot verdict in plain words, evidence
images); :func:`write_report` (HTML) and :func:`write_pdf_report` (PDF) render it.
"""

from .data import ReportData, build_report, color_shift_words, lot_summary
from .html import render_report, write_report
from .pdf import write_pdf_report

__all__ = ["ReportData", "build_report", "color_shift_words", "lot_summary", "render_report", "write_report",
           "write_pdf_report"]
