"""care-pathway: pathway governance for mental-health social care.

A pathway definition (YAML) names the organisations and teams of a Section 75 partnership, the
states a case moves through and the guarded transitions between them. The engine fires
transitions on stored cases; every transition, applied or refused, writes a hash-chained audit
event, so governance reports can show who held each case, for how long, and how often it was
passed around.

    >>> import pathway
    >>> p = pathway.load_pathway("docs/examples/minimal.yaml")  # doctest: +SKIP

The names below are the core API. The library's modules are reachable from here as well, each
imported when first used (so ``import pathway`` stays quick and imports neither the dashboard nor
psycopg): ``pathway.reports.handoffs_report``, ``pathway.importer.import_events``,
``pathway.timeutil.NaiveTime`` and so on, as docs/embedding.md writes them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .audit import Checkpoint, VerifyResult
from .builtin_guards import BUILTIN_GUARDS
from .definition import Pathway, load_pathway, shipped_definitions
from .engine import Engine
from .errors import (
    CaseExists,
    CaseNotFound,
    ConcurrencyConflict,
    DefinitionError,
    IdempotencyMismatch,
    InstantOutOfRange,
    InvalidRequest,
    MissingExtra,
    NaiveInstantRefused,
    PathwayChanged,
    PathwayError,
    Problem,
    StoreBusy,
    StoreError,
    StoreReadOnly,
    StoreUnusable,
    TransitionRefused,
)
from .guards import (
    GuardContext,
    GuardRegistry,
    GuardResult,
    GuardSpec,
    passed,
    refused,
)
from .hookspecs import hookimpl
from .model import Actor, AuditEvent, Case, Decision, GuardCheck, Person
from .store import CaseQuery, HistoryQuery, Page, Store, open_store

if TYPE_CHECKING:
    from . import audit as audit
    from . import canonical as canonical
    from . import dashboard as dashboard
    from . import definition as definition
    from . import diagram as diagram
    from . import engine as engine
    from . import errors as errors
    from . import flow as flow
    from . import guards as guards
    from . import helped as helped
    from . import hookspecs as hookspecs
    from . import importer as importer
    from . import migrate as migrate
    from . import model as model
    from . import passes as passes
    from . import placement_import as placement_import
    from . import placements as placements
    from . import plugins as plugins
    from . import render as render
    from . import reports as reports
    from . import serialize as serialize
    from . import store as store
    from . import timeutil as timeutil

SUBMODULES = frozenset(
    {
        "audit", "builtin_guards", "canonical", "dashboard", "definition", "diagram", "engine",
        "errors", "flow", "funding_guards", "guards", "helped", "hookspecs", "importer", "migrate",
        "model", "passes", "periods", "placement_import", "placements", "plugins", "privacy",
        "render", "reports", "sealing", "serialize", "store", "timeutil", "tokens", "versioning",
    }
)  # fmt: skip
"""The library's public modules, each reachable as ``pathway.NAME`` (imported when first used)."""


def __getattr__(name: str) -> Any:
    """Import a public module of the library when it is first used as ``pathway.NAME`` (PEP 562)."""
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "BUILTIN_GUARDS",
    "Actor",
    "AuditEvent",
    "Case",
    "CaseExists",
    "CaseNotFound",
    "CaseQuery",
    "Checkpoint",
    "ConcurrencyConflict",
    "Decision",
    "DefinitionError",
    "Engine",
    "GuardCheck",
    "GuardContext",
    "GuardRegistry",
    "GuardResult",
    "GuardSpec",
    "HistoryQuery",
    "IdempotencyMismatch",
    "InstantOutOfRange",
    "InvalidRequest",
    "MissingExtra",
    "NaiveInstantRefused",
    "Page",
    "Pathway",
    "PathwayChanged",
    "PathwayError",
    "Person",
    "Problem",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreReadOnly",
    "StoreUnusable",
    "TransitionRefused",
    "VerifyResult",
    "__version__",
    "hookimpl",
    "load_pathway",
    "open_store",
    "passed",
    "refused",
    "shipped_definitions",
]
