"""The plug-in contract: the hooks a care-pathway plug-in may implement.

A plug-in is any module or object with functions marked ``@pathway.hookimpl`` whose names are
among the hooks below (pluggy checks the names and arguments when it is registered, so a misspelt
hook is an error at load time, not a silent no-op). Plug-ins are found through the entry-point
group ``care_pathway.plugins``, named in a pathway definition (``plugins: [name, ...]``) or
passed to :func:`pathway.load_pathway`. See docs/plugins.md for a complete example.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .guards import GuardSpec
    from .model import AuditEvent, Case
    from .reports.registry import ReportSpec

PROJECT = "care_pathway"
hookspec = pluggy.HookspecMarker(PROJECT)
"""Marks the hook specifications below (the contract a plug-in implements)."""
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plug-in's implementation of a hook: ``@pathway.hookimpl`` above a function named as
one of the hooks below."""


@hookspec
def pathway_fragment(pathway_id: str) -> str | Mapping[str, Any] | None:
    """Definition parts this plug-in adds to the pathway ``pathway_id``, or None for none.

    A fragment is YAML text (or a mapping) with any of ``teams``, ``tasks``, ``states`` and
    ``transitions``, written exactly as in a pathway definition. It is merged into the pathway
    before validation, so everything a definition is checked for applies, and a problem is
    reported at its line in the plug-in's fragment. A fragment may not redefine a name the
    pathway or another plug-in already has; a task it names that the pathway already has gains
    the fragment's teams.
    """


@hookspec
def pathway_guards() -> Iterable[GuardSpec]:  # type: ignore[empty-body]
    """Guards this plug-in registers (a name may be registered once, across all plug-ins)."""


@hookspec
def pathway_reports() -> Iterable[ReportSpec]:  # type: ignore[empty-body]
    """Reports this plug-in adds, each a :class:`pathway.reports.ReportSpec` (with options of its
    own if it declares them): ``pathway report NAME`` runs them like the built-in ones."""


@hookspec
def audit_event_recorded(event: AuditEvent, case: Case) -> None:
    """Called after an audit event (applied or refused) has been committed, with the case after it.

    Observers run after the commit: their failure never loses the transition or its event (the
    event is the record). A failure is logged and kept in ``Engine.observer_failures``.
    """
