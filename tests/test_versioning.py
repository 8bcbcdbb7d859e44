"""Changing a pathway definition while cases are open (issue 18, item 1), on both stores.

Version 1 is docs/examples/minimal.yaml. Version 2 (``V2`` below, written out by hand from it)
renames the state ``choice_appointment`` to ``choice_appt``, replaces ``specialist_support`` by
``cmht_support``, shortens brief enablement from 42 to 28 days and adds a guard to ``close``.

The scenario's cases under version 1 (every figure below is worked out by hand from it):

* A: opened (hub holds it, ``referred``)                       -> not stranded
* B: booked by the LETs (``choice_appointment``, lets)         -> stranded: its state
* C: booked, offered to the CMHT (``cmht_offered``, lets holds it, its return point is
  ``choice_appointment``)                                      -> stranded: its return point
* D: booked, offered, accepted (``specialist_support``, cmht)  -> stranded: its state
* E: booked, brief enablement (``brief_enablement``, lets)     -> not stranded
* F: as D, then closed by the CMHT (``closed``)                -> closed, never stranded

The migration maps ``choice_appointment=choice_appt:cmht`` (the CMHT takes the choice
appointments) and ``specialist_support=cmht_support``.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import CMHT, HUB, LETS, MINIMAL, Backend, FakeClock

import pathway
from pathway.errors import InvalidRequest, PathwayChanged
from pathway.reports import Scope, caseload_report, handoffs_report
from pathway.versioning import (
    META_PREFIX,
    MIGRATION_TRIGGER,
    STAMP_PREFIX,
    CaseMove,
    StateMap,
    check_definition,
    compare,
    fingerprint,
    migrate_cases,
    parse_map,
    plan_migration,
    recorded_definition,
    summarise,
)

V1_TEXT = MINIMAL.read_text()


def _v2_text() -> str:
    text = V1_TEXT.replace('version: "1"', 'version: "2"')
    edits = [
        (
            "{id: choice_appointment, holder: lets, task: choice_appointment}",
            "{id: choice_appt, holder: lets, task: choice_appointment}",
        ),
        (
            "sources: [referred]\n    dest: choice_appointment",
            "sources: [referred]\n    dest: choice_appt",
        ),
        ("sources: [choice_appointment]\n", "sources: [choice_appt]\n"),
        (
            "sources: [choice_appointment, brief_enablement]",
            "sources: [choice_appt, brief_enablement]",
        ),
        (
            "{id: specialist_support, holder: cmht, task: specialist_support}",
            "{id: cmht_support, holder: cmht, task: specialist_support}",
        ),
        ("dest: specialist_support", "dest: cmht_support"),
        (
            "sources: [specialist_support, mha_assessment]",
            "sources: [cmht_support, mha_assessment]",
        ),
        ("time_limit_days: 42", "time_limit_days: 28"),
        (
            "    dest: closed\n    holder: actor\n",
            "    dest: closed\n    holder: actor\n    guards:\n"
            "      - {guard: data_present, params: {fields: [closure_reason]}}\n",
        ),
    ]
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


V2_TEXT = _v2_text()
ADMIN = pathway.Actor("admin-1", "hub")
REASON = "version 2 renames the choice appointment and CMHT support"
MAPS = ("choice_appointment=choice_appt:cmht", "specialist_support=cmht_support")
PLAN = {"enablement_plan": "one page"}


@pytest.fixture
def v1() -> pathway.Pathway:
    return pathway.load_pathway(MINIMAL)


@pytest.fixture
def v2(tmp_path: Path) -> pathway.Pathway:
    path = tmp_path / "minimal-v2.yaml"
    path.write_text(V2_TEXT)
    return pathway.load_pathway(path)


def _scenario(engine: pathway.Engine, clock: FakeClock) -> None:
    """Cases A-F of the module's docstring, an hour apart."""
    for case_id in "ABCDEF":
        engine.open_case(case_id, HUB)
        clock.advance(hours=1)
    for case_id in "BCDEF":
        engine.fire(case_id, "book_choice_appointment", LETS)
        clock.advance(hours=1)
    for case_id in "CDF":
        engine.fire(case_id, "refer_to_cmht", LETS)
        clock.advance(hours=1)
    for case_id in "DF":
        engine.fire(case_id, "accept_handoff", CMHT)
        clock.advance(hours=1)
    engine.fire("E", "start_enablement", LETS, data=PLAN)
    clock.advance(hours=1)
    engine.fire("F", "close", CMHT)
    clock.advance(hours=1)


