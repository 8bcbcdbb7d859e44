"""Hostile CSV files given to `pathway import` (event logs and placements), on both stores.

Each once ended in a traceback (exit 1), or, for a NUL byte, was stored in SQLite and then
blocked migration to PostgreSQL. Each must be one problem naming the file, line and column,
exit 2, and the store exactly as it was.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import MINIMAL

from pathway.cli import cli

EVENTS_HEADER = b"case_id,occurred_at,state,team\n"
GOOD_EVENTS = EVENTS_HEADER + b"C1,2026-01-05T09:00:00Z,referred,hub\n"
PLACEMENTS_HEADER = (
    b"case_id,placement_id,care_type,weekly_cost,start_date,end_date,council_pct,nhs_pct,"
    b"person_pct,agreed_by,s117,eligibility_date,health_screen_date,provider\n"
)
PLACEMENT_ROW = b"C1,P1,residential,887.00,2025-04-01,,100,,,council,no,,,%s\n"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def snapshot(backend: Any, location: str) -> Any:
    """Everything the store holds: the file's bytes (SQLite), or every row of every table."""
    if backend.name == "sqlite":
        return {
            suffix: hashlib.sha256(Path(location + suffix).read_bytes()).hexdigest()
            for suffix in ("", "-wal")
            if Path(location + suffix).exists()
        }
    with backend.raw(location) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
        ]
        return {
            table: sorted(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall()))
            for table in tables
        }


@pytest.fixture
def loaded(store_factory: Any, tmp_path: Path) -> tuple[Any, str]:
    """A store on the minimal pathway holding one imported case, C1."""
    location = store_factory.location()
    done = invoke("init", "--db", location, "--pathway", str(MINIMAL))
    assert done.exit_code == 0, done.output
    good = tmp_path / "good.csv"
    good.write_bytes(GOOD_EVENTS)
    done = invoke("import", str(good), "--db", location)
    assert done.exit_code == 0, done.output
    return store_factory, location


EVENT_FILES = {
    "latin-1": (
        EVENTS_HEADER + b"C2,2026-01-05T09:00:00Z,r\xe9ferred,hub\n",
        r"bad\.csv:2: column 26: byte 0xe9 is not UTF-8",  # C2,2026-01-05T09:00:00Z,r is 25
    ),
    "latin-1 header": (
        b"case_id,occurred_at,\xe9tat,state,team\n",
        r"bad\.csv:1: column 21: byte 0xe9 is not UTF-8",  # case_id,occurred_at, is 20
    ),
    "latin-1 after a BOM": (
        b"\xef\xbb\xbfcase_id,occurred_at,\xe9tat,state,team\n",
        r"bad\.csv:1: column 21: byte 0xe9 is not UTF-8",  # the BOM is not counted
    ),
    "far future with offset": (
        EVENTS_HEADER + b"C2,9999-12-31T23:59:59-23:59,referred,hub\n",
        r"bad\.csv:2: occurred_at: '9999-12-31T23:59:59-23:59' is outside the instants",
    ),
    "year one with offset": (
        EVENTS_HEADER + b"C2,0001-01-01T00:00:00+01:00,referred,hub\n",
        r"bad\.csv:2: occurred_at: '0001-01-01T00:00:00\+01:00' is outside the instants",
    ),
    "NUL in a field": (
        EVENTS_HEADER + b"C2,2026-01-05T09:00:00Z,ref\x00erred,hub\n",
        r"bad\.csv:2: state: column 3, character 4: a NUL character \(byte 0\) is not allowed",
    ),
    "NUL in an extra column": (
        b"case_id,occurred_at,state,team,note\n"
        b"C2,2026-01-05T09:00:00Z,referred,hub,ok\n"
        b"C3,2026-01-05T09:00:00Z,referred,hub,\x00\n",
        r"bad\.csv:3: note: column 5, character 1: a NUL character",
    ),
    "NUL in the header": (
        b"case_id,occurred_at,state,team,no\x00te\n",
        r"bad\.csv:1: no\x00te: column 5, character 3: a NUL character",
    ),
}


@pytest.mark.parametrize("kind", list(EVENT_FILES))
def test_a_hostile_event_log_is_one_problem_exit_2_and_writes_nothing(
    loaded: tuple[Any, str], tmp_path: Path, kind: str
) -> None:
    backend, location = loaded
    content, expected = EVENT_FILES[kind]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    before = snapshot(backend, location)
    keep = ("--keep", "note") if kind == "NUL in an extra column" else ()  # a declared column
    done = invoke("import", str(bad), "--db", location, *keep)
    assert done.exit_code == 2, done.output
    assert "Traceback" not in done.output
    lines = done.output.splitlines()
    assert lines[0] == "Error: invalid file:"
    assert len(lines) == 2, done.output
    assert re.search(expected, lines[1]), lines[1]
    assert snapshot(backend, location) == before


PLACEMENT_FILES = {
    "latin-1": (
        PLACEMENTS_HEADER + PLACEMENT_ROW % b"Caf\xe9 Homes",
        rf"bad\.csv:2: column {len(PLACEMENT_ROW.split(b'%s')[0] + b'Caf') + 1}: byte 0xe9 is not UTF-8",
    ),
    "NUL in the provider": (
        PLACEMENTS_HEADER + PLACEMENT_ROW % b"Elm\x00",
        r"bad\.csv:2: provider: column 14, character 4: a NUL character",
    ),
}


@pytest.mark.parametrize("kind", list(PLACEMENT_FILES))
def test_a_hostile_placements_file_is_one_problem_exit_2_and_writes_nothing(
    loaded: tuple[Any, str], tmp_path: Path, kind: str
) -> None:
    backend, location = loaded
    content, expected = PLACEMENT_FILES[kind]
    good = tmp_path / "good-placements.csv"
    good.write_bytes(PLACEMENTS_HEADER + PLACEMENT_ROW % b"Elm")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    before = snapshot(backend, location)
    done = invoke("import", "--placements", str(bad), "--db", location)
    assert done.exit_code == 2, done.output
    lines = done.output.splitlines()
    assert lines[0] == "Error: invalid file:" and len(lines) == 2, done.output
    assert re.search(expected, lines[1]), lines[1]
    assert snapshot(backend, location) == before
    # The same file without the hostile byte imports: the refusal was for that byte alone.
    done = invoke("import", "--placements", str(good), "--db", location)
    assert done.exit_code == 0, done.output


def test_the_edges_of_the_instants_a_store_holds_still_import(
    loaded: tuple[Any, str], tmp_path: Path
) -> None:
    """The first and last instants the library accepts (1900-01-01T00:00:00Z up to, not
    including, 3000-01-01T00:00:00Z in UTC: pathway.timeutil) import; one outside is refused
    with its line."""
    _, location = loaded
    edge = tmp_path / "edge.csv"
    edge.write_bytes(
        EVENTS_HEADER
        + b"E1,1900-01-01T00:00:00Z,referred,hub\n"
        + b"E2,2999-12-31T23:59:59.999999+00:00,referred,hub\n"
    )
    done = invoke("import", str(edge), "--db", location)
    assert done.exit_code == 0, done.output
    done = invoke("case", "show", "E2", "--db", location)
    assert "2999-12-31" in done.output
    beyond = tmp_path / "beyond.csv"
    beyond.write_bytes(EVENTS_HEADER + b"E3,1899-12-31T23:59:59Z,referred,hub\n")
    done = invoke("import", str(beyond), "--db", location)
    assert done.exit_code == 2 and "beyond.csv:2: occurred_at:" in done.output, done.output
