"""`import_placements`: a council's finance extract onto cases in the store, all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from placement_helpers import LETS, T0, period_rows, small_pathway

import pathway
from pathway.errors import DefinitionError
from pathway.placement_import import IMPORT_TRIGGER, import_placements
from pathway.reports import Scope, funding_report, holding_report

HEADER = (
    "case_id,placement_id,care_type,weekly_cost,start_date,end_date,council_pct,nhs_pct,"
    "person_pct,agreed_by,s117,eligibility_date,health_screen_date,provider\n"
)
GOOD = HEADER + (
    "C1,P1,residential,887.00,2025-04-01,2025-09-30,100,,,council,no,2025-03-20,2025-03-21,Elm\n"
    "C1,P1,residential,900,2025-10-01,,50,50,,trust,,2025-03-20,2025-03-21,Elm\n"
    "C2,S1,supported_living,457.5,2025-06-01,2025-06-30,50,50,0,council,yes,,,\n"
)


@pytest.fixture
def store(tmp_path: Path) -> tuple[pathway.Engine, pathway.Pathway]:
    """The small pathway with C1 open and C2 opened then closed."""
    compiled = small_pathway(tmp_path)
    # A clock of its own: a test fires in 2027 (an at that far past the system clock is refused).
    engine = pathway.Engine(
        compiled,
        pathway.open_store(tmp_path / "i.db"),
        clock=lambda: datetime(2030, 1, 1, tzinfo=UTC),
    )
    engine.open_case("C1", LETS, at=T0)
    engine.open_case("C2", LETS, at=T0)
    engine.fire("C2", "close", LETS, at=T0)
    return engine, compiled


def test_rows_become_chained_imported_events_and_periods(
    store: tuple[pathway.Engine, pathway.Pathway],
) -> None:
    """Three rows: three audit events (imported, chained), three periods, cases moved on a version."""
    engine, compiled = store
    before = {c: engine.store.case(c) for c in ("C1", "C2")}
    result = import_placements(engine.store, "extract.csv", pathway=compiled, text=GOOD)
    assert (result.rows, result.placements, result.cases) == (3, 2, 2)
    assert period_rows(engine.store) == [
        ("P1", 88700, 10000, 0, 0, "2025-04-01", "2025-09-30"),
        ("P1", 90000, 5000, 5000, 0, "2025-10-01", None),
        ("S1", 45750, 5000, 5000, 0, "2025-06-01", "2025-06-30"),
    ]
    kinds = engine.store.connection.execute(
        "SELECT placement_id, agreed_kind, s117 FROM placement_periods ORDER BY start_day"
    ).fetchall()
    assert kinds == [("P1", "council", 0), ("S1", "council", 1), ("P1", "nhs_trust", 0)]
    events = [e for e in engine.store.events() if e.trigger == IMPORT_TRIGGER]
    assert len(events) == 3 and all(e.imported and e.outcome == "applied" for e in events)
    assert [e.position for e in events] == list(
        range(result.first_position, result.last_position + 1)
    )
    assert events[0].data["source_line"] == 2 and events[0].data["weekly_cost"] == "887.00"
    assert engine.store.verify().ok
    for case_id in ("C1", "C2"):
        after = engine.store.case(case_id)
        assert (after.state, after.team) == (before[case_id].state, before[case_id].team)
    assert engine.store.case("C1").version == before["C1"].version + 2
    # The open imported placement can be changed or ended through the engine afterwards.
    engine.fire(
        "C1", "placement_end", LETS, at=datetime(2027, 1, 1, tzinfo=UTC),
        data={"placement_id": "P1", "end_date": "2026-03-31"},
    )  # fmt: skip
    assert period_rows(engine.store)[1][-1] == "2026-03-31"


def test_imported_periods_are_history_known_from_their_start(
    store: tuple[pathway.Engine, pathway.Pathway],
) -> None:
    """A report as of a date before the import sees the imported periods: £887 x 30 / 7 in April."""
    engine, compiled = store
    import_placements(engine.store, "extract.csv", pathway=compiled, text=GOOD)
    scope = Scope(
        as_of=datetime(2025, 5, 1, tzinfo=UTC),
        since=datetime(2025, 4, 1, tzinfo=UTC),
        until=datetime(2025, 4, 30, tzinfo=UTC),
    )
    assert funding_report(engine.store.connection, scope).spend == "3801.43"


def test_a_closed_case_takes_placements_without_being_reopened(
    store: tuple[pathway.Engine, pathway.Pathway],
) -> None:
    """Placements of a closed case import, and the holding report still sees it closed."""
    engine, compiled = store
    scope = Scope(as_of=datetime(2030, 1, 1, tzinfo=UTC))
    before = holding_report(engine.store.connection, scope).to_json()
    import_placements(engine.store, "extract.csv", pathway=compiled, text=GOOD)
    assert holding_report(engine.store.connection, scope).to_json() == before
    assert engine.store.case("C2").is_closed


BAD = [  # (file, line, field, message); rows get a good row before them, one line down
    ("case_id,placement_id\nC1,P1\n", 1, "", "missing required column(s) care_type"),
    (HEADER.replace(",provider", ",provider,client_name"), 1, "", "client_name are not placement columns"),
    (HEADER.replace(",provider", ",provider,s117"), 1, "", "column(s) s117 appear twice"),
    ("", 1, "", "the file is empty"),
    (HEADER, 1, "", "the file has a header but no rows"),
    (HEADER + "C1,P1,residential,887.005,2025-04-01,,100,,,council,,,,\n", 2, "weekly_cost", "'887.005' is not an amount in pounds with at most two decimals"),
    (HEADER + "C1,P1,residential,-1,2025-04-01,,100,,,council,,,,\n", 2, "weekly_cost", "'-1' is negative"),
    (HEADER + "C1,P1,hotel,887,2025-04-01,,100,,,council,,,,\n", 2, "care_type", "'hotel' is not one of residential"),
    (HEADER + "C1,P1,residential,887,01/04/2025,,100,,,council,,,,\n", 2, "start_date", "'01/04/2025' is not a date"),
    (HEADER + "C1,P1,residential,887,2025-04-01,2025-03-01,100,,,council,,,,\n", 2, "end_date", "2025-03-01 is before start_date 2025-04-01"),
    (HEADER + "C1,P1,residential,887,2025-04-01,,60,30,,council,,,,\n", 2, "council_pct", "the shares must add up to 100 (council_pct 60, nhs_pct 30, person_pct 0 make 90)"),
    (HEADER + "C1,P1,residential,887,2025-04-01,,100.5,,,council,,,,\n", 2, "council_pct", "'100.5' is more than 100 percent"),
    (HEADER + "C1,P1,residential,887,2025-04-01,,100,,,the panel,,,,\n", 2, "agreed_by", "'the panel' is not an organisation of pathway small (council, trust)"),
    (HEADER + "C1,P1,residential,887,2025-04-01,,100,,,council,perhaps,,,\n", 2, "s117", "'perhaps' is not yes or no"),
    (HEADER + "C1,P1,residential,887,2025-04-01,,100,,,council,,someday,,\n", 2, "eligibility_date", "'someday' is not a date"),
    (HEADER + ",P1,residential,887,2025-04-01,,100,,,council,,,,\n", 2, "case_id", "empty case id"),
    (HEADER + "C1,P1,residential,887\n", 2, "", "has 4 fields, the header has 14"),
    (
        HEADER
        + "C1,P1,residential,887,2025-04-01,2025-06-30,100,,,council,,,,\n"
        + "C1,P1,residential,900,2025-06-30,,100,,,council,,,,\n",
        3, "start_date", "placement P1 of case C1: this period from 2025-06-30 overlaps the period on line 3 (2025-04-01 to 2025-06-30)",
    ),
    (
        HEADER
        + "C1,P1,residential,900,2025-07-01,,100,,,council,,,,\n"
        + "C1,P1,residential,887,2025-04-01,,100,,,council,,,,\n",
        2, "start_date", "this period from 2025-07-01 overlaps the period on line 4 (2025-04-01 to open)",
    ),
    (
        HEADER
        + "C1,P1,residential,887,2025-04-01,2025-04-30,100,,,council,,,,\n"
        + "C1,P1,nursing,887,2025-05-01,,100,,,council,,,,\n",
        3, "care_type", "placement P1 of case C1 is residential on line 3: a placement keeps its care type",
    ),
    (HEADER + "C9,P1,residential,887,2025-04-01,,100,,,council,,,,\n", 2, "case_id", "case 'C9' is not in the store: import its event log first (pathway import FILE) or open the case (pathway case open)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "field", "message"), BAD)
def test_a_bad_extract_is_rejected_naming_line_and_field_and_writes_nothing(
    store: tuple[pathway.Engine, pathway.Pathway], text: str, line: int, field: str, message: str
) -> None:
    """Each kind of bad row rejects the whole file with its place; the store is unchanged."""
    engine, compiled = store
    ok = HEADER + "C1,P0,day_care,20,2025-04-01,,100,,,council,,,,\n"
    body = text
    if text.startswith(HEADER) and text != HEADER:
        body = ok + text[len(HEADER) :]  # a good row first: it must not be written either
        line += 1
    head, cases = engine.store.checkpoint(), [engine.store.case(c) for c in ("C1", "C2")]
    with pytest.raises(DefinitionError) as raised:
        import_placements(engine.store, "extract.csv", pathway=compiled, text=body)
    problem = raised.value.problems[0]
    assert (problem.line, problem.pointer) == (line, field), str(raised.value)
    assert message in problem.message
    assert engine.store.checkpoint() == head
    assert [engine.store.case(c) for c in ("C1", "C2")] == cases
    assert period_rows(engine.store, current_only=False) == []


def test_an_import_adds_new_placements_only(
    store: tuple[pathway.Engine, pathway.Pathway],
) -> None:
    """A placement the case already has (from the engine or an earlier import) rejects the file."""
    engine, compiled = store
    import_placements(engine.store, "first.csv", pathway=compiled, text=GOOD)
    head = engine.store.checkpoint()
    with pytest.raises(DefinitionError, match="case C1 already has placement P1"):
        import_placements(engine.store, "again.csv", pathway=compiled, text=GOOD)
    assert engine.store.checkpoint() == head


def test_without_a_pathway_any_panel_organisation_is_kept_as_unknown(
    store: tuple[pathway.Engine, pathway.Pathway],
) -> None:
    """With no pathway to name organisations, agreed_by is kept and its kind is unknown."""
    engine, _ = store
    text = HEADER + "C1,P1,home_care,156,2025-04-01,,100,,,Borough panel,,,,\n"
    import_placements(engine.store, "extract.csv", text=text)
    kind = engine.store.connection.execute(
        "SELECT agreed_by, agreed_kind FROM placement_periods"
    ).fetchone()
    assert kind == ("Borough panel", "unknown")


def test_an_unreadable_file_is_a_clear_problem(tmp_path: Path) -> None:
    """A file that cannot be read is named, with nothing written."""
    with (
        pathway.open_store(tmp_path / "x.db") as store,
        pytest.raises(DefinitionError, match="cannot read file"),
    ):
        import_placements(store, tmp_path / "missing.csv")


def test_an_imported_event_happens_on_its_first_day_in_the_case_s_time_order(
    store: tuple[pathway.Engine, pathway.Pathway],
) -> None:
    """On the period's first day if the case has no later event; else at its newest event."""
    engine, compiled = store
    text = HEADER + (
        "C1,EARLY,day_care,20,2025-04-01,,100,,,council,,,,\n"
        "C1,LATE,day_care,20,2026-02-01,,100,,,council,,,,\n"
    )
    import_placements(engine.store, "extract.csv", pathway=compiled, text=text)
    times = {e.data["placement_id"]: e.occurred_at for e in engine.store.history("C1")[-2:]}
    assert times == {"EARLY": T0, "LATE": datetime(2026, 2, 1, tzinfo=UTC)}
    # Steps recorded later, backdated to before the import, are still in time order.
    engine.fire("C1", "offer", LETS, at=datetime(2026, 2, 2, tzinfo=UTC))


