"""The passed-around figures (pathway.passes) in the handoffs report.

Part one: the shipped sample cases, each figure worked out by hand from the sample's steps.
Part two: small logs imported with a trigger column (the imported-log path), worked by hand,
including the window, a team, an offer still pending at as-of, an interruption that ends in an
admission, and a re-referral. Part three: an independent reference, written from the
definitions in docs/reports.md without pathway.passes, on random walks through the shipped
pathway driven by the engine, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import SESSION_PREFIX, PostgresBackend
from report_helpers import at
from sample_store import play_samples

import pathway
from pathway.errors import TransitionRefused
from pathway.importer import import_events
from pathway.reports import Scope, handoffs_report, write_handoffs_json
from pathway.validation import load_schema

BARNET = pathway.load_pathway("barnet-enablement")


def report(store: Any, as_of: str, **options: Any) -> dict[str, Any]:
    scope = Scope(
        at(as_of),
        since=at(options["since"]) if "since" in options else None,
        until=at(options["until"]) if "until" in options else None,
        team=options.get("team"),
    )
    data = json.loads(json.dumps(handoffs_report(store.connection, scope, BARNET).to_json()))
    jsonschema.validate(data, load_schema("report_handoffs"))
    return data


def by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["case_id"]: row for row in data["by_case"]}


# --- part one: the shipped samples ------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, datetime]]:
    store, latest = play_samples(tmp_path_factory.mktemp("passes") / "samples.db")
    yield store, latest
    store.close()


def test_s03_is_the_most_passed_around_sample(samples: tuple[Any, datetime]) -> None:
    """BEP-S03: five offers, three declined (LETs, CMHT, LETs), no transfer reversed; the days
    in offers, from its steps: 3 Feb 12:00 - 9 Feb 16:30 (6.1875), 10 Feb 10:00 - 12 Feb 14:00
    (2.1667), 16 Feb 11:00 - 27 Feb 15:00 (11.1667), 2 Mar 09:30 - 9 Mar 17:00 (7.3125),
    16 Mar 10:00 - 18 Mar 11:00 (2.0417): 28.875 days. It heads the list."""
    store, latest = samples
    data = report(store, latest.isoformat()[:16])
    s03 = by_id(data)["BEP-S03"]
    assert (s03["offers"], s03["offers_declined"], s03["ping_pongs"], s03["passes"]) == (5, 3, 0, 3)
    assert s03["interruptions"] == 0
    assert s03["days_between_teams"] == pytest.approx(28.875)
    assert data["by_case"][0]["case_id"] == "BEP-S03"
    assert s03["handoffs"] == 2  # hub -> triage -> lets: the handoffs figure is unchanged


def test_interruptions_are_neither_passes_nor_ping_pongs(samples: tuple[Any, datetime]) -> None:
    """S06 (carer's assessment), S09 and S11 (safeguarding), S12 (AMHP assessment) each take the
    case aside and give it back: counted as interruptions, never as passes or ping-pongs. S11's
    one pass is its declined Network offer."""
    store, latest = samples
    cases = by_id(report(store, latest.isoformat()[:16]))
    for case_id in ("BEP-S06", "BEP-S09", "BEP-S11", "BEP-S12"):
        row = cases[case_id]
        assert row["interruptions"] >= 1, case_id
        assert row["ping_pongs"] == 0, case_id
    assert [cases[c]["passes"] for c in ("BEP-S06", "BEP-S09", "BEP-S12")] == [0, 0, 0]
    assert (cases["BEP-S11"]["passes"], cases["BEP-S11"]["offers_declined"]) == (1, 1)


def test_no_first_allocation_is_a_pass(samples: tuple[Any, datetime]) -> None:
    """Every case's first allocation from the hub is no pass: a case whose offers were all
    accepted and never sent back has no passes; S10's re-referral starts a new sequence, so its
    second allocation to the LETs is no ping-pong; S04's CMHT -> Network -> CMHT is one reversed
    transfer. Every case's passes are its declines plus its ping-pongs."""
    store, latest = samples
    cases = by_id(report(store, latest.isoformat()[:16]))
    for case_id, row in cases.items():
        assert row["passes"] == row["offers_declined"] + row["ping_pongs"], case_id
    for case_id in ("BEP-S01", "BEP-S02", "BEP-S07", "BEP-S10"):
        assert (cases[case_id]["passes"], cases[case_id]["ping_pongs"]) == (0, 0), case_id
    assert (cases["BEP-S04"]["passes"], cases["BEP-S04"]["ping_pongs"]) == (1, 1)


def test_totals_add_up_and_the_stream_gives_the_same_json(samples: tuple[Any, datetime]) -> None:
    """The totals are the sums of the cases', by_offer adds up to them, and the streamed JSON
    (the CLI's) is the same text as the report's."""
    store, latest = samples
    data = report(store, latest.isoformat()[:16])
    for key in ("offers", "offers_declined", "interruptions", "passes", "ping_pongs"):
        assert data[key] == sum(row[key] for row in data["by_case"]), key
    assert data["days_between_teams"] == pytest.approx(
        sum(row["days_between_teams"] for row in data["by_case"])
    )
    assert data["offers"] == sum(o["offered"] for o in data["by_offer"])
    assert data["offers_declined"] == sum(o["declined"] for o in data["by_offer"])
    assert data["events_without_trigger"] == 0
    import io

    out = io.StringIO()
    scope = Scope(latest)
    write_handoffs_json(store.connection, scope, out, BARNET)
    assert out.getvalue() == json.dumps(
        handoffs_report(store.connection, scope, BARNET).to_json(), ensure_ascii=False
    )


# --- part two: logs imported with their triggers -------------------------------------------------

HEADER = "case_id,occurred_at,state,team,trigger\n"

# c1: a referral offered three times; the second offer accepted, the third pending at as-of.
C1 = """c1,2026-01-01,referral,hub,gp_refer
c1,2026-01-02,offered_to_lets,hub,offer_choice_appointment
c1,2026-01-05,referral,hub,decline_handoff
c1,2026-01-06,offered_to_triage,hub,refer_to_triage
c1,2026-01-08,trust_triage,triage,accept_handoff
c1,2026-01-10,offered_to_cmht,triage,offer_specialist_support
"""

# c2: an allocation, a safeguarding enquiry, a transfer reversed (CMHT -> Network -> CMHT), an
# AMHP assessment with no detention, a closure and a re-referral allocated to the LETs again.
C2 = """c2,2026-01-01,referral,hub,self_refer
c2,2026-01-02,offered_to_lets,hub,offer_choice_appointment
c2,2026-01-03,choice_appointment,lets,accept_handoff
c2,2026-01-04,safeguarding,network,raise_safeguarding
c2,2026-01-06,choice_appointment,lets,conclude_safeguarding
c2,2026-01-07,choice_meeting,lets,book_choice_meeting
c2,2026-01-08,offered_to_cmht,lets,offer_specialist_support
c2,2026-01-09,specialist_support,cmht,accept_handoff
c2,2026-01-10,offered_to_network,cmht,offer_standard_enablement
c2,2026-01-11,standard_enablement,network,accept_handoff
c2,2026-01-12,offered_to_cmht,network,offer_specialist_support
c2,2026-01-14,specialist_support,cmht,accept_handoff
c2,2026-01-15,mha_assessment,amhp,start_mha_assessment
c2,2026-01-16,specialist_support,cmht,no_detention
c2,2026-01-17,closed,cmht,close
c2,2026-01-20,contact,hub,re_refer
c2,2026-01-20T01:00,referral,hub,self_refer
c2,2026-01-21,offered_to_lets,hub,offer_choice_appointment
c2,2026-01-22,choice_appointment,lets,accept_handoff
"""

# c3: an AMHP assessment at first contact, an admission offered to the IET and accepted (the
# interruption ends in a transfer from the hub, not from the AMHP), then an offer declined.
C3 = """c3,2026-01-01,contact,hub,open
c3,2026-01-01T06:00,mha_assessment,amhp,start_mha_assessment
c3,2026-01-02,offered_hospital_social_work,amhp,detain_section_2
c3,2026-01-03,hospital_social_work,iet,accept_handoff
c3,2026-01-10,offered_to_lets,iet,offer_choice_appointment
c3,2026-01-12,hospital_social_work,iet,decline_handoff
"""

# c4: a CMHT patient assessed by an AMHP; the admission offered to the IET waits while a step is
# recorded on it, then the IET declines, no detention, and the CMHT records a step: the AMHP
# held the case only while it was aside or offered, so nothing here is a transfer.
C4 = """c4,2026-01-01,specialist_support,cmht,open
c4,2026-01-02,mha_assessment,amhp,start_mha_assessment
c4,2026-01-02T06:00,offered_hospital_social_work,amhp,detain_section_2
c4,2026-01-02T08:00,offered_hospital_social_work,amhp,placement_start
c4,2026-01-03,mha_assessment,amhp,decline_handoff
c4,2026-01-03T06:00,specialist_support,cmht,no_detention
c4,2026-01-04,specialist_support,cmht,placement_start
"""


@pytest.fixture
def imported() -> Iterator[Any]:
    store = pathway.open_store(":memory:")
    import_events(store, "x.csv", text=HEADER + C1 + C2 + C3 + C4, pathway=BARNET)
    yield store
    store.close()


def test_handworked_imported_log(imported: Any) -> None:
    """c1: offers on the 2nd, 6th and 10th (3), one declined; 3 + 2 days in the first two offers
    and 10 in the pending one up to as-of (the 20th): 15 days; no transfer reversed.
    c2: offers on the 2nd, 8th, 10th, 12th and 21st (5), none declined; one day in each but the
    12th's (2): 6 days; two interruptions; transfers hub -> lets -> cmht -> network -> cmht, of
    which the last is a ping-pong (1 pass); after the closure the re-referral starts again at the
    hub, so the LETs' second allocation is no ping-pong. Holding changes are still 10 handoffs.
    c3: the AMHP's offer of the admission to the IET and the IET's offer to the LETs (2), the
    second declined (1 pass); 1 + 2 days; one interruption.
    c4: one offer (the admission) declined, one interruption, no transfer and so no ping-pong."""
    data = report(imported, "2026-01-20")
    cases = by_id(data)
    c1, c3 = cases["c1"], cases["c3"]
    assert (c1["offers"], c1["offers_declined"], c1["ping_pongs"], c1["passes"]) == (3, 1, 0, 1)
    assert c1["days_between_teams"] == pytest.approx(15.0)
    assert (c3["offers"], c3["offers_declined"], c3["interruptions"], c3["passes"]) == (2, 1, 1, 1)
    assert c3["days_between_teams"] == pytest.approx(3.0)
    assert c3["ping_pongs"] == 0
    c4 = cases["c4"]
    assert (c4["offers"], c4["offers_declined"], c4["interruptions"]) == (1, 1, 1)
    assert (c4["ping_pongs"], c4["passes"]) == (0, 1)
    assert c4["days_between_teams"] == pytest.approx(0.75)  # the 2nd 06:00 to the 3rd
    c2 = by_id(report(imported, "2026-01-23"))["c2"]
    assert (c2["offers"], c2["offers_declined"], c2["interruptions"]) == (5, 0, 2)
    assert (c2["ping_pongs"], c2["passes"], c2["handoffs"]) == (1, 1, 10)
    assert c2["days_between_teams"] == pytest.approx(6.0)


def test_the_window_counts_events_in_it_and_clips_days(imported: Any) -> None:
    """c1 from the 4th to the 15th (as of the 20th): the decline on the 5th and the offers on the
    6th and 10th count (2 offers, 1 declined); days: the first offer's 4th-5th (1), the second
    (2), the pending third's 10th-15th (5): 8."""
    c1 = by_id(report(imported, "2026-01-20", since="2026-01-04", until="2026-01-15"))["c1"]
    assert (c1["offers"], c1["offers_declined"], c1["passes"]) == (2, 1, 1)
    assert c1["days_between_teams"] == pytest.approx(8.0)


def test_a_team_counts_what_concerns_it(imported: Any) -> None:
    """With --team cmht: c2's offers from and to the CMHT (8th, 10th, 12th: 3, with 1 + 1 + 2
    days), the reversed transfer back to it, its AMHP interruption (the CMHT was the responsible
    team), not the safeguarding enquiry it had no part in, nor the hub's offers to the LETs. The
    cases are those the CMHT held or handed on (as for every figure of the report): c1, only
    offered to it, and c3 are not among them."""
    cases = by_id(report(imported, "2026-01-23", team="cmht"))
    c2 = cases["c2"]
    assert (c2["offers"], c2["ping_pongs"], c2["interruptions"], c2["passes"]) == (3, 1, 1, 1)
    assert c2["days_between_teams"] == pytest.approx(4.0)
    assert set(cases) == {"c2", "c4"}
    lets = by_id(report(imported, "2026-01-23", team="lets"))
    # The LETs held only c2 (c1 and c3 were offered to them and declined): its offers to and
    # from them (2nd, 8th, 21st; a day each) and the safeguarding enquiry raised while they held
    # it; not the AMHP assessment of the CMHT's patient.
    assert set(lets) == {"c2"}
    assert (lets["c2"]["offers"], lets["c2"]["interruptions"]) == (3, 1)
    assert lets["c2"]["days_between_teams"] == pytest.approx(3.0)


def test_events_without_triggers_are_counted_as_untold() -> None:
    """A log imported with no trigger column: offers can still be seen from the states, but a
    decline cannot be told from an acceptance, so the report says how many events it could not
    read."""
    store = pathway.open_store(":memory:")
    text = "case_id,occurred_at,state,team\n" + "\n".join(
        ",".join(line.split(",")[:4]) for line in C1.strip().splitlines()
    )
    import_events(store, "x.csv", text=text, pathway=BARNET)
    data = report(store, "2026-01-20")
    assert data["events_without_trigger"] == 5  # every event after the first
    assert data["offers"] == 3 and data["offers_declined"] == 0
    store.close()


# --- part three: an independent reference on random walks ----------------------------------------


def _guard_fields(compiled: pathway.Pathway) -> set[str]:
    return {
        str(field)
        for t in compiled.transitions
        for g in t.guards
        if g.name == "data_present"
        for field in g.params.get("fields", ())
    }


def _interrupts(trigger: str) -> bool:
    return any(t.interrupt for t in BARNET.triggers[trigger])


def random_walks(store: Any, cases: int, seed: int) -> datetime:
    """Drive ``cases`` cases through the shipped pathway by random allowed steps (placement steps
    aside), with every actor that may act; return the newest event's time."""
    rng = random.Random(seed)
    engine = pathway.Engine(BARNET, store)
    actors = [
        pathway.Actor(f"w-{team}", team, ("amhp",) if team == "amhp" else ())
        for team in BARNET.teams
    ]
    data = {
        f: "2026-01-01" if f.endswith(("_start", "_date")) else "x" for f in _guard_fields(BARNET)
    }
    newest = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(cases):
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 2000))
        case_id = f"r{n:04d}"
        engine.open_case(case_id, actors[0], at=when)
        for _ in range(rng.randrange(3, 25)):
            when += timedelta(hours=rng.randrange(1, 400))
            options = [
                (d.trigger, actor)
                for actor in actors
                for d in engine.available(case_id, actor, at=when, data=data)
                if d.allowed and BARNET.placement_action(d.trigger) is None
            ]
            if not options:
                break
            # Interruptions may start from almost anywhere: take them now and then only, so the
            # walks also move cases on, and back.
            onward = [o for o in options if not _interrupts(o[0])]
            trigger, actor = rng.choice(onward if onward and rng.random() < 0.85 else options)
            try:
                engine.fire(case_id, trigger, actor, at=when, data=data)
            except TransitionRefused:  # pragma: no cover - available() said it was allowed
                raise
            newest = max(newest, when)
    return newest