def _open_store(store_factory: Backend) -> Any:
    return store_factory.open(store_factory.location())


# --- recording the definition ---------------------------------------------------------------


def test_a_store_made_by_open_store_records_its_pathway(
    store_factory: Backend, v1: pathway.Pathway, clock: FakeClock
) -> None:
    store = _open_store(store_factory)
    try:
        assert recorded_definition(store, "minimal") is None
        engine = pathway.Engine(v1, store, clock=clock)
        assert engine.definition_changes is not None and engine.definition_changes.first
        recorded = recorded_definition(store, "minimal")
        assert recorded is not None
        assert (recorded.pathway_id, recorded.version) == ("minimal", "1")
        assert recorded.fingerprint == fingerprint(summarise(v1))
        assert recorded.recorded_at == "2026-01-05T09:00:00.000000+00:00"
        assert set(recorded.definition["states"]) == set(v1.states)
        # the same definition again: nothing changed, nothing written
        head = store.checkpoint()
        assert pathway.Engine(v1, store, clock=clock).definition_changes is None
        assert store.checkpoint() == head
    finally:
        store.close()


def test_titles_and_descriptions_do_not_count_as_changes(
    v1: pathway.Pathway, tmp_path: Path
) -> None:
    path = tmp_path / "retitled.yaml"
    path.write_text(V1_TEXT.replace("title: Minimal example pathway", "title: Renamed"))
    retitled = pathway.load_pathway(path)
    assert retitled.title != v1.title
    assert fingerprint(summarise(retitled)) == fingerprint(summarise(v1))


def test_the_changes_are_named(v1: pathway.Pathway, v2: pathway.Pathway) -> None:
    changes = compare(summarise(v1), summarise(v2))
    assert (changes.old_version, changes.new_version, changes.first) == ("1", "2", False)
    assert changes.states_added == ("choice_appt", "cmht_support")
    assert changes.states_removed == ("choice_appointment", "specialist_support")
    assert changes.states_changed == ("brief_enablement (time_limit_days 42 -> 28)",)
    assert changes.teams_added == changes.teams_removed == changes.teams_changed == ()
    assert changes.transitions_added == changes.transitions_removed == ()
    assert set(changes.transitions_changed) == {
        "book_choice_appointment (dest choice_appointment -> choice_appt)",
        "start_enablement (sources +choice_appt -choice_appointment)",
        "refer_to_cmht (sources +choice_appt -choice_appointment)",
        "accept_handoff (dest specialist_support -> cmht_support)",
        "close (sources +cmht_support -specialist_support)",
        # sources "*": every state of the definition
        "request_mha_assessment (sources +choice_appt +cmht_support -choice_appointment "
        "-specialist_support)",
    }
    assert changes.guards_added == ("close: data_present",)
    assert changes.guards_removed == changes.guards_changed == ()
    assert changes.initial_changed is None and changes.changed
    assert "states removed: choice_appointment, specialist_support" in changes.lines()


def test_a_changed_guard_parameter_is_named(v1: pathway.Pathway, tmp_path: Path) -> None:
    path = tmp_path / "v1b.yaml"
    old = "{guard: data_present, params: {fields: [enablement_plan]}}"
    path.write_text(V1_TEXT.replace(old, old.replace("enablement_plan", "plan")))
    changes = compare(summarise(v1), summarise(pathway.load_pathway(path)))
    assert changes.guards_changed == (
        'start_enablement: data_present (params {"fields":["enablement_plan"]} -> '
        '{"fields":["plan"]})',
    )
    assert not changes.states_changed and not changes.transitions_changed


# --- the whole story, on both stores -----------------------------------------------------------


