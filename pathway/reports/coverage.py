"""What the data in a store is, so that figures are shown only where the data can support them.

A store need not hold the pathway's own cases: ``pathway import`` loads another system's event
log as it happened (its states and teams need not be the pathway's), and a log is often years
old. Three questions follow, each answered here from the store, never from a guess:

* **Is the data current?** :func:`stale_notice` compares the store's newest event with as-of.
  More than :data:`STALE_AFTER_DAYS` (90) days apart, every case still open at the log's end is
  taken to be held up to as-of, and every wait grows with it: the notice says so and gives the
  exact ``--as-of`` (the newest event's instant) that shows the data as it stood at its end.
  Ninety days is a quarter, the period of the Section 75 board's reports: a live case system
  records events every working day, so a quarter without one is an extract, not live data.
* **Does the data have the pathway's states?** :func:`data_facts` reads which states the
  applied events entered and which triggers they fired (one pass over the events), and
  :func:`rests_on` decides, per figure, whether the states (or triggers) it rests on are in the
  data (:class:`Basis`; one builder a figure: :func:`first_appointment_basis`,
  :func:`time_limit_basis`, :func:`review_basis`, :func:`offer_basis`, :func:`activity_basis`).
  Where the store's own events run on the pathway (recorded by the engine, not imported), the
  pathway's states *are* the data's states and the figure is always shown: a pathway that has
  never reviewed anyone has every review overdue, and must say so.
* **What is the data?** :func:`data_title`: the pathway's title when the store's events run on
  it; for an imported log, the file it came from (recorded by the import in the store's meta,
  :data:`IMPORT_SOURCES_KEY`), its number of cases and the dates of its first and newest events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from ..definition import Pathway
from ..timeutil import format_instant, parse_instant, to_utc
from .activity import Plan
from .monthly import MonthCounts
from .scope import DAY

STALE_AFTER_DAYS = 90.0
"""The newest event more than this many days before as-of: the data is not current (a quarter)."""

IMPORT_SOURCES_KEY = "import_sources"
"""The store's meta key of the imported logs: a JSON list of ``{"source", "events", "cases"}``."""

NEWEST_EVENT_SQL = "SELECT MAX(last_at) FROM cases"
"""The newest event's time (applied or refused): each case keeps its latest event's time."""


# --- is the data current? ------------------------------------------------------------------------


@attrs.frozen
class StaleNotice:
    """The store's newest event is long before as-of: what to tell the reader, and what to run."""

    newest_event: str
    """The newest event's instant, as stored (UTC, microseconds)."""
    as_of: str
    days: float
    """Days from the newest event to as-of."""

    @property
    def as_of_option(self) -> str:
        """The option that shows the data as it stood at its newest event (that event included)."""
        return f"--as-of {self.newest_event}"

    def message(self) -> str:
        """What the reader must know, in words."""
        return (
            f"The newest event in this store is from {self.newest_event[:10]}, "
            f"{self.days:,.0f} days before as-of ({self.as_of[:10]}): every case still open at "
            "the end of the data is counted as open, and its holding and waits as running, up "
            "to as-of."
        )

    def advice(self, command: str) -> str:
        """What to run instead: ``command`` (e.g. ``pathway report waits``) with the option."""
        return (
            f"To see the data as it stood at its newest event, use: {command} {self.as_of_option}"
        )


def stale_notice_for(
    newest_event: str | None, as_of: datetime, threshold_days: float = STALE_AFTER_DAYS
) -> StaleNotice | None:
    """The notice when ``newest_event`` (stored text; None: no events) is more than
    ``threshold_days`` before ``as_of``, else None."""
    if newest_event is None:
        return None
    days = (to_utc(as_of) - parse_instant(newest_event)).total_seconds() / DAY
    if days <= threshold_days:
        return None
    return StaleNotice(newest_event, format_instant(as_of), days)


def newest_event(conn: Any) -> str | None:
    """The store's newest event's time (applied or refused), as stored; None without events."""
    row = conn.execute(NEWEST_EVENT_SQL).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def stale_notice(
    conn: Any, as_of: datetime, threshold_days: float = STALE_AFTER_DAYS
) -> StaleNotice | None:
    """The notice for the store on ``conn`` at ``as_of`` (see :class:`StaleNotice`), or None."""
    return stale_notice_for(newest_event(conn), as_of, threshold_days)


# --- what the data holds -------------------------------------------------------------------------


@attrs.frozen
class ImportSource:
    """One imported log, as the import recorded it."""

    source: str
    events: int
    cases: int


def _sorted(names: Iterable[str]) -> tuple[str, ...]:
    """Names in a fixed order, so the facts read the same from every store (and every run)."""
    return tuple(sorted(names))


@attrs.frozen
class DataFacts:
    """What the events of a store hold, whatever the period or as-of of a report."""

    cases: int
    first_event: str | None
    """The earliest case opening (its first event), as stored."""
    newest_event: str | None
    """The newest event, applied or refused (:data:`NEWEST_EVENT_SQL`)."""
    states: tuple[str, ...] = attrs.field(converter=_sorted)
    """The states some applied event entered (its ``to_state``), sorted."""
    triggers: tuple[str, ...] = attrs.field(converter=_sorted)
    """The triggers of applied events (an imported row without one has ``imported``), sorted."""
    native_pathways: tuple[str, ...] = attrs.field(converter=_sorted)
    """The pathway ids of the engine's own applied events (not imported), sorted."""
    imported: bool
    """Whether any applied event was imported (``pathway import``)."""
    import_sources: tuple[ImportSource, ...] = ()

    def runs_on(self, pathway: Pathway | None) -> bool:
        """Whether the engine recorded events of this store on ``pathway`` (not only imports)."""
        return pathway is not None and pathway.id in self.native_pathways


