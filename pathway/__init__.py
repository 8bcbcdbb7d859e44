"""care-pathway: pathway governance for mental-health social care.

A pathway definition (YAML) names the organisations and teams of a Section 75 partnership, the
states a case moves through and the guarded transitions between them. The engine fires
transitions on stored cases; every transition, applied or refused, writes a hash-chained audit
event, so governance reports can show who held each case, for how long, and how often it was
passed around.

    >>> import pathway
    >>> p = pathway.load_pathway("docs/examples/minimal.yaml")  # doctest: +SKIP
"""

from __future__ import annotations

from .audit import Checkpoint, VerifyResult
from .definition import Pathway, load_pathway, shipped_definitions
from .engine import Engine
from .errors import (
    CaseExists,
    CaseNotFound,
    ConcurrencyConflict,
    DefinitionError,
    IdempotencyMismatch,
    InvalidRequest,
    MissingExtra,
    PathwayError,
    Problem,
    StoreBusy,
    StoreError,
    StoreReadOnly,
    StoreUnusable,
    TransitionRefused,
)
from .guards import (
    BUILTIN_GUARDS,
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
    "InvalidRequest",
    "MissingExtra",
    "Page",
    "Pathway",
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
