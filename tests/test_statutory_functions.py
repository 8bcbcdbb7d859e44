"""Statutory functions (S75 accountability): the definition block, and the S75 report's figures.

The loader tests check that a function naming an unknown organisation or trigger is refused with
its JSON pointer. The report tests import small logs (CSV text, with ``trigger``, ``actor`` and
``organisation`` columns) against the minimal example pathway with two functions declared, one the
council's duty and one the trust's, and check each figure against values worked out by hand in the
comments from docs/reports.md (S75, *Statutory functions*). The shipped samples are checked for
the council's functions the CMHT carried out (read off the sample files). Last, a plain-Python
reading of the definition is compared with the report on a seeded generated log, at several
scopes, on SQLite and (when ``PATHWAY_TEST_POSTGRES`` is set) PostgreSQL, whose JSON must be
identical.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import MINIMAL, SESSION_PREFIX, PostgresBackend
from report_helpers import at, load

import pathway
from pathway.reports import Scope, s75_report

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schemas" / "report_s75.schema.json").read_text(encoding="utf-8"))

FUNCTIONS = """
statutory_functions:
  - id: enablement_done
    name: Enablement completed
    duty_of: council
    reference: "Test Act s1"
    triggers: [complete_enablement]
  - id: specialist_decision
    duty_of: trust
    reference: "Test Act s2"
    triggers: [accept_handoff, request_mha_assessment]
"""


@pytest.fixture(scope="module")
def declared(tmp_path_factory: pytest.TempPathFactory) -> pathway.Pathway:
    path = tmp_path_factory.mktemp("functions") / "pathway.yaml"
    path.write_text(MINIMAL.read_text(encoding="utf-8") + FUNCTIONS, encoding="utf-8")
    return pathway.load_pathway(path)


def problems_of(tmp_path: Path, extra: str) -> list[tuple[str, str]]:
    path = tmp_path / "pathway.yaml"
    path.write_text(MINIMAL.read_text(encoding="utf-8") + extra, encoding="utf-8")
    with pytest.raises(pathway.DefinitionError) as info:
        pathway.load_pathway(path)
    return [(p.pointer, p.message) for p in info.value.problems]


# --- the definition block -----------------------------------------------------------------------


def test_functions_compile_in_order(declared: pathway.Pathway) -> None:
    """The block is compiled onto the pathway in the definition's order; name defaults to id."""
    functions = declared.statutory_functions
    assert list(functions) == ["enablement_done", "specialist_decision"]
    assert functions["enablement_done"].name == "Enablement completed"
    assert functions["specialist_decision"].name == "specialist_decision"
    assert functions["specialist_decision"].duty_of == "trust"
    assert functions["specialist_decision"].triggers == ("accept_handoff", "request_mha_assessment")


def test_unknown_organisation_and_trigger_are_named_with_their_pointer(tmp_path: Path) -> None:
    """A misspelt organisation or trigger would count nothing: refused, each at its place."""
    found = problems_of(
        tmp_path,
        """
statutory_functions:
  - {id: f, duty_of: counsil, reference: r, triggers: [complete_enablement, acept_handoff]}
  - {id: f, duty_of: council, reference: r, triggers: [close]}
""",
    )
    pointers = {p for p, _m in found}
    assert "/statutory_functions/0/duty_of" in pointers
    assert "/statutory_functions/0/triggers/1" in pointers
    assert "/statutory_functions/1/id" in pointers  # the duplicate id
    messages = " | ".join(m for _p, m in found)
    assert "unknown organisation 'counsil'" in messages
    assert "unknown trigger 'acept_handoff'" in messages
    assert "duplicate statutory function 'f'" in messages
    assert "complete_enablement" not in messages.split("(triggers:")[0]  # the good one is fine


def test_schema_refuses_a_function_without_reference_or_triggers(tmp_path: Path) -> None:
    """Shape is the schema's: a function needs duty_of, reference and at least one trigger."""
    found = problems_of(
        tmp_path,
        """
statutory_functions:
  - {id: f, duty_of: council, triggers: []}
""",
    )
    assert any(p.startswith("/statutory_functions/0") for p, _m in found)
    text = " ".join(m for _p, m in found)
    assert "reference" in text


