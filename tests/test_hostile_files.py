"""Files that cannot exhaust the machine (issue 16 item 2).

Every YAML or JSON file pathway reads goes through one guarded reader (pathway/yamlsource.py): a
"billion laughs" anchor bomb, a self-referring alias, nesting too deep to walk and a file over the
size limit are each refused with one line naming the file (and line), before anything is expanded
or written. The bomb below would expand to 9**9 (387 million) scalars: these tests finish in
milliseconds only because the alias is refused where it stands, which the message shows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import MINIMAL
from hypothesis import given, settings

import pathway
from pathway.cli import cli
from pathway.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, parse_document, read_document

LIMIT = 4096
"""A small size limit (PATHWAY_MAX_FILE_BYTES) so the oversized file stays small in the tests."""


def billion_laughs() -> str:
    """Nine levels of nine aliases to the level below: 9**9 scalars once expanded."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def oversized() -> str:
    """A well-formed mapping just over :data:`LIMIT` bytes."""
    return "id: big\n" + "".join(f"k{i:04}: {'x' * 40}\n" for i in range(LIMIT // 46 + 1))


# name -> (text, the words the refusal must contain)
HOSTILE: dict[str, tuple[str, str]] = {
    "anchor bomb": (billion_laughs(), ":2: YAML aliases are not allowed (*l0)"),
    "recursive alias": ("x: &r [*r]\n", ":1: YAML aliases are not allowed (*r)"),
    "merge alias": ("base: &b {a: 1}\nother:\n  <<: *b\n", ":3: YAML aliases are not allowed (*b)"),
    "deep nesting": ("x: " + "[" * 200 + "]" * 200 + "\n", f":1: nested more than {MAX_DEPTH} levels deep"),
    "oversized": (oversized(), f": file too large: {len(oversized()):,} bytes, over the limit of {LIMIT:,} bytes (set PATHWAY_MAX_FILE_BYTES"),
}  # fmt: skip


@pytest.fixture(autouse=True)
def _small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATHWAY_MAX_FILE_BYTES", str(LIMIT))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store on the minimal pathway (the reports need one)."""
    db = tmp_path / "store.db"
    done = CliRunner().invoke(cli, ["init", "--db", str(db), "--pathway", str(MINIMAL)])
    assert done.exit_code == 0, done.output
    return db


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


# kind of file -> how a user hands it to pathway (the file, a store, a spare path)
COMMANDS: dict[str, Callable[[Path, Path, Path], list[str]]] = {
    "definition (init --pathway)": lambda f, db, spare: ["init", "--db", str(spare), "--pathway", str(f)],
    "sample case (walk)": lambda f, db, spare: ["walk", str(f), "--no-pause"],
    "activity plan (report activity --plan)": lambda f, db, spare: ["report", "activity", "--db", str(db), "--plan", str(f)],
    "unit costs (report funding --unit-costs)": lambda f, db, spare: ["report", "funding", "--db", str(db), "--unit-costs", str(f)],
}  # fmt: skip


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_a_hostile_file_is_refused_in_one_line_with_exit_2_and_nothing_written(
    kind: str, hostile: str, store: Path, tmp_path: Path
) -> None:
    text, expected = HOSTILE[hostile]
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    spare = tmp_path / "never-made.db"
    before = store.read_bytes()
    result = invoke(*COMMANDS[kind](path, store, spare))
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{path}{expected}" in result.output
    assert "Traceback" not in result.output
    assert not spare.exists()  # init made no half store
    assert store.read_bytes() == before


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_validate_names_the_hostile_file_and_its_problem(hostile: str, tmp_path: Path) -> None:
    """validate reports a file's problems with exit 1 (its documented contract), no traceback."""
    text, expected = HOSTILE[hostile]
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    result = invoke("validate", str(path))
    assert result.exit_code == 1, result.output
    assert f"{path}{expected}" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_a_plugin_fragment_is_read_by_the_same_guarded_reader(hostile: str) -> None:
    text, expected = HOSTILE[hostile]

    class Hostile:
        __plugin_name__ = "hostile"

        @pathway.hookimpl
        def pathway_fragment(self, pathway_id: str) -> str:
            return text

    with pytest.raises(pathway.DefinitionError) as info:
        pathway.load_pathway(MINIMAL, plugins=[Hostile()])
    assert any(str(p).startswith("plug-in hostile") for p in info.value.problems)
    words = expected.lstrip(":0123456789 ")  # the fragment has no file; its line may differ
    assert any(words in str(p) for p in info.value.problems), info.value


def test_the_default_limit_is_2_mb_and_a_file_of_exactly_the_limit_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PATHWAY_MAX_FILE_BYTES")
    assert MAX_FILE_BYTES == 2 * 1024 * 1024
    path = tmp_path / "edge.yaml"
    body = "a: "
    path.write_text(body + "x" * (MAX_FILE_BYTES - len(body)), encoding="utf-8")
    assert len(read_document(path).data["a"]) == MAX_FILE_BYTES - len(body)
    with path.open("a", encoding="utf-8") as more:
        more.write("x")
    with pytest.raises(pathway.DefinitionError) as info:
        read_document(path)
    assert str(info.value) == (
        f"{path}: file too large: 2,097,153 bytes, over the limit of 2,097,152 bytes "
        "(set PATHWAY_MAX_FILE_BYTES to allow a larger file)"
    )


def test_the_limit_counts_bytes_not_characters(tmp_path: Path) -> None:
    """2,048 pound signs are 4,096 bytes of UTF-8 (at the limit); one more is over it."""
    at_limit = "a: " + "£" * ((LIMIT - 3) // 2) + "\n"
    assert len(at_limit.encode()) <= LIMIT < len((at_limit + "£").encode())
    assert parse_document(at_limit, "text").data["a"].startswith("£")
    with pytest.raises(pathway.DefinitionError, match="file too large"):
        parse_document(at_limit + "£", "text")


def test_an_endless_file_is_refused_after_reading_one_byte_past_the_limit() -> None:
    """/dev/zero has no size to check beforehand; the reader stops at the limit."""
    with pytest.raises(pathway.DefinitionError) as info:
        read_document(Path("/dev/zero"))
    assert str(info.value).startswith("/dev/zero: file too large: more than that, over the limit")


@pytest.mark.parametrize("bad", ["2MB", "-1", "0", "\u0661\u0660\u0660\u0660", "1e6"])
def test_a_bad_limit_setting_is_named(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATHWAY_MAX_FILE_BYTES", bad)
    with pytest.raises(pathway.DefinitionError) as info:
        parse_document("a: 1\n", "text")
    assert str(info.value) == (
        f"PATHWAY_MAX_FILE_BYTES: must be a whole number of bytes, not {bad!r}"
    )


def test_a_larger_limit_can_be_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text, _ = HOSTILE["oversized"]
    monkeypatch.setenv("PATHWAY_MAX_FILE_BYTES", str(len(text.encode())))
    assert parse_document(text, "text").data["id"] == "big"


def test_an_anchor_without_an_alias_is_harmless_and_allowed() -> None:
    doc = parse_document("a: &first [1, 2]\nb: 3\n", "text")
    assert doc.data == {"a": [1, 2], "b": 3}
    assert doc.lines == {"": 1, "/a": 1, "/a/0": 1, "/a/1": 1, "/b": 2}


def test_nesting_up_to_the_limit_is_read() -> None:
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    data: Any = parse_document(deepest, "text").data
    for _ in range(MAX_DEPTH - 1):
        (data,) = data
    assert data == []
    with pytest.raises(pathway.DefinitionError, match=f"nested more than {MAX_DEPTH} levels"):
        parse_document("[" + deepest + "]", "text")


def test_a_non_utf8_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: x\nname: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(pathway.DefinitionError) as info:
        read_document(path)
    assert str(info.value) == f"{path}:2: cannot read file: not UTF-8 text (byte 16)"


def test_the_shipped_files_use_no_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusing aliases costs the project's own files nothing: none of them uses one."""
    monkeypatch.delenv("PATHWAY_MAX_FILE_BYTES")
    root = Path(pathway.__file__).parent
    files = [*root.rglob("*.yaml"), *(root.parent / "sample_cases").glob("*.yaml")]
    assert len(files) >= 20
    for path in files:
        read_document(path)  # raises on an alias


# A JSON-like tree (what definitions, samples, plans and unit costs are).
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats(allow_nan=False)
)
_trees = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(tree=_trees, flow=st.booleans())
def test_the_guarded_composer_reads_what_pyyaml_reads(tree: Any, flow: bool) -> None:
    """Without aliases, the data and line map equal those of PyYAML's own composer."""
    text = yaml.safe_dump(tree, default_flow_style=flow, allow_unicode=True)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        expected = loader.construct_document(node)
    finally:
        loader.dispose()
    doc = parse_document(text, "text")
    assert doc.data == expected
    assert json.dumps(doc.data, sort_keys=True) == json.dumps(expected, sort_keys=True)
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            key = str(key_node.value).replace("~", "~0").replace("/", "~1")
            assert doc.lines["/" + key] == key_node.start_mark.line + 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (oversized(), f"file too large: {len(oversized()):,} bytes, over the limit of {LIMIT:,}"),
        ("[" * 2000 + "]" * 2000, "not a checkpoint"),
    ],
    ids=["oversized", "deep nesting"],
)
def test_an_audit_checkpoint_file_is_read_within_the_limit(
    content: str, expected: str, store: Path, tmp_path: Path
) -> None:
    """``audit verify --against FILE`` reads its checkpoint through the same size limit."""
    path = tmp_path / "checkpoint.json"
    path.write_text(content, encoding="utf-8")
    before = store.read_bytes()
    result = invoke("audit", "verify", "--db", str(store), "--against", str(path))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: --against: ")
    assert expected in result.output
    assert "Traceback" not in result.output
    assert store.read_bytes() == before
