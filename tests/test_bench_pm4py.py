"""bench_pm4py's agreement check: PM4Py's normalised handover shares back to counts.

PM4Py is not installed for the suite (AGPL; a benchmark extra only), so the script's run is not
exercised here; its comparison is, on figures worked by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from bench_pm4py import agreement


def _library(pairs: dict[tuple[str, str], int]) -> dict[str, object]:
    return {"by_pair": [{"from_team": a, "to_team": b, "count": n} for (a, b), n in pairs.items()]}


def test_shares_times_successions_give_the_library_s_pairs_without_self_pairs() -> None:
    # Two cases: hub, lets, lets, cmht and hub, lets: 4 successions, of which hub->lets twice,
    # lets->lets once (not a handoff), lets->cmht once.
    pm4py = {
        "successions": 4,
        "shares": {"hub\tlets": 0.5, "lets\tlets": 0.25, "lets\tcmht": 0.25},
    }
    checked = agreement(_library({("hub", "lets"): 2, ("lets", "cmht"): 1}), pm4py)
    assert checked["agree"] and checked["handoffs"] == 3 and checked["pairs"] == 2


def test_a_differing_pair_is_named() -> None:
    pm4py = {"successions": 4, "shares": {"hub\tlets": 0.5, "lets\tcmht": 0.5}}
    checked = agreement(_library({("hub", "lets"): 2, ("lets", "cmht"): 1}), pm4py)
    assert not checked["agree"] and checked["examples"] == ["('lets', 'cmht')"]