def _applied(store: Any) -> dict[str, list[pathway.AuditEvent]]:
    by_case: dict[str, list[pathway.AuditEvent]] = {}
    for event in store.events():
        if event.outcome == "applied":
            by_case.setdefault(event.case_id, []).append(event)
    return by_case


def _independent_figures(store: Any) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """Open cases per holding team and handoffs per pair, from the events alone: the holder is
    the newest applied event's team unless that event closed the case; a handoff is a change of
    team between consecutive applied events."""
    holders: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for events in _applied(store).values():
        teams = [e.to_team for e in events if e.to_team]
        pairs.update((a, b) for a, b in itertools.pairwise(teams) if a != b)
        if not events[-1].closes:
            holders[events[-1].to_team or ""] += 1
    return holders, pairs


def test_a_definition_changed_under_open_cases_is_refused_then_migrated(
    store_factory: Backend, v1: pathway.Pathway, v2: pathway.Pathway, clock: FakeClock
) -> None:
    store = _open_store(store_factory)
    try:
        _scenario(pathway.Engine(v1, store, clock=clock), clock)
        head = store.checkpoint()

        # 1. The mismatch is reported, naming what changed and each stranded case; nothing written.
        with pytest.raises(PathwayChanged) as refused:
            pathway.Engine(v2, store, clock=clock)
        message = str(refused.value)
        assert "changed since the store recorded it (version 1 -> 2)" in message
        assert "states removed: choice_appointment, specialist_support" in message
        assert "3 open case(s)" in message
        assert "case B: state 'choice_appointment' is not in version 2" in message
        assert "case D: state 'specialist_support' is not in version 2" in message
        assert "would go back to state 'choice_appointment'" in message  # case C
        assert [c.case_id for c in refused.value.stranded] == ["B", "C", "D"]  # type: ignore[attr-defined]
        assert store.checkpoint() == head
        recorded = recorded_definition(store, "minimal")
        assert recorded is not None and recorded.version == "1"

        # 2. The dry run lists the moves and writes nothing.
        plan = plan_migration(store, v2, MAPS)
        assert plan.ok and not plan.applied
        assert plan.moves == (
            CaseMove("B", "choice_appointment", "choice_appt", "lets", "cmht", "1", "2"),
            CaseMove(
                "C",
                "cmht_offered",
                "cmht_offered",
                "lets",
                "lets",
                "1",
                "2",
                (("choice_appointment", "choice_appt"),),
            ),
            CaseMove("D", "specialist_support", "cmht_support", "cmht", "cmht", "1", "2"),
        )
        assert store.checkpoint() == head

        # 3. The migration moves every stranded case with its audit event, all in one go.
        clock.advance(hours=1)
        done = migrate_cases(store, v2, MAPS, ADMIN, REASON, clock=clock)
        assert done.applied and done.moves == plan.moves
        assert done.positions == (head.position + 1, head.position + 2, head.position + 3)
        moved = {e.case_id: e for e in store.events() if e.trigger == MIGRATION_TRIGGER}
        assert sorted(moved) == ["B", "C", "D"]
        for _case_id, event in moved.items():
            assert (event.actor_id, event.actor_team, event.note) == ("admin-1", "hub", REASON)
            assert event.outcome == "applied" and event.occurred_at == clock.now
            assert (event.pathway_id, event.pathway_version) == ("minimal", "2")
            assert event.data["migration"]["from_version"] == "1"
            assert event.data["migration"]["to_version"] == "2"
        assert moved["B"].data["migration"]["map"] == ["choice_appointment=choice_appt:cmht"]
        assert moved["D"].data["migration"]["map"] == ["specialist_support=cmht_support"]
        assert (moved["B"].from_state, moved["B"].to_state) == ("choice_appointment", "choice_appt")
        assert (moved["B"].from_team, moved["B"].to_team) == ("lets", "cmht")
        assert (moved["B"].from_organisation, moved["B"].to_organisation) == ("council", "trust")

        b, c, d = store.case("B"), store.case("C"), store.case("D")
        assert (b.state, b.team, b.organisation, b.worker, b.version) == (
            "choice_appt", "cmht", "trust", None, 3,
        )  # fmt: skip
        assert (c.state, c.team, c.worker) == ("cmht_offered", "lets", "w-lets")
        assert [(p.state, p.team) for p in c.return_stack] == [("choice_appt", "cmht")]
        assert (d.state, d.team, d.version) == ("cmht_support", "cmht", 5)
        assert store.case("A").state == "referred" and store.case("E").state == "brief_enablement"

        # 4. The chain verifies, and the case rows and derived rows match the events.
        result = store.verify()
        assert result.ok and result.derived, result.problems
        assert result.events == head.position + 3

        # case.pathway_version agrees with the case's newest applied event
        applied = _applied(store)
        for case in store.cases():
            assert case.pathway_version == applied[case.id][-1].pathway_version, case.id
            assert case.version == len(applied[case.id])
        assert {c.id: c.pathway_version for c in store.cases()} == {
            "A": "1", "B": "2", "C": "2", "D": "2", "E": "1", "F": "1",
        }  # fmt: skip

        # 5. Reports agree with an independent computation (and with the hand-worked figures).
        scope = Scope(as_of=clock.now + timedelta(days=1))
        caseload = caseload_report(store.connection, scope)
        by_team = {row.team: row.cases for row in caseload.by_team}
        holders, pairs = _independent_figures(store)
        assert by_team == dict(holders) == {"hub": 1, "lets": 2, "cmht": 2}
        assert caseload.open_cases == 5
        handoffs = handoffs_report(store.connection, scope)
        assert {(p.from_team, p.to_team): p.count for p in handoffs.by_pair} == dict(pairs)
        assert dict(pairs) == {("hub", "lets"): 5, ("lets", "cmht"): 3}
        assert handoffs.handoffs == 8

        # 6. The store opens on version 2 now, which is recorded, and the cases move on under it.
        engine = pathway.Engine(v2, store, clock=clock)
        assert engine.definition_changes is None
        recorded = recorded_definition(store, "minimal")
        assert recorded is not None and recorded.version == "2"
        clock.advance(hours=1)
        after = engine.fire("C", "decline_handoff", CMHT, data={"decline_reason": "full"})
        assert (after.state, after.team) == ("choice_appt", "cmht")  # the mapped return point
        after = engine.fire("A", "book_choice_appointment", LETS)
        assert (after.state, after.pathway_version) == ("choice_appt", "2")
        assert store.verify().ok
    finally:
        store.close()


