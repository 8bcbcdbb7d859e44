# ruff: noqa: RUF001  (other scripts' digits are the point of these inputs)
"""A fuzz suite for bad input (issue 16, "Done when", second line).

Hypothesis feeds random and mutated files and option values to the real entry points, in process
through click's CliRunner as the other CLI tests do, with a few subprocess spot checks. For every
input the command must end in one of two ways:

- refused: exit 2 (exit 1 for `validate`, whose documented answer to a definition with problems
  is 1), no traceback, one ``Error:`` line that names the place (the file and line, or the
  option), and the store exactly as it was: the SQLite file and its -wal hashed byte for byte,
  or every row of every table of the PostgreSQL schema;
- or accepted (exit 0), when the mutation happened to leave a valid input: then the result must
  be sane (the audit chain and every derived row still verify).

Each test is bounded by ``max_examples`` and a deadline so the file runs in about a minute.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import MINIMAL
from hypothesis import HealthCheck, given, settings

from pathway.cli import cli

ROOT = Path(__file__).resolve().parent.parent
BARNET = ROOT / "pathway" / "definitions" / "barnet-enablement.yaml"

FUZZ = settings(
    max_examples=20,
    deadline=None,  # one example is a CLI run on a store: its time varies with the machine's load
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

# --- valid inputs that the mutations start from -------------------------------------------------

EVENT_LOG = (
    b"case_id,occurred_at,state,team,actor,trigger\n"
    b"C1,2026-01-05T09:00:00Z,referred,hub,w1,\n"
    b"C1,2026-01-06 10:00:00+01:00,choice_appointment,lets,w2,book_choice_appointment\n"
    b"C2,2026-01-07T09:00:00.5Z,referred,hub,w1,\n"
    b"C2,2026-01-09,cmht_offered,lets,w2,refer_to_cmht\n"
    b"C2,2026-01-10T09:00,specialist_support,cmht,w3,accept_handoff\n"
    b"C3,2026-01-08T09:00:00Z,referred,hub,w1,\n"
    b"C3,2026-01-12T09:00:00Z,closed,lets,w2,close\n"
)
"""Three cases on the minimal pathway: an offset, a space for T, a fraction, a date alone."""

NEW_EVENTS = EVENT_LOG.replace(b"C1,", b"N1,").replace(b"C2,", b"N2,").replace(b"C3,", b"N3,")
"""The same log for cases the store does not hold yet (so an unmutated file imports)."""

PLACEMENTS = (
    b"case_id,placement_id,care_type,weekly_cost,start_date,end_date,council_pct,nhs_pct,"
    b"person_pct,agreed_by,s117,eligibility_date,health_screen_date,provider\n"
    b"C1,P1,residential,887.00,2025-04-01,2025-09-30,100,,,council,no,2025-03-20,2025-03-21,Elm\n"
    b"C1,P1,residential,900,2025-10-01,,50,50,,trust,,2025-03-20,2025-03-21,Elm\n"
    b"C2,S1,supported_living,457.5,2025-06-01,2025-06-30,50,50,0,council,yes,,,\n"
)

ODD_INSTANTS = [
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "0000-01-01", "10000-01-01",
    "2026-02-30", "2026-13-01", "2026-01-05T24:00:00", "2026-01-05T09:00:00+24:00",
    "2026-01-05T09:00:00+99:99", "２０２６-01-05", "2026-01-05T09:00:00.9999999999Z", "now", "",
    " ", "2026-01-05T09:00:00ZZ", "-2026-01-05", "+002026-01-05", "2026-W02-1", "2026-005",
    "1e9", "٢٠٢٦-٠١-٠٥", "2026-01-05\x00", "2099-01-01T00:00:00Z",
]  # fmt: skip
"""Instants a hostile or careless export might hold: out of range, impossible, other scripts."""


# --- stores -------------------------------------------------------------------------------------


def invoke(*args: str) -> Result:
    """Run ``pathway ARGS`` in process; exceptions are kept so a traceback can be reported."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def no_traceback(done: Result) -> None:
    """The command ended by exiting, never by an exception escaping it."""
    exc = done.exception
    if exc is not None and not isinstance(exc, SystemExit):
        shown = "".join(traceback.format_exception(exc))
        raise AssertionError(f"traceback from {type(exc).__name__}:\n{shown}")
    assert "Traceback" not in done.stderr, done.stderr
    assert "Traceback" not in done.stdout, done.stdout


