"""Every report gives the same JSON on PostgreSQL as on SQLite, for the same events.

The same event log is imported into a SQLite file and into a fresh PostgreSQL schema (the server
of ``PATHWAY_TEST_POSTGRES``), and every report of ``pathway.reports.REPORTS`` is run on both at
several scopes: as of now, as of a moment in the middle (events after it left out), a period
(``--since``/``--until``), a team, and a team in a period. The JSON must be identical, byte for
byte once dumped: the same figures (durations are summed as whole microseconds, so the order
rows are added in cannot change the last digit), the same order of every list. Logs: a seeded
generated log of a few thousand cases (``benchmarks/generate_log.py``) and the real receipt log
(``shared/data/receipt.csv``).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SESSION_PREFIX, PostgresBackend
from report_helpers import RECEIPT_DROP, RECEIPT_MAP, receipt_path

import pathway
from pathway.importer import import_events
from pathway.migrate import reports_json
from pathway.reports import REPORTS, Scope, handoffs_report, holding_report, write_handoffs_json

ROOT = Path(__file__).resolve().parent.parent
CASES = 3000
SEED = 20261125

pytestmark = pytest.mark.postgres


def _generated_log() -> str:
    spec = importlib.util.spec_from_file_location(
        "generate_log", ROOT / "benchmarks" / "generate_log.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(module.COLUMNS)
    writer.writerows(module.generate(CASES, SEED))
    return out.getvalue()


@pytest.fixture(scope="module", params=["generated", "receipt"])
def both(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(SQLite store, PostgreSQL store, pathway, time span) holding the same imported log."""
    url = request.getfixturevalue("pg_url")
    backend = PostgresBackend(url, f"{SESSION_PREFIX}_rep")
    folder = tmp_path_factory.mktemp("reports")
    if request.param == "generated":
        text, options = _generated_log(), {"final_states": ["closed"]}
        compiled = pathway.load_pathway("barnet-enablement")
    else:
        path = receipt_path()
        if path is None:
            pytest.skip("shared/data/receipt.csv is not beside the repository")
        text = path.read_text(encoding="utf-8-sig")
        options = {
            "mapping": RECEIPT_MAP,
            "drop": RECEIPT_DROP,
            "final_states": ["T10 Determine necessity to stop indication"],
        }
        compiled = None
    lite = pathway.open_store(folder / "cases.db")
    server = pathway.open_store(backend.location(request.param))
    for store in (lite, server):
        result = import_events(store, "log.csv", text=text, pathway=compiled, **options)
        assert result.rows > 1000
    first, last = lite.connection.execute(
        "SELECT MIN(occurred_at), MAX(occurred_at) FROM events"
    ).fetchone()
    lo, hi = datetime.fromisoformat(first), datetime.fromisoformat(last)
    yield lite, server, compiled, lo, hi, request.param
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


def _all(conn: Any, scope: Scope, compiled: Any) -> dict[str, Any]:
    from pathway.reports import (
        activity_report,
        caseload_report,
        funding_report,
        monthly_report,
        s75_report,
        waits_report,
    )

    return {
        "handoffs": handoffs_report(conn, scope, compiled).to_json(),
        "holding": holding_report(conn, scope).to_json(),
        "s75": s75_report(conn, scope, 1, compiled).to_json(),
        "waits": waits_report(conn, scope, compiled).to_json(),
        "activity": activity_report(conn, scope).to_json(),
        "funding": funding_report(conn, scope, compiled, budget_pence=5_000_000).to_json(),
        "monthly": monthly_report(conn, scope).to_json(),
        "caseload": caseload_report(conn, scope).to_json(),
    }


@pytest.mark.parametrize("name", ["now", "middle", "period", "team", "team-period"])
def test_every_report_is_identical_on_both_stores(both: Any, name: str) -> None:
    """Each report's JSON, dumped, is the same text on PostgreSQL as on SQLite."""
    lite, server, compiled, lo, hi, log = both
    scope = _scopes(lo, hi, "cmht" if log == "generated" else "Group 4")[name]
    mine, theirs = _all(lite.connection, scope, compiled), _all(server.connection, scope, compiled)
    assert set(mine) == set(REPORTS)
    for report in REPORTS:
        assert json.dumps(theirs[report]) == json.dumps(mine[report]), report
    # The comparison is not vacuous: the scope really covers cases, handoffs and holding time.
    assert mine["handoffs"]["cases"] > 0
    assert mine["holding"]["by_team"]
    if name in ("now", "middle", "period"):
        assert mine["handoffs"]["handoffs"] > 0