def test_shipped_pathway_declares_the_five_council_functions() -> None:
    """Barnet: Care Act s9 and s27, s42, s117 and MHA assessments, all the council's duty."""
    shipped = pathway.load_pathway("barnet-enablement")
    functions = shipped.statutory_functions
    assert list(functions) == [
        "care_act_assessment",
        "care_act_review",
        "safeguarding_s42",
        "s117_decision",
        "mha_assessment",
    ]
    assert {f.duty_of for f in functions.values()} == {"lbb"}
    assert functions["safeguarding_s42"].triggers == ("conclude_safeguarding",)
    assert "s42" in functions["safeguarding_s42"].reference
    assert "s27" in functions["care_act_review"].reference
    assert set(functions["mha_assessment"].triggers) == {
        "admit_informally",
        "detain_section_2",
        "detain_section_3",
        "no_detention",
    }


# --- hand-worked log ------------------------------------------------------------------------------

LOG = """case_id,occurred_at,state,team,organisation,actor,trigger
f1,2026-01-01,referred,hub,,h1,refer
f1,2026-01-05,brief_enablement,lets,,l1,complete_enablement
f1,2026-01-10,specialist_support,cmht,,c1,accept_handoff
f2,2026-01-02,referred,hub,,h1,refer
f2,2026-01-06,x,cmht,,c2,complete_enablement
f2,2026-01-07,x,cmht,,c2,complete_enablement
f2,2026-01-12,y,lets,,l2,accept_handoff
f3,2026-01-03,x,,,,complete_enablement
f3,2026-01-04,x,partner,vcs,p1,complete_enablement
f3,2026-01-20,x,lets,,l1,request_mha_assessment
f4,2026-01-08,x,weird,,z1,complete_enablement
"""
# An imported row's acting team is its `team`; its organisation the row's (`organisation` column,
# else the pathway's team, else unknown). enablement_done is the council's duty, specialist_decision
# the trust's. lets and hub are council teams, cmht the trust's; partner is given `vcs`; weird is no
# team of the pathway (unknown); f3's first row names no team (team null, organisation unknown).
#
# As of 31 January, everything:
# enablement_done: f1 lets (council) 1; f2 cmht (trust) 2, one case; f3 no team 1 (unknown);
#   f3 partner (vcs) 1; f4 weird (unknown) 1. Events 6, cases f1 f2 f3 f4 = 4.
#   Inside another organisation (known and not council): cmht 2 (f2) + partner 1 (f3): 3 events,
#   2 cases. Unknown organisations are neither inside nor not (null).
# specialist_decision: f1 cmht accept (trust: own duty); f2 lets accept and f3 lets request
#   (council: inside the other). Events 3, cases 3; inside 2 events, 2 cases.


def functions_of(store: Any, scope: Scope, compiled: pathway.Pathway | None) -> Any:
    data = s75_report(store.connection, scope, 3, compiled).to_json()
    jsonschema.validate(data, SCHEMA)
    return data["functions"]


def totals(section: dict[str, Any]) -> list[tuple[str, int, int, int, int]]:
    return [
        (
            t["function"],
            t["events"],
            t["cases"],
            t["events_inside_other_organisation"],
            t["cases_inside_other_organisation"],
        )
        for t in section["totals"]
    ]


def rows(section: dict[str, Any]) -> list[tuple[str, str | None, str, int, int, bool | None]]:
    return [
        (
            r["function"],
            r["team"],
            r["organisation"],
            r["events"],
            r["cases"],
            r["inside_other_organisation"],
        )
        for r in section["by_team"]
    ]


def test_whole_history(declared: pathway.Pathway) -> None:
    """Every figure of the functions section as of the end of the log, worked above."""
    section = functions_of(load(LOG, pathway=declared), Scope(at("2026-01-31")), declared)
    assert totals(section) == [
        ("enablement_done", 6, 4, 3, 2),
        ("specialist_decision", 3, 3, 2, 2),
    ]
    # By function (definition order), most events first, then team, the no-team row last.
    assert rows(section) == [
        ("enablement_done", "cmht", "trust", 2, 1, True),
        ("enablement_done", "lets", "council", 1, 1, False),
        ("enablement_done", "partner", "vcs", 1, 1, True),
        ("enablement_done", "weird", "unknown", 1, 1, None),
        ("enablement_done", None, "unknown", 1, 1, None),
        ("specialist_decision", "lets", "council", 2, 2, True),
        ("specialist_decision", "cmht", "trust", 1, 1, False),
    ]
    first = section["totals"][0]
    assert (first["name"], first["duty_of"], first["reference"]) == (
        "Enablement completed",
        "council",
        "Test Act s1",
    )


