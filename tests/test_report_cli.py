"""`pathway import` and `pathway report` on the command line; every report's JSON matches its schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from report_helpers import RECEIPT, RECEIPT_DROP

from pathway.reports import REPORTS
from pathway.validation import load_schema

LOG = """case_id,occurred_at,state,team,organisation,actor,trigger,route
C1,2026-01-05 09:00,referral,hub,council,w1,refer_via_hub,gp
C1,2026-01-06T09:00:00Z,choice_appointment,lets,council,w2,,
C1,2026-01-08T09:00:00+00:00,specialist_support,cmht,trust,w3,,
C1,2026-01-10T09:00:00.5+00:00,choice_appointment,lets,council,w2,,
C2,2026-01-07 10:00,referral,hub,council,w1,,self
C2,2026-01-09 10:00,closed,hub,council,w1,,
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATHWAY_DB"}
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    (tmp_path / "log.csv").write_text(LOG)
    done = run("import", "log.csv", "--final-state", "closed", "--keep", "route", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Imported 6 events of 2 cases (1 closed)" in done.stdout
    return tmp_path


@pytest.mark.parametrize("name", REPORTS)
def test_each_report_json_matches_its_schema(imported: Path, name: str) -> None:
    """Every report's JSON validates against schemas/report_NAME.schema.json."""
    done = run("report", name, "--as-of", "2026-01-20", "--format", "json", cwd=imported)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, load_schema(f"report_{name}"))
    assert data["report"] == name
    assert data["as_of"] == "2026-01-20T00:00:00.000000+00:00"


def test_handoffs_and_holding_figures_from_the_cli(imported: Path) -> None:
    """The imported log's figures, worked by hand: 3 handoffs, 1 ping-pong, 2 S75 crossings."""
    data = json.loads(
        run("report", "handoffs", "--as-of", "2026-01-20", "--format", "json", cwd=imported).stdout
    )
    # C1: hub -> lets -> cmht -> lets: 3 handoffs, lets->cmht and cmht->lets cross, cmht->lets is a ping-pong.
    assert (
        data["cases"],
        data["events"],
        data["handoffs"],
        data["ping_pongs"],
        data["s75_crossings"],
    ) == (2, 6, 3, 1, 2)
    assert data["by_case"][0] == {
        "case_id": "C1",
        "handoffs": 3,
        "ping_pongs": 1,
        "s75_crossings": 2,
        "teams": ["hub", "lets", "cmht", "lets"],
        # An imported log with no pathway: the passed-around figures cannot be known.
        "offers": None,
        "offers_declined": None,
        "interruptions": None,
        "passes": None,
        "days_between_teams": None,
    }
    assert data["distribution"] == [{"handoffs": 0, "cases": 1}, {"handoffs": 3, "cases": 1}]
    holding = json.loads(
        run("report", "holding", "--as-of", "2026-01-20", "--format", "json", cwd=imported).stdout
    )
    days = {row["team"]: row["days"] for row in holding["by_team"]}
    # hub: C1 1 day + C2 2 days (closed on the 9th). lets: the 6th to the 8th (2 days), then the
    # 10th at 09:00:00.5 to as-of, the 20th at 00:00 (9.625 days less 0.5 s). cmht: 2 days + 0.5 s.
    assert days["hub"] == pytest.approx(3.0)
    assert days["lets"] == pytest.approx(11.625 - 0.5 / 86400)
    assert days["cmht"] == pytest.approx(2.0 + 0.5 / 86400)
    one = json.loads(
        run(
            "report",
            "holding",
            "--case",
            "C2",
            "--as-of",
            "2026-01-20",
            "--format",
            "json",
            cwd=imported,
        ).stdout
    )
    assert [(e["team"], e["days"]) for e in one["episodes"]] == [("hub", 2.0)]


def test_table_csv_and_markdown_views(imported: Path) -> None:
    """The non-JSON views show headline figures and titled tables, cut to --top rows."""
    table = run("report", "handoffs", "--as-of", "2026-01-20", "--top", "1", cwd=imported).stdout
    assert "handoffs" in table and "by_case (top 1 of 2)" in table
    csv_text = run("report", "s75", "--as-of", "2026-01-20", "--format", "csv", cwd=imported).stdout
    # The store of this imported log records no pathway: the functions section is null, a
    # headline of its own (empty in the CSV row).
    assert csv_text.splitlines()[0] == "report,as_of,since,until,team,threshold,functions"
    assert "# crossings" in csv_text and "council,trust,1" in csv_text
    markdown = run(
        "report", "holding", "--as-of", "2026-01-20", "--format", "markdown", cwd=imported
    ).stdout
    assert "## by_team" in markdown and "| team" in markdown


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("case_id,occurred_at,state\nC1,2026-01-01,x\n", "missing required column(s) team"),
        (
            "case_id,occurred_at,state,team\nC1,yesterday,x,hub\n",
            "log.csv:2: occurred_at: 'yesterday' is not an ISO 8601",
        ),
        (
            "case_id,occurred_at,state,team\n,2026-01-01,x,hub\n",
            "log.csv:2: case_id: empty case id",
        ),
        (
            "case_id,occurred_at,state,team\nC1,2026-01-01,x\n",
            "log.csv:2: has 3 fields, the header has 4",
        ),
        ("", "the file is empty"),
    ],
)
def test_bad_import_names_line_and_field_and_writes_nothing(
    tmp_path: Path, csv_text: str, message: str
) -> None:
    """One bad row rejects the file with its line and field; no store file is left behind."""
    (tmp_path / "log.csv").write_text(csv_text)
    done = run("import", "log.csv", cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "pathway.db").exists()


