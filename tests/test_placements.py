"""Placements through the engine: internal steps, data checks, derived periods, upgrade of old stores."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from placement_helpers import CMHT, LETS, SMALL, T0, period_rows, small_pathway, start_data

import pathway
from pathway.errors import DefinitionError, InvalidRequest
from pathway.reports import Scope, handoffs_report
from pathway.store import placementrows
from pathway.store import sqlite as sqlite_store
from pathway.store.base import SCHEMA_VERSION
from pathway.store.sqlite import MIGRATIONS, SqliteTransaction


@pytest.fixture
def small(tmp_path: Path) -> pathway.Engine:
    """The small pathway (no funding guards) on a fresh store, with case C1 open."""
    engine = pathway.Engine(small_pathway(tmp_path), pathway.open_store(tmp_path / "s.db"))
    engine.open_case("C1", LETS, at=T0)
    return engine


def test_an_internal_step_keeps_state_holder_worker_and_clock(small: pathway.Engine) -> None:
    """placement_start is audited like any step, but the case keeps its state, holder and clock."""
    before = small.store.case("C1")
    after = small.fire("C1", "placement_start", LETS, at=T0 + timedelta(days=1), data=start_data())
    assert (after.state, after.team, after.worker) == (before.state, before.team, before.worker)
    assert after.state_entered_at == before.state_entered_at
    assert after.version == before.version + 1
    event = small.store.history("C1")[-1]
    assert (event.trigger, event.outcome, event.from_state, event.to_state) == (
        "placement_start", "applied", "open", "open",
    )  # fmt: skip
    assert (event.from_team, event.to_team) == ("lets", "lets")
    assert event.data["weekly_cost"] == "700.00"
    assert small.store.verify().ok


def test_an_internal_step_inside_an_offer_keeps_the_offer(small: pathway.Engine) -> None:
    """A placement recorded while an offer is pending leaves the offer and its way back alone."""
    small.fire("C1", "offer", LETS, at=T0)
    pending = small.store.case("C1")
    small.fire("C1", "placement_start", LETS, at=T0, data=start_data())
    assert small.store.case("C1").return_stack == pending.return_stack
    declined = small.fire("C1", "decline", CMHT, at=T0 + timedelta(hours=1))
    assert (declined.state, declined.team) == ("open", "lets")
    report = handoffs_report(small.store.connection, Scope(as_of=T0 + timedelta(days=2)))
    assert report.handoffs == 0  # the placement step handed nothing on


def test_internal_steps_are_not_ways_out_and_not_taken_from_final_states(tmp_path: Path) -> None:
    """Loading refuses an internal step from a final state, a state whose only exit is internal,
    internal with dest, and a trigger whose transitions disagree on the placement step."""
    bad = SMALL.replace(
        '{trigger: placement_end, sources: "*", internal: true, placement: end}',
        "{trigger: placement_end, sources: [open, closed], internal: true, placement: end}\n"
        "  - {trigger: placement_end, sources: [support], internal: true}",
    ).replace(
        '{trigger: close, sources: "*", dest: closed}',
        "{trigger: close, sources: [open, support], dest: closed}",
    )
    with pytest.raises(DefinitionError) as raised:
        small_pathway(tmp_path, bad)
    text = str(raised.value)
    assert "placement_end is internal, so it cannot be taken from the final state closed" in text
    assert "every transition of a trigger must record the same kind of placement step" in text
    stuck = SMALL.replace(
        '{trigger: close, sources: "*", dest: closed}',
        "{trigger: close, sources: [open, offered], dest: closed}",
    )
    with pytest.raises(
        DefinitionError, match="state support is not final but no transition leaves it"
    ):
        small_pathway(tmp_path, stuck)
    both = SMALL.replace(
        "internal: true, placement: start}", "internal: true, dest: open, placement: start}"
    )
    with pytest.raises(DefinitionError, match="/transitions/4"):
        small_pathway(tmp_path, both)


def test_start_change_and_end_write_periods_known_from_each_event(small: pathway.Engine) -> None:
    """Each step replaces the open period with what is known after it; nothing is ever lost."""
    small.fire("C1", "placement_start", LETS, at=T0, data=start_data())
    assert period_rows(small.store) == [("P1", 70000, 10000, 0, 0, "2026-01-01", None)]
    small.fire(
        "C1", "placement_change", LETS, at=T0 + timedelta(days=20),
        data={"placement_id": "P1", "effective_date": "2026-01-15", "weekly_cost": "770",
              "council_pct": "60", "nhs_pct": "40"},
    )  # fmt: skip
    assert period_rows(small.store) == [
        ("P1", 70000, 10000, 0, 0, "2026-01-01", "2026-01-14"),
        ("P1", 77000, 6000, 4000, 0, "2026-01-15", None),
    ]
    small.fire(
        "C1", "placement_end", LETS, at=T0 + timedelta(days=40),
        data={"placement_id": "P1", "end_date": "2026-02-10", "reason": "moved on"},
    )  # fmt: skip
    assert period_rows(small.store) == [
        ("P1", 70000, 10000, 0, 0, "2026-01-01", "2026-01-14"),
        ("P1", 77000, 6000, 4000, 0, "2026-01-15", "2026-02-10"),
    ]
    # Two rows were replaced along the way and are kept, known until the step that replaced them.
    assert len(period_rows(small.store, current_only=False)) == 4
    placement = small.store.case("C1").attributes["placements"]["P1"]
    assert (placement["weekly_cost"], placement["council_pct"], placement["end_date"]) == (
        "770.00", "60", "2026-02-10",
    )  # fmt: skip
    assert "weekly_cost" not in small.store.case("C1").attributes  # kept inside placements only


def test_a_change_effective_on_the_first_day_replaces_the_period(small: pathway.Engine) -> None:
    """A change from the period's first day leaves no empty period behind."""
    small.fire("C1", "placement_start", LETS, at=T0, data=start_data())
    small.fire(
        "C1", "placement_change", LETS, at=T0,
        data={"placement_id": "P1", "effective_date": "2026-01-01", "weekly_cost": "650.5"},
    )  # fmt: skip
    assert period_rows(small.store) == [("P1", 65050, 10000, 0, 0, "2026-01-01", None)]


