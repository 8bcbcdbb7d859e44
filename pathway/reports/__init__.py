"""Governance reports, computed inside the database from the derived rows of every event.

Each report is a function ``(connection, scope) -> attrs record`` with a ``to_json()`` whose shape
is fixed by a schema in ``schemas/``. Definitions are in docs/reports.md.
"""

from __future__ import annotations

from .handoffs import HandoffsReport, handoffs_report
from .holding import HoldingReport, holding_report
from .scope import Scope

__all__ = ["HandoffsReport", "HoldingReport", "Scope", "handoffs_report", "holding_report"]