def test_streamed_handoffs_and_the_defaults_agree(both: Any) -> None:
    """The CLI's streamed handoffs JSON and the reports migrate compares are the same on both."""
    lite, server, compiled, _lo, hi, _ = both
    scope = Scope(hi + timedelta(days=1))
    texts = []
    for store in (lite, server):
        out = io.StringIO()
        write_handoffs_json(store.connection, scope, out, compiled)
        texts.append(out.getvalue())
    assert texts[0] == texts[1]
    assert json.loads(texts[0])["cases"] > 1000
    as_of = datetime(2030, 1, 1, tzinfo=UTC)
    assert reports_json(lite.connection, as_of, compiled) == reports_json(
        server.connection, as_of, compiled
    )


def test_case_episodes_are_identical(both: Any) -> None:
    """holding --case lists one case's episodes the same way on both stores."""
    lite, server, _compiled, _lo, hi, _ = both
    case_id = lite.connection.execute(
        "SELECT case_id FROM handoffs GROUP BY case_id ORDER BY COUNT(*) DESC, case_id LIMIT 1"
    ).fetchone()[0]
    scope = Scope(hi)
    mine = holding_report(lite.connection, scope, case_id).to_json()
    theirs = holding_report(server.connection, scope, case_id).to_json()
    assert mine == theirs
    assert len(mine["episodes"]) >= 2


def test_sample_cases_with_placements_give_the_same_reports(tmp_path: Path, pg_url: str) -> None:
    """Every shipped sample case (placements and their funding among them) played into both
    stores: every report, the funding report with a budget included, is the same JSON."""
    from pathway.samples import load_sample, play, sample_pathway, shipped_samples

    backend = PostgresBackend(pg_url, f"{SESSION_PREFIX}_samples")
    stores = [pathway.open_store(tmp_path / "samples.db"), pathway.open_store(backend.location())]
    try:
        latest = datetime(2000, 1, 1, tzinfo=UTC)
        for store in stores:
            for name in shipped_samples():
                sample = load_sample(name)
                engine = pathway.Engine(sample_pathway(sample), store)
                assert all(outcome.as_scripted for outcome in play(engine, sample)), name
                latest = max(latest, sample.steps[-1].when)
        compiled = pathway.load_pathway("barnet-enablement")
        periods = stores[1].connection.execute("SELECT COUNT(*) FROM placement_periods")
        assert periods.fetchone()[0] > 0
        scopes = [
            Scope(latest + timedelta(days=1)),
            Scope(latest, since=latest - timedelta(days=200), until=latest - timedelta(days=20)),
        ]
        for scope in scopes:
            mine, theirs = (_all(store.connection, scope, compiled) for store in stores)
            for report in REPORTS:
                assert json.dumps(theirs[report]) == json.dumps(mine[report]), report
        assert mine["funding"]["by_care_type"] and mine["funding"]["spend"] != "0.00"
    finally:
        for store in stores:
            store.close()
        backend.cleanup()


def test_the_dashboard_reads_the_same_on_both_stores(both: Any) -> None:
    """The dashboard's data (every figure and list it draws, read in one snapshot transaction and
    with the chain verified) is the same from PostgreSQL as from SQLite."""
    import attrs

    from pathway.dashboard.data import dashboard_data

    lite, server, compiled, _lo, hi, _ = both
    scope = Scope(hi + timedelta(days=1))
    now = datetime(2030, 1, 1, tzinfo=UTC)
    mine, theirs = (
        attrs.asdict(dashboard_data(store, scope, compiled, clock=lambda: now))
        for store in (lite, server)
    )
    assert mine["audit"]["verified"] is True and theirs["audit"]["verified"] is True
    # Each import chained its events with ids and times of its own: only the head's hash differs.
    assert mine["audit"]["head"]["position"] == theirs["audit"]["head"]["position"]
    for data in (mine, theirs):
        data["audit"]["head"]["hash"] = "(each store's own)"
    assert json.dumps(theirs, default=str) == json.dumps(mine, default=str)
    assert not server.connection.in_transaction  # the snapshot transaction was closed
