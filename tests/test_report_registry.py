"""The report registry: one spec per report, read by the CLI, the dashboard and migrate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sample_store import play_samples

import pathway
from pathway import reports
from pathway.cli import cli
from pathway.migrate import reports_json
from pathway.reports import BUILTIN_REPORTS, REPORTS, ReportOption, ReportSpec, Scope
from pathway.reports.activity import load_plan
from pathway.reports.funding import load_unit_costs

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, datetime]:
    """A store of every shipped sample case (its pathway recorded), and the newest step's time."""
    location = tmp_path_factory.mktemp("registry") / "samples.db"
    store, latest = play_samples(location)
    store.close()
    return location, latest


def test_the_builtin_reports_are_the_eight_named_with_a_schema_each() -> None:
    """REPORTS is the registry's order; every report has its JSON schema and a description."""
    assert REPORTS == (
        "handoffs", "holding", "s75", "waits", "activity", "funding", "monthly", "caseload",
    )  # fmt: skip
    for name, spec in BUILTIN_REPORTS.items():
        assert spec.name == name
        assert (SCHEMAS / f"report_{name}.schema.json").is_file()
        assert spec.description and not spec.description.endswith(".")


def test_options_and_defaults_are_declared_once() -> None:
    """Each report's own options, with the defaults the report functions use."""
    own = {name: [o.cli_flag for o in spec.options] for name, spec in BUILTIN_REPORTS.items()}
    assert own == {
        "handoffs": [], "holding": ["--case"], "s75": ["--threshold"], "waits": ["--milestone"],
        "activity": ["--plan"], "funding": ["--budget", "--unit-costs"], "monthly": [],
        "caseload": [],
    }  # fmt: skip
    assert BUILTIN_REPORTS["s75"].option("threshold").default == 3
    assert BUILTIN_REPORTS["waits"].option("milestone").default == "choice_appointment"
    from pathway.reports import s75, waits

    assert s75.DEFAULT_THRESHOLD == 3 and waits.DEFAULT_MILESTONE == "choice_appointment"


def test_each_spec_gives_what_its_report_function_gives(played: tuple[Path, datetime]) -> None:
    """Run through the registry, every report's JSON is its function's, called directly."""
    location, latest = played
    store = pathway.open_store(location, create=False)
    compiled = pathway.load_pathway("barnet-enablement")
    scope = Scope(as_of=latest)
    conn = store.connection
    direct = {
        "handoffs": reports.handoffs_report(conn, scope, compiled),
        "holding": reports.holding_report(conn, scope, "BEP-S02"),
        "s75": reports.s75_report(conn, scope, 1, compiled),
        "waits": reports.waits_report(conn, scope, compiled, "lets_assessment"),
        "activity": reports.activity_report(conn, scope, load_plan(), compiled),
        "funding": reports.funding_report(
            conn, scope, unit_costs=load_unit_costs(), budget_pence=100
        ),
        "monthly": reports.monthly_report(conn, scope),
        "caseload": reports.caseload_report(conn, scope),
    }
    options = {
        "holding": {"case_id": "BEP-S02"}, "s75": {"threshold": 1},
        "waits": {"milestone": "lets_assessment"}, "activity": {"plan": load_plan()},
        "funding": {"unit_costs": load_unit_costs(), "budget_pence": 100},
    }  # fmt: skip
    try:
        for name, expected in direct.items():
            got = reports.run_report(name, conn, scope, compiled, **options.get(name, {}))
            assert got.to_json() == expected.to_json(), name
        # At their defaults, as migrate compares the stores.
        assert reports_json(conn, latest, compiled)["s75"] == (
            reports.s75_report(conn, scope, 3, compiled).to_json()
        )
    finally:
        store.close()


def test_a_report_option_may_not_take_a_shared_name() -> None:
    with pytest.raises(ValueError, match="team"):
        ReportSpec("mine", print, "x", options=(ReportOption("team", "a team"),))
    with pytest.raises(ValueError, match="declared twice"):
        ReportSpec("mine", print, "x", options=(ReportOption("a", "1"), ReportOption("a", "2")))


def test_every_exported_name_imports() -> None:
    """`pathway.reports.__all__` lists the registry and every lazily imported name, each real."""
    lazy = set(reports._MODULE_OF)
    assert set(reports.__all__) == lazy | {
        "BUILTIN_REPORTS", "REPORTS", "ReportOption", "ReportSpec", "report_specs", "run_report",
    }  # fmt: skip
    for name in reports.__all__:
        assert getattr(reports, name) is not None


def test_report_is_a_group_with_a_subcommand_per_report() -> None:
    """Each built-in report is a subcommand with its own --help, built from its spec."""
    group = cli.commands["report"]
    assert isinstance(group, click.Group)
    assert list(group.commands) == list(REPORTS)
    runner = CliRunner()
    listing = runner.invoke(cli, ["report", "--help"], terminal_width=200).output
    for name, spec in BUILTIN_REPORTS.items():
        assert f"{name}  " in listing and spec.description in listing
        own = runner.invoke(cli, ["report", name, "--help"], terminal_width=200)
        assert own.exit_code == 0
        assert f"The {name} report: {spec.description}." in own.output
        for flag in ("--as-of", "--since", "--until", "--team", "--format", "--top", "--plugin"):
            assert flag in own.output
        for option in spec.options:
            assert option.cli_flag in own.output and option.help in own.output
    s75_help = runner.invoke(cli, ["report", "s75", "--help"], terminal_width=200).output
    assert "[default: 3; x>=0]" in s75_help
    assert "--threshold" not in runner.invoke(cli, ["report", "waits", "--help"]).output


