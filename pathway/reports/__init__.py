"""Governance reports, computed inside the database from the derived rows of every event.

Each report is a function ``(connection, scope, ...) -> attrs record`` with a ``to_json()`` whose
shape is fixed by a schema in ``schemas/`` (``report_<name>.schema.json``). Definitions are in
docs/reports.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import activity as activity
    from . import caseload as caseload
    from . import coverage as coverage
    from . import funding as funding
    from . import handoffs as handoffs
    from . import holding as holding
    from . import monthly as monthly
    from . import render as render
    from . import s75 as s75
    from . import scope as scope
    from . import sql as sql
    from . import waits as waits
    from .activity import ActivityReport, Plan, activity_report, load_plan
    from .caseload import CaseloadReport, caseload_report
    from .funding import FundingReport, UnitCosts, funding_report, load_unit_costs
    from .handoffs import HandoffsReport, handoffs_report, write_handoffs_json
    from .holding import HoldingReport, holding_report
    from .monthly import MonthlyReport, monthly_report
    from .s75 import S75Report, s75_report
    from .scope import Scope
    from .waits import WaitsReport, waits_report

from .registry import (
    BUILTIN_REPORTS,
    ReportOption,
    ReportSpec,
    report_specs,
    run_report,
)

# Each name is imported from its module when first used (PEP 562), so a command that runs one
# report does not pay for building the others' classes at start-up. One list: module -> names.
_EXPORTS = {
    "activity": ("ActivityReport", "Plan", "activity_report", "load_plan"),
    "caseload": ("CaseloadReport", "caseload_report"),
    "funding": ("FundingReport", "UnitCosts", "funding_report", "load_unit_costs"),
    "handoffs": ("HandoffsReport", "handoffs_report", "write_handoffs_json"),
    "holding": ("HoldingReport", "holding_report"),
    "monthly": ("MonthlyReport", "monthly_report"),
    "s75": ("S75Report", "s75_report"),
    "scope": ("Scope",),
    "waits": ("WaitsReport", "waits_report"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


_SUBMODULES = frozenset(
    {"activity", "caseload", "coverage", "funding", "handoffs", "holding", "monthly", "render",
     "s75", "scope", "sql", "waits"}
)  # fmt: skip


def __getattr__(name: str) -> Any:
    """Import a report's name (or a module of this package) when it is first used (PEP 562)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (for ``dir()`` and completion)."""
    return sorted(__all__)


REPORTS = tuple(BUILTIN_REPORTS)
"""The built-in report names, as `pathway report NAME` takes them (the registry's order)."""

__all__ = [  # the registry's names and every lazily imported name (a test keeps them in step)
    "BUILTIN_REPORTS",
    "REPORTS",
    "ActivityReport",
    "CaseloadReport",
    "FundingReport",
    "HandoffsReport",
    "HoldingReport",
    "MonthlyReport",
    "Plan",
    "ReportOption",
    "ReportSpec",
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
    "report_specs",
    "run_report",
    "s75_report",
    "waits_report",
    "write_handoffs_json",
]
