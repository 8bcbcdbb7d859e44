"""The public API as the documentation writes it: every documented name resolves after a plain
``import pathway``, type-checks under ``mypy --strict``, and every public name has a docstring
(the API reference, docs/api, is built from them)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pathway
from pathway.store.base import Store, StoreTransaction

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `pathway.x.y` in backticks (a call's parentheses and arguments are left off).
DOTTED = re.compile(r"`(pathway(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
# `from pathway.x import a, b` in code blocks.
FROM_IMPORT = re.compile(r"^from (pathway(?:\.\w+)*) import ([\w, ]+)$", re.M)


def documented_names() -> list[str]:
    """Every dotted name of the library that README.md and docs/*.md mention."""
    names: set[str] = set()
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        names.update(DOTTED.findall(text))
        for module, imported in FROM_IMPORT.findall(text):
            names.update(f"{module}.{name.strip()}" for name in imported.split(","))
    return sorted(names)


NAMES = documented_names()


def test_the_docs_name_library_objects() -> None:
    assert {"pathway.reports.handoffs_report", "pathway.importer.import_events"} <= set(NAMES)


def test_every_documented_name_resolves_after_import_pathway() -> None:
    """In a fresh interpreter, ``import pathway`` and attribute access reach each name."""
    script = (
        "import functools, pathway\n"
        f"names = {NAMES!r}\n"
        "bad = []\n"
        "for name in names:\n"
        "    try:\n"
        "        functools.reduce(getattr, name.split('.')[1:], pathway)\n"
        "    except AttributeError as exc:\n"
        "        bad.append(f'{name}: {exc}')\n"
        "print('\\n'.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_import_pathway_imports_neither_the_dashboard_nor_the_reports() -> None:
    """The modules are imported when first used, so start-up stays quick. The report registry
    (declarations only: plug-ins build their report specs with it when a pathway loads) is the
    one module of ``pathway.reports`` allowed; it imports no report until one runs."""
    script = (
        "import sys, pathway\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pathway.dashboard', "
        "'pathway.reports.', 'pathway.importer', 'psycopg', 'plotly')) "
        "and m != 'pathway.reports.registry'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.slow
def test_documented_names_type_check_under_mypy_strict(tmp_path: Path) -> None:
    """A module that uses each documented name as the docs write it passes ``mypy --strict``."""
    lines = ["import pathway", ""]
    for index, name in enumerate(NAMES):
        module, _, attribute = name.rpartition(".")
        lines.append(f"from {module} import {attribute} as name_{index}")
        lines.append(f"print({name}, name_{index})")
    source = tmp_path / "uses_docs.py"
    source.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _public_modules() -> list[str]:
    return [
        info.name
        for info in pkgutil.walk_packages(pathway.__path__, "pathway.")
        if info.name not in ("pathway.__main__", "pathway.cli")  # the command line's own layer
    ]


def _undocumented(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    missing = [] if module.__doc__ else [f"{module_name} (module)"]
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name)
        if getattr(obj, "__module__", None) != module_name:
            continue  # imported from elsewhere: checked where it is defined
        if (inspect.isclass(obj) and obj.__doc__ is None) or (
            inspect.isfunction(obj) and not obj.__doc__
        ):
            missing.append(f"{module_name}.{name}")
        if not inspect.isclass(obj):
            continue
        for member, value in vars(obj).items():
            if member.startswith("_"):
                continue
            function = value.fget if isinstance(value, property) else value
            if isinstance(function, classmethod | staticmethod):
                function = function.__func__
            if not inspect.isfunction(function) or function.__doc__:
                continue
            # A backend's method is documented by the contract it implements (or its base).
            contracts = (Store, StoreTransaction, *obj.__mro__[1:])
            if any(getattr(getattr(c, member, None), "__doc__", None) for c in contracts):
                continue
            missing.append(f"{module_name}.{name}.{member}")
    return missing


@pytest.mark.parametrize("module_name", _public_modules())
def test_every_public_name_has_a_docstring(module_name: str) -> None:
    assert _undocumented(module_name) == []


@pytest.mark.parametrize(
    "member", ["cases", "events", "stream", "transaction", "history", "connection"]
)
def test_the_store_contract_documents_its_reads(member: str) -> None:
    doc = inspect.getdoc(getattr(Store, member))
    assert doc and len(doc) > 40


def test_pathway_reports_and_guard_params_are_documented() -> None:
    """``Pathway.reports`` has an attribute docstring (autodoc shows it); the guards module says
    how a transition's ``params`` reach a guard function."""
    source = inspect.getsource(pathway.Pathway)
    after = source.split("    reports: Mapping[str, ReportSpec]", 1)[1].splitlines()[1]
    assert after.strip().startswith('"""The reports the pathway\'s plug-ins add')
    assert "spec.function(ctx, **params)" in (pathway.guards.__doc__ or "")
