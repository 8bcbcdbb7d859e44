"""benchmarks/bench_queries.py still runs and writes every figure (speed is the benchmark's to
measure, as ratios in the same run; this test only keeps the script from rotting)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_queries.py"


def test_bench_queries_quick_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "queries.json"
    args = ["--quick", "--no-postgres", "--cases", "60", "--small-cases", "30", "--rounds", "1"]
    args += ["--calls", "3", "--dir", str(tmp_path), "--json", str(out)]
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    sqlite = results["stores"]["sqlite"]
    assert sqlite["small"]["cases"] == 30 and sqlite["big"]["cases"] == 60
    assert sqlite["big"]["events"] > sqlite["small"]["events"] > 0
    for size in ("small", "big"):
        queries = sqlite[size]["queries"]
        assert len(queries) == 7
        for figure in queries.values():
            for key in ("library_ms", "baseline_ms", "ratio"):
                assert figure[key] > 0
            assert len(figure["ratio_per_round"]) == 1
    fire = sqlite["fire"]
    for key in ("fires_per_s_with", "fires_per_s_without", "ratio"):
        assert fire[key] > 0
    assert len(fire["ratio_per_round"]) == 1
    assert not list(tmp_path.glob("pathway-bench-*"))  # its temporary files are removed