def test_a_migration_that_leaves_a_case_stranded_writes_nothing(
    store_factory: Backend, v1: pathway.Pathway, v2: pathway.Pathway, clock: FakeClock
) -> None:
    store = _open_store(store_factory)
    try:
        _scenario(pathway.Engine(v1, store, clock=clock), clock)
        head = store.checkpoint()
        before = list(store.cases())
        plan = plan_migration(store, v2, ["choice_appointment=choice_appt"])
        assert [m.case_id for m in plan.moves] == ["B", "C"]
        assert [c.case_id for c in plan.left_stranded] == ["D"]
        assert not plan.ok
        with pytest.raises(PathwayChanged, match="case D: state 'specialist_support'"):
            migrate_cases(store, v2, ["choice_appointment=choice_appt"], ADMIN, REASON, clock=clock)
        assert store.checkpoint() == head
        assert list(store.cases()) == before
        recorded = recorded_definition(store, "minimal")
        assert recorded is not None and recorded.version == "1"
    finally:
        store.close()


def test_a_change_that_strands_nothing_is_accepted_and_recorded(
    store_factory: Backend, v1: pathway.Pathway, v2: pathway.Pathway, clock: FakeClock
) -> None:
    store = _open_store(store_factory)
    try:
        engine = pathway.Engine(v1, store, clock=clock)
        engine.open_case("A", HUB)
        engine.open_case("E", HUB)
        clock.advance(hours=1)
        engine.fire("E", "book_choice_appointment", LETS)
        clock.advance(hours=1)
        engine.fire("E", "start_enablement", LETS, data=PLAN)  # leaves choice_appointment
        engine2 = pathway.Engine(v2, store, clock=clock)
        changes = engine2.definition_changes
        assert changes is not None and changes.changed and changes.old_version == "1"
        assert changes.states_removed == ("choice_appointment", "specialist_support")
        recorded = recorded_definition(store, "minimal")
        assert recorded is not None and recorded.version == "2"
        assert recorded.fingerprint == fingerprint(summarise(v2))
        # the old definition now strands nothing either way round... until a case is in a state
        # version 1 lacks
        clock.advance(hours=1)
        engine2.fire("A", "book_choice_appointment", LETS)
        with pytest.raises(PathwayChanged, match="case A: state 'choice_appt' is not in version 1"):
            pathway.Engine(v1, store, clock=clock)
    finally:
        store.close()