def test_period_and_as_of(declared: pathway.Pathway) -> None:
    """Only events in the period (both ends inclusive) and at or before as-of count."""
    store = load(LOG, pathway=declared)
    # 5 to 12 January: enablement f1 lets (5th, the first instant: in), f2 cmht 6th and 7th,
    # f4 weird 8th: 4 events, 3 cases; inside: f2's 2, one case. Specialist: f1 cmht 10th and
    # f2 lets 12th 00:00 (the last instant: in): 2 events, 2 cases; inside: f2 lets 1.
    section = functions_of(
        store, Scope(at("2026-01-31"), since=at("2026-01-05"), until=at("2026-01-12")), declared
    )
    assert totals(section) == [
        ("enablement_done", 4, 3, 2, 1),
        ("specialist_decision", 2, 2, 1, 1),
    ]
    # As of the 15th: f3's request on the 20th has not happened yet. Specialist: f1 cmht, f2 lets.
    section = functions_of(store, Scope(at("2026-01-15")), declared)
    assert totals(section)[1] == ("specialist_decision", 2, 2, 1, 1)
    assert rows(section)[-2:] == [
        ("specialist_decision", "cmht", "trust", 1, 1, False),
        ("specialist_decision", "lets", "council", 1, 1, True),
    ]
    # A period before any function: every declared function listed, with zeros.
    section = functions_of(store, Scope(at("2026-01-31"), until=at("2026-01-02")), declared)
    assert totals(section) == [
        ("enablement_done", 0, 0, 0, 0),
        ("specialist_decision", 0, 0, 0, 0),
    ]
    assert section["by_team"] == []


def test_team_narrows_to_the_cases_of_the_team(declared: pathway.Pathway) -> None:
    """With --team: the functions of the cases the team held or handed on (as the S75 report),
    whoever carried them out."""
    store = load(LOG, pathway=declared)
    # lets held f1 (5th-10th), f2 (from the 12th) and f3 (from the 20th); never f4.
    # enablement_done over f1, f2, f3: lets 1, cmht 2, partner 1, no team 1 = 5 events, 3 cases;
    # inside cmht 2 + partner 1 = 3 events, 2 cases. specialist: all three of f1 f2 f3.
    section = functions_of(store, Scope(at("2026-01-31"), team="lets"), declared)
    assert totals(section) == [
        ("enablement_done", 5, 3, 3, 2),
        ("specialist_decision", 3, 3, 2, 2),
    ]
    # cmht held f1 (from the 10th) and f2 (6th-12th): enablement f1 lets 1, f2 cmht 2 = 3 events.
    section = functions_of(store, Scope(at("2026-01-31"), team="cmht"), declared)
    assert totals(section)[0] == ("enablement_done", 3, 2, 2, 1)


def test_null_without_a_pathway_or_without_functions() -> None:
    """No pathway, or one that declares no functions: the section is null."""
    store = load(LOG)
    assert functions_of(store, Scope(at("2026-01-31")), None) is None
    plain = pathway.load_pathway(MINIMAL)
    assert functions_of(store, Scope(at("2026-01-31")), plain) is None