def error_lines(done: Result) -> list[str]:
    """The lines of stderr that are the refusal (not import progress or notices)."""
    return [
        line
        for line in done.stderr.splitlines()
        if line.strip() and not re.fullmatch(r"\s+[\d,]+ rows checked", line)
    ]


def refused_naming(done: Result, place: str | re.Pattern[str]) -> None:
    """Exit 2 with one ``Error:`` naming ``place`` (for a file: each problem line names it)."""
    assert done.exit_code == 2, (done.exit_code, done.output)
    lines = error_lines(done)
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, done.stderr
    if errors[0] == "Error: invalid file:":
        problems = lines[lines.index(errors[0]) + 1 :]  # one line for each problem found
        assert problems, done.stderr
    else:
        problems = errors
    for text in problems:
        found = re.search(place, text) if isinstance(place, re.Pattern) else place in text
        assert found, f"{place!r} not named in {text!r}"


def sqlite_digest(location: Path) -> dict[str, str]:
    """The store's file and its -wal, byte for byte."""
    return {
        suffix: hashlib.sha256(Path(f"{location}{suffix}").read_bytes()).hexdigest()
        for suffix in ("", "-wal")
        if Path(f"{location}{suffix}").exists()
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store on the minimal pathway holding C1-C3 and two placements."""
    folder = tmp_path_factory.mktemp("template")
    db = folder / "cases.db"
    (folder / "log.csv").write_bytes(EVENT_LOG)
    (folder / "placements.csv").write_bytes(PLACEMENTS)
    for args in (
        ("init", "--db", str(db), "--pathway", str(MINIMAL)),
        ("import", str(folder / "log.csv"), "--db", str(db)),
        ("import", "--placements", str(folder / "placements.csv"), "--db", str(db)),
    ):
        done = invoke(*args)
        assert done.exit_code == 0, done.output
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    return db


class Fresh:
    """Copies of the template store, one per example (an accepted input changes its copy)."""

    def __init__(self, template: Path, folder: Path) -> None:
        self.template = template
        self.folder = folder
        self.made = 0

    def store(self) -> Path:
        self.made += 1
        db = self.folder / f"s{self.made}.db"
        shutil.copyfile(self.template, db)
        return db

    def file(self, name: str, content: bytes) -> Path:
        path = self.folder / f"{self.made}-{name}"
        path.write_bytes(content)
        return path


@pytest.fixture(scope="module")
def fresh(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Fresh:
    return Fresh(template, tmp_path_factory.mktemp("fuzz"))


def verifies(db: str) -> None:
    """An accepted input left a store whose chain and derived rows verify."""
    done = invoke("audit", "verify", "--db", db)
    assert done.exit_code == 0, done.output


# --- mutations of a CSV file --------------------------------------------------------------------


def _rows(content: bytes) -> list[list[bytes]]:
    return [line.split(b",") for line in content.split(b"\n") if line]


def _join(rows: list[list[bytes]]) -> bytes:
    return b"".join(b",".join(row) + b"\n" for row in rows)


def _columns(rnd: random.Random, content: bytes, how: str) -> bytes:
    rows = _rows(content)
    width = len(rows[0])
    i = rnd.randrange(width)
    if how == "drop":
        return _join([row[:i] + row[i + 1 :] for row in rows])
    if how == "duplicate":
        return _join([row[: i + 1] + row[i:] for row in rows])
    if how == "shuffle header":
        header = rows[0][:]
        rnd.shuffle(header)
        return _join([header, *rows[1:]])
    order = list(range(width))
    rnd.shuffle(order)
    return _join([[row[j] if j < len(row) else b"" for j in order] for row in rows])


def _cell(rnd: random.Random, content: bytes, value: bytes) -> bytes:
    """Replace one field of one row (the header included) by ``value``."""
    rows = _rows(content)
    row = rnd.randrange(len(rows))
    rows[row][rnd.randrange(len(rows[row]))] = value
    return _join(rows)


def _insert(rnd: random.Random, content: bytes, value: bytes) -> bytes:
    at = rnd.randrange(len(content) + 1)
    return content[:at] + value + content[at:]


HOSTILE_BYTES = [
    b"\x00", b"\xff", b"\xe9", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b'"', b'""', b"\r",
    b"\n", b"\r\n", b",", b"\t", b"=HYPERLINK(\"http://x\")", b"\xe2\x80\xae", b"\\", b"'",
]  # fmt: skip

MUTATIONS = [
    "drop", "duplicate", "shuffle header", "shuffle all", "bytes", "hostile", "huge", "instant",
    "unicode", "bom", "truncate", "empty", "blank lines", "number",
]  # fmt: skip


@st.composite
def mutated_csv(draw: st.DrawFn, valid: bytes, instant_column: int) -> bytes:
    """``valid`` after one to three random mutations, or now and then random bytes alone."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    content = valid
    for how in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        if not content.strip():
            break
        if how in ("drop", "duplicate", "shuffle header", "shuffle all"):
            content = _columns(rnd, content, how)
        elif how == "bytes":
            content = _insert(rnd, content, draw(st.binary(min_size=1, max_size=8)))
        elif how == "hostile":
            content = _insert(rnd, content, rnd.choice(HOSTILE_BYTES))
        elif how == "huge":
            content = _cell(
                rnd, content, b"x" * draw(st.sampled_from([10_000, 200_000, 1_100_000]))
            )
        elif how == "instant":
            rows = _rows(content)
            row = rows[rnd.randrange(1, len(rows))] if len(rows) > 1 else rows[0]
            if instant_column < len(row):
                odd = draw(st.sampled_from(ODD_INSTANTS) | st.text(max_size=30))
                row[instant_column] = odd.encode("utf-8", "surrogatepass")
            content = _join(rows)
        elif how == "unicode":
            text = draw(st.text(min_size=1, max_size=12))
            content = _cell(rnd, content, text.encode("utf-8", "surrogatepass"))
        elif how == "bom":
            content = b"\xef\xbb\xbf" + content
        elif how == "truncate":
            content = content[: rnd.randrange(len(content))]
        elif how == "empty":
            content = b""
        elif how == "blank lines":
            content = _insert(rnd, content, b"\n\n")
        else:  # a number where text is, or money and counts in other scripts and with commas
            number = draw(st.sampled_from(["٣٤٥", "1,2,3", "1_000", "-5", "1e3", "NaN", "inf",
                                           "99999999999999999999999", "0x10", "５"]))  # fmt: skip
            content = _cell(rnd, content, number.encode())
    return content


# --- event logs and placement extracts for `pathway import` -------------------------------------


def _check_import(done: Result, db: Path, before: dict[str, str], file: Path) -> None:
    no_traceback(done)
    if done.exit_code == 0:
        assert done.stdout.startswith("Imported "), done.output
        verifies(str(db))
        return
    refused_naming(done, file.name)
    assert sqlite_digest(db) == before


@FUZZ
@given(content=mutated_csv(NEW_EVENTS, instant_column=1))
def test_a_mutated_event_log_is_refused_naming_its_line_or_imports_cleanly(
    fresh: Fresh, content: bytes
) -> None:
    db = fresh.store()
    log = fresh.file("log.csv", content)
    before = sqlite_digest(db)
    _check_import(invoke("import", str(log), "--db", str(db)), db, before, log)


@FUZZ
@given(content=mutated_csv(PLACEMENTS, instant_column=4))
def test_a_mutated_placements_file_is_refused_naming_its_line_or_imports_cleanly(
    fresh: Fresh, content: bytes
) -> None:
    db = fresh.store()
    # The template holds these placements already: take them off so the valid file imports.
    content = content.replace(b"C1,P1,", b"C3,Q1,").replace(b"C2,S1,", b"C2,Q2,")
    extract = fresh.file("placements.csv", content)
    before = sqlite_digest(db)
    done = invoke("import", "--placements", str(extract), "--db", str(db))
    _check_import(done, db, before, extract)


@settings(FUZZ, max_examples=10)
@given(content=mutated_csv(NEW_EVENTS, instant_column=1))
def test_a_mutated_event_log_leaves_a_postgres_store_as_it_was(
    store_factory: Any, tmp_path: Path, content: bytes
) -> None:
    """On PostgreSQL, a refused file leaves every row of every table as it was."""
    from test_import_hostile import snapshot

    if store_factory.name != "postgres":
        pytest.skip("the SQLite store is fuzzed above, one copy per example")
    location = getattr(store_factory, "_fuzz_location", None)
    if location is None:
        location = store_factory.location()
        store_factory._fuzz_location = location
        (tmp_path / "seed.csv").write_bytes(EVENT_LOG)
        assert invoke("init", "--db", location, "--pathway", str(MINIMAL)).exit_code == 0
        assert invoke("import", str(tmp_path / "seed.csv"), "--db", location).exit_code == 0
    log = tmp_path / "log.csv"
    log.write_bytes(content.replace(b"N", b"M" + str(random.random()).encode()[2:8]))
    before = snapshot(store_factory, location)
    done = invoke("import", str(log), "--db", location)
    no_traceback(done)
    if done.exit_code == 0:
        verifies(location)
        return
    refused_naming(done, log.name)
    assert snapshot(store_factory, location) == before


# --- pathway definitions for `validate` and `init --pathway` ------------------------------------

BARNET_TEXT = BARNET.read_text(encoding="utf-8")
BARNET_TREE = yaml.safe_load(BARNET_TEXT)

ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)  # fmt: skip


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a loaded YAML tree, as a path of keys and indexes."""
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += _paths(value, (*prefix, index))
    return found


BARNET_PATHS = [p for p in _paths(BARNET_TREE) if p]


def _replace(tree: Any, path: tuple[Any, ...], make: Callable[[Any], Any]) -> Any:
    if not path:
        return make(tree)
    head, rest = path[0], path[1:]
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    new = _replace(copy[head], rest, make)
    if new is _DELETE:
        del copy[head]
    else:
        copy[head] = new
    return copy


_DELETE = object()


def _holds(tree: Any, path: tuple[Any, ...]) -> bool:
    """Whether ``path`` still leads somewhere in ``tree``."""
    for step in path:
        in_dict = isinstance(tree, dict) and step in tree
        in_list = isinstance(tree, list) and isinstance(step, int) and step < len(tree)
        if not (in_dict or in_list):
            return False
        tree = tree[step]
    return True


@st.composite
def mutated_definition(draw: st.DrawFn) -> str:
    """barnet-enablement.yaml with keys deleted, types changed, unicode, aliases or nesting."""
    how = draw(st.sampled_from(["delete", "type", "unicode", "alias", "nest", "text", "truncate"]))
    if how in ("delete", "type", "unicode"):
        tree = BARNET_TREE
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(BARNET_PATHS))
            if not _holds(tree, path):  # an earlier mutation took it away
                continue
            if how == "delete":
                tree = _replace(tree, path, lambda _: _DELETE)
            elif how == "type":
                value = draw(ODD_VALUES)
                tree = _replace(tree, path, lambda _, value=value: value)
            else:
                text = draw(st.text(min_size=1, max_size=15))
                tree = _replace(tree, path, lambda old, text=text: f"{old}{text}")
            if not _paths(tree, ()) or not isinstance(tree, dict):
                break
        try:
            return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
        except (yaml.YAMLError, KeyError, IndexError):  # pragma: no cover - an odd tree
            return BARNET_TEXT
    lines = BARNET_TEXT.splitlines(keepends=True)
    at = draw(st.integers(0, len(lines) - 1))
    if how == "alias":
        anchor = draw(st.sampled_from(["x: &a [1, 2]\ny: *a\n", "x: &r [*r]\n", "<<: *nowhere\n",
                                       "z: &b {k: 1}\nw:\n  <<: *b\n"]))  # fmt: skip
        return BARNET_TEXT + anchor if draw(st.booleans()) else anchor + BARNET_TEXT
    if how == "nest":
        depth = draw(st.integers(20, 400))
        return BARNET_TEXT + "deep: " + "[" * depth + "]" * depth + "\n"
    if how == "text":
        noise = draw(st.text(min_size=1, max_size=20))
        return "".join(lines[:at]) + noise + "".join(lines[at:])
    return BARNET_TEXT[: draw(st.integers(0, len(BARNET_TEXT) - 1))]


def _write_text(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(text=mutated_definition())
def test_a_mutated_definition_is_refused_naming_its_place_by_validate(
    fresh: Fresh, text: str
) -> None:
    path = fresh.file("def.yaml", b"")
    _write_text(path, text)
    done = invoke("validate", str(path))
    no_traceback(done)
    assert done.exit_code in (0, 1), done.output
    if done.exit_code == 0:
        assert done.stdout.startswith(f"{path}: ok: pathway "), done.output
        return
    problems = done.stderr.splitlines()
    assert problems[-1] == "1 of 1 file(s) have problems"
    for line in problems[:-1]:
        assert line.startswith(str(path)), line  # each problem names the file, line and pointer


@FUZZ
@given(text=mutated_definition())
def test_a_mutated_definition_creates_no_store_by_init(fresh: Fresh, text: str) -> None:
    path = fresh.file("def.yaml", b"")
    _write_text(path, text)
    db = fresh.folder / f"init-{fresh.made}.db"
    fresh.made += 1
    done = invoke("init", "--db", str(db), "--pathway", str(path))
    no_traceback(done)
    if done.exit_code == 0:
        assert done.stdout.startswith("Store "), done.output
        verifies(str(db))
        return
    assert done.exit_code == 2, done.output
    lines = error_lines(done)
    assert lines[0] == "Error: invalid file:", done.stderr
    for line in lines[1:]:
        assert str(path) in line, line
    assert not db.exists()


@FUZZ
@given(text=mutated_definition())
def test_a_mutated_definition_leaves_an_existing_store_as_it_was(fresh: Fresh, text: str) -> None:
    """Re-pointing a store at a bad definition refuses and writes nothing."""
    db = fresh.store()
    path = fresh.file("def.yaml", b"")
    _write_text(path, text)
    before = sqlite_digest(db)
    done = invoke("init", "--db", str(db), "--pathway", str(path))
    no_traceback(done)
    if done.exit_code != 0:
        assert done.exit_code == 2, done.output
        assert sqlite_digest(db) == before


# --- option values for `report`, `case fire`, `dashboard`, `audit verify` -----------------------

INSTANTS = st.sampled_from([*ODD_INSTANTS, "2026-01-05", "2026-06-30T12:00:00+01:00"]) | st.text(
    max_size=30
)
COUNTS = st.sampled_from(["0", "1", "-1", "٣", "1_0", "1,0", "１", "1e3", "99999999999999999999",
                          " 5", "5 ", "", "+3", "0x10"]) | st.text(max_size=8)  # fmt: skip
MONEY = st.sampled_from(["1,2,3", "£11,500,000.00", "٣٤٥", "1.234", "-5", "££5", "1e6", "NaN",
                         "inf", "", "£", "1,000,00", "99999999999999999999999"]) | st.text(max_size=12)  # fmt: skip
TEAMS = st.sampled_from(["hub", "lets", "cmht", "nobody", "", "HUB", "lets'; DROP TABLE cases;--",
                         "<script>", "\u202ehub"]) | st.text(max_size=12)  # fmt: skip
URLS = st.sampled_from(["javascript:alert(1)", "JaVaScRiPt:x", " javascript:x", "data:text/html,x",
                        "vbscript:x", "https://ok.example/r.md", "docs/reports.md", "//evil", "",
                        "\x00", "http://", "file:///etc/passwd"]) | st.text(max_size=20)  # fmt: skip
REPORTS = st.sampled_from(["handoffs", "holding", "s75", "waits", "activity", "funding", "monthly",
                           "caseload", "nosuch"])  # fmt: skip


def _option_values(draw: st.DrawFn, options: dict[str, st.SearchStrategy[str]]) -> list[str]:
    """Some of ``options`` with drawn values (``--opt=value`` so a leading - stays a value)."""
    chosen = draw(st.lists(st.sampled_from(sorted(options)), min_size=1, max_size=3, unique=True))
    return [f"{name}={draw(options[name])}" for name in chosen]


def _no_nul(args: list[str]) -> bool:
    return all("\x00" not in a for a in args)  # an OS argument cannot hold NUL (see spot checks)


def _check_read_only(done: Result, db: Path, before: dict[str, str], args: list[str]) -> None:
    no_traceback(done)
    assert done.exit_code in (0, 1, 2), (done.exit_code, done.output)
    if done.exit_code == 2:
        named = [a.split("=", 1)[0] for a in args if a.startswith("--")]
        lines = error_lines(done)
        errors = [line for line in lines if line.startswith("Error:")]
        assert len(errors) == 1, done.stderr
        # Click's usage errors name the option (--top); ours name it or its field (team).
        assert any(n.lstrip("-") in errors[0] for n in named) or "report" in errors[0], errors[0]
    assert sqlite_digest(db) == before


@st.composite
def report_args(draw: st.DrawFn) -> list[str]:
    options = {"--as-of": INSTANTS, "--since": INSTANTS, "--until": INSTANTS, "--top": COUNTS,
               "--threshold": COUNTS, "--budget": MONEY, "--team": TEAMS,
               "--format": st.sampled_from(["table", "json", "csv", "markdown", "xml"])}  # fmt: skip
    return ["report", draw(REPORTS), *_option_values(draw, options)]


@FUZZ
@given(args=report_args())
def test_random_report_options_are_refused_naming_the_option(fresh: Fresh, args: list[str]) -> None:
    db = fresh.store()
    before = sqlite_digest(db)
    done = invoke(*args, "--db", str(db))
    _check_read_only(done, db, before, args)


@st.composite
def dashboard_args(draw: st.DrawFn) -> list[str]:
    options = {"--as-of": INSTANTS, "--since": INSTANTS, "--until": INSTANTS, "--top": COUNTS,
               "--budget": MONEY, "--team": TEAMS, "--definitions-url": URLS}  # fmt: skip
    return ["dashboard", *_option_values(draw, options)]


@FUZZ
@given(args=dashboard_args())
def test_random_dashboard_options_are_refused_naming_the_option(
    fresh: Fresh, args: list[str]
) -> None:
    pytest.importorskip("plotly")
    db = fresh.store()
    out = fresh.folder / f"board-{fresh.made}.html"
    before = sqlite_digest(db)
    done = invoke(*args, "--out", str(out), "--db", str(db))
    _check_read_only(done, db, before, args)
    if done.exit_code == 2:
        assert not out.exists()  # nothing written


@st.composite
def verify_args(draw: st.DrawFn) -> list[str]:
    checkpoints = ['{"position": 1, "hash": "00"}', '{"position": -1}', "[]", "{", "null",
                   '{"position": 99, "hash": "' + "a" * 64 + '"}', ""]  # fmt: skip
    against = draw(st.sampled_from(checkpoints) | st.text(max_size=40))
    return ["audit", "verify", f"--against={against}"]


@FUZZ
@given(args=verify_args())
def test_random_checkpoints_for_audit_verify_are_refused_naming_the_option(
    fresh: Fresh, args: list[str]
) -> None:
    db = fresh.store()
    before = sqlite_digest(db)
    done = invoke(*args, "--db", str(db))
    _check_read_only(done, db, before, args)


@st.composite
def fire_args(draw: st.DrawFn) -> list[str]:
    options = {"--at": INSTANTS, "--expected-version": COUNTS, "--team": TEAMS,
               "--data": st.sampled_from(["{", "[]", "null", '{"a": 1}', '{"a": "\\u0000"}',
                                          "1" * 5000]) | st.text(max_size=20),
               "--set": st.sampled_from(["=", "x", "=1", "a=\x01", "a=" + "[" * 5000]) | st.text(max_size=12),
               "--note": st.text(max_size=30), "--actor": st.text(max_size=12),
               "--idempotency-key": st.text(max_size=12), "--role": TEAMS}  # fmt: skip
    values = _option_values(draw, options)
    if not any(v.startswith("--team=") for v in values):
        values.append("--team=lets")
    if not any(v.startswith("--actor=") for v in values):
        values.append("--actor=w9")
    case = draw(st.sampled_from(["C1", "C2", "nosuch", ""]) | st.text(max_size=8))
    trigger = draw(st.sampled_from(["start_enablement", "close", "nosuch"]) | st.text(max_size=8))
    return ["case", "fire", "--", case, trigger, *values]


@FUZZ
@given(args=fire_args())
def test_random_fire_options_are_refused_naming_the_option_or_decided(
    fresh: Fresh, args: list[str]
) -> None:
    """Exit 2 writes nothing; a refusal (exit 1) is recorded, as documented; 0 moved the case."""
    db = fresh.store()
    before = sqlite_digest(db)
    # `--` keeps a case id starting with - an argument; options go before it.
    at = args.index("--")
    ordered = [*args[:2], *args[at + 3 :], "--db", str(db), *args[at : at + 3]]
    done = invoke(*ordered)
    no_traceback(done)
    assert done.exit_code in (0, 1, 2), (done.exit_code, done.output)
    if done.exit_code == 2:
        assert sqlite_digest(db) == before
        errors = [line for line in error_lines(done) if line.startswith("Error:")]
        assert len(errors) == 1, done.stderr
    else:
        verifies(str(db))


# --- subprocess spot checks: the installed command, a real OS process --------------------------


@pytest.mark.parametrize(
    ("args", "content", "place"),
    [
        (["import", "{file}"], b"case_id,occurred_at,state,team\nX,\xff,referred,hub\n", ":2:"),
        (["import", "--placements", "{file}"], PLACEMENTS.replace(b"887.00", b"\xd9\xa3"), ":2:"),
        (["report", "handoffs", "--as-of", "9999-12-31T23:59:59-23:59"], b"", "--as-of"),
        (["dashboard", "--out", "{file}.html", "--top", "٣"], b"", "--top"),
    ],
)
def test_spot_checks_in_a_real_process(
    template: Path, tmp_path: Path, args: list[str], content: bytes, place: str
) -> None:
    db = tmp_path / "cases.db"
    shutil.copyfile(template, db)
    file = tmp_path / "input.csv"
    file.write_bytes(content)
    before = sqlite_digest(db)
    done = subprocess.run(
        [sys.executable, "-m", "pathway", *(a.format(file=file) for a in args), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert place in done.stderr, done.stderr
    assert sqlite_digest(db) == before


# --- the bugs this suite found, each pinned by a plain test --------------------------------------


def test_a_control_character_in_yaml_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    """PyYAML's reader error was two lines naming "<unicode string>", with no line number."""
    path = tmp_path / "def.yaml"
    path.write_text("id: x\ntitle: a\x1fb\n", encoding="utf-8")
    done = invoke("validate", str(path))
    no_traceback(done)
    assert done.exit_code == 1
    assert done.stderr.splitlines() == [
        f"{path}:2: not valid YAML: character U+001F at column 9 is not allowed in YAML",
        "1 of 1 file(s) have problems",
    ]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--data", "1" * 5000, "Error: --data cannot be read: a number too long (over 4,300 digits)"),
        ("--data", "[" * 20000 + "]" * 20000, "Error: --data cannot be read: nested too deep"),
        ("--set", "a=" + "9" * 5000, "Error: --set a: the value cannot be read: a number too long (over 4,300 digits)"),
        ("--set", "a=" + "[" * 20000 + "]" * 20000, "Error: --set a: the value cannot be read: nested too deep"),
    ],
)  # fmt: skip
def test_json_past_what_python_reads_is_refused_on_one_line(
    template: Path, tmp_path: Path, option: str, value: str, message: str
) -> None:
    """A 5,000-digit number or deep nesting was a ValueError or RecursionError traceback."""
    db = tmp_path / "cases.db"
    shutil.copyfile(template, db)
    before = sqlite_digest(db)
    done = invoke(
        "case", "fire", "C1", "close", "--actor", "w1", "--team", "lets", option, value,
        "--db", str(db),
    )  # fmt: skip
    no_traceback(done)
    assert done.exit_code == 2
    assert done.stderr.splitlines() == [message]
    assert sqlite_digest(db) == before