def test_an_option_of_another_report_is_refused(played: tuple[Path, datetime]) -> None:
    """Options are per report now: --threshold belongs to s75 only (exit 2, nothing run)."""
    location, _ = played
    done = CliRunner().invoke(cli, ["report", "holding", "--threshold", "2", "--db", str(location)])
    assert done.exit_code == 2
    assert "No such option '--threshold'" in done.output


PLUGIN = '''
"""A test plug-in whose report takes an option of its own."""

import attrs
import pathway
from pathway.reports import ReportOption, ReportSpec


@attrs.frozen
class Busy:
    header: dict
    over: int
    teams: list

    def to_json(self):
        return {"report": "busy_teams", **self.header, "over": self.over, "teams": self.teams}


def busy_teams(conn, scope, pathway_, *, over):
    rows = conn.execute(
        "SELECT team, COUNT(*) FROM cases WHERE closed_at IS NULL AND team IS NOT NULL "
        "GROUP BY team HAVING COUNT(*) > ? ORDER BY team", (over,)
    ).fetchall()
    return Busy(scope.header(), over, [[team, n] for team, n in rows])


@pathway.hookimpl
def pathway_reports():
    return [ReportSpec("busy_teams", busy_teams, "teams holding more than --over open cases",
                       options=(ReportOption("over", "Open cases a team must exceed.",
                                             kind="count", default=1),))]
'''


def test_a_plugin_report_with_its_own_option_runs_from_a_definition(
    played: tuple[Path, datetime], tmp_path: Path
) -> None:
    """A plug-in named by a definition file (not installed) adds a subcommand with its option."""
    location, latest = played
    (tmp_path / "cp_busy.py").write_text(textwrap.dedent(PLUGIN))
    shipped = ROOT / "pathway" / "definitions" / "barnet-enablement.yaml"
    definition = tmp_path / "with-busy.yaml"
    definition.write_text(
        shipped.read_text().replace('version: "1"', 'version: "1"\nplugins: [cp_busy]', 1)
    )
    assert "plugins: [cp_busy]" in definition.read_text()
    store = pathway.open_store(location, create=False)
    try:
        open_by_team: dict[str, int] = {}
        for case in store.cases():
            if case.closed_at is None and case.team is not None:
                open_by_team[case.team] = open_by_team.get(case.team, 0) + 1
    finally:
        store.close()
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("PATHWAY_DB", None)
    common = ["--db", str(location), "--pathway", str(definition), "--as-of", latest.isoformat()]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pathway", "report", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    for over in (0, 1):
        done = run("busy_teams", *common, "--over", str(over), "--format", "json")
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert data["over"] == over
        assert data["teams"] == sorted([t, n] for t, n in open_by_team.items() if n > over)
    helped = run("busy_teams", "--help", *common)
    assert helped.returncode == 0, helped.stderr
    text = " ".join(helped.stdout.split())
    assert "--over INTEGER RANGE Open cases a team must exceed. [default: 1; x>=0]" in text
    # Without the definition the store's pathway has no such report: the reports are named.
    unknown = run("busy_teams", "--db", str(location))
    assert unknown.returncode == 2
    assert "unknown report 'busy_teams' (reports: handoffs, holding, s75," in unknown.stderr


def test_as_of_default_is_now(played: tuple[Path, datetime]) -> None:
    """Without --as-of a report is as of now (the shared scope decorator's default)."""
    location, _ = played
    before = datetime.now(UTC)
    done = CliRunner().invoke(cli, ["report", "monthly", "--db", str(location), "--format", "json"])
    assert done.exit_code == 0, done.output
    as_of = datetime.fromisoformat(json.loads(done.stdout.splitlines()[-1])["as_of"])
    assert before <= as_of <= datetime.now(UTC)


def test_options_before_the_report_name_still_work(played: tuple[Path, datetime]) -> None:
    """`pathway report --db x s75 ...` was valid when NAME was an argument, and still is."""
    location, latest = played
    as_of = latest.isoformat()
    runner = CliRunner()
    after = runner.invoke(
        cli, ["report", "s75", "--db", str(location), "--as-of", as_of, "--threshold", "1",
              "--format", "json"],
    )  # fmt: skip
    before = runner.invoke(
        cli, ["report", "--db", str(location), f"--as-of={as_of}", "--threshold", "1", "s75",
              "--format", "json"],
    )  # fmt: skip
    assert after.exit_code == before.exit_code == 0, before.output
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert json.loads(after.stdout)["threshold"] == 1


def test_options_after_name_moves_only_leading_options() -> None:
    from pathway.cli_reports import options_after_name

    assert options_after_name(["--db", "x", "--top=3", "s75", "--format", "csv"]) == [
        "s75", "--db", "x", "--top=3", "--format", "csv",
    ]  # fmt: skip
    assert options_after_name(["s75", "--db", "x"]) == ["s75", "--db", "x"]
    assert options_after_name(["--help"]) == ["--help"]
    assert options_after_name(["--db", "x"]) == ["--db", "x"]


def test_an_option_given_as_text_is_checked_as_the_command_line_checks_it() -> None:
    """``ReportOption.parse``: what the HTTP service reads a report's query parameters with."""
    import pytest

    from pathway.reports.registry import BUILTIN_REPORTS

    threshold = BUILTIN_REPORTS["s75"].option("threshold")
    assert threshold.parse("5") == 5
    for bad in ("-1", "٣", "1_0", "2.5", ""):
        with pytest.raises(ValueError, match="whole number"):
            threshold.parse(bad)
    budget = BUILTIN_REPORTS["funding"].option("budget_pence")
    assert budget.parse("£11,500,000.00") == 1_150_000_000 and budget.parse("1000") == 100_000
    with pytest.raises(ValueError):
        budget.parse("1,2,3")
    assert BUILTIN_REPORTS["waits"].option("milestone").parse("review") == "review"
