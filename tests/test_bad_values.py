"""Bad values a person types: instants out of range, money and counts in other scripts or with stray
commas, and read commands pointed at a file that is not a store (issue 16 item 5).

Each ends in one line naming the option or field, exit code 2, no traceback and nothing written.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import MINIMAL
from hypothesis import given
from hypothesis import strategies as st

import pathway
from pathway.errors import InstantOutOfRange, InvalidRequest, StoreError
from pathway.placements import parse_pence, parse_share
from pathway.reports.scope import Scope
from pathway.store import open_store
from pathway.timeutil import parse_instant, to_utc

# Out of range: the first cannot be held in UTC (year 10000), the second falls in year 0.
FAR_FUTURE = "9999-12-31T23:59:59-23:59"
FAR_PAST = "0001-01-01T00:00:00+01:00"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATHWAY_DB"}
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    done = run("init", "--pathway", str(MINIMAL), "--db", "s.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


# --- instants ----------------------------------------------------------------------------------


def test_an_instant_utc_cannot_hold_is_refused_by_the_parser_not_an_overflow() -> None:
    for text in (FAR_FUTURE, FAR_PAST, "1899-12-31T23:59:59Z", "3000-01-01"):
        with pytest.raises(InstantOutOfRange, match="outside the instants") as caught:
            parse_instant(text)
        assert repr(text) in str(caught.value)
        assert isinstance(caught.value, InvalidRequest) and isinstance(caught.value, ValueError)


def test_the_ends_of_the_range_are_accepted() -> None:
    assert parse_instant("1900-01-01T00:00:00Z") == datetime(1900, 1, 1, tzinfo=UTC)
    # 2999-12-31T23:00-01:00 is 3000-01-01T00:00Z: just past the end.
    assert parse_instant("2999-12-31T22:59:59.999999-01:00") == datetime(
        2999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC
    )
    with pytest.raises(InstantOutOfRange):
        parse_instant("2999-12-31T23:00:00-01:00")
    with pytest.raises(InstantOutOfRange):
        parse_instant("1900-01-01T00:30:00+01:00")  # 1899-12-31T23:30Z


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-23, minutes=-59)),
                                               timezone(timedelta(hours=23, minutes=59))])))  # fmt: skip
def test_to_utc_either_converts_in_range_or_raises_invalid_request(value: datetime) -> None:
    """Independent check: convert by subtracting the offset in arithmetic on naive values."""
    offset = value.utcoffset()
    assert offset is not None
    naive = value.replace(tzinfo=None)
    low, high = datetime(1900, 1, 1), datetime(3000, 1, 1)
    # naive - offset would overflow near the ends; compare before subtracting.
    inside = low + offset <= naive < high + offset if low + offset <= high else False
    if inside:
        assert to_utc(value) == (naive - offset).replace(tzinfo=UTC)
    else:
        with pytest.raises(InstantOutOfRange):
            to_utc(value)


@pytest.mark.parametrize(
    "args",
    [
        ["report", "handoffs", "--as-of", FAR_FUTURE],
        ["report", "holding", "--since", FAR_PAST],
        ["report", "activity", "--until", FAR_FUTURE],
        ["report", "waits", "--as-of", FAR_PAST],
        ["dashboard", "--out", "x.html", "--as-of", FAR_FUTURE],
        ["dashboard", "--out", "x.html", "--since", FAR_PAST],
        ["case", "open", "C1", "--actor", "w", "--team", "hub", "--at", FAR_FUTURE],
        [
            "case",
            "fire",
            "C1",
            "book_choice_appointment",
            "--actor",
            "w",
            "--team",
            "lets",
            "--at",
            FAR_PAST,
        ],
        ["case", "triggers", "C1", "--actor", "w", "--team", "lets", "--at", FAR_FUTURE],
    ],
)
def test_every_instant_option_refuses_out_of_range_with_exit_2(
    store_dir: Path, args: list[str]
) -> None:
    before = digest(store_dir / "s.db")
    done = run(*args, "--db", "s.db", cwd=store_dir)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    option = next(a for a in args if a in ("--as-of", "--since", "--until", "--at"))
    assert f"Invalid value for '{option}'" in done.stderr
    assert "outside the instants care-pathway accepts" in done.stderr
    assert digest(store_dir / "s.db") == before
    assert not (store_dir / "x.html").exists()


def test_the_api_refuses_out_of_range_instants_naming_the_argument(tmp_path: Path) -> None:
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-23, minutes=-59)))
    with pytest.raises(InvalidRequest, match=r"^as_of: .*outside"):
        Scope(as_of=far)
    with pytest.raises(InvalidRequest, match=r"^since: .*outside"):
        Scope(as_of=datetime(2026, 1, 1, tzinfo=UTC), since=datetime(1, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidRequest, match=r"^until: .*outside"):
        Scope(as_of=datetime(2026, 1, 1, tzinfo=UTC), until=datetime(3000, 1, 1))
    compiled = pathway.load_pathway(MINIMAL)
    with open_store(tmp_path / "s.db") as store:
        engine = pathway.Engine(compiled, store)
        actor = pathway.Actor("w1", "hub")
        with pytest.raises(InvalidRequest, match=r"^at: .*outside"):
            engine.open_case("C1", actor, at=far)
        assert list(store.events()) == []
        engine.open_case("C1", actor, at=datetime(2026, 1, 5, tzinfo=UTC))
        with pytest.raises(InvalidRequest, match=r"^at: .*outside"):
            engine.fire("C1", "book_choice_appointment", pathway.Actor("w2", "lets"),
                        at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))  # fmt: skip
        assert len(list(store.events())) == 1


# --- money -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "\u0663\u0664\u0665",
        "\uff13\uff14\uff15",
        "1,2,3",
        "12,34",
        "1234,567",
        "1_000",
        "1,234,",
        "££12",
        "12.5.0",
    ],
)
def test_budget_refuses_other_digits_and_stray_commas(store_dir: Path, text: str) -> None:
    done = run("report", "funding", "--db", "s.db", "--budget", text, cwd=store_dir)
    assert done.returncode == 2, done.stdout
    assert "Invalid value for '--budget'" in done.stderr
    assert "digits 0-9" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "pence"),
    [("11500000", 1_150_000_000), ("£11,500,000.00", 1_150_000_000), ("1,234.5", 123_450),
     ("999", 99_900), ("12,345", 1_234_500)],
)  # fmt: skip
def test_budget_accepts_plain_and_correctly_grouped_pounds(text: str, pence: int) -> None:
    from pathway.cli import parse_budget

    assert parse_budget(None, None, text) == pence  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "\u0663\u0664\u0665",
        "\u0969\u096a\u096b",
        "\uff13\uff14\uff15",
        "1,234",
        "12\n3",
        "345\u0660",
    ],
)
def test_data_money_and_shares_take_ascii_digits_only(text: str) -> None:
    with pytest.raises(ValueError, match=r"^weekly_cost: .*digits 0-9"):
        parse_pence(text, "weekly_cost")
    with pytest.raises(ValueError, match=r"^council_pct: .*digits 0-9"):
        parse_share(text, "council_pct")


def test_data_money_still_reads_plain_pounds() -> None:
    assert parse_pence("345", "weekly_cost") == 34_500
    assert parse_pence(" 912.5 ", "weekly_cost") == 91_250
    assert parse_share("33.33", "council_pct") == 3333


# --- counts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "text"),
    [("--top", "\u0663"), ("--top", "1_0"), ("--top", "+3"), ("--threshold", "\uff12"),
     ("--threshold", " 2")],
)  # fmt: skip
def test_counts_take_ascii_digits_only(store_dir: Path, option: str, text: str) -> None:
    done = run("report", "s75", "--db", "s.db", option, text, cwd=store_dir)
    assert done.returncode == 2
    assert f"Invalid value for '{option}'" in done.stderr
    assert "whole number in the digits 0-9" in done.stderr


def test_expected_version_takes_ascii_digits_only(store_dir: Path) -> None:
    done = run(
        "case", "fire", "C1", "book_choice_appointment", "--actor", "w", "--team", "lets",
        "--expected-version", "\u0661", "--db", "s.db", cwd=store_dir,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Invalid value for '--expected-version'" in done.stderr


def test_counts_in_ascii_digits_still_work(store_dir: Path) -> None:
    done = run("report", "s75", "--db", "s.db", "--top", "3", "--threshold", "0", cwd=store_dir)
    assert done.returncode == 0, done.stderr


# --- read commands never create a store ---------------------------------------------------------


READ_COMMANDS = [
    ["audit", "verify"],
    ["audit", "checkpoint"],
    ["report", "handoffs"],
    ["report", "funding"],
    ["dashboard", "--out", "board.html"],
    ["case", "show", "C1"],
    ["case", "history", "C1"],
    ["case", "triggers", "C1", "--actor", "w", "--team", "hub", "--pathway", str(MINIMAL)],
    ["case", "fire", "C1", "close", "--actor", "w", "--team", "hub", "--pathway", str(MINIMAL)],
    ["migrate", "--from", "{db}", "--to", "copy.db"],
]


@pytest.mark.parametrize("args", READ_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_read_command_on_an_empty_file_leaves_it_untouched(
    tmp_path: Path, args: list[str]
) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    if "--from" in args:
        full = [a.replace("{db}", "empty.db") for a in args]
    else:
        full = [*args, "--db", "empty.db"]
    done = run(*full, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert db.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]
    assert "empty.db: not a care-pathway store (an empty file" in done.stderr


def test_a_read_command_on_another_programs_database_leaves_it_untouched(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    before = digest(db)
    done = run("audit", "verify", "--db", "other.db", cwd=tmp_path)
    assert done.returncode == 2
    assert "not a care-pathway store (a SQLite database of another program)" in done.stderr
    assert digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_open_store_without_create_refuses_an_empty_file(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    with pytest.raises(StoreError, match="not a care-pathway store"):
        open_store(db, create=False)
    assert db.read_bytes() == b""
    with open_store(db) as store:  # creating is still what open_store does by default
        assert list(store.events()) == []


def test_a_read_command_still_reads_a_store(store_dir: Path) -> None:
    before = digest(store_dir / "s.db")
    done = run("audit", "verify", "--db", "s.db", cwd=store_dir)
    assert done.returncode == 0, done.stderr
    assert digest(store_dir / "s.db") == before