def reference(
    events: list[Any], compiled: pathway.Pathway, start: float, end: float, team: str | None
) -> dict[str, dict[str, Any]]:
    """Every case's figures, from docs/reports.md's definitions, reading each event's transition
    from the definition (not pathway.passes): the responsible team is the holder after any event
    that leaves the case outside interruptions and offers (and nobody after a closure)."""
    offers_of = {n: s.offer_to for n, s in compiled.states.items() if s.offer_to}
    aside = compiled.interruption_states

    def transition(e: Any) -> Any:
        for t in compiled.triggers.get(e.trigger, ()):
            if e.from_state in t.sources or "*" in t.sources:
                return t
        return None

    def concerns(*teams: Any) -> bool:
        return team is None or team in teams

    result: dict[str, dict[str, Any]] = {}
    by_case: dict[str, list[Any]] = {}
    for e in events:
        if e.outcome == "applied":
            by_case.setdefault(e.case_id, []).append(e)
    for case_id, case_events in by_case.items():
        case_events.sort(key=lambda e: e.seq)
        row = {
            "offers": 0,
            "offers_declined": 0,
            "interruptions": 0,
            "ping_pongs": 0,
            "seconds": 0.0,
        }
        sequence: list[str] = []
        for i, e in enumerate(case_events):
            t = e.occurred_at.timestamp()
            inside = start <= t <= end
            move = transition(e) if e.from_state is not None else None
            if inside and move is not None:
                if e.from_state in offers_of and move.returns:
                    if concerns(e.to_team, offers_of[e.from_state]):
                        row["offers_declined"] += 1
                elif move.interrupt:
                    if concerns(e.from_team, e.to_team, sequence[-1] if sequence else None):
                        row["interruptions"] += 1
                elif (
                    move.handoff
                    and offers_of.get(e.to_state, e.to_team) != e.to_team
                    and concerns(e.to_team, offers_of[e.to_state])
                ):
                    row["offers"] += 1
            if e.to_state in offers_of and not e.closes:
                later = (
                    case_events[i + 1].occurred_at.timestamp() if i + 1 < len(case_events) else end
                )
                sender = e.to_team
                if concerns(sender, offers_of[e.to_state]):
                    row["seconds"] += max(0.0, min(later, end) - max(t, start))
            if e.to_state not in aside and e.to_state not in offers_of and e.to_team is not None:
                if not sequence:
                    sequence.append(e.to_team)
                elif e.to_team != sequence[-1]:
                    back = len(sequence) >= 2 and sequence[-2] == e.to_team
                    if inside and back and concerns(sequence[-1], e.to_team):
                        row["ping_pongs"] += 1
                    sequence.append(e.to_team)
            if e.closes:
                sequence = []
        row["passes"] = row["offers_declined"] + row["ping_pongs"]
        result[case_id] = row
    return result


