"""`audit verify`'s fast paths give exactly what the reference checks give (issue 16 item 1).

To keep `audit verify` within 1.5x of the chain-only verify, the chain is first checked by one
loop over the rows (``common._chain_holds``), and the reference ``audit.verify_links`` reads the
rows again only when that loop finds something; the derived pass takes each event's microseconds
from SQLite instead of parsing its text. Each is checked here against the reference it replaces,
on rows mutated the way a tamperer would: a fast path that says "holds" where the reference fails
would let a falsified store verify.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pathway
from pathway.audit import Checkpoint, hash_text, verify_links
from pathway.canonical import GENESIS_HASH
from pathway.importer import import_events
from pathway.store.base import row_links, row_payload_json
from pathway.store.common import EVENT_SELECT, _chain_holds
from pathway.store.derived import _micros
from pathway.timeutil import format_instant, parse_instant

LOG = """case_id,occurred_at,state,team,organisation
A,2026-01-05T09:00:00+00:00,referral,hub,council
A,2026-01-06T09:00:00+00:00,enablement,lets,council
B,2026-01-05T10:00:00+00:00,referral,triage,trust
A,2026-01-07T09:00:00+00:00,referral,hub,council
B,2026-01-08T10:00:00+00:00,enablement,lets,council
C,2026-01-05T11:00:00+00:00,referral,hub,council
"""


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    """The events-table rows of a small imported log, in position order."""
    db = tmp_path_factory.mktemp("fast") / "s.db"
    with pathway.open_store(db) as store:
        import_events(store, "log.csv", text=LOG, final_states=["closed"])
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [tuple(r) for r in conn.execute(EVENT_SELECT + " ORDER BY position")]


def _reference(rows: list[tuple[Any, ...]], against: Checkpoint | None) -> pathway.VerifyResult:
    return verify_links(row_links(iter(rows)), against)


def _mutate(rows: list[tuple[Any, ...]], kind: str, index: int, column: int) -> None:
    """Change ``rows`` in place as a tamperer with the database could."""
    index %= len(rows)
    if kind == "edit":  # any column: text gets a character, a number moves by one
        row = list(rows[index])
        value = row[column]
        row[column] = (
            value + 1 if isinstance(value, int) else (value or "") + "x" if column != 25 else "0"
        )
        rows[index] = tuple(row)
    elif kind in ("rehash", "relink"):  # the chain rebuilt from here on, as a forger would:
        for at in range(index, len(rows)):  # each prev_hash (not the first one's, for "rehash")
            prev = rows[at - 1][25] if at else GENESIS_HASH  # set to the hash before it, and
            row = rows[at] if kind == "rehash" and at == index else (*rows[at][:24], prev, "")
            rows[at] = (*row[:25], hash_text(prev, row_payload_json(row)))  # each hash redone
    elif kind == "delete":
        del rows[index]
    elif kind == "swap":
        other = (index + 1 + column) % len(rows)
        rows[index], rows[other] = rows[other], rows[index]
    elif kind == "truncate":
        del rows[index:]
    elif kind == "duplicate":
        rows.insert(index, rows[index])


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["edit", "rehash", "relink", "delete", "swap", "truncate", "duplicate"]),
        st.integers(0, 50),
        st.integers(0, 25),
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(mutations=MUTATIONS, checkpoint=st.integers(-1, 8), wrong_hash=st.booleans())
def test_the_chain_loop_holds_exactly_when_the_reference_does(
    rows: list[tuple[Any, ...]],
    mutations: list[tuple[str, int, int]],
    checkpoint: int,
    wrong_hash: bool,
) -> None:
    """Untouched or mutated rows, with no checkpoint, a true one, a wrong one or one past the
    end: the loop gives the reference's result when it holds, and ``None`` (so the reference
    runs and names the event) exactly when the reference fails."""
    original = list(rows)
    tampered = list(rows)
    for kind, index, column in mutations:
        if tampered:
            _mutate(tampered, kind, index, column)
    against = None
    if checkpoint >= 0:
        digest = original[checkpoint - 1][25] if 1 <= checkpoint <= len(original) else "f" * 64
        against = Checkpoint(checkpoint, "e" * 64 if wrong_hash else digest)
    reference = _reference(tampered, against)
    fast = _chain_holds(iter(tampered), against)
    if reference.ok:
        assert fast == reference
    else:
        assert fast is None, reference.problem


def test_each_tampering_the_reference_names_makes_the_loop_defer(
    rows: list[tuple[Any, ...]],
) -> None:
    """One case of each kind, worked out: the reference fails and names the event; the loop
    defers to it."""
    assert _chain_holds(iter(rows), None) == _reference(rows, None)
    assert _reference(rows, None).ok and _reference(rows, None).events == 6
    edited = list(rows)
    edited[2] = (*edited[2][:20], "a note added later", *edited[2][21:])
    gap = rows[:2] + rows[3:]
    relinked = list(rows)
    relinked[3] = (*relinked[3][:24], "0" * 64, relinked[3][25])
    forged = list(rows)  # prev_hash edited, the chain's hashes recomputed from there
    _mutate(forged, "edit", 3, 24)
    _mutate(forged, "rehash", 3, 0)
    forged_gap = rows[:2] + rows[3:]  # an event deleted, the chain's hashes recomputed after it
    _mutate(forged_gap, "relink", 2, 0)
    head = Checkpoint(6, rows[5][25])
    for tampered, against, problem in (
        (edited, None, "event at position 3"),
        (gap, None, "expected position 3, found 4"),
        (relinked, None, "its prev_hash does not match"),
        (forged, None, "its prev_hash does not match"),
        (forged_gap, None, "expected position 3, found 4"),
        (rows[:4], head, "before the checkpoint's position 6"),
        (rows, Checkpoint(6, "e" * 64), "not the checkpoint's"),
    ):
        assert problem in (_reference(tampered, against).problem or "")
        assert _chain_holds(iter(tampered), against) is None
    assert _chain_holds(iter(rows), head) == _reference(rows, head)
    assert _chain_holds(iter([]), None) == _reference([], None)


@pytest.fixture(scope="module")
def memory() -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        yield conn


def _sql_micros(conn: sqlite3.Connection, text: str) -> Any:
    return conn.execute(
        f"SELECT {_micros(conn)} FROM (SELECT ? AS occurred_at)", (text,)
    ).fetchone()[0]


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
    )
)
def test_sqlite_s_microseconds_of_a_stored_instant_give_python_s_timestamp(
    memory: sqlite3.Connection, moment: datetime
) -> None:
    """The fold's time of an event is ``parse_instant(text).timestamp()``; SQLite's integer
    microseconds of the stored text, divided by a million, are the same float."""
    text = format_instant(moment)
    micros = _sql_micros(memory, text)
    assert isinstance(micros, int)
    assert micros / 1_000_000 == parse_instant(text).timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-05T09:00:00+00:00",  # no fraction
        "2026-01-05T09:00:00.000000+01:00",  # another offset
        "2026-01-05T09:00:00.000000Z",
        "2026-01-05 09:00:00.000000+00:00x",
        "",
    ],
)
def test_any_other_text_is_left_to_python(memory: sqlite3.Connection, text: str) -> None:
    """Text not in the store's fixed-width UTC form gets no SQL value (Python parses it)."""
    assert _sql_micros(memory, text) is None


def test_an_instant_not_in_the_stored_form_still_folds_to_its_timestamp(tmp_path: Path) -> None:
    """The Python side's answer for such text is the parsed timestamp (``_Seconds.of``)."""
    from pathway.store.derived import _Seconds

    moment = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=1)))
    assert _Seconds().of(moment.isoformat()) == moment.timestamp()
