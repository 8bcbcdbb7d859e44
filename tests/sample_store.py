"""Test helpers for the dashboard: a store of the shipped sample cases, and one with hostile names."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pathway
from pathway.importer import import_events
from pathway.samples import load_sample, play, sample_pathway, shipped_samples
from pathway.workspace import DEFAULT_PATHWAY, PATHWAY_META_KEY


def play_samples(location: str | Path) -> tuple[pathway.store.SqliteStore, datetime]:
    """Play every shipped sample case into a new store, as `pathway demo` does.

    Returns the store (its pathway recorded) and the time of the newest step (the demo's as-of).
    """
    store = pathway.open_store(location)
    store.set_meta(PATHWAY_META_KEY, DEFAULT_PATHWAY)
    latest: datetime | None = None
    for name in shipped_samples():
        sample = load_sample(name)
        engine = pathway.Engine(sample_pathway(sample), store)
        outcomes = list(play(engine, sample))
        assert all(o.as_scripted for o in outcomes), name
        when = sample.steps[-1].when
        latest = when if latest is None else max(latest, when)
    assert latest is not None
    return store, latest


HOSTILE_TEAM = '<script>window.__pwned = "team"</script>'
HOSTILE_CASE = "<img src=x onerror=\"window.__pwned = 'case'\">"
HOSTILE_ORG = '"O\'Brien & <Sons>"'

HOSTILE_LOG = f"""case_id,occurred_at,state,team,organisation
"{HOSTILE_CASE.replace('"', '""')}",2026-01-05T09:00:00Z,referral,hub,council
"{HOSTILE_CASE.replace('"', '""')}",2026-01-07T09:00:00Z,work,"{HOSTILE_TEAM.replace('"', '""')}","{HOSTILE_ORG.replace('"', '""')}"
"{HOSTILE_CASE.replace('"', '""')}",2026-01-09T09:00:00Z,work,hub,council
"{HOSTILE_CASE.replace('"', '""')}",2026-01-11T09:00:00Z,work,"{HOSTILE_TEAM.replace('"', '""')}","{HOSTILE_ORG.replace('"', '""')}"
C2,2026-01-06T09:00:00Z,referral,hub,council
C2,2026-02-06T09:00:00Z,work,lets,council
"""
"""Imported history whose team, organisation and case id are HTML that would run if not escaped."""


def hostile_store(location: str | Path) -> pathway.store.SqliteStore:
    """A store (no pathway) of :data:`HOSTILE_LOG`."""
    store = pathway.open_store(location)
    import_events(store, "hostile.csv", text=HOSTILE_LOG)
    return store
