"""Case queries and history pages (issue 18 item 2), on both stores.

Every answer is checked against an independent computation: the cases and events read whole
(``store.cases()``, ``store.events()``, ``store.history()``) and filtered and sorted in Python.
The pages of a query, joined, must be exactly that list, whatever the page size.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from conftest import AMHP, CMHT, HUB, LETS, Backend, FakeClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pathway
from pathway import CaseQuery, HistoryQuery, Page
from pathway.model import AuditEvent, Case

STATES = ("referred", "choice_appointment", "brief_enablement", "cmht_offered",
          "specialist_support", "mha_assessment", "closed")  # fmt: skip
TEAMS = ("hub", "lets", "cmht", "amhp")


def _populate(engine: pathway.Engine, clock: FakeClock, n: int = 40, seed: int = 7) -> None:
    """``n`` cases walked a random distance along the minimal pathway, interleaved in time."""
    rng = random.Random(seed)
    for i in range(n):
        case_id = f"C{rng.randrange(1000):03d}-{i}"
        engine.open_case(case_id, HUB)
        clock.advance(minutes=rng.randrange(1, 90))
        steps = rng.randrange(6)
        if steps >= 1:
            engine.fire(case_id, "book_choice_appointment", LETS)
        if steps >= 2:
            if rng.random() < 0.5:
                engine.fire(case_id, "start_enablement", LETS, data={"enablement_plan": "p"})
                if steps >= 3:
                    engine.fire(case_id, "complete_enablement", LETS)  # closes it
            else:
                engine.fire(case_id, "refer_to_cmht", LETS)
                if steps >= 3:
                    engine.fire(case_id, "accept_handoff", CMHT)
                if steps >= 4:
                    engine.fire(case_id, "close", CMHT)
        if steps == 5 and engine.store.case(case_id).closed_at is None:
            engine.fire(case_id, "request_mha_assessment", AMHP)
        if rng.random() < 0.2:  # a refusal: an event, but the case does not change
            with pytest.raises(pathway.TransitionRefused):
                engine.fire(case_id, "request_mha_assessment", HUB)
        clock.advance(minutes=rng.randrange(1, 90))


@pytest.fixture
def engine(
    minimal: pathway.Pathway, store_factory: Backend, clock: FakeClock
) -> Iterator[pathway.Engine]:
    store = store_factory.open(store_factory.location())
    engine = pathway.Engine(minimal, store, clock=clock)
    _populate(engine, clock)
    yield engine
    store.close()


def _newest(store: Any, case: Case) -> datetime:
    return store.history(case.id)[-1].occurred_at  # type: ignore[no-any-return]


def _expected(store: Any, query: CaseQuery) -> list[str]:
    """The ids the query should list, computed from every case read whole."""
    chosen = []
    for case in store.cases():
        if query.state is not None and case.state not in query.state:
            continue
        if query.team is not None and case.team not in query.team:
            continue
        if query.organisation is not None and case.organisation not in query.organisation:
            continue
        if query.open is not None and (case.closed_at is None) != query.open:
            continue
        newest = _newest(store, case)
        if query.changed_since is not None and newest < query.changed_since:
            continue
        chosen.append((newest, case.id))
    if query.changed_since is not None:
        return [case_id for _newest_at, case_id in sorted(chosen)]
    return sorted(case_id for _newest_at, case_id in chosen)


def _all_pages(store: Any, query: CaseQuery) -> list[Case]:
    got: list[Case] = []
    page: Page[Case] = store.query_cases(query)
    while True:
        assert len(page.items) <= query.limit
        got.extend(page.items)
        if page.next_cursor is None:
            return got
        assert len(page.items) == query.limit  # only a full page says another follows
        page = store.query_cases(attrs.evolve(query, after=page.next_cursor))


def test_filters_by_hand(engine: pathway.Engine) -> None:
    """A few queries whose answers are easy to see, and the cases come back whole."""
    store = engine.store
    every = list(store.cases())
    assert len(every) == 40
    first = store.query_cases(CaseQuery(limit=5))
    assert [c.id for c in first.items] == sorted(c.id for c in every)[:5]
    assert first.items[0] == store.case(first.items[0].id)  # the whole case, as store.case
    open_ids = [c.id for c in _all_pages(store, CaseQuery(open=True, limit=7))]
    closed_ids = [c.id for c in _all_pages(store, CaseQuery(open=False, limit=7))]
    assert open_ids and closed_ids
    assert sorted(open_ids + closed_ids) == sorted(c.id for c in every)
    assert all(store.case(i).state == "closed" for i in closed_ids)
    trust = _all_pages(store, CaseQuery(organisation="trust", limit=3))
    assert {c.team for c in trust} == {"cmht"}
    none = store.query_cases(CaseQuery(state="no_such_state"))
    assert none == Page((), None)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    state=st.none() | st.sampled_from(STATES) | st.lists(st.sampled_from(STATES), min_size=1,
                                                         max_size=3),
    team=st.none() | st.sampled_from(TEAMS) | st.lists(st.sampled_from(TEAMS), min_size=1,
                                                       max_size=2),
    organisation=st.none() | st.sampled_from(("council", "trust")),
    is_open=st.none() | st.booleans(),
    since_minutes=st.none() | st.integers(min_value=0, max_value=5000),
    limit=st.integers(min_value=1, max_value=12),
)  # fmt: skip
def test_pages_joined_are_the_filtered_cases(
    engine: pathway.Engine,
    state: Any,
    team: Any,
    organisation: str | None,
    is_open: bool | None,
    since_minutes: int | None,
    limit: int,
) -> None:
    """Any filters, any page size: the pages, joined, list exactly the cases the filters select,
    in ``id`` order (or newest-event order with ``changed_since``), each once."""
    since = None
    if since_minutes is not None:
        since = datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(minutes=since_minutes)
    query = CaseQuery(
        state=state, team=team, organisation=organisation, open=is_open, changed_since=since,
        limit=limit,
    )  # fmt: skip
    got = [c.id for c in _all_pages(engine.store, query)]
    assert got == _expected(engine.store, query)


def test_changed_since_takes_any_zone_and_naive_as_utc(engine: pathway.Engine) -> None:
    store = engine.store
    utc = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)
    plus_two = utc.astimezone(timezone(timedelta(hours=2)))
    naive = utc.replace(tzinfo=None)
    answers = [
        _all_pages(store, CaseQuery(changed_since=when, limit=4)) for when in (utc, plus_two, naive)
    ]
    assert answers[0] == answers[1] == answers[2]
    assert [c.id for c in answers[0]] == _expected(store, CaseQuery(changed_since=utc))


def test_history_pages_joined_are_the_history(engine: pathway.Engine) -> None:
    """The store's history by position and each case's by seq, a page at a time: exactly the
    events read whole; a history cursor is the last event's position (or seq) as text."""
    store = engine.store
    everything = list(store.events())
    for limit in (1, 7, 100, 1000):
        got: list[AuditEvent] = []
        after: str | None = None
        while True:
            page = store.query_history(HistoryQuery(after=after, limit=limit))
            got.extend(page.items)
            if page.next_cursor is None:
                break
            assert page.next_cursor == str(page.items[-1].position)
            after = page.next_cursor
        assert got == everything
    for case in list(store.cases())[:10]:
        whole = store.history(case.id)
        pages: list[AuditEvent] = []
        after = None
        while True:
            page = store.query_history(HistoryQuery(case_id=case.id, after=after, limit=2))
            pages.extend(page.items)
            if page.next_cursor is None:
                break
            assert page.next_cursor == str(page.items[-1].seq)
            after = page.next_cursor
        assert pages == whole
    middle = everything[len(everything) // 2].position
    tail = store.query_history(HistoryQuery(after=str(middle), limit=1000)).items
    assert tail == tuple(everything[len(everything) // 2 + 1 :])
    assert store.query_history(HistoryQuery(after=str(everything[-1].position))) == Page((), None)


def test_history_of_an_unknown_case_is_case_not_found(engine: pathway.Engine) -> None:
    with pytest.raises(pathway.CaseNotFound):
        engine.store.query_history(HistoryQuery(case_id="nobody"))


def test_pages_neither_repeat_nor_skip_while_cases_change(
    engine: pathway.Engine, clock: FakeClock
) -> None:
    """Keyset pages: cases opened and moved between two pages do not shift the pages. Every
    case that existed unchanged throughout is listed once; none is listed twice."""
    store = engine.store
    before = {c.id for c in store.cases()}
    page = store.query_cases(CaseQuery(open=True, limit=5))
    seen = [c.id for c in page.items]
    moved: set[str] = set()
    n = 0
    while page.next_cursor is not None:
        # Between pages: a new case before the cursor (in id order), and one open case closed.
        engine.open_case(f"A{n:03d}", HUB)
        n += 1
        for case in store.cases():
            if case.state == "brief_enablement" and case.id not in {*seen, *moved}:
                engine.fire(case.id, "complete_enablement", LETS)
                moved.add(case.id)
                break
        page = store.query_cases(CaseQuery(open=True, limit=5, after=page.next_cursor))
        seen.extend(c.id for c in page.items)
    assert len(seen) == len(set(seen))
    steady = {c.id for c in store.cases() if c.closed_at is None} & before
    assert steady <= set(seen)
    assert not any(s.startswith("A") for s in seen)  # opened behind the cursor: not listed


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CaseQuery(limit=0), "limit: must be a whole number from 1 to 1000"),
        (lambda: CaseQuery(limit=1001), "limit: must be a whole number from 1 to 1000"),
        (lambda: CaseQuery(limit=True), "limit: must be a whole number"),
        (lambda: HistoryQuery(limit=5000), "limit: must be a whole number"),
        (lambda: CaseQuery(state=""), "state: give a name or a list of names"),
        (lambda: CaseQuery(team=[]), "team: give a name or a list of names"),
        (lambda: CaseQuery(organisation=[3]), "organisation: give a name or a list"),
        (lambda: CaseQuery(open="yes"), "open: must be True, False or None"),
        (lambda: CaseQuery(changed_since="2026-01-01"), "changed_since: must be a datetime"),
        (
            lambda: CaseQuery(changed_since=datetime(3001, 1, 1, tzinfo=UTC)),
            "changed_since: ",
        ),
        (lambda: CaseQuery(after=5), "after: a cursor is text"),
    ],
)
def test_bad_queries_name_the_field(make: Any, message: str) -> None:
    with pytest.raises(pathway.InvalidRequest, match=message):
        make()


