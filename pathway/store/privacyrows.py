"""The free-text and redaction rows both SQL stores keep (see :mod:`pathway.sealing`).

``free_text`` holds each sealed text of each event (its canonical JSON and salt, ``NULL`` both once
redacted, with the redaction that removed them). ``redactions`` is the privacy log: one row per
redaction, append-only (triggers refuse UPDATE and DELETE) and hash-chained like the events, so a
redaction cannot be hidden or rewritten without ``audit verify`` saying so. It is a chain of its
own, not events of the case: a redaction is not a step of the pathway, and the reports and the
derived case rows read the events.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from hashlib import sha256
from typing import Any

import attrs

from ..canonical import GENESIS_HASH, canonical_json
from ..model import AuditEvent
from ..sealing import DATA_PREFIX, NOTE_FIELD, SealedText, commit, is_commitment, unseal

FREE_TEXT_COLUMNS = ("event_position", "field", "case_id", "value", "salt", "redaction")
FREE_TEXT_INSERT = (
    "INSERT INTO free_text (event_position, field, case_id, value, salt) VALUES (?, ?, ?, ?, ?)"
)

REDACTION_COLUMNS = (
    "position", "case_id", "recorded_at", "actor_id", "actor_team", "reason", "texts", "person",
    "chain_position", "chain_hash", "prev_hash", "hash",
)  # fmt: skip
"""The privacy log's columns; ``hash`` is ``sha256(prev_hash + canonical JSON of the others)``."""


def sqlite_schema() -> str:
    """The tables of free text and redactions, SQLite's dialect."""
    return """
CREATE TABLE free_text (
    event_position INTEGER NOT NULL,
    field TEXT NOT NULL,
    case_id TEXT NOT NULL,
    value TEXT,
    salt TEXT,
    redaction INTEGER,
    PRIMARY KEY (event_position, field),
    CHECK ((value IS NULL) = (salt IS NULL))
);
CREATE INDEX free_text_by_case ON free_text (case_id, event_position);
CREATE TABLE redactions (
    position INTEGER PRIMARY KEY,
    case_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_team TEXT NOT NULL,
    reason TEXT NOT NULL,
    texts INTEGER NOT NULL,
    person INTEGER NOT NULL,
    chain_position INTEGER NOT NULL,
    chain_hash TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX redactions_by_case ON redactions (case_id);
CREATE TRIGGER redactions_no_update BEFORE UPDATE ON redactions
BEGIN
    SELECT RAISE(ABORT, 'the privacy log is append-only: UPDATE refused');
END;
CREATE TRIGGER redactions_no_delete BEFORE DELETE ON redactions
BEGIN
    SELECT RAISE(ABORT, 'the privacy log is append-only: DELETE refused');
END;
"""


def postgres_schema(text_type: str) -> str:
    """The same tables in PostgreSQL's dialect (``text_type``: the store's collated TEXT)."""
    t = text_type
    return f"""
CREATE TABLE free_text (
    event_position BIGINT NOT NULL,
    field {t} NOT NULL,
    case_id {t} NOT NULL,
    value {t},
    salt {t},
    redaction BIGINT,
    PRIMARY KEY (event_position, field),
    CHECK ((value IS NULL) = (salt IS NULL))
);
CREATE INDEX free_text_by_case ON free_text (case_id, event_position);
CREATE TABLE redactions (
    position BIGINT PRIMARY KEY,
    case_id {t} NOT NULL,
    recorded_at {t} NOT NULL,
    actor_id {t} NOT NULL,
    actor_team {t} NOT NULL,
    reason {t} NOT NULL,
    texts INTEGER NOT NULL,
    person SMALLINT NOT NULL,
    chain_position BIGINT NOT NULL,
    chain_hash {t} NOT NULL,
    prev_hash {t} NOT NULL,
    hash {t} NOT NULL
);
CREATE INDEX redactions_by_case ON redactions (case_id);
CREATE TRIGGER redactions_refuse_update BEFORE UPDATE ON redactions
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER redactions_refuse_delete BEFORE DELETE ON redactions
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER redactions_refuse_truncate BEFORE TRUNCATE ON redactions
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
"""


def write_free_text(conn: Any, position: int, case_id: str, texts: Sequence[SealedText]) -> None:
    """Keep an event's sealed texts (one statement for the usual single note)."""
    rows = [(position, t.field, case_id, t.value_json, t.salt) for t in texts]
    if len(rows) == 1:
        conn.execute(FREE_TEXT_INSERT, rows[0])
    else:
        conn.executemany(FREE_TEXT_INSERT, rows)


def read_history_texts(conn: Any, case_id: str, events: list[AuditEvent]) -> list[AuditEvent]:
    """``events`` of one case (as chained) with their kept texts put back."""
    texts: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    for position, field, value in conn.execute(
        "SELECT event_position, field, value FROM free_text WHERE case_id = ?", (case_id,)
    ):
        texts[int(position)].append((str(field), value))
    if not texts:
        return events
    out = []
    for event in events:
        kept = texts.get(event.position)
        if kept:
            note, data, sealed = unseal(event.note, event.data, kept)
            event = attrs.evolve(event, note=note, data=data, sealed=sealed)
        out.append(event)
    return out


FREE_TEXT_BY_POSITION = (
    "SELECT event_position, field, value FROM free_text ORDER BY event_position, field"
)


