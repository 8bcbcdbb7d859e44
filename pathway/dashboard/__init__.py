"""The pathway performance dashboard: one self-contained HTML page a governance board opens.

The Barnet business case names a "BEP performance dashboard" among the pathway's core principles
(5.5.2) and its absence as a risk (risk 5). This package builds it from the governance reports:

* :func:`dashboard_data` runs the reports for one scope (and verifies the audit chain) and returns
  a :class:`DashboardData` record of every figure the page shows;
* :func:`write_dashboard` renders that record as a single HTML file with everything inside it
  (scripts, styles, data) and writes it atomically; :func:`render_dashboard` returns the text.

Rendering needs the ``dashboard`` extra (``pip install 'care-pathway[dashboard]'``: Plotly, whose
JavaScript is inlined into the page); without it :class:`~pathway.errors.MissingExtra` is raised.
Gathering the data needs nothing beyond the core library. This package is not imported by
``import pathway``.
"""

from __future__ import annotations

from .data import AuditTrail, DashboardData, HeadlineFigure, dashboard_data
from .page import (
    DEFINITIONS_URL,
    PANELS,
    Chart,
    Panel,
    Table,
    check_definitions_url,
    check_output,
    dashboard_available,
    panels,
    render_dashboard,
    write_dashboard,
)

__all__ = [
    "DEFINITIONS_URL",
    "PANELS",
    "AuditTrail",
    "Chart",
    "DashboardData",
    "HeadlineFigure",
    "Panel",
    "Table",
    "check_definitions_url",
    "check_output",
    "dashboard_available",
    "dashboard_data",
    "panels",
    "render_dashboard",
    "write_dashboard",
]
