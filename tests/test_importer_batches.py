"""The import writes what it builds in batches, so its memory stays the same however long the file.

Batches must not change what is stored: the same log imported with batches of a handful of rows
(every case's derived rows split across many writes) and with one batch for everything gives the
same cases, events, closed episodes and handoffs, and the chain verifies, on both stores (on
PostgreSQL the sorted rows are read through a server-side cursor while each batch is written).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Backend

from pathway import importer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import generate_log  # noqa: E402  (the benchmarks' seeded log generator)

TABLES = {
    "cases": "SELECT * FROM cases ORDER BY id",
    "events": "SELECT case_id, seq, occurred_at, trigger, from_state, to_state, from_team, "
    "to_team, from_organisation, to_organisation, actor_id, data, closes FROM events "
    "ORDER BY case_id, seq",
    "closed_episodes": "SELECT * FROM closed_episodes ORDER BY case_id, n",
    "handoffs": "SELECT * FROM handoffs ORDER BY case_id, n",
}


def _import(
    log: Path, backend: Backend, where: str, batch: int, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setattr(importer, "BATCH", batch)
    with backend.open(where) as store:
        result = importer.import_events(store, log, final_states=["closed"])
        assert store.verify().ok
        conn = store.connection
        return {
            "result": (result.rows, result.cases, result.closed_cases),
            **{name: conn.execute(query).fetchall() for name, query in TABLES.items()},
        }


def test_small_batches_store_exactly_what_one_batch_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_factory: Backend
) -> None:
    log = tmp_path / "log.csv"
    rows = generate_log.write_log(log, cases=300, seed=7)
    whole = _import(log, store_factory, store_factory.location("whole"), 10**9, monkeypatch)
    batched = _import(log, store_factory, store_factory.location("batched"), 7, monkeypatch)
    assert whole["result"][0] == rows and whole["result"][1] == 300
    assert len(whole["closed_episodes"]) > 1000 and len(whole["handoffs"]) > 500
    for name in ("result", *TABLES):
        assert batched[name] == whole[name], name