def read_import_sources(text: str | None) -> tuple[ImportSource, ...]:
    """The imported logs from the meta value (None or unreadable: none recorded)."""
    if not text:
        return ()
    try:
        items = json.loads(text)
        return tuple(
            ImportSource(str(i["source"]), int(i["events"]), int(i["cases"])) for i in items
        )
    except (ValueError, TypeError, KeyError):
        return ()


def add_import_source(text: str | None, source: ImportSource) -> str:
    """The meta value with one more imported log."""
    items = [attrs.asdict(s) for s in read_import_sources(text)]
    items.append(attrs.asdict(source))
    return json.dumps(items, ensure_ascii=False)


def data_facts(conn: Any, import_sources: Sequence[ImportSource] = ()) -> DataFacts:
    """Read the facts of the store on ``conn``: one pass over the applied events (distinct
    states, triggers, imported flag and pathway: a few dozen rows), and the cases table."""
    execute = conn.execute
    states: set[str] = set()
    triggers: set[str] = set()
    native: set[str] = set()
    imported = False
    for to_state, trigger, was_imported, pathway_id in execute(
        "SELECT DISTINCT to_state, trigger, imported, pathway_id FROM events "
        "WHERE outcome = 'applied'"
    ).fetchall():
        states.add(str(to_state))
        triggers.add(str(trigger))
        if was_imported:
            imported = True
        else:
            native.add(str(pathway_id))
    cases, first, newest = execute(
        "SELECT COUNT(*), MIN(opened_at), MAX(last_at) FROM cases"
    ).fetchone()
    return DataFacts(
        cases=int(cases),
        first_event=None if first is None else str(first),
        newest_event=None if newest is None else str(newest),
        states=states,
        triggers=triggers,
        native_pathways=native,
        imported=imported,
        import_sources=tuple(import_sources),
    )


# --- does a figure rest on states the data has? ---------------------------------------------------


@attrs.frozen
class Basis:
    """What one figure rests on: the pathway's states (or triggers) that some event must have
    entered (fired) for the figure to mean anything; ``what`` names them for the reader."""

    figure: str
    what: str
    states: frozenset[str] = frozenset()
    triggers: frozenset[str] = frozenset()

    def absent(self) -> str:
        """The sentence shown instead of the figure."""
        if not self.states and not self.triggers:
            return "the pathway has no such states"
        return f"no event in the data entered {self.what}"


def rests_on(facts: DataFacts, basis: Basis, pathway: Pathway | None) -> bool:
    """Whether the figure of ``basis`` can be shown: the store's own events run on ``pathway``
    (its states are the data's), or some event entered one of the basis's states or fired one of
    its triggers. A basis with no states or triggers (a pathway without reviews) never can."""
    if not basis.states and not basis.triggers:
        return False
    if facts.runs_on(pathway):
        return True
    return not (basis.states.isdisjoint(facts.states) and basis.triggers.isdisjoint(facts.triggers))


def _names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(names)


def first_appointment_basis(milestone: str) -> Basis:
    """The wait for a first appointment rests on the milestone state (``choice_appointment``)."""
    return Basis("first_appointment", f"a {milestone.replace('_', ' ')} state", _names([milestone]))


def time_limit_basis(pathway: Pathway | None) -> Basis:
    """Stays over a time limit rest on the states that have one (brief enablement: 42 days)."""
    states = [n for n, s in (pathway.states.items() if pathway else []) if s.time_limit_days]
    return Basis("over_time_limit", "a state with a time limit (brief enablement)", _names(states))


def review_states(pathway: Pathway | None) -> list[str]:
    """A pathway's review states: those whose name says review (the waits report's rule)."""
    return list(pathway.review_states) if pathway else []


def review_basis(pathway: Pathway | None) -> Basis:
    """Overdue reviews (Care Act s27) rest on the pathway's review states."""
    return Basis("reviews_overdue", "a review state", _names(review_states(pathway)))


def offer_basis(pathway: Pathway | None) -> Basis:
    """Open offers, and offers made and declined, rest on the pathway's offer states."""
    states = [n for n, s in (pathway.states.items() if pathway else []) if s.offer_to]
    return Basis("offers", "an offer state", _names(states))


def activity_basis(plan: Plan) -> Basis:
    """Activity against the plan rests on its stages' states and triggers."""
    return Basis(
        "activity",
        "a state of the activity plan's stages, or fired one of its triggers",
        _names(s for stage in plan.stages for s in stage.states),
        _names(t for stage in plan.stages for t in stage.triggers),
    )


# --- what the data is ----------------------------------------------------------------------------


def data_title(facts: DataFacts, pathway: Pathway | None) -> str:
    """The page's title line: the pathway's title where the store's events run on it (with the
    imported logs named beside it), else the imported log(s) with cases and date range."""
    sources = ", ".join(s.source for s in facts.import_sources)
    if facts.runs_on(pathway):
        assert pathway is not None
        if facts.imported:
            return f"{pathway.title}, with history imported from {sources or 'another system'}"
        return pathway.title
    if facts.imported:
        span = ""
        if facts.first_event and facts.newest_event:
            span = f", {facts.first_event[:10]} to {facts.newest_event[:10]}"
        named = sources or "another system (source not recorded)"
        return f"Event log imported from {named}: {facts.cases:,} cases{span}"
    if pathway is not None:
        return pathway.title
    return "Pathway: none recorded in the store"


def months_of_data(months: Sequence[MonthCounts], facts: DataFacts) -> tuple[MonthCounts, ...]:
    """The months (of the monthly report) that the data reaches: up to the newest event's month,
    not on to an as-of years later. (The report's first month is already the first case's.)"""
    last = facts.newest_event[:7] if facts.newest_event else None
    return tuple(m for m in months if last is None or m.month <= last)
