"""Naive date-times at the edge: read as UTC, as local time in a zone, or refused (issue 18.6).

Figures are worked by hand from the UK's rule (since 1996): British Summer Time, UTC+1, runs from
01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October. In 2026 those
Sundays are 29 March and 25 October.
"""

from __future__ import annotations

import calendar
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import HUB, LETS, MINIMAL, FakeClock
from hypothesis import given
from hypothesis import strategies as st

import pathway
from pathway.errors import InvalidRequest, NaiveInstantRefused
from pathway.importer import import_events
from pathway.reports import Scope
from pathway.timeutil import (
    NaiveTime,
    current_naive_time,
    format_instant,
    naive_time,
    parse_instant,
    to_utc,
)

LONDON = NaiveTime.parse("local:Europe/London")


def z(text: str) -> str:
    """The canonical stored text of a UTC wall time written ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat(timespec="microseconds")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-05 09:00", "2026-01-05 09:00"),  # GMT: local is UTC
        ("2026-07-01 09:00", "2026-07-01 08:00"),  # BST: an hour ahead of UTC
        ("2026-07-01", "2026-06-30 23:00"),  # a bare date is local midnight
        ("2026-03-29 00:59", "2026-03-29 00:59"),  # the last minute of GMT in March
        ("2026-03-29 02:00", "2026-03-29 01:00"),  # the first minute of BST
        ("2026-10-25 00:59", "2026-10-24 23:59"),  # still BST
        ("2026-10-25 01:30", "2026-10-25 00:30"),  # repeated hour: the first (BST) one
        ("2026-10-25 02:00", "2026-10-25 02:00"),  # GMT again
        ("2026-07-01T09:00:00+00:00", "2026-07-01 09:00"),  # an offset is never reinterpreted
        ("2026-07-01T09:00:00Z", "2026-07-01 09:00"),
    ],
)
def test_local_london_reads_wall_clock_time(text: str, expected: str) -> None:
    assert format_instant(parse_instant(text, LONDON)) == z(expected)


@pytest.mark.parametrize("text", ["2026-03-29 01:00", "2026-03-29 01:30", "2026-03-29T01:59:59"])
def test_local_time_the_clocks_skip_is_refused(text: str) -> None:
    with pytest.raises(NaiveInstantRefused, match="does not exist in Europe/London") as caught:
        parse_instant(text, LONDON)
    assert repr(text) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_utc_is_the_default_and_refuse_refuses_naive_text_only() -> None:
    assert format_instant(parse_instant("2026-07-01 09:00")) == z("2026-07-01 09:00")
    with pytest.raises(NaiveInstantRefused, match="'2026-07-01 09:00' has no UTC offset"):
        parse_instant("2026-07-01 09:00", NaiveTime.REFUSE)
    with pytest.raises(NaiveInstantRefused, match="'2026-07-01' has no UTC offset"):
        parse_instant("2026-07-01", NaiveTime.REFUSE)
    assert format_instant(parse_instant("2026-07-01T09:00+01:00", NaiveTime.REFUSE)) == z(
        "2026-07-01 08:00"
    )


def test_policy_text_forms_and_errors() -> None:
    assert NaiveTime.parse(" UTC ") == NaiveTime.UTC
    assert NaiveTime.parse("refuse") is NaiveTime.REFUSE
    assert str(LONDON) == "local:Europe/London"
    assert NaiveTime.parse(str(LONDON)) == LONDON
    for bad in ("local:", "london", "local:Europe/Narnia", ""):
        with pytest.raises(ValueError, match=r"naive-time policy|unknown time zone"):
            NaiveTime.parse(bad)


def test_context_then_environment_then_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATHWAY_NAIVE_TIME", raising=False)
    assert current_naive_time() == NaiveTime.UTC
    monkeypatch.setenv("PATHWAY_NAIVE_TIME", "local:Europe/London")
    assert current_naive_time() == LONDON
    assert to_utc(datetime(2026, 7, 1, 9)) == datetime(2026, 7, 1, 8, tzinfo=UTC)
    with naive_time("refuse"):
        assert current_naive_time() is NaiveTime.REFUSE
        with pytest.raises(NaiveInstantRefused):
            to_utc(datetime(2026, 7, 1, 9))
    assert current_naive_time() == LONDON
    monkeypatch.setenv("PATHWAY_NAIVE_TIME", "summer")
    with pytest.raises(NaiveInstantRefused, match=r"\$PATHWAY_NAIVE_TIME: 'summer'"):
        current_naive_time()


def test_engine_reads_a_naive_at_by_its_policy(tmp_path: Path) -> None:
    """A naive ``at`` is BST wall time under local:Europe/London, and refused under refuse."""
    clock = FakeClock(datetime(2026, 8, 1, tzinfo=UTC))
    p = pathway.load_pathway(MINIMAL)
    with pathway.open_store(tmp_path / "cases.db") as store:
        local = pathway.Engine(p, store, clock=clock, naive_time="local:Europe/London")
        case = local.open_case("C1", HUB, at=datetime(2026, 7, 1, 9, 0))
        assert case.opened_at == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
        strict = pathway.Engine(p, store, clock=clock, naive_time=NaiveTime.REFUSE)
        with pytest.raises(InvalidRequest, match=r"^at: 2026-07-02T09:00:00 has no UTC offset"):
            strict.fire("C1", "book_choice_appointment", LETS, at=datetime(2026, 7, 2, 9))
        with pytest.raises(InvalidRequest, match=r"^at: .* does not exist in Europe/London"):
            local.fire("C1", "book_choice_appointment", LETS, at=datetime(2027, 3, 28, 1, 30))
        assert [e.trigger for e in store.history("C1")] == ["open"]  # nothing written
        moved = strict.fire(
            "C1", "book_choice_appointment", LETS, at=datetime(2026, 7, 2, 9, tzinfo=UTC)
        )
        assert moved.version == 2
        utc = pathway.Engine(p, store, clock=clock)  # the default: naive is UTC
        assert utc.naive_time is None


def test_scope_reads_naive_instants_when_it_is_made() -> None:
    with naive_time(LONDON):
        scope = Scope(as_of=datetime(2026, 7, 1), since=datetime(2026, 6, 1))
    assert scope.as_of == datetime(2026, 6, 30, 23, tzinfo=UTC)
    assert scope.since == datetime(2026, 5, 31, 23, tzinfo=UTC)
    assert scope.header()["as_of"] == z("2026-06-30 23:00")
    with naive_time("refuse"), pytest.raises(InvalidRequest, match=r"^since: "):
        Scope(as_of=datetime(2026, 7, 1, tzinfo=UTC), since=datetime(2026, 6, 1))


CSV = (
    "case_id,occurred_at,state,team\n"
    "C1,2026-10-25 00:30,referral,hub\n"
    "C1,2026-10-25 01:30,choice_appointment,lets\n"
    "C1,2026-10-25T01:30:00+00:00,brief_enablement,lets\n"
)


def test_import_reads_naive_rows_in_the_zone_and_refuses_them_strictly(tmp_path: Path) -> None:
    with pathway.open_store(tmp_path / "local.db") as store:
        import_events(store, "log.csv", text=CSV, naive_time="local:Europe/London")
        times = [format_instant(e.occurred_at) for e in store.history("C1")]
        # 00:30 BST = 23:30Z the day before; 01:30 (repeated) = the first, 00:30Z; 01:30Z as given
        assert times == [z("2026-10-24 23:30"), z("2026-10-25 00:30"), z("2026-10-25 01:30")]
    with pathway.open_store(tmp_path / "strict.db") as store:
        with pytest.raises(pathway.DefinitionError) as caught:
            import_events(store, "log.csv", text=CSV, naive_time="refuse")
        lines = {(p.line, p.pointer) for p in caught.value.problems}
        assert lines == {(2, "occurred_at"), (3, "occurred_at")}
        assert list(store.cases()) == []


def _last_sunday(year: int, month: int) -> int:
    last = calendar.monthrange(year, month)[1]
    return last - (calendar.weekday(year, month, last) + 1) % 7


@given(
    st.datetimes(min_value=datetime(1997, 1, 1), max_value=datetime(2037, 12, 31)),
)
def test_london_offset_follows_the_uk_rule(wall: datetime) -> None:
    """Independent of zoneinfo: BST from 01:00Z on the last Sunday of March to 01:00Z on the last
    Sunday of October; a skipped wall time is refused, a repeated one is the BST reading."""
    wall = wall.replace(fold=0)
    year = wall.year
    bst_from = datetime(year, 3, _last_sunday(year, 3), 1)  # UTC, naive
    bst_to = datetime(year, 10, _last_sunday(year, 10), 1)
    skipped = bst_from <= wall < bst_from + timedelta(hours=1)
    if skipped:
        with pytest.raises(NaiveInstantRefused):
            to_utc(wall, LONDON)
        return
    as_bst = wall - timedelta(hours=1)  # the UTC instant if the wall time is BST
    expected = as_bst if bst_from <= as_bst < bst_to else wall
    assert to_utc(wall, LONDON) == expected.replace(tzinfo=UTC)


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if k not in ("PATHWAY_DB", "PATHWAY_NAIVE_TIME")
    }
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd,
        env={**full_env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_option_and_environment(tmp_path: Path) -> None:
    assert run("init", "--pathway", str(MINIMAL), cwd=tmp_path, env={}).returncode == 0
    opened = run(
        "--naive-time", "local:Europe/London",
        "case", "open", "C1", "--actor", "w1", "--team", "hub", "--at", "2026-07-01 09:00",
        "--format", "json", cwd=tmp_path, env={},
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert '"opened_at": "2026-07-01T08:00:00.000000+00:00"' in opened.stdout
    refused = run(
        "case", "fire", "C1", "book_choice_appointment", "--actor", "w2", "--team", "lets",
        "--at", "2026-07-02 09:00", cwd=tmp_path, env={"PATHWAY_NAIVE_TIME": "refuse"},
    )  # fmt: skip
    assert refused.returncode == 2
    assert "--at" in refused.stderr and "has no UTC offset" in refused.stderr
    assert "Traceback" not in refused.stderr
    bad = run("report", "handoffs", cwd=tmp_path, env={"PATHWAY_NAIVE_TIME": "local:Mars/Olympus"})
    assert bad.returncode == 2
    assert "--naive-time" in bad.stderr and "unknown time zone 'Mars/Olympus'" in bad.stderr
    history = run("case", "history", "C1", "--format", "json", cwd=tmp_path, env={})
    assert history.stdout.count('"trigger"') == 1  # the refused fire wrote nothing


def test_cli_import_and_report_follow_the_policy(tmp_path: Path) -> None:
    """``pathway import`` refuses naive rows under refuse (exit 2, the line named, nothing
    written) and reads them as London time under local; ``--as-of`` follows the same policy."""
    assert run("init", "--pathway", str(MINIMAL), cwd=tmp_path, env={}).returncode == 0
    log = tmp_path / "log.csv"
    log.write_text(CSV, encoding="utf-8")
    refused = run("import", str(log), cwd=tmp_path, env={"PATHWAY_NAIVE_TIME": "refuse"})
    assert refused.returncode == 2
    assert "log.csv:2" in refused.stderr and "has no UTC offset" in refused.stderr
    assert "Traceback" not in refused.stderr
    unknown = run("case", "history", "C1", cwd=tmp_path, env={})
    assert unknown.returncode != 0 and "C1" in unknown.stderr  # the refused import wrote nothing
    imported = run("--naive-time", "local:Europe/London", "import", str(log), cwd=tmp_path, env={})
    assert imported.returncode == 0, imported.stderr
    history = run("case", "history", "C1", "--format", "json", cwd=tmp_path, env={})
    assert history.stdout.count('"occurred_at": "2026-10-24T23:30:00.000000+00:00"') == 1
    report = run(
        "--naive-time", "local:Europe/London", "report", "handoffs", "--as-of", "2026-10-25 01:30",
        "--format", "json", cwd=tmp_path, env={},
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert '"as_of": "2026-10-25T00:30:00.000000+00:00"' in report.stdout