def test_a_bad_import_into_an_existing_store_changes_nothing(imported: Path) -> None:
    """Importing a file with one bad row into a store that has data leaves it byte-for-byte alone."""
    before = json.loads(
        run("report", "handoffs", "--as-of", "2026-01-20", "--format", "json", cwd=imported).stdout
    )
    (imported / "bad.csv").write_text(
        "case_id,occurred_at,state,team\nC9,2026-01-01,x,hub\nC9,not a date,y,lets\n"
    )
    done = run("import", "bad.csv", cwd=imported)
    assert done.returncode == 2
    after = json.loads(
        run("report", "handoffs", "--as-of", "2026-01-20", "--format", "json", cwd=imported).stdout
    )
    assert after == before
    assert run("audit", "verify", cwd=imported).returncode == 0


def test_report_options_are_checked(imported: Path) -> None:
    """A period that is empty, or an unknown report, is a clear error."""
    done = run("report", "holding", "--since", "2026-02-01", "--until", "2026-01-01", cwd=imported)
    assert done.returncode == 2 and "--since is after --until" in done.stderr
    unknown = run("report", "nonsense", cwd=imported)
    assert unknown.returncode == 2
    assert (
        "unknown report 'nonsense' (reports: handoffs, holding, s75, waits, activity, funding, "
        "monthly, caseload)" in unknown.stderr
    )


@pytest.mark.skipif(
    not RECEIPT.exists(), reason="shared/data/receipt.csv is not beside this checkout"
)
def test_receipt_log_imports_with_column_mapping_and_verifies(tmp_path: Path) -> None:
    """The real municipal event log imports through --map and its chain verifies."""
    done = run(
        "import", str(RECEIPT), "--map", "case:concept:name=case_id", "--map", "time:timestamp=occurred_at",
        "--map", "concept:name=state", "--map", "org:group=team", "--map", "org:resource=actor",
        "--drop", ",".join(RECEIPT_DROP), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Imported 8,577 events of 1,434 cases" in done.stdout
    assert run("audit", "verify", cwd=tmp_path).stdout.startswith("ok: 8577 events verified")
    for name in REPORTS:
        out = run("report", name, "--as-of", "2012-06-01", "--format", "json", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        jsonschema.validate(json.loads(out.stdout), load_schema(f"report_{name}"))


def test_handoffs_report_counts_offers_and_declines_on_the_default_pathway(tmp_path: Path) -> None:
    """A referral bounced by declined offers shows as offers and declines, not as handoffs."""
    from datetime import UTC, datetime

    import pathway
    from pathway.reports import Scope, handoffs_report
    from pathway.samples import load_sample, play, sample_pathway

    sample = load_sample("s03-bounced-between-cmht-and-lets")
    store = pathway.open_store(tmp_path / "s03.db")
    engine = pathway.Engine(sample_pathway(sample), store)
    assert all(outcome.as_scripted for outcome in play(engine, sample))
    report = handoffs_report(
        store.connection, Scope(as_of=datetime(2026, 12, 1, tzinfo=UTC)), engine.pathway
    )
    # hub -> LETs declined; hub -> triage accepted; triage -> CMHT declined; triage -> LETs
    # declined, then offered again and accepted: 5 offers, 3 declined, 2 handoffs.
    assert (report.handoffs, report.offers, report.offers_declined) == (2, 5, 3)
    pairs = {(o.from_team, o.to_team): (o.offered, o.declined) for o in report.by_offer or ()}
    assert pairs == {
        ("hub", "lets"): (1, 1),
        ("hub", "triage"): (1, 0),
        ("triage", "cmht"): (1, 1),
        ("triage", "lets"): (2, 1),
    }
    without = handoffs_report(store.connection, Scope(as_of=datetime(2026, 12, 1, tzinfo=UTC)))
    assert (without.offers, without.offers_declined, without.by_offer) == (None, None, None)


def test_a_team_no_event_names_is_refused_not_reported_empty(imported: Path) -> None:
    """`--team` with a misspelt team fails naming the known teams, instead of an empty report."""
    done = run("report", "holding", "--team", "cmth", "--as-of", "2026-01-20", cwd=imported)
    assert done.returncode == 2, done.stdout
    assert "unknown team 'cmth'" in done.stderr
    assert "cmht" in done.stderr and "Traceback" not in done.stderr
    named = run("report", "holding", "--team", "cmht", "--as-of", "2026-01-20", cwd=imported)
    assert named.returncode == 0, named.stderr


def test_an_offer_made_while_nobody_held_the_case_has_no_offering_team() -> None:
    """An imported row can put a case in an offer state with an empty team: the offer is counted
    with ``from_team`` null (nobody held the case), not under a team called "None"."""
    from datetime import UTC, datetime

    import pathway
    from pathway.importer import import_events
    from pathway.reports import Scope, handoffs_report

    default = pathway.load_pathway("barnet-enablement")
    store = pathway.open_store(":memory:")
    import_events(
        store,
        "x.csv",
        pathway=default,
        text="case_id,occurred_at,state,team\n"
        "o1,2026-01-01,referral,hub\n"
        "o1,2026-01-02,offered_to_lets,\n"  # offered while unallocated
        "o2,2026-01-01,referral,hub\n"
        "o2,2026-01-03,offered_to_lets,hub\n",
    )
    report = handoffs_report(
        store.connection, Scope(datetime(2026, 2, 1, tzinfo=UTC)), default
    ).to_json()
    report = json.loads(json.dumps(report))
    assert report["by_offer"] == [
        {"from_team": "hub", "to_team": "lets", "offered": 1, "declined": 0},
        {"from_team": None, "to_team": "lets", "offered": 1, "declined": 0},
    ]
    jsonschema.validate(report, load_schema("report_handoffs"))