def test_refused_events_carry_no_function_out(tmp_path: Path) -> None:
    """The engine's refused transitions are not functions carried out; applied ones are, with the
    pathway's organisation of the actor's team (the CMHT's, the trust's, for a council duty)."""
    compiled = pathway.load_pathway("barnet-enablement")
    store = pathway.open_store(tmp_path / "s.db")
    engine = pathway.Engine(compiled, store)
    hub = pathway.Actor("w-hub", "hub")
    cmht = pathway.Actor("w-cmht", "cmht")
    amhp_no_role = pathway.Actor("w-amhp", "amhp")
    t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    case = engine.open_case("R1", hub, at=t0)
    engine.fire(case.id, "self_refer", hub, at=t0 + timedelta(hours=1))
    # An AMHP without the amhp role is refused: no MHA assessment, no function.
    with pytest.raises(pathway.TransitionRefused):
        engine.fire(case.id, "start_mha_assessment", amhp_no_role, at=t0 + timedelta(hours=2))
    refusals = store.connection.execute("SELECT COUNT(*) FROM events WHERE outcome = 'refused'")
    assert refusals.fetchone()[0] == 1  # recorded in the trail, but not carried out
    # A CMHT worker raises and concludes a safeguarding enquiry: the council's s42 duty inside
    # the trust's team.
    engine.fire(case.id, "raise_safeguarding", cmht, at=t0 + timedelta(days=1))
    engine.fire(
        case.id,
        "conclude_safeguarding",
        cmht,
        at=t0 + timedelta(days=2),
        data={"safeguarding_outcome": "no further action"},
    )
    section = functions_of(store, Scope(t0 + timedelta(days=3)), compiled)
    by_function = {t[0]: t[1:] for t in totals(section)}
    assert by_function["mha_assessment"] == (0, 0, 0, 0)
    assert by_function["safeguarding_s42"] == (1, 1, 1, 1)
    assert rows(section) == [("safeguarding_s42", "cmht", "behmt", 1, 1, True)]


def test_shipped_samples_show_council_reviews_inside_the_cmht(tmp_path: Path) -> None:
    """On the samples: the Care Act s27 reviews are completed by the CMHT in S08 (twice, lines 52
    and 69 of its file) and S13 (line 80), and by the IET in S05 (line 67): 4 events, 3 cases, of
    which the CMHT's 3 events over 2 cases are the council's duty done inside the trust."""
    from pathway.samples import load_sample, play, sample_pathway, shipped_samples

    store = pathway.open_store(tmp_path / "samples.db")
    for name in shipped_samples():
        sample = load_sample(name)
        assert all(
            o.as_scripted for o in play(pathway.Engine(sample_pathway(sample), store), sample)
        )
    compiled = pathway.load_pathway("barnet-enablement")
    section = functions_of(store, Scope(datetime(2030, 1, 1, tzinfo=UTC)), compiled)
    reviews = [r for r in rows(section) if r[0] == "care_act_review"]
    assert reviews == [
        ("care_act_review", "cmht", "behmt", 3, 2, True),
        ("care_act_review", "iet", "lbb", 1, 1, False),
    ]
    assert totals(section)[1] == ("care_act_review", 4, 3, 3, 2)


# --- an independent reference on a generated log --------------------------------------------------

TEAMS = {"hub": "council", "lets": "council", "cmht": "trust", "weird": None}
TRIGGERS = ["complete_enablement", "accept_handoff", "request_mha_assessment", "refer", "close"]


def generated_log(cases: int, seed: int) -> str:
    """Rows with random teams (one not in the pathway, some empty), organisation columns that
    sometimes name another organisation, triggers of both functions and others, ties."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["case_id", "occurred_at", "state", "team", "organisation", "actor", "trigger"])
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(cases):
        when = start + timedelta(seconds=rng.randrange(300 * 86400))
        for _ in range(rng.randint(1, 8)):
            team = rng.choice([*TEAMS, ""])
            org = "" if not team or rng.random() < 0.7 else rng.choice(["council", "trust", "vcs"])
            writer.writerow(
                [f"g{i}", when.isoformat(), "s", team, org, f"w{rng.randrange(9)}",
                 rng.choice(TRIGGERS)]
            )  # fmt: skip
            if rng.random() > 0.05:
                when += timedelta(seconds=rng.randrange(20 * 86400))
    return out.getvalue()


def reference(text: str, compiled: pathway.Pathway, scope: Scope) -> dict[str, Any]:
    """The definition read plainly: rows in the period, the acting team's organisation, counted."""
    rows_ = list(csv.DictReader(io.StringIO(text)))
    end = min(scope.as_of, scope.until) if scope.until else scope.as_of
    wanted = {f.id: (set(f.triggers), f.duty_of) for f in compiled.statutory_functions.values()}
    team_cases: set[str] | None = None
    if scope.team is not None:
        team_cases = holding_cases(rows_, scope.team, end)
    per: dict[tuple[str, str | None, str], list[str]] = defaultdict(list)
    for row in rows_:
        when = datetime.fromisoformat(row["occurred_at"])
        if when > end or (scope.since is not None and when < scope.since):
            continue
        if team_cases is not None and row["case_id"] not in team_cases:
            continue
        team = row["team"] or None
        if team is None:
            org = "unknown"
        elif row["organisation"]:
            org = row["organisation"]
        else:
            org = TEAMS.get(team) or "unknown"
        for function, (triggers, _duty) in wanted.items():
            if row["trigger"] in triggers:
                per[(function, team, org)].append(row["case_id"])
    result: dict[str, Any] = {}
    for function, (_triggers, duty) in wanted.items():
        mine = {k: v for k, v in per.items() if k[0] == function}
        inside = [c for (_f, _t, o), v in mine.items() if o not in ("unknown", duty) for c in v]
        every = [c for v in mine.values() for c in v]
        result[function] = {
            "totals": (len(every), len(set(every)), len(inside), len(set(inside))),
            "by_team": [
                (t, o, len(v), len(set(v)), None if o == "unknown" else o != duty)
                for (_f, t, o), v in mine.items()
            ],
        }
    return result


