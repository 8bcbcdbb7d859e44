"""The command line: subprocess runs of the installed `pathway` script, and every command's help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MINIMAL

from pathway.cli import _all_commands, cli

ROOT = Path(__file__).resolve().parent.parent


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m pathway ARGS` as a user would run `pathway ARGS`."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PATHWAY_DB", None) if env is None else None
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    done = run("init", "--pathway", str(MINIMAL), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pathway.db").exists()
    return tmp_path


def test_a_case_moves_through_the_cli_and_the_chain_verifies(workdir: Path) -> None:
    """open, fire, show, history, triggers and audit verify work end to end in ./pathway.db."""
    opened = run(
        "case",
        "open",
        "C1",
        "--actor",
        "w1",
        "--team",
        "hub",
        "--at",
        "2026-01-05",
        "--format",
        "json",
        cwd=workdir,
    )
    assert opened.returncode == 0, opened.stderr
    assert json.loads(opened.stdout)["state"] == "referred"
    fired = run(
        "case", "fire", "C1", "book_choice_appointment", "--actor", "w2", "--team", "lets",
        "--at", "2026-01-06T10:00:00+00:00", "--format", "json", cwd=workdir,
    )  # fmt: skip
    assert json.loads(fired.stdout)["team"] == "lets"
    shown = run("case", "show", "C1", "--format", "json", cwd=workdir)
    assert json.loads(shown.stdout)["version"] == 2
    history = run("case", "history", "C1", "--format", "csv", cwd=workdir)
    lines = history.stdout.splitlines()
    assert lines[0].startswith("seq,occurred_at,trigger,outcome")
    assert lines[2].startswith("2,2026-01-06T10:00:00.000000+00:00,book_choice_appointment,applied")
    options = run(
        "case", "triggers", "C1", "--actor", "w2", "--team", "lets", "--format", "json", cwd=workdir
    )
    decisions = {d["trigger"]: d for d in json.loads(options.stdout)}
    assert decisions["refer_to_cmht"]["allowed"] is True
    assert decisions["start_enablement"]["reasons"] == ["required data missing: enablement_plan"]
    verified = run("audit", "verify", cwd=workdir)
    assert verified.returncode == 0
    assert verified.stdout.startswith("ok: 2 events verified")


def test_a_refusal_exits_1_with_every_reason(workdir: Path) -> None:
    """A refused fire prints each reason on stderr and exits 1; the refusal is in the history."""
    run("case", "open", "C1", "--actor", "w1", "--team", "hub", cwd=workdir)
    run(
        "case",
        "fire",
        "C1",
        "book_choice_appointment",
        "--actor",
        "w2",
        "--team",
        "lets",
        cwd=workdir,
    )
    done = run(
        "case", "fire", "C1", "start_enablement", "--actor", "w3", "--team", "cmht", cwd=workdir
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Refused: start_enablement on case C1",
        "  - team cmht may not perform brief_enablement: the task matrix allows lets",
        "  - required data missing: enablement_plan",
    ]
    history = json.loads(run("case", "history", "C1", "--format", "json", cwd=workdir).stdout)
    assert history[-1]["outcome"] == "refused"
    data = run(
        "case", "fire", "C1", "start_enablement", "--actor", "w2", "--team", "lets",
        "--set", "enablement_plan=walk daily", "--format", "json", cwd=workdir,
    )  # fmt: skip
    assert data.returncode == 0, data.stderr
    assert json.loads(data.stdout)["attributes"] == {"enablement_plan": "walk daily"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("case", "fire", "C1", "fly", "--actor", "a", "--team", "lets"),
            "Error: unknown trigger 'fly'",
        ),
        (("case", "fire", "C1", "close", "--actor", "a", "--team", "x"), "Error: unknown team 'x'"),
        (("case", "show", "NOPE"), "Error: no case 'NOPE' in the store"),
        (
            ("case", "fire", "C1", "close", "--actor", "a", "--team", "lets", "--data", "{bad"),
            "Error: --data is not valid JSON",
        ),
        (
            ("case", "fire", "C1", "close", "--actor", "a", "--team", "lets", "--at", "soon"),
            "'soon' is not an ISO 8601 date",
        ),
        (
            (
                "case",
                "fire",
                "C1",
                "close",
                "--actor",
                "a",
                "--team",
                "lets",
                "--expected-version",
                "9",
            ),
            "Error: case C1 is at version 1, not the expected 9",
        ),
        (("audit", "verify", "--against", "{}"), "Error: --against: not a checkpoint"),
        (("case", "show", "C1", "--db", "missing.db"), "Error: missing.db: no such store"),
    ],
)
def test_bad_input_gets_one_clear_line_and_changes_nothing(
    workdir: Path, args: tuple[str, ...], message: str
) -> None:
    """Bad input: exit 2 (3 for a conflict), a message naming what is wrong, no traceback, no write."""
    run("case", "open", "C1", "--actor", "w1", "--team", "hub", cwd=workdir)
    before = (workdir / "pathway.db").read_bytes()
    done = run(*args, cwd=workdir)
    assert done.returncode in (2, 3)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (workdir / "missing.db").exists()
    assert (
        json.loads(run("case", "history", "C1", "--format", "json", cwd=workdir).stdout)[-1][
            "trigger"
        ]
        == "open"
    )
    assert len(before) > 0


def test_validate_reports_problems_with_their_place(tmp_path: Path) -> None:
    """validate prints file:line: pointer: message for each problem and exits 1."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.read_text().replace("holder: hub,", "holder: hubb,"))
    done = run("validate", str(MINIMAL), str(bad), cwd=tmp_path)
    assert done.returncode == 1
    assert "minimal.yaml: ok: pathway minimal version 1" in done.stdout
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if "hubb" in text)
    assert f"{bad}:{line}: /states/0/holder: unknown team 'hubb'" in done.stderr