def test_a_store_from_before_definitions_were_recorded(
    store_factory: Backend, v1: pathway.Pathway, v2: pathway.Pathway, clock: FakeClock
) -> None:
    location = store_factory.location()
    store = store_factory.open(location)
    try:
        _scenario(pathway.Engine(v1, store, clock=clock), clock)
    finally:
        store.close()
    with store_factory.raw(location) as raw:  # as a store written before this feature
        raw.execute(
            f"DELETE FROM meta WHERE key IN ('{META_PREFIX}minimal', '{STAMP_PREFIX}minimal')"
        )
    store = store_factory.open(location)
    try:
        with pytest.raises(PathwayChanged, match="version 2 has no place for open cases"):
            check_definition(store, v2)
        assert check_definition(store, v1, clock=clock) is not None  # recorded now
        recorded = recorded_definition(store, "minimal")
        assert recorded is not None and recorded.version == "1"
    finally:
        store.close()


IMPORTED_LOG = """case_id,occurred_at,state,team
X1,2025-11-03T09:00:00Z,waiting_list,hub
X2,2025-11-03T10:00:00Z,referred,hub
X2,2025-11-04T10:00:00Z,choice_appointment,lets
"""
"""Another system's history: X1 waits in a state no definition has; X2 is in version 1's
``choice_appointment``."""


def test_imported_history_is_stranded_only_by_what_the_change_removed(
    store_factory: Backend, v1: pathway.Pathway, v2: pathway.Pathway, clock: FakeClock
) -> None:
    from pathway.importer import import_events

    store = _open_store(store_factory)
    try:
        import_events(store, "log.csv", text=IMPORTED_LOG, pathway=v1)
        # No definition recorded yet: imported cases are left out, so version 2 is accepted...
        changes = pathway.Engine(v2, store, clock=clock).definition_changes
        assert changes is not None and changes.first
    finally:
        store.close()

    store = store_factory.open(store_factory.location("second"))
    try:
        pathway.Engine(v1, store, clock=clock)  # version 1 recorded first, this time
        import_events(store, "log.csv", text=IMPORTED_LOG, pathway=v1)
        # ...whereas against recorded version 1, X2's choice_appointment is a state version 2
        # removed; X1's waiting_list was never a state of version 1, so no change strands it.
        with pytest.raises(PathwayChanged) as refused:
            pathway.Engine(v2, store, clock=clock)
        assert [c.case_id for c in refused.value.stranded] == ["X2"]  # type: ignore[attr-defined]
        plan = plan_migration(store, v2, ["choice_appointment=choice_appt"])
        assert plan.ok and [m.case_id for m in plan.moves] == ["X2"]
        migrate_cases(store, v2, ["choice_appointment=choice_appt"], ADMIN, REASON, clock=clock)
        assert pathway.Engine(v2, store, clock=clock).definition_changes is None
        assert store.case("X1").state == "waiting_list"
        assert store.case("X2").state == "choice_appt"
        result = store.verify()
        assert result.ok and result.derived, result.problems
    finally:
        store.close()


