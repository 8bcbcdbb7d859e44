"""Governance reports, computed inside the database from the derived rows of every event.

Each report is a function ``(connection, scope, ...) -> attrs record`` with a ``to_json()`` whose
shape is fixed by a schema in ``schemas/`` (``report_<name>.schema.json``). Definitions are in
docs/reports.md.
"""

from __future__ import annotations

from .activity import ActivityReport, Plan, activity_report, load_plan
from .caseload import CaseloadReport, caseload_report
from .funding import FundingReport, UnitCosts, funding_report, load_unit_costs
from .handoffs import HandoffsReport, handoffs_report, write_handoffs_json
from .holding import HoldingReport, holding_report
from .monthly import MonthlyReport, monthly_report
from .s75 import S75Report, s75_report
from .scope import Scope
from .waits import WaitsReport, waits_report

REPORTS = ("handoffs", "holding", "s75", "waits", "activity", "funding", "monthly", "caseload")
"""The report names, as `pathway report NAME` takes them."""

__all__ = [
    "REPORTS",
    "ActivityReport",
    "CaseloadReport",
    "FundingReport",
    "HandoffsReport",
    "HoldingReport",
    "MonthlyReport",
    "Plan",
    "S75Report",
    "Scope",
    "UnitCosts",
    "WaitsReport",
    "activity_report",
    "caseload_report",
    "funding_report",
    "handoffs_report",
    "holding_report",
    "load_plan",
    "load_unit_costs",
    "monthly_report",
    "s75_report",
    "waits_report",
    "write_handoffs_json",
]