def test_init_with_a_bad_definition_creates_nothing(tmp_path: Path) -> None:
    """A bad --pathway leaves no store behind."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\n")
    done = run("init", "--db", "new.db", "--pathway", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert "is a required property" in done.stderr
    assert not (tmp_path / "new.db").exists()


def test_db_defaults_to_the_environment_variable(tmp_path: Path) -> None:
    """--db falls back to $PATHWAY_DB."""
    env = {"PATHWAY_DB": str(tmp_path / "env.db")}
    assert run("init", "--pathway", str(MINIMAL), cwd=tmp_path, env=env).returncode == 0
    assert (tmp_path / "env.db").exists()


def test_checkpoint_then_verify_against_it(workdir: Path) -> None:
    """audit checkpoint prints JSON that audit verify --against accepts (from a file too)."""
    run("case", "open", "C1", "--actor", "w1", "--team", "hub", cwd=workdir)
    head = run("audit", "checkpoint", cwd=workdir).stdout.strip()
    assert json.loads(head)["position"] == 1
    (workdir / "head.json").write_text(head)
    done = run("audit", "verify", "--against", "head.json", cwd=workdir)
    assert done.returncode == 0
    assert "including checkpoint position 1" in done.stdout


@pytest.mark.parametrize("name", sorted(_all_commands()))
def test_every_command_has_help_that_teaches(name: str) -> None:
    """Each command answers --help with a description, and is listed in docs/cli.md."""
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0
    command = _all_commands()[name]
    assert command.help and len(command.help.strip()) > 20
    assert f"pathway {name}" in (ROOT / "docs" / "cli.md").read_text()


def test_audit_verify_catches_a_tampered_database_file(workdir: Path) -> None:
    """Edit an event in the file behind the library's back: audit verify fails and names it."""
    import sqlite3

    run("case", "open", "C1", "--actor", "w1", "--team", "hub", cwd=workdir)
    run(
        "case",
        "fire",
        "C1",
        "book_choice_appointment",
        "--actor",
        "w2",
        "--team",
        "lets",
        cwd=workdir,
    )
    assert run("audit", "verify", cwd=workdir).returncode == 0
    with sqlite3.connect(workdir / "pathway.db") as conn:
        conn.execute("DROP TRIGGER events_refuse_update")
        conn.execute("UPDATE events SET actor_id = 'someone-else' WHERE position = 2")
    done = run("audit", "verify", cwd=workdir)
    assert done.returncode == 1
    assert done.stderr.startswith("FAILED: event at position 2 (id ")
    assert "case C1): its contents do not match its hash" in done.stderr


def test_the_command_line_starts_without_importing_what_only_some_commands_need() -> None:
    """Start-up is part of every command's time (a report's included): the validators, sqlite-utils,
    each report's module, the importers, the samples, migration and the optional extras are
    imported by the commands that use them, not by ``import pathway.cli``."""
    heavy = [
        "jsonschema", "sqlite_utils", "psycopg", "plotly", "pathway.dashboard",
        "pathway.importer", "pathway.placement_import", "pathway.samples", "pathway.migrate",
        "pathway.walkthrough", "pathway.reports.handoffs", "pathway.reports.holding",
        "pathway.reports.funding", "pathway.reports.waits",
    ]  # fmt: skip
    code = (
        "import json, sys, pathway.cli; "
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_idempotency_keys_and_a_clock_far_ahead_on_the_command_line(workdir: Path) -> None:
    """`case open` takes a key; the same call again prints the first result, another call with
    the key is exit 2 naming what differs; an --at in 2099 is exit 2. Nothing is written."""
    opened = ["case", "open", "C1", "--actor", "w1", "--team", "hub", "--format", "json"]
    first = run(*opened, "--idempotency-key", "o1", cwd=workdir)
    assert first.returncode == 0, first.stderr
    again = run(*opened, "--idempotency-key", "o1", cwd=workdir)
    assert (again.returncode, again.stdout) == (0, first.stdout)
    other = run(*opened, "--set", "route=gp", "--idempotency-key", "o1", cwd=workdir)
    assert other.returncode == 2
    assert other.stderr.strip() == (
        "Error: idempotency key 'o1' was already used for open on case C1 with a different "
        "data: a retry must repeat the first call exactly; use a new key for a new call "
        "(nothing was written)"
    )
    fired = ["case", "fire", "C1", "book_choice_appointment", "--actor", "w2", "--team", "lets"]
    future = run(*fired, "--at", "2099-01-01T00:00:00Z", cwd=workdir)
    assert future.returncode == 2
    assert future.stderr.startswith("Error: at 2099-01-01T00:00:00.000000+00:00 is more than ")
    assert "5 minutes ahead of the clock" in future.stderr and "Traceback" not in future.stderr
    history = run("case", "history", "C1", "--format", "json", cwd=workdir)
    assert [e["trigger"] for e in json.loads(history.stdout)] == ["open"]
