"""The API reference (docs/api) builds from the docstrings with no warning, and shows every name
``import pathway`` gives and the store's contract, so it cannot silently fall behind the code."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pathway

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api"

needs_sphinx = pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None and os.environ.get("CI") != "true",
    reason="the API reference needs the docs extra: pip install -e '.[docs]' (CI installs it)",
)


def _target(name: str) -> str:
    """The full dotted name under which the reference documents ``pathway.NAME``."""
    obj = getattr(pathway, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return {
        "BUILTIN_GUARDS": "pathway.guards.BUILTIN_GUARDS",
        "hookimpl": "pathway.hookspecs.hookimpl",
    }[name]


def test_the_core_page_lists_every_name_of_import_pathway() -> None:
    page = (API / "pathway.rst").read_text(encoding="utf-8")
    for name in pathway.__all__:
        if name != "__version__":
            assert f"`pathway.{name} <{_target(name)}>`" in page, name


@needs_sphinx
@pytest.mark.slow
def test_api_reference_builds_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "html"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_api_docs.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    anchors: set[str] = set()
    for page in out.glob("*.html"):
        anchors.update(re.findall(r'id="(pathway[\w.]*)"', page.read_text(encoding="utf-8")))
    wanted = {_target(name) for name in pathway.__all__ if name != "__version__"}
    wanted |= {
        "pathway.definition.Pathway.reports",
        "pathway.guards.GuardContext.values",
        "pathway.reports.scope.Scope",
        "pathway.serialize.to_dict",
        "pathway.timeutil.format_instant",
        "pathway.timeutil.NaiveTime",
        "pathway.importer.import_events",
        "pathway.reports.handoffs.handoffs_report",
        *(f"pathway.store.base.Store.{m}" for m in ("cases", "events", "stream", "transaction")),
    }
    assert wanted - anchors == set()