def test_a_read_only_session_checks_without_recording(
    store_factory: Backend, v1: pathway.Pathway, v2: pathway.Pathway, clock: FakeClock
) -> None:
    if store_factory.name != "postgres":
        pytest.skip(
            "a read-only session is PostgreSQL's (a read-only SQLite file: test_store_errors)"
        )
    location = store_factory.location()
    with store_factory.open(location) as store:
        pathway.Engine(v1, store, clock=clock).open_case("A", HUB)
    read_only = location + "&options=-cdefault_transaction_read_only%3Don"
    with pathway.open_store(read_only, create=False) as store:
        changes = pathway.Engine(v2, store, clock=clock).definition_changes
        assert changes is not None and changes.states_removed  # checked: A strands nothing
        recorded = recorded_definition(store, "minimal")
        assert recorded is not None and recorded.version == "1"  # and nothing recorded
    with store_factory.open(location) as store:
        clock.advance(hours=1)
        pathway.Engine(v1, store, clock=clock).fire("A", "book_choice_appointment", LETS)
    with (
        pathway.open_store(read_only, create=False) as store,
        pytest.raises(PathwayChanged, match="case A: state 'choice_appointment'"),
    ):
        pathway.Engine(v2, store, clock=clock)


def test_bad_maps_are_refused_naming_the_map(
    store_factory: Backend, v1: pathway.Pathway, v2: pathway.Pathway, clock: FakeClock
) -> None:
    store = _open_store(store_factory)
    try:
        _scenario(pathway.Engine(v1, store, clock=clock), clock)
        head = store.checkpoint()
        cases = {
            "choice_appointment=nowhere": "has no state 'nowhere'",
            "choice_appointment=closed": "'closed' is a final state",
            "choice_appointment=choice_appt:nobody": "has no team 'nobody'",
            "choice_apointment=choice_appt": "no open case is in state 'choice_apointment'",
            "choice_appointment=cmht_offered": "'cmht_offered' is an offer state",
            "choice_appointment": "expected OLD=NEW or OLD=NEW:TEAM",
            "choice_appointment=choice_appt:": "expected OLD=NEW or OLD=NEW:TEAM",
        }
        for item, problem in cases.items():
            with pytest.raises(InvalidRequest, match=problem) as raised:
                migrate_cases(store, v2, [item, *MAPS[1:]], ADMIN, REASON, clock=clock)
            assert item in str(raised.value)
        with pytest.raises(InvalidRequest, match="not \\('a', 'b'\\)"):
            plan_migration(store, v2, [("a", "b")])  # type: ignore[list-item]
        single = plan_migration(store, v2, "choice_appointment=choice_appt")  # one map as text
        assert [m.case_id for m in single.moves] == ["B", "C"]
        with pytest.raises(InvalidRequest, match="mapped twice"):
            plan_migration(store, v2, [*MAPS, "choice_appointment=choice_appt"])
        with pytest.raises(InvalidRequest, match="needs a reason"):
            migrate_cases(store, v2, MAPS, ADMIN, "  ", clock=clock)
        with pytest.raises(InvalidRequest, match="unknown team"):
            migrate_cases(store, v2, MAPS, pathway.Actor("a", "nowhere"), REASON, clock=clock)
        assert store.checkpoint() == head
    finally:
        store.close()


def test_parse_map() -> None:
    assert parse_map("a=b") == StateMap("a", "b")
    assert parse_map(" a = b : t ") == StateMap("a", "b", "t")
    assert str(StateMap("a", "b", "t")) == "a=b:t"
    for bad in ("", "a", "=b", "a=", "a=:t"):
        with pytest.raises(InvalidRequest):
            parse_map(bad)


