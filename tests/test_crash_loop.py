"""A few rounds of the crash loop (benchmarks/crash_loop.py) on each store.

Writers (fires through the library on the shipped pathway, ``pathway import`` of generated logs,
or both at once) are SIGKILLed at seeded random moments; after each kill the store must pass
``verify()`` with its derived checks, every case written must agree with its events, a firing
child's events must be exactly its committed transactions (plus at most the one cut short) and an
import must be all there or not there. The benchmark runs 100 rounds and more
(docs/reliability.md); these keep it from rotting and catch a regression quickly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Backend

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import crash_loop

import pathway


@pytest.mark.slow
def test_killed_fires_and_imports_leave_a_store_that_verifies(store_factory: Backend) -> None:
    """Six rounds: every child killed, every round verified, and some kill inside a write."""
    figures = crash_loop.run(store_factory.location(), rounds=6, seed=16, max_delay=0.6)
    assert figures["aimed_at_a_transaction"] >= 1
    assert figures["failed"] == []
    assert figures["rounds"] == figures["verified"] == 6
    assert figures["children_exited_before_kill"] == 0
    assert figures["children_killed"] >= 6
    assert figures["write_transactions"] > 0
    # Fires are inside a transaction most of the time: with six rounds a kill lands in one.
    assert figures["killed_in_transaction"] >= 1
    assert figures["events_at_end"] > 0


def _fired_store(store_factory: Backend) -> tuple[str, Any]:
    location = store_factory.location()
    store = store_factory.open(location)
    engine = pathway.Engine(
        pathway.load_pathway("barnet-enablement"), store, clock=lambda: crash_loop.ENGINE_CLOCK
    )
    from pathway.samples import load_sample, play_steps

    for _ in play_steps(engine, "r0f-f0", load_sample("s04-passed-between-four-teams").steps):
        pass
    return location, store


def test_the_loops_own_case_check_catches_an_edited_case(store_factory: Backend) -> None:
    """The check beside verify is not vacuous: an edited version or state is named."""
    location, store = _fired_store(store_factory)
    by_case = crash_loop._events_of(store, "r0f-")
    assert list(by_case) == ["r0f-f0"]
    assert crash_loop._check_cases(store, by_case) == []
    with store_factory.raw(location) as raw:
        raw.execute("UPDATE cases SET version = version + 1")
    assert "version" in crash_loop._check_cases(store, by_case)[0]
    with store_factory.raw(location) as raw:
        raw.execute("UPDATE cases SET version = version - 1, state = 'referral'")
    assert "its last event says" in crash_loop._check_cases(store, by_case)[0]
    store.close()


def test_a_round_that_does_not_verify_is_reported(store_factory: Backend) -> None:
    """A round whose store fails verify (a deleted handoff row) is counted as failed."""
    location, store = _fired_store(store_factory)
    store.close()
    with store_factory.raw(location) as raw:
        raw.execute("DELETE FROM handoffs")
    rnd = crash_loop.Round(0, "fire", 0.0)
    crash_loop._check_round(location, rnd, [])
    assert rnd.problems
    assert any("handoff" in problem for problem in rnd.problems)
