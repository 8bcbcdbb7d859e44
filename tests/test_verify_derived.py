"""`audit verify` rebuilds every case row and derived row from the events (issue 16 item 1).

Reports read the case rows' counters, ``closed_episodes`` and ``handoffs``, which the hash chain
does not cover. Each test tampers with them the way an attacker with the database's password
would (plain SQL, triggers dropped where needed) and checks that ``store.verify()`` fails, naming
the case and what differs, on SQLite and PostgreSQL alike; an untouched store verifies.

The log below is worked by hand: case A goes hub -> lets -> hub (a ping-pong) and closes, so it has
2 handoffs and 3 closed episodes; case B goes triage (trust) -> lets (council), one S75 crossing,
and stays open; case C has one event and no handoff.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Backend
from hypothesis import given, settings
from hypothesis import strategies as st

import pathway
from pathway.importer import import_events

LOG = """case_id,occurred_at,state,team,organisation
A,2026-01-05T09:00:00+00:00,referral,hub,council
A,2026-01-06T09:00:00+00:00,enablement,lets,council
A,2026-01-07T09:00:00+00:00,referral,hub,council
A,2026-01-09T09:00:00+00:00,closed,hub,council
B,2026-01-05T10:00:00+00:00,referral,triage,trust
B,2026-01-08T10:00:00+00:00,enablement,lets,council
C,2026-01-05T11:00:00+00:00,referral,hub,council
"""


@pytest.fixture
def location(store_factory: Backend) -> Iterator[str]:
    """A store of the backend under test holding the hand-worked log."""
    where = store_factory.location()
    with store_factory.open(where) as store:
        import_events(store, "log.csv", text=LOG, final_states=["closed"])
    yield where


def _tamper(store_factory: Backend, where: str, *statements: str) -> None:
    with store_factory.raw(where) as conn:
        for statement in statements:
            conn.execute(statement)


def _verify(store_factory: Backend, where: str, **kwargs: Any) -> pathway.VerifyResult:
    with store_factory.open(where, create=False) as store:
        result: pathway.VerifyResult = store.verify(**kwargs)
        return result


def test_the_hand_worked_log_gives_the_rows_the_reports_read(
    store_factory: Backend, location: str
) -> None:
    """What the checks compare against: the rows as worked by hand above, and verify passes."""
    with store_factory.raw(location) as conn:
        counters = conn.execute(
            "SELECT id, handoffs, ping_pongs, crossings, episode_n, version, last_seq FROM cases "
            "ORDER BY id"
        ).fetchall()
        episodes = conn.execute("SELECT count(*) FROM closed_episodes").fetchone()[0]
    assert [tuple(r) for r in counters] == [
        ("A", 2, 1, 0, 3, 4, 4),
        ("B", 1, 0, 1, 2, 2, 2),
        ("C", 0, 0, 0, 1, 1, 1),
    ]
    assert episodes == 4  # A: hub, lets, hub (closed); B: triage
    result = _verify(store_factory, location)
    assert (result.ok, result.events, result.cases, result.derived) == (True, 7, 3, True)
    assert result.problem is None


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "UPDATE cases SET handoffs = 0 WHERE id = 'A'",
            "case A: its row differs from its events: handoffs 0 (its events give 2)",
        ),
        (
            "UPDATE cases SET crossings = 0, ping_pongs = 5 WHERE id = 'B'",
            "case B: its row differs from its events: ping_pongs 5 (its events give 0); "
            "crossings 0 (its events give 1)",
        ),
        (
            "UPDATE cases SET state = 'referral', version = 9 WHERE id = 'B'",
            "case B: its row differs from its events: state 'referral' (its events give "
            "'enablement'); version 9 (its events give 2)",
        ),
        (
            "UPDATE cases SET open_start = open_start + 86400 WHERE id = 'B'",
            "case B: its row differs from its events: open_start",
        ),
        (
            "DELETE FROM closed_episodes WHERE case_id = 'A' AND n = 2",
            "case A: 2 closed_episodes row(s) stored, its events give 3; closed_episodes row 2 "
            "differs: n 3 (events give 2), team 'hub' (events give 'lets')",
        ),
        (
            "UPDATE closed_episodes SET end_at = end_at + 3600 WHERE case_id = 'B'",
            "case B: closed_episodes row 1 differs: end_at",
        ),
        (
            "DELETE FROM handoffs WHERE case_id = 'B'",
            "case B: 0 handoffs row(s) stored, its events give 1",
        ),
        (
            "INSERT INTO handoffs (case_id, n, at, from_team, to_team, from_organisation, "
            "to_organisation, crossing, ping_pong) VALUES ('C', 1, 1767610800.0, 'hub', 'cmht', "
            "'council', 'trust', 1, 0)",
            "case C: 1 handoffs row(s) stored, its events give 0",
        ),
        (
            "INSERT INTO handoffs (case_id, n, at, from_team, to_team, from_organisation, "
            "to_organisation, crossing, ping_pong) VALUES ('Z', 1, 1767610800.0, 'hub', 'cmht', "
            "'council', 'trust', 1, 0)",
            "case Z has no events: 1 handoffs row(s) are in the store without the audit trail",
        ),
        (
            "INSERT INTO closed_episodes (case_id, n, team, organisation, start_at, end_at, "
            "seconds) VALUES ('A', 4, 'hub', 'council', 1.0, 2.0, 1.0)",
            "case A: 4 closed_episodes row(s) stored, its events give 3",
        ),
    ],
)
def test_an_edited_or_deleted_or_inserted_derived_row_is_caught(
    store_factory: Backend, location: str, statement: str, expected: str
) -> None:
    _tamper(store_factory, location, statement)
    result = _verify(store_factory, location)
    assert not result.ok and not result.derived
    assert expected in (result.problem or ""), result.problem
    assert result.problems[0] == result.problem


def test_a_case_with_no_events_is_caught(store_factory: Backend, location: str) -> None:
    """A case row copied in without events (or whose events were deleted) is named."""
    _tamper(
        store_factory,
        location,
        "INSERT INTO cases SELECT 'D', pathway_id, pathway_version, state, team, organisation, "
        "worker, version, opened_at, closed_at, state_entered_at, return_stack, attributes, "
        "last_seq, last_at, first_at, first_team, first_team_at, last_team, last_organisation, "
        "prev_team, handoffs, episode_n, open_n, open_team, open_organisation, open_start, "
        "ping_pongs, crossings, team_sequence FROM cases WHERE id = 'C'",
    )
    result = _verify(store_factory, location)
    assert not result.ok
    assert result.problem == (
        "case D has no events: its case row is in the store without the audit trail behind them"
    )


def test_all_events_deleted_is_caught_with_cases_left_and_by_the_checkpoint(
    store_factory: Backend, location: str
) -> None:
    """Deleting every event but keeping the cases fails verify outright; deleting the cases and
    derived rows as well leaves an empty store that only the checkpoint shows was cut off."""
    with store_factory.open(location, create=False) as store:
        head = store.checkpoint()
    assert head.position == 7
    _tamper(
        store_factory,
        location,
        "DROP TRIGGER events_refuse_delete"
        + (" ON events" if store_factory.name == "postgres" else ""),
        "DELETE FROM events",
    )
    result = _verify(store_factory, location)
    assert (result.ok, result.events) == (False, 0)
    assert result.problems[:3] == tuple(
        f"case {c} has no events: its case row is in the store without the audit trail behind them"
        for c in "ABC"
    )
    assert result.problems[3:] == (
        "case A has no events: 3 closed_episodes row(s) are in the store without the audit trail "
        "behind them",
        "case B has no events: 1 closed_episodes row(s) are in the store without the audit trail "
        "behind them",
        "case A has no events: 2 handoffs row(s) are in the store without the audit trail "
        "behind them",
        "case B has no events: 1 handoffs row(s) are in the store without the audit trail "
        "behind them",
    )
    _tamper(
        store_factory,
        location,
        "DELETE FROM cases",
        "DELETE FROM closed_episodes",
        "DELETE FROM handoffs",
    )
    assert _verify(store_factory, location).ok  # nothing left to compare: only a checkpoint shows
    against = _verify(store_factory, location, against=head)
    assert not against.ok
    assert "before the checkpoint's position 7: events were removed (truncation)" in (
        against.problem or ""
    )


def test_deleting_a_case_s_newest_event_is_caught_without_a_checkpoint(
    store_factory: Backend, location: str
) -> None:
    """The case row still counts the deleted event (its last_seq, version, counters)."""
    _tamper(
        store_factory,
        location,
        "DROP TRIGGER events_refuse_delete"
        + (" ON events" if store_factory.name == "postgres" else ""),
        "DELETE FROM events WHERE position = 7",  # C's only event, the newest
    )
    result = _verify(store_factory, location)
    assert not result.ok
    assert result.problem == (
        "case C has no events: its case row is in the store without the audit trail behind them"
    )


def test_a_placement_period_not_from_an_applied_event_of_its_case_is_caught(
    store_factory: Backend, location: str
) -> None:
    _tamper(
        store_factory,
        location,
        "INSERT INTO placement_periods (case_id, placement_id, care_type, weekly_pence, "
        "council_bp, nhs_bp, person_bp, s117, agreed_by, agreed_kind, start_date, start_day, "
        "known_from, event_position) VALUES ('B', 'P1', 'residential', 100000, 10000, 0, 0, 0, "
        "'council', 'council', '2026-01-08', 739624, 1.0, 1)",
    )
    result = _verify(store_factory, location)
    assert not result.ok
    assert result.problem == (
        "case B: placement P1 has a period from event position 1, which is not an applied "
        "event of the case"
    )


def test_problems_are_listed_up_to_the_limit(store_factory: Backend, location: str) -> None:
    """Each problem is found: all three cases' counters edited gives three problems, in case
    order, each naming its case."""
    _tamper(store_factory, location, "UPDATE cases SET last_seq = last_seq + 1")
    result = _verify(store_factory, location)
    assert [p.split(":")[0] for p in result.problems] == ["case A", "case B", "case C"]


def test_the_cli_names_the_problem_and_exits_1(tmp_path: Any) -> None:
    """`pathway audit verify` on an edited counter: FAILED with the case, exit 1; ok says what
    was checked."""
    db = tmp_path / "x.db"
    with pathway.open_store(db) as store:
        import_events(store, "log.csv", text=LOG, final_states=["closed"])

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pathway", "audit", "verify", "--db", str(db)],
            capture_output=True,
            text=True,
            check=False,
        )

    done = run()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "ok: 7 events verified; the rows of their 3 cases (case rows, closed episodes, handoffs) "
        "match them; head position 7"
    )
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("UPDATE cases SET handoffs = 0")
    done = run()
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "FAILED: case A: its row differs from its events: handoffs 0 (its events give 2)",
        "FAILED: case B: its row differs from its events: handoffs 0 (its events give 1)",
    ]
    assert "Traceback" not in done.stderr


# --- verify's own fold equals the writers' fold (FlowState.step) ------------------------------

_TEAMS = st.sampled_from([None, "", "hub", "lets", "cmht"])
_ORGS = st.sampled_from([None, "council", "trust"])
_EVENTS = st.lists(
    st.tuples(
        _TEAMS,
        _ORGS,
        st.booleans(),
        st.sampled_from(["applied", "applied", "refused"]),
        st.integers(min_value=0, max_value=10**12),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(_EVENTS)
def test_verify_s_fold_gives_what_flowstate_step_gives(events: list[Any]) -> None:
    """``derived._Case.fold`` (written out over local variables for speed) gives each closed
    episode, handoff and flow column exactly as folding the same events with
    ``FlowState.step``, the fold the engine and the importer write with."""
    from pathway.flow import FlowState
    from pathway.store.derived import _Case, _episode_values, _handoff_values, _Seconds
    from pathway.store.flowrows import flow_values

    rows = []
    at_us = 0
    for seq, (team, org, closes, outcome, step_us) in enumerate(events, start=1):
        at_us += step_us
        rows.append(("K", seq, f"t{seq}", at_us, outcome, f"s{seq}", team, org, int(closes)))
    built = _Case("K")
    built.fold(rows, _Seconds())

    flow = FlowState("K")
    episodes, handoffs = [], []
    applied = [r for r in rows if r[4] == "applied"]
    for _cid, _seq, _text, micros, _outcome, _state, team, org, closes in applied:
        closed, _opened, handoff = flow.step(micros / 1_000_000, team, org, bool(closes))
        if closed is not None:
            episodes.append(_episode_values(closed))
        if handoff is not None:
            handoffs.append(_handoff_values(handoff))
    assert built.episodes == episodes
    assert built.handoffs == handoffs
    assert built.flow == flow_values(flow)
    assert built.applied == len(applied) and built.last_seq == len(rows)
    if applied:
        last = applied[-1]
        assert (built.state, built.team, built.closed_at) == (
            last[5],
            last[6] or "",
            last[2] if last[8] else None,
        )
        assert built.organisation == (last[7] if last[7] is not None else "unknown")