# --- the command line ------------------------------------------------------------------------


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_command_line_reports_the_change_dry_runs_and_migrates(tmp_path: Path) -> None:
    definition = tmp_path / "council.yaml"
    definition.write_text(V1_TEXT)
    assert _run("init", "--pathway", str(definition), cwd=tmp_path).returncode == 0
    steps = [
        ("case", "open", "B", "--actor", "w-hub", "--team", "hub"),
        ("case", "fire", "B", "book_choice_appointment", "--actor", "w-lets", "--team", "lets"),
    ]
    for step in steps:
        done = _run(*step, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    definition.write_text(V2_TEXT)  # the council edits its definition in place

    refused = _run("case", "triggers", "B", "--actor", "w-lets", "--team", "lets", cwd=tmp_path)
    assert refused.returncode == 2
    assert "case B: state 'choice_appointment' is not in version 2" in refused.stderr
    assert "pathway migrate-cases --map" in refused.stderr
    assert "Traceback" not in refused.stderr

    admin = ("--actor", "admin-1", "--team", "hub", "--reason", "v2")
    dry = _run(
        "migrate-cases", "--map", "choice_appointment=choice_appt", "--dry-run", *admin,
        "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    shown = json.loads(dry.stdout)
    assert shown["dry_run"] is True and shown["left_stranded"] == []
    assert [(m["case"], m["from_state"], m["to_state"]) for m in shown["moves"]] == [
        ("B", "choice_appointment", "choice_appt")
    ]
    assert "states removed: choice_appointment, specialist_support" in shown["changes"]
    history = _run("case", "history", "B", "--format", "json", cwd=tmp_path)
    assert len(json.loads(history.stdout)) == 2  # the dry run wrote nothing

    bad = _run("migrate-cases", "--map", "choice_appointment=nowhere", *admin, cwd=tmp_path)
    assert bad.returncode == 2 and "has no state 'nowhere'" in bad.stderr

    done = _run("migrate-cases", "--map", "choice_appointment=choice_appt", *admin, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Moved 1 case(s) to pathway minimal version 2" in done.stderr
    assert "choice_appt" in done.stdout
    verify = _run("audit", "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stderr
    events = json.loads(_run("case", "history", "B", "--format", "json", cwd=tmp_path).stdout)
    assert [e["trigger"] for e in events] == ["open", "book_choice_appointment", MIGRATION_TRIGGER]
    assert events[-1]["note"] == "v2" and events[-1]["pathway_version"] == "2"
    moved = _run(
        "case", "fire", "B", "start_enablement", "--actor", "w-lets", "--team", "lets",
        "--set", "enablement_plan=plan", "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["pathway_version"] == "2"


def test_the_http_service_refuses_to_start_until_the_cases_are_migrated(
    store_factory: Backend, v1: pathway.Pathway, tmp_path: Path
) -> None:
    """``pathway serve`` opens its pathway at start-up: a changed definition stranding cases
    stops it there; a thread's engine made later (the file edited under a running service)
    answers 503 pathway-changed, not a 400 blaming the request."""
    pytest.importorskip("fastapi")
    from server_helpers import client, running

    from pathway.server import ServerSettings, create_app
    from pathway.server.problems import from_library
    from pathway.tokens import create_token

    location = store_factory.location("srv")
    with store_factory.open(location) as store:
        engine = pathway.Engine(v1, store)
        engine.open_case("B", HUB)
        engine.fire("B", "book_choice_appointment", LETS)
        _record, token = create_token(
            store, worker="w-lets", team="lets", created_by="admin", teams=list(v1.teams)
        )
    v2_file = tmp_path / "v2.yaml"
    v2_file.write_text(V2_TEXT)
    settings = ServerSettings(db=location, pathway=str(v2_file))
    with pytest.raises(PathwayChanged) as refused:
        create_app(settings)
    problem = from_library(refused.value)
    assert (problem.status, problem.kind) == (503, "pathway-changed")
    assert "1 open case(s) have no place" in problem.detail
    assert problem.body()["stranded"] == ["case B: state 'choice_appointment' is not in version 2"]

    with store_factory.open(location) as store:
        migrate_cases(
            store, pathway.load_pathway(v2_file), ["choice_appointment=choice_appt"], ADMIN, REASON
        )
    with running(settings) as base, client(base, token) as http:
        answer = http.get("/cases/B")
        assert answer.status_code == 200 and answer.json()["state"] == "choice_appt"


def test_the_benchmark_still_runs(tmp_path: Path) -> None:
    """benchmarks/bench_versioning.py at a tiny size (its figures mean nothing here; speed is
    the benchmark's to report, never a test's)."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_versioning.py"
    done = subprocess.run(
        [sys.executable, str(script), "--cases", "40", "--moves", "5", "--rounds", "1",
         "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for line in ("engine: median", "check: median", "migrate (per case): median"):
        assert line in done.stdout