def with_texts(
    events: Iterable[AuditEvent], texts: Iterable[tuple[Any, ...]]
) -> Iterator[AuditEvent]:
    """Events in position order with their kept texts put back, merging ``texts``
    (``FREE_TEXT_BY_POSITION`` rows) as both streams go: memory holds one event's texts."""
    pending = iter(texts)
    row = next(pending, None)
    for event in events:
        while row is not None and int(row[0]) < event.position:
            row = next(pending, None)
        kept: list[tuple[str, str | None]] = []
        while row is not None and int(row[0]) == event.position:
            kept.append((str(row[1]), row[2]))
            row = next(pending, None)
        if kept:
            note, data, sealed = unseal(event.note, event.data, kept)
            event = attrs.evolve(event, note=note, data=data, sealed=sealed)
        yield event


def redaction_hash(values: Sequence[Any]) -> str:
    """The hash of a privacy-log row given its columns but the hash (``REDACTION_COLUMNS``)."""
    record = dict(zip(REDACTION_COLUMNS[:-1], values, strict=True))
    prev = str(record["prev_hash"])
    return sha256((prev + canonical_json(record)).encode("utf-8")).hexdigest()


def redactions_head(conn: Any) -> tuple[int, str]:
    """The privacy log's newest position and hash (0 and the genesis hash when empty)."""
    row = conn.execute(
        "SELECT position, hash FROM redactions ORDER BY position DESC LIMIT 1"
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)


@attrs.frozen
class FreeTextCheck:
    """What ``audit verify`` found of the free text: how many texts are held and proven, how
    many were redacted by a recorded redaction, and the problems (tampering) found."""

    held: int = 0
    redacted: int = 0
    redacted_cases: int = 0
    redactions: int = 0
    problems: tuple[str, ...] = ()


def check_free_text(conn: Any, limit: int = 10) -> FreeTextCheck:
    """Check every kept text against its event's commitment, every commitment has its text (or a
    recorded redaction), and the privacy log's own chain."""
    problems: list[str] = []
    log: dict[int, str] = {}
    prev, expected = GENESIS_HASH, 1
    for row in conn.execute(
        f"SELECT {', '.join(REDACTION_COLUMNS)} FROM redactions ORDER BY position"
    ):
        values = tuple(row)
        if values[0] != expected or values[-2] != prev or redaction_hash(values[:-1]) != values[-1]:
            problems.append(
                f"privacy log entry {values[0]} (case {values[1]}): it does not match its hash or "
                "its place in the log (the log was altered)"
            )
            break
        log[int(values[0])] = str(values[1])
        prev, expected = str(values[-1]), expected + 1
    commitments = _commitments(conn)
    held = redacted = 0
    cases: set[str] = set()
    for position, field, case_id, value, salt, redaction in conn.execute(
        "SELECT event_position, field, case_id, value, salt, redaction FROM free_text "
        "ORDER BY event_position, field"
    ):
        where = f"the {_label(field)} of the event at position {position} (case {case_id})"
        chained = commitments.pop((int(position), str(field)), None)
        if chained is None:
            problems.append(f"{where}: kept text with no commitment in the chain (added)")
        elif value is not None:
            if commit(str(value), str(salt)) != chained[1] or chained[0] != case_id:
                problems.append(f"{where}: its text does not match its commitment (altered)")
            else:
                held += 1
        elif redaction is None or log.get(int(redaction)) != case_id:
            problems.append(
                f"{where}: its text was removed without a recorded redaction (tampered)"
            )
        else:
            redacted += 1
            cases.add(str(case_id))
        if len(problems) >= limit:
            break
    for (position, field), (case_id, _c) in sorted(commitments.items())[: limit - len(problems)]:
        problems.append(
            f"the {_label(field)} of the event at position {position} (case {case_id}): the "
            "chain holds a commitment but its text and redaction record are gone (deleted)"
        )
    return FreeTextCheck(held, redacted, len(cases), len(log), tuple(problems[:limit]))


def _label(field: str) -> str:
    return "note" if field == NOTE_FIELD else f"free-text field {field[len(DATA_PREFIX) :]!r}"


def _commitments(conn: Any) -> dict[tuple[int, str], tuple[str, str]]:
    """Every commitment the chained events hold: (position, field) -> (case, commitment)."""
    found: dict[tuple[int, str], tuple[str, str]] = {}
    for position, case_id, note, data in conn.execute(
        "SELECT position, case_id, note, data FROM events "
        "WHERE note IS NOT NULL OR data LIKE '%hmac-sha256:%'"
    ):
        if note is not None:
            found[(int(position), NOTE_FIELD)] = (str(case_id), str(note))
        if "hmac-sha256:" in data:
            for key, value in json.loads(data).items():
                if is_commitment(value):
                    found[(int(position), DATA_PREFIX + key)] = (str(case_id), str(value))
    return found


def free_text_fields(conn: Any, case_id: str) -> list[str]:
    """The data fields of a case that hold (or held) free text."""
    return sorted(
        {
            str(field)[len(DATA_PREFIX) :]
            for (field,) in conn.execute(
                "SELECT DISTINCT field FROM free_text WHERE case_id = ?", (case_id,)
            )
            if str(field).startswith(DATA_PREFIX)
        }
    )


def scrub_json_keys(text: str, keys: Iterable[str]) -> str:
    """A JSON object's text without ``keys`` (same canonical form as the store writes)."""
    value = json.loads(text)
    for key in keys:
        value.pop(key, None)
    return canonical_json(value)