def test_bad_cursors_are_refused(engine: pathway.Engine) -> None:
    store = engine.store
    by_id = store.query_cases(CaseQuery(limit=2)).next_cursor
    by_change = store.query_cases(
        CaseQuery(changed_since=datetime(2026, 1, 1, tzinfo=UTC), limit=2)
    ).next_cursor
    assert by_id is not None and by_change is not None
    for query in (
        CaseQuery(after="not a cursor!"),
        CaseQuery(after="W1td"),  # base64 of "[]": JSON, but not a cursor
        CaseQuery(after=by_change),  # a changed-since cursor without changed_since
        CaseQuery(after=by_id, changed_since=datetime(2026, 1, 1, tzinfo=UTC)),
    ):
        with pytest.raises(pathway.InvalidRequest, match="after: not a cursor of this query"):
            store.query_cases(query)
    for after in ("-1", "x", "1.5", "9" * 19):
        with pytest.raises(pathway.InvalidRequest, match="after: a history cursor"):
            store.query_history(HistoryQuery(after=after))


def test_the_queries_read_their_indexes_on_sqlite(tmp_path: Any) -> None:
    """SQLite's plan for each page: an index range, no table scan and no sort of the whole
    answer (what keeps a page's cost flat as the store grows; benchmarks/bench_queries.py)."""
    from pathway.store.query import _BY_CHANGE, _encode, case_page_sql

    with pathway.open_store(tmp_path / "plan.db") as store:
        conn = store.connection
        for query, index in (
            (CaseQuery(state="referred"), "cases_by_state"),
            (CaseQuery(team="lets"), "cases_by_team"),
            (CaseQuery(open=True), "cases_open"),
            (CaseQuery(team="cmht", open=True), "cases_open_by_team_id"),
            (
                CaseQuery(
                    changed_since=datetime(2026, 1, 1, tzinfo=UTC),
                    after=_encode([_BY_CHANGE, "2026-02-01T00:00:00.000000+00:00", "C1"]),
                ),
                "cases_by_change",
            ),
            (CaseQuery(changed_since=datetime(2026, 1, 1, tzinfo=UTC)), "cases_by_change"),
        ):
            sql, params = case_page_sql(query)
            plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert index in plan, plan
            assert "TEMP B-TREE" not in plan, plan
