"""Self-contained HTML inspection reports (Jinja2; images embedded as data URIs)."""

from .html import render_report, write_report

__all__ = ["render_report", "write_report"]
