"""The service's load test still runs, checks what must hold, and writes its figures.

Speed is the benchmark's business (a ratio to the library in the same run), never a test's: this
runs it at a tiny size so the script cannot rot, and asserts only that its checks (contiguous
versions, no doubled or lost transition, a verifying chain) passed and the figures are there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_server_quick_checks_and_writes_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_server.py"), "--quick",
         "--dir", str(tmp_path), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["checks_failed"] == []
    assert figures["requests"] >= 150 and figures["retries"] + figures["conflicts"] > 0
    (only,) = figures["rounds"]
    assert only["service_requests"] >= figures["requests"] and only["ratio"] > 0
