"""The handoffs report folds only the cases that need it, and of those only the events that can
change a figure (pathway.reports.handoffs._fold_passes): its figures must be exactly those of
pathway.passes.PassFold run over every applied event of every case, the reference.

Checked on SQLite and PostgreSQL, at several scopes, on two kinds of store: random walks through
the shipped pathway driven by the engine (offers, declines, interruptions, closures and
re-referrals), and the benchmarks' generated log imported without a pathway (re-referrals, Mental
Health Act assessments, unallocated gaps, events without a trigger), read with the shipped one.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SESSION_PREFIX, PostgresBackend
from test_passes import BARNET, random_walks

import pathway
from pathway.importer import import_events
from pathway.passes import PassFold, PassRules, Window
from pathway.reports import Scope, handoffs_report

ROOT = Path(__file__).resolve().parent.parent


def _generated_log(path: Path, cases: int) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import generate_log
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    generate_log.write_log(path, cases, 5)


def full_fold(store: Any, scope: Scope) -> dict[str, Any]:
    """Every case's figures and the totals, folding every applied event up to as-of."""
    rules = PassRules.from_pathway(BARNET)
    header = scope.header()
    end = scope.as_of_text if header["until"] is None else min(header["until"], scope.as_of_text)
    window = Window(header["since"] or "", end)
    folds: dict[str, PassFold] = {}
    events = sorted(
        (e for e in store.events() if e.outcome == "applied" and e.occurred_at <= scope.as_of),
        key=lambda e: (e.case_id, e.seq),
    )
    for e in events:
        fold = folds.setdefault(e.case_id, PassFold(rules, window, scope.team))
        fold.step(
            e.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            e.trigger, e.from_state, e.to_state, e.from_team, e.to_team, e.closes,
        )  # fmt: skip
    for fold in folds.values():
        fold.finish()
    return folds  # type: ignore[return-value]


SCOPES = (
    {},
    {"since": datetime(2026, 2, 1, tzinfo=UTC), "until": datetime(2026, 3, 15, tzinfo=UTC)},
    {"team": "lets"},
    {"team": "cmht", "since": datetime(2026, 2, 10, tzinfo=UTC)},
)
LOG_SCOPES = (
    {},
    {"since": datetime(2024, 3, 1, tzinfo=UTC), "until": datetime(2025, 6, 1, tzinfo=UTC)},
    {"team": "lets"},
    {"team": "amhp", "since": datetime(2024, 6, 1, tzinfo=UTC)},
)


def check(store: Any, as_of: datetime, scopes: tuple[dict[str, Any], ...]) -> int:
    """Compare the report with the full fold at each scope; the number of cases compared."""
    compared = 0
    for options in scopes:
        scope = Scope(as_of, **options)
        data = handoffs_report(store.connection, scope, BARNET).to_json()
        folds = full_fold(store, scope)
        for row in data["by_case"]:
            fold = folds[row["case_id"]]
            want = (fold.offers, fold.offers_declined, fold.interruptions, fold.ping_pongs)
            got = (row["offers"], row["offers_declined"], row["interruptions"], row["ping_pongs"])
            assert got == want, (options, row["case_id"])
            assert row["passes"] == fold.passes, (options, row["case_id"])
            assert math.isclose(
                row["days_between_teams"], fold.days_between_teams, rel_tol=0, abs_tol=1e-9
            ), (options, row["case_id"])
            compared += 1
        in_scope = [folds[row["case_id"]] for row in data["by_case"]]
        assert data["ping_pongs"] == sum(f.ping_pongs for f in in_scope), options
        assert data["passes"] == sum(f.passes for f in in_scope), options
        assert data["offers_declined"] == sum(f.offers_declined for f in in_scope), options
        assert data["events_without_trigger"] == sum(f.untold for f in in_scope), options
    return compared


@pytest.fixture(params=["sqlite", "postgres"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A function that opens an empty store of the backend, by name."""
    backend = None
    opened: list[Any] = []
    if request.param == "postgres":
        backend = PostgresBackend(request.getfixturevalue("pg_url"), f"{SESSION_PREFIX}_fast")

    def make(name: str) -> Any:
        where = backend.location(name) if backend is not None else str(tmp_path / f"{name}.db")
        store = pathway.open_store(where)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
    if backend is not None:
        backend.cleanup()


def test_walks_equal_the_full_fold(new_store: Any) -> None:
    store = new_store("walks")
    newest = random_walks(store, 150, seed=11)
    compared = check(store, newest - timedelta(days=10), SCOPES)
    assert compared > 300


def test_generated_log_equals_the_full_fold(new_store: Any, tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    _generated_log(log, 400)
    store = new_store("log")
    import_events(store, log, final_states=["closed"])
    compared = check(store, datetime(2031, 1, 1, tzinfo=UTC), LOG_SCOPES)
    assert compared > 800
    # The log does what the fast path must get right: re-referrals, assessments, no triggers.
    data = handoffs_report(store.connection, Scope(datetime(2031, 1, 1, tzinfo=UTC)), BARNET)
    assert data.ping_pongs > 0 and data.interruptions is not None
    assert (data.events_without_trigger or 0) > 0


def test_plain_events_change_nothing_a_fold_skips() -> None:
    """PassFold.inert: a plain event naming no team or the responsible one leaves every figure
    and the fold's state as they were (so the report may skip it)."""
    rules = PassRules.from_pathway(BARNET)
    fold = PassFold(rules, Window())
    fold.step("2026-01-01T00:00:00.000000+00:00", "open", None, "awaiting_allocation", None, "hub", False)  # fmt: skip
    assert fold.base == "hub" and fold.inert("hub") and fold.inert(None)
    assert not fold.inert("lets")
    before = (fold.offers, fold.ping_pongs, fold.base, fold.offer_pending)
    assert rules.plain("progress", "awaiting_allocation", "awaiting_allocation", False)
    fold.step(
        "2026-01-02T00:00:00.000000+00:00", "progress", "awaiting_allocation",
        "awaiting_allocation", "hub", "hub", False,
    )  # fmt: skip
    assert (fold.offers, fold.ping_pongs, fold.base, fold.offer_pending) == before
    offer = next(iter(rules.offer_to))
    assert not rules.plain("x", "awaiting_allocation", offer, False)
    assert not rules.plain("x", offer, "awaiting_allocation", False)
    assert not rules.plain("x", "a", "b", True)
    assert not rules.plain("imported", "a", "b", False)