FLAGGED = (
    "case_id,placement_id,care_type,weekly_cost,start_date,end_date,council_pct,nhs_pct,"
    "person_pct,agreed_by,eligibility_date,health_screen_date,urgent_reason,chc_checklist,"
    "s117_person\n"
    # Urgent (Care Act s19(3)), no eligibility decision yet: urgent, not "no eligibility".
    "C1,U1,residential,700,2025-04-01,2025-04-30,100,,,council,,2025-04-01,hospital discharge,,\n"
    # Council-funded while the continuing healthcare checklist is positive.
    "C1,H1,nursing,1000,2025-05-01,2025-05-31,80,20,,council,2025-04-20,2025-04-20,,positive,\n"
    # Charged to a person entitled to section 117 aftercare (the placement itself is not s117).
    "C2,S1,supported_living,400,2025-04-01,2025-04-30,60,,40,council,2025-03-01,2025-03-01,,,yes\n"
)


def test_the_funding_flags_come_in_with_the_extract(
    store: tuple[pathway.Engine, pathway.Pathway],
) -> None:
    """urgent_reason, chc_checklist and s117_person reach the periods the funding report reads.

    Worked from the scrutiny rules in docs/reports.md: U1 is council-funded with no eligibility
    decision but urgent, so it is `urgent_pending_eligibility` and not `no_eligibility`; H1 is
    council-funded with a positive checklist; S1 charges a person entitled to s117 aftercare.
    """
    engine, compiled = store
    import_placements(engine.store, "extract.csv", pathway=compiled, text=FLAGGED)
    scope = Scope(
        as_of=datetime(2025, 7, 1, tzinfo=UTC),
        since=datetime(2025, 4, 1, tzinfo=UTC),
        until=datetime(2025, 6, 30, tzinfo=UTC),
    )
    rules = {
        (item.placement_id, item.rule)
        for item in funding_report(engine.store.connection, scope).scrutiny
    }
    assert ("U1", "urgent_pending_eligibility") in rules
    assert ("U1", "no_eligibility") not in rules
    assert ("H1", "chc_checklist_positive_or_pending") in rules
    assert ("S1", "charged_to_s117_eligible_person") in rules
    events = [e for e in engine.store.events() if e.trigger == IMPORT_TRIGGER]
    urgent = next(e for e in events if e.data["placement_id"] == "U1")
    assert urgent.data["urgent_reason"] == "hospital discharge"
    assert engine.store.verify().ok


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("chc_checklist", "maybe", "'maybe' is not one of negative, positive, pending"),
        ("s117_person", "perhaps", "s117_person"),
        ("urgent_reason", "x" * 201, "201 characters, over 200"),
    ],
)
def test_bad_funding_flags_are_refused_by_line_and_field(
    store: tuple[pathway.Engine, pathway.Pathway], column: str, value: str, message: str
) -> None:
    engine, compiled = store
    text = (
        "case_id,placement_id,care_type,weekly_cost,start_date,end_date,council_pct,nhs_pct,"
        f"person_pct,agreed_by,{column}\n"
        f"C1,P9,residential,700,2025-04-01,,100,,,council,{value}\n"
    )
    before = engine.store.case("C1").version
    with pytest.raises(DefinitionError) as caught:
        import_placements(engine.store, "extract.csv", pathway=compiled, text=text)
    problem = caught.value.problems[0]
    assert (problem.line, problem.pointer) == (2, column)
    assert message in str(caught.value)
    assert engine.store.case("C1").version == before