BAD_DATA = [
    ("placement_start", {"placement_id": None}, "placement_start: placement_id is required"),
    ("placement_start", {"care_type": "hotel"}, "care_type 'hotel' is not one of residential"),
    ("placement_start", {"weekly_cost": 700.5}, "weekly_cost: give pounds as text"),
    ("placement_start", {"weekly_cost": "-5"}, "weekly_cost: '-5' is negative"),
    ("placement_start", {"weekly_cost": "700.505"}, "at most two decimals"),
    ("placement_start", {"weekly_cost": "2000000"}, "is over 1000000.00 a week"),
    ("placement_start", {"weekly_cost": None}, "weekly_cost is required"),
    (
        "placement_start",
        {"council_pct": 60, "nhs_pct": 30},
        "must add up to 100 percent (council_pct 60, nhs_pct 30, person_pct 0 make 90)",
    ),
    ("placement_start", {"council_pct": None}, "the funding split is required"),
    ("placement_start", {"council_pct": "100.001"}, "council_pct: '100.001' is not a percentage"),
    ("placement_start", {"start_date": "01/01/2026"}, "start_date: '01/01/2026' is not a date"),
    (
        "placement_start",
        {"end_date": "2025-12-31"},
        "end_date 2025-12-31 is before start_date 2026-01-01",
    ),
    (
        "placement_start",
        {"agreed_by": "panel"},
        "agreed_by 'panel' is not an organisation of pathway small",
    ),
    ("placement_start", {"s117": "maybe"}, "s117: 'maybe' is not yes or no"),
    (
        "placement_start",
        {"eligibility_date": "last week"},
        "eligibility_date: 'last week' is not a date",
    ),
    (
        "placement_change",
        {"placement_id": "P9", "effective_date": "2026-02-01"},
        "case C1 has no placement P9",
    ),
    (
        "placement_change",
        {"placement_id": "P1", "effective_date": "2025-12-01", "weekly_cost": "1"},
        "effective_date 2025-12-01 is before the placement's current period began (2026-01-01)",
    ),
    (
        "placement_change",
        {"placement_id": "P1", "effective_date": "2026-02-01", "weekly_cost": "700"},
        "nothing changes",
    ),
    (
        "placement_change",
        {"placement_id": "P1", "effective_date": "2026-02-01", "care_type": "nursing"},
        "a placement keeps its care type",
    ),
    ("placement_change", {"placement_id": "P1"}, "placement_change: effective_date is required"),
    (
        "placement_end",
        {"placement_id": "P1", "end_date": "2025-12-31"},
        "end_date 2025-12-31 is before the placement's current period began",
    ),
    (
        "placement_end",
        {"placement_id": "P2", "end_date": "2026-03-01"},
        "placement P2 ended on 2026-01-31; only an open placement",
    ),
]


@pytest.mark.parametrize(("trigger", "data", "message"), BAD_DATA)
def test_bad_placement_data_is_refused_naming_the_field_and_writes_nothing(
    small: pathway.Engine, trigger: str, data: dict[str, Any], message: str
) -> None:
    """Malformed placement data raises InvalidRequest naming the field; no event, no period."""
    small.fire("C1", "placement_start", LETS, at=T0, data=start_data())
    small.fire(
        "C1", "placement_start", LETS, at=T0,
        data=start_data(placement_id="P2", end_date="2026-01-31"),
    )  # fmt: skip
    events, rows = len(small.store.history("C1")), period_rows(small.store, current_only=False)
    given = start_data(**{"placement_id": "P3", **data}) if trigger == "placement_start" else data
    with pytest.raises(InvalidRequest) as raised:
        small.fire("C1", trigger, LETS, at=T0 + timedelta(days=1), data=given)
    assert message in str(raised.value)
    assert len(small.store.history("C1")) == events
    assert period_rows(small.store, current_only=False) == rows
    decision = small.check("C1", trigger, LETS, data=given)
    assert not decision.allowed and message in decision.reasons[0]