@pytest.mark.parametrize(
    "args",
    [
        ["case", "fire", "C1", "close", "--actor=", "--team=lets"],
        ["case", "open", "Z1", "--actor=", "--team=lets"],
        ["case", "triggers", "nosuch", "--actor=w1", "--team=lets"],
        ["report", "nosuch"],
        ["report", "handoffs", "--team=nobody"],
    ],
)
def test_a_command_refused_in_process_closes_the_store(
    template: Path, tmp_path: Path, args: list[str]
) -> None:
    """The store was left open after an exit-2 refusal: a -wal file stayed, and the connection
    leaked in a process that runs the CLI in process (a WAL store's -wal goes with its last
    connection, so its presence shows one still open)."""
    db = tmp_path / "cases.db"
    shutil.copyfile(template, db)
    done = invoke(*args, "--db", str(db))
    no_traceback(done)
    assert done.exit_code == 2, done.output
    assert not Path(f"{db}-wal").exists()


@pytest.mark.parametrize("kind", ["events", "placements"])
@pytest.mark.parametrize("brk", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028"])
def test_a_line_break_in_a_header_stays_inside_its_one_problem_line(
    template: Path, tmp_path: Path, kind: str, brk: str
) -> None:
    """Header names were echoed raw: a vertical tab or U+2028 split the problem in two lines."""
    db = tmp_path / "cases.db"
    shutil.copyfile(template, db)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"a{brk}b,c\n", encoding="utf-8", newline="")
    before = sqlite_digest(db)
    args = ["import", str(bad)] if kind == "events" else ["import", "--placements", str(bad)]
    done = invoke(*args, "--db", str(db))
    no_traceback(done)
    assert done.exit_code == 2
    lines = done.stderr.splitlines()
    assert lines[0] == "Error: invalid file:", lines
    # One line per problem (both imports also name the unknown columns), each naming file:line.
    assert len(lines) == 3, lines
    assert all(line.startswith(f"  {bad}:1: ") for line in lines[1:]), lines
    assert "missing required column(s)" in lines[1]
    assert repr(brk)[1:-1] in lines[1]
    assert sqlite_digest(db) == before
