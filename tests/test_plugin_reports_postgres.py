"""The first-party plug-ins' reports give the same JSON on PostgreSQL as on SQLite.

Each plug-in's sample case (``plugins/<name>/samples/``) is played into a SQLite store several
times (as different cases, shifted in time, some stopped part-way so the cases stand at different
steps), the store is copied to a fresh PostgreSQL schema with :func:`pathway.migrate.migrate_store`,
and the plug-in's report is run on both at several scopes: after every event, in the middle, a
period (``since``/``until``), a team, a team in a period. The JSON, dumped, must be the same text.
The dialect helpers the reports use (:mod:`pathway.store.dialect`) are checked on both backends
against the values SQLite's JSON functions give.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import SESSION_PREFIX, Backend, PostgresBackend

import pathway
from pathway.migrate import migrate_store
from pathway.reports import Scope
from pathway.samples import load_sample, play_steps, sample_pathway
from pathway.store import dialect

ROOT = Path(__file__).resolve().parent.parent

PLUGINS = {
    # plug-in folder: (its report, the team of the team scopes)
    "safeguarding": ("safeguarding", "network"),
    "network_plus": ("network_outcomes", "network"),
    "intensive_enablement": ("move_on", "iet"),
}
COPIES = 4
"""Each sample is played this many times: copy k shifted by 9k days, its last 3k steps left out."""


def _report(name: str) -> Any:
    """The report function the plug-in registers under ``name``."""
    from care_pathway_intensive_enablement import move_on_report
    from care_pathway_network_plus import network_outcomes_report
    from care_pathway_safeguarding import safeguarding_report

    return {
        "safeguarding": safeguarding_report,
        "network_outcomes": network_outcomes_report,
        "move_on": move_on_report,
    }[name]


@pytest.fixture(scope="module", params=sorted(PLUGINS))
def both(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(plug-in, SQLite store, PostgreSQL store, pathway, first and last event) of one plug-in."""
    url = request.getfixturevalue("pg_url")
    plugin = request.param
    (sample_file,) = (ROOT / "plugins" / plugin / "samples").glob("*.yaml")
    sample = load_sample(sample_file)
    compiled = sample_pathway(sample)
    folder = tmp_path_factory.mktemp(f"plugin-{plugin}")
    lite_location = str(folder / "cases.db")
    lite = pathway.open_store(lite_location)
    engine = pathway.Engine(compiled, lite)
    for k in range(COPIES):
        shift = timedelta(days=9 * k)
        steps = [attrs.evolve(s, when=s.when + shift) for s in sample.steps]
        played = list(play_steps(engine, f"{sample.id}-{k}", steps[: len(steps) - 3 * k]))
        assert all(outcome.as_scripted for outcome in played)
    first, last = lite.connection.execute(
        "SELECT MIN(occurred_at), MAX(occurred_at) FROM events"
    ).fetchone()
    lite.close()
    backend = PostgresBackend(url, f"{SESSION_PREFIX}_plug")
    server_location = backend.location(plugin)
    lo, hi = datetime.fromisoformat(first), datetime.fromisoformat(last)
    migrate_store(lite_location, server_location, as_of=hi)
    lite = pathway.open_store(lite_location, create=False)
    server = pathway.open_store(server_location, create=False)
    assert (
        server.connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        == (lite.connection.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    )
    yield plugin, lite, server, compiled, lo, hi
    lite.close()
    server.close()
    backend.cleanup()


def _scopes(lo: datetime, hi: datetime, team: str) -> dict[str, Scope]:
    mid = lo + (hi - lo) / 2
    return {
        "now": Scope(hi + timedelta(days=30)),
        "middle": Scope(mid),
        "period": Scope(hi, since=lo + (hi - lo) / 3, until=mid),
        "team": Scope(hi + timedelta(days=1), team=team),
        "team-period": Scope(hi, since=lo + (hi - lo) / 4, until=mid, team=team),
    }


def _run(plugin: str, conn: Any, scope: Scope, compiled: pathway.Pathway) -> dict[str, Any]:
    report, _team = PLUGINS[plugin]
    result: dict[str, Any] = _report(report)(conn, scope, compiled).to_json()
    return result


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["now", "middle", "period", "team", "team-period"])
def test_plugin_report_is_identical_on_both_stores(both: Any, name: str) -> None:
    """The plug-in's report, dumped, is the same text on PostgreSQL as on SQLite."""
    plugin, lite, server, compiled, lo, hi = both
    scope = _scopes(lo, hi, PLUGINS[plugin][1])[name]
    mine = _run(plugin, lite.connection, scope, compiled)
    theirs = _run(plugin, server.connection, scope, compiled)
    assert json.dumps(theirs) == json.dumps(mine)


