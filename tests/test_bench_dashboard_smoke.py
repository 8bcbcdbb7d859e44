"""The dashboard benchmark still runs and still writes the figures docs/performance.md is built from.

Speed is checked by the benchmark itself (as a ratio to the report calls it makes, in the same
run), never by a test: this test only keeps the script from rotting, at a size so small the
figures mean nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_dashboard.py"


def test_bench_dashboard_quick_writes_every_figure(tmp_path: Path) -> None:
    """``bench_dashboard.py --quick --json`` at a tiny size exits 0, writes positive figures, finds
    the dashboard's records equal to the separate calls', and cleans up; a kept store is reused.

    Nothing about speed is asserted.
    """
    out = tmp_path / "bench.json"
    store = tmp_path / "kept.db"
    args = ["--quick", "--cases", "40", "--rounds", "1", "--dir", str(tmp_path)]
    args += ["--store", str(store), "--json", str(out)]

    def bench() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(SCRIPT), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    completed = bench()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "(imported in" in completed.stdout
    results = json.loads(out.read_text(encoding="utf-8"))
    assert {"meta", "log", "as_of", "agreement", "measure"} <= results.keys()
    assert results["meta"]["mode"] == "quick"
    assert results["meta"]["sizes"] == {"cases": 40, "rounds": 1}
    assert results["log"]["cases"] == 40 and results["log"]["events"] > 40
    assert results["agreement"]["agree"] is True, results["agreement"]
    assert results["agreement"]["cases"] == 40 and results["agreement"]["verified"] is True
    measured = results["measure"]
    for figure in ("dashboard_s", "calls_s", "ratio"):
        assert isinstance(measured[figure], int | float) and measured[figure] > 0, figure
    assert set(measured["per_call_s"]) == {
        "activity", "caseload", "handoffs", "holding", "s75", "waits", "monthly", "funding",
        "checkpoint", "verify",
    }  # fmt: skip
    assert len(measured["ratio_per_round"]) == 1
    assert 1_000_000 < measured["file_bytes"] < measured["size_target_bytes"]
    assert not list(tmp_path.glob("pathway-bench-dashboard-*"))

    again = bench()
    assert again.returncode == 0, again.stderr
    assert f"(reused {store})" in again.stdout