SCOPES = (
    {},
    {"since": "2026-02-01", "until": "2026-03-15"},
    {"team": "lets"},
    {"team": "cmht", "since": "2026-02-10"},
)


@pytest.mark.parametrize("backend_name", ["sqlite", "postgres"])
def test_against_an_independent_reference(
    backend_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """On 120 random walks through the shipped pathway, every case's figures equal the
    reference's at several scopes, on SQLite and PostgreSQL."""
    backend = None
    if backend_name == "postgres":
        backend = PostgresBackend(request.getfixturevalue("pg_url"), f"{SESSION_PREFIX}_passes")
        store = pathway.open_store(backend.location("walks"))
    else:
        store = pathway.open_store(str(tmp_path / "walks.db"))
    try:
        newest = random_walks(store, 120, seed=7)
        events = list(store.events())
        as_of = newest - timedelta(days=20)
        checked = 0
        whole: dict[str, dict[str, Any]] = {}
        for options in SCOPES:
            scope = Scope(
                as_of,
                since=at(options["since"]) if "since" in options else None,
                until=at(options["until"]) if "until" in options else None,
                team=options.get("team"),
            )
            data = handoffs_report(store.connection, scope, BARNET).to_json()
            expected = reference(
                [e for e in events if e.occurred_at <= as_of],
                BARNET,
                scope.start,
                scope.end,
                scope.team,
            )
            whole = whole or expected
            for row in data["by_case"]:
                want = expected[row["case_id"]]
                got = {
                    k: row[k]
                    for k in ("offers", "offers_declined", "interruptions", "ping_pongs", "passes")
                }
                assert got == {k: want[k] for k in got}, (options, row["case_id"])
                assert row["days_between_teams"] == pytest.approx(want["seconds"] / 86400, abs=1e-9)
                checked += 1
        assert checked > 250
        # The walks do pass people on, interrupt and reverse: the comparison is not of zeros.
        for key in ("offers_declined", "interruptions"):
            assert sum(r[key] for r in whole.values()) >= 5, key
    finally:
        store.close()
        if backend is not None:
            backend.cleanup()