def holding_cases(rows_: list[dict[str, str]], team: str, end: datetime) -> set[str]:
    """Cases the team held at some time up to ``end`` (no period start in these scopes): a row
    naming it at or before ``end``. (With no closures and no --since, held or handed on in the
    window comes down to this.)"""
    return {
        r["case_id"]
        for r in rows_
        if r["team"] == team and datetime.fromisoformat(r["occurred_at"]) <= end
    }


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (row[0] is None, row[0] or "", *row[1:4])


def compare(store: Any, text: str, compiled: pathway.Pathway, scope: Scope) -> dict[str, Any]:
    section = functions_of(store, scope, compiled)
    expected = reference(text, compiled, scope)
    for total in section["totals"]:
        assert totals({"totals": [total]})[0][1:] == expected[total["function"]]["totals"]
    for function in expected:
        got = [r[1:] for r in rows(section) if r[0] == function]
        assert sorted(got, key=_key) == sorted(expected[function]["by_team"], key=_key)
    return section


SCOPES = {
    "all": Scope(datetime(2026, 6, 1, tzinfo=UTC)),
    "middle": Scope(datetime(2025, 6, 1, tzinfo=UTC)),
    "period": Scope(
        datetime(2026, 6, 1, tzinfo=UTC),
        since=datetime(2025, 3, 1, tzinfo=UTC),
        until=datetime(2025, 8, 1, 12, tzinfo=UTC),
    ),
    "team": Scope(datetime(2025, 9, 1, tzinfo=UTC), team="lets"),
}


@pytest.mark.parametrize("name", list(SCOPES))
def test_against_the_reference(declared: pathway.Pathway, name: str) -> None:
    """The report equals the plain reading on a generated log, at each scope."""
    text = generated_log(400, 14)
    section = compare(load(text, pathway=declared), text, declared, SCOPES[name])
    assert section["totals"][0]["events"] > 20  # not vacuous
    assert section["totals"][0]["events_inside_other_organisation"] > 0


@pytest.mark.postgres
def test_identical_on_both_stores(declared: pathway.Pathway, pg_url: str, tmp_path: Path) -> None:
    """The functions section (and the whole S75 JSON) is the same text on PostgreSQL."""
    text = generated_log(300, 7)
    backend = PostgresBackend(pg_url, f"{SESSION_PREFIX}_functions")
    lite = pathway.open_store(tmp_path / "f.db")
    server = pathway.open_store(backend.location())
    try:
        from pathway.importer import import_events

        for store in (lite, server):
            import_events(store, "log.csv", text=text, pathway=declared)
        for scope in SCOPES.values():
            mine, theirs = (
                s75_report(s.connection, scope, 1, declared).to_json() for s in (lite, server)
            )
            assert json.dumps(mine) == json.dumps(theirs)
            assert mine["functions"]["by_team"]
    finally:
        lite.close()
        server.close()
        backend.cleanup()