@pytest.mark.postgres
def test_the_comparison_covers_what_the_reports_count(both: Any) -> None:
    """Not vacuous: after every event (and in the middle, for the people still in placement) the
    reports count decisions, outcomes, modules and days, with the types SQLite gives."""
    plugin, lite, server, compiled, lo, hi = both
    scopes = _scopes(lo, hi, PLUGINS[plugin][1])
    for conn in (lite.connection, server.connection):
        now = _run(plugin, conn, scopes["now"], compiled)
        if plugin == "safeguarding":
            assert now["concerns"] > 0
            assert now["s42_decisions"]["yes"] > 0 and now["s42_decisions"]["no"] > 0
            assert now["outcomes"] > 0
        elif plugin == "network_plus":
            assert now["programmes_completed"] > 0
            assert type(now["outcomes_planned"]) is int and now["outcomes_planned"] > 0
            assert type(now["outcomes_achieved"]) is int and now["outcomes_achieved"] > 0
            assert all(m["completed"] > 0 for m in now["modules"])
        else:
            assert now["move_on_offers"] > 0 and now["milestones_achieved"] > 0
            people = now["people"]
            assert {p["stage"] for p in people} >= {"move_on_plan", "placement_audit"}
            # placement_start is a bare date in the sample: days in placement count from it.
            assert any(isinstance(p["days_in_placement"], float) for p in people)
            assert all(isinstance(p["days_in_intensive_enablement"], float) for p in people)
            assert any(p["milestones_planned"] > 0 for p in people)


# --- the helpers, on each backend -----------------------------------------------------------

DOCS = [
    {"s": "yes", "b": True, "i": 3, "f": 2.5, "w": 2.0, "l": ["a", "b"], "n": None, "neg": -4},
    {"s": 1, "b": False, "i": "3", "l": "x", "f": 7, "big": 10**20},
    {},
]
# (SQL of a helper on the connection, the value it must give for each of DOCS)
HELPERS: list[tuple[str, str, list[Any]]] = [
    ("json_text", "s", ["yes", None, None]),
    ("json_text", "b", [None, None, None]),
    ("json_text", "n", [None, None, None]),
    ("json_integer", "i", [3, None, None]),
    ("json_integer", "w", [None, None, None]),
    ("json_integer", "neg", [-4, None, None]),
    ("json_integer", "big", [None, None, None]),
    ("json_number", "f", [2.5, 7.0, None]),
    ("json_number", "i", [3.0, None, None]),
    ("json_array_length", "l", [2, None, None]),
]
DAYS = {
    "2024-01-15": 1705276800000000,
    " 2024-01-15T10:00 ": 1705276800000000,
    "2024-02-29": 1709164800000000,
    "2024-02-30": None,
    "2023-13-01": None,
    "0000-01-01": None,
    "15/01/2024": None,
    "2024-1-5": None,
    "": None,
}


def test_json_and_day_helpers_agree_with_sqlite(store_factory: Backend) -> None:
    """Each helper gives the same value, of the same Python type, on either backend."""
    store = store_factory.open(store_factory.location())
    conn = store.connection
    try:
        for helper, key, expected in HELPERS:
            sql = getattr(dialect, helper)(conn, "x", key)
            got = [
                conn.execute(
                    f"SELECT {sql} FROM (SELECT CAST(? AS TEXT) AS x) AS t", [json.dumps(d)]
                ).fetchone()[0]
                for d in DOCS
            ]
            assert got == expected, (helper, key)
            assert [type(v) for v in got] == [type(v) for v in expected], (helper, key)
        total = conn.execute(
            f"SELECT SUM({dialect.json_integer(conn, 'x', 'i')}) FROM (SELECT CAST(? AS TEXT) AS x"
            " UNION ALL SELECT CAST(? AS TEXT)) AS t",
            ['{"i": 2}', '{"i": 40}'],
        ).fetchone()[0]
        assert total == 42 and type(total) is int
        for text, micros in DAYS.items():
            got = conn.execute(
                f"SELECT {dialect.day_us(conn, 'x')} FROM (SELECT CAST(? AS TEXT) AS x) AS t",
                [text],
            ).fetchone()[0]
            assert got == micros, text
        at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        at_us = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        since_day = dialect.us_to_days(conn, "? - " + dialect.day_us(conn, "x"))
        days = conn.execute(
            f"SELECT {since_day} FROM (SELECT CAST(? AS TEXT) AS x) AS t",
            [at_us, "2026-02-27"],
        ).fetchone()[0]
        assert days == 2.5
        with pytest.raises(ValueError, match="not a plain JSON field name"):
            dialect.json_text(conn, "x", "a'; DROP TABLE events; --")
    finally:
        store.close()