def test_the_placements_attribute_cannot_be_given_as_data(small: pathway.Engine) -> None:
    """``placements`` is the engine's: giving it with any step is refused and writes nothing."""
    for trigger, data in (("placement_start", start_data()), ("offer", {})):
        with pytest.raises(InvalidRequest, match="placements is kept by the engine"):
            small.fire("C1", trigger, LETS, at=T0, data={**data, "placements": {"P1": {}}})
    assert len(small.store.history("C1")) == 1


def test_a_placement_id_is_used_once_per_case(small: pathway.Engine) -> None:
    """Starting a placement id the case already has is refused; another case may use it."""
    small.fire("C1", "placement_start", LETS, at=T0, data=start_data())
    with pytest.raises(InvalidRequest, match="placement P1 already exists on case C1"):
        small.fire("C1", "placement_start", LETS, at=T0, data=start_data())
    small.open_case("C2", LETS, at=T0)
    small.fire("C2", "placement_start", LETS, at=T0, data=start_data())
    assert len(period_rows(small.store)) == 2


def test_a_failure_after_the_periods_were_written_rolls_them_back(
    small: pathway.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Periods are written in the event's transaction: a later failure leaves none of them."""
    small.fire("C1", "placement_start", LETS, at=T0, data=start_data())
    before = (small.store.case("C1"), small.store.history("C1"), period_rows(small.store, False))
    seen: list[int] = []
    real = placementrows.write_placement

    def spy(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        seen.append(1)

    def failing_save(self: SqliteTransaction, *args: Any, **kwargs: Any) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(placementrows, "write_placement", spy)
    monkeypatch.setattr(SqliteTransaction, "save_idempotency", failing_save)
    with pytest.raises(OSError):
        small.fire(
            "C1", "placement_change", LETS, at=T0, idempotency_key="k",
            data={"placement_id": "P1", "effective_date": "2026-01-10", "nhs_pct": 100},
        )  # fmt: skip
    assert seen == [1]  # the periods were written, then rolled back with the event
    after = (small.store.case("C1"), small.store.history("C1"), period_rows(small.store, False))
    assert after == before


def test_an_idempotent_retry_writes_no_second_period(small: pathway.Engine) -> None:
    """The same idempotency key returns the first result and adds no period."""
    first = small.fire("C1", "placement_start", LETS, at=T0, data=start_data(), idempotency_key="k")
    again = small.fire("C1", "placement_start", LETS, at=T0, data=start_data(), idempotency_key="k")
    assert again == first
    assert len(period_rows(small.store, current_only=False)) == 1


def test_a_version_1_store_is_upgraded_on_open(tmp_path: Path) -> None:
    """A store made before placements (schema version 1) gains placement_periods and keeps its cases."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in sqlite_store._split_sql(MIGRATIONS[1]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(f"PRAGMA application_id = {sqlite_store.APPLICATION_ID}")
    conn.close()
    with pathway.open_store(path) as old:  # upgraded through every migration on open
        assert old.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with sqlite3.connect(path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "placement_periods" in tables
    engine = pathway.Engine(small_pathway(tmp_path), pathway.open_store(path))
    engine.open_case("C1", LETS, at=T0)
    engine.fire("C1", "placement_start", LETS, at=T0, data=start_data())
    assert period_rows(engine.store) == [("P1", 70000, 10000, 0, 0, "2026-01-01", None)]
    assert engine.store.verify().ok


def test_a_version_2_store_with_cases_keeps_them_after_the_upgrade(tmp_path: Path) -> None:
    """Cases and events written before placements (schema version 2) read back unchanged after
    the upgrade (versions 3 to 6)."""
    path = tmp_path / "v1.db"
    engine = pathway.Engine(small_pathway(tmp_path), pathway.open_store(path))
    engine.open_case("C1", LETS, at=T0)
    engine.fire("C1", "offer", LETS, at=T0)
    case, history = engine.store.case("C1"), engine.store.history("C1")
    engine.store.close()
    with sqlite3.connect(path, isolation_level=None) as raw:  # back to how version 2 left it
        raw.execute("DROP TABLE placement_periods")
        raw.execute("DROP INDEX cases_open_by_team")
        raw.execute("ALTER TABLE idempotency DROP COLUMN fingerprint")  # and what 6 added
        raw.execute("DROP INDEX closed_episodes_by_case")  # and the derived rows by case
        raw.execute("DROP INDEX handoffs_by_case")
        raw.execute("DROP TABLE free_text")  # and what the free-text version added
        raw.execute("DROP TABLE redactions")
        raw.execute("PRAGMA user_version = 2")
    with pathway.open_store(path) as upgraded:
        assert (upgraded.case("C1"), upgraded.history("C1")) == (case, history)
        count = upgraded.connection.execute("SELECT COUNT(*) FROM placement_periods").fetchone()
        assert count == (0,)
        assert upgraded.verify().ok
