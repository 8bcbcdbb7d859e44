"""The documentation's promises: every ```python block of README.md and docs/*.md runs as
written, and the README's Quick start is two commands.

Each block runs in a fresh folder of its own (so ``cases.db`` or ``board.html`` land there, not in
the repository), where ``docs/`` is the repository's (so ``docs/examples/minimal.yaml`` resolves)
and ``cases.db`` is a store holding two cases (for examples that open an existing store). Blocks
of one file run in order in one folder, so a later block sees what an earlier one wrote.

Two HTML comments on the line before a block change how it runs:

* ``<!-- module: NAME -->``: the block is the source of module ``NAME`` (e.g. a plug-in's
  ``__init__.py``); it is importable by later blocks of the file.
* ``<!-- postgres: REASON -->``: the block opens a PostgreSQL store by a URL of the docs' own
  (``postgresql://app@db.example.org/...``): it runs with every such URL replaced by the test
  server's ($PATHWAY_TEST_POSTGRES), in a fresh schema.
* ``<!-- not-run: REASON -->``: the block cannot run here (say why); prefer making a block
  runnable to marking it.
"""

from __future__ import annotations

import re
import sys
import types
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SESSION_PREFIX

import pathway

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(?:<!--\s*(module|postgres|not-run):\s*(.*?)\s*-->\s*\n)?```python\n(.*?)```", re.S
)


def python_blocks(path: Path) -> list[tuple[str | None, str, str]]:
    """``(directive, argument, source)`` of each ```python block of ``path``."""
    text = path.read_text(encoding="utf-8")
    return [(kind or None, argument, source) for kind, argument, source in BLOCK.findall(text)]


DOC_FILES = [path for path in DOCUMENTS if python_blocks(path)]
PYTHON_BLOCKS = [source for _, _, source in python_blocks(ROOT / "README.md")]


def test_readme_has_python_examples() -> None:
    """There is at least one Python example to run."""
    assert PYTHON_BLOCKS


def test_every_skipped_block_says_why() -> None:
    for path in DOCUMENTS:
        for kind, argument, _ in python_blocks(path):
            if kind == "not-run":
                assert len(argument) > 10, f"{path.name}: a not-run block must give its reason"


def _store_with_cases(path: Path) -> None:
    """A store on the shipped pathway with two cases, as a reader of the docs would have."""
    p = pathway.load_pathway("barnet-enablement")
    with pathway.open_store(path) as store:
        engine = pathway.Engine(p, store)
        hub = pathway.Actor("w-101", team="hub")
        for number in (1, 2):
            engine.open_case(f"C-{number}", hub, at=datetime(2026, 1, number, 9, tzinfo=UTC))


@pytest.mark.parametrize("path", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_python_blocks_run(
    path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """Each ```python block of the file runs without error, in order, in a folder of its own."""
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    _store_with_cases(tmp_path / "cases.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PATHWAY_NAIVE_TIME", raising=False)
    ran = 0
    for index, (kind, argument, source) in enumerate(python_blocks(path), start=1):
        where = f"{path.name} python block {index}"
        if kind == "not-run":
            continue
        if kind == "postgres":
            from pathway.store.postgres import with_schema

            url = with_schema(request.getfixturevalue("pg_url"), f"{SESSION_PREFIX}_doc_{index}")
            source = re.sub(r"postgres(?:ql)?://[^\"'\s]+", url, source)
        code = compile(source, where, "exec")
        if kind == "module":
            module = types.ModuleType(argument)
            module.__file__ = where
            monkeypatch.setitem(sys.modules, argument, module)
            exec(code, module.__dict__)
        else:
            namespace: dict[str, object] = {"__name__": f"doc_block_{index}"}
            exec(code, namespace)
            for value in namespace.values():  # the block's stores: close their connections
                if isinstance(value, pathway.Store):
                    value.close()
        ran += 1
    # A file whose every block is marked not-run has said why for each; any other must run one.
    assert ran or all(kind == "not-run" for kind, _a, _s in python_blocks(path))
    capsys.readouterr()


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    """The first block under Quick start: install + demo, install + tests; .ci/run runs the tests."""
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```\w*\n(.*?)```", section, flags=re.S)
    assert block
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].endswith("pathway demo")
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest" in ci
