"""The hash chain's payload: the fast canonical text equals the reference definition, byte for byte.

Every stored hash was computed from ``canonical_json(hash_payload(event))``; the store, the import
and ``audit verify`` now build that text with one string format (``audit.payload_json``). If the
two ever differed, stores written before and after would stop verifying, so the equality is checked
on generated events with awkward text (quotes, back-slashes, control characters, non-ASCII), empty
and non-empty lists, nested data of every JSON type and ``None`` wherever a field allows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pathway.audit import event_hash, event_payload_json, hash_payload
from pathway.canonical import canonical_json, chain_hash
from pathway.model import AuditEvent
from pathway.store.base import event_row, row_payload_json

TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
) | st.sampled_from(['a"b', "back\\slash", "new\nline", "\x00\x1f\x7f", "é漢🙂", ""])
OPTIONAL = st.none() | TEXT
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
INSTANT = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.timezones(),
)

EVENTS = st.builds(
    AuditEvent,
    event_id=TEXT,
    case_id=TEXT,
    seq=st.integers(1, 10**9),
    position=st.integers(1, 10**12),
    occurred_at=INSTANT,
    recorded_at=INSTANT,
    trigger=TEXT,
    from_state=OPTIONAL,
    to_state=OPTIONAL,
    from_team=OPTIONAL,
    to_team=OPTIONAL,
    from_organisation=OPTIONAL,
    to_organisation=OPTIONAL,
    actor_id=TEXT,
    actor_team=TEXT,
    actor_roles=st.lists(TEXT, max_size=3).map(tuple),
    outcome=st.sampled_from(["applied", "refused"]),
    pathway_id=TEXT,
    pathway_version=TEXT,
    reasons=st.lists(TEXT, max_size=3).map(tuple),
    note=OPTIONAL,
    data=st.dictionaries(TEXT, JSON, max_size=4),
    imported=st.booleans(),
    closes=st.booleans(),
    prev_hash=TEXT,
    hash=st.just(""),
)


@settings(max_examples=400, deadline=None)
@given(EVENTS)
def test_the_fast_payload_text_is_the_canonical_json_of_the_payload(event: AuditEvent) -> None:
    reference = canonical_json(hash_payload(event))
    assert event_payload_json(event) == reference
    assert row_payload_json(event_row(event, "")) == reference
    assert event_hash(event) == chain_hash(event.prev_hash, hash_payload(event))


def test_a_known_event_hashes_to_the_value_stores_already_hold() -> None:
    """A fixed event and its hash, computed with version 0.1.0's encoder before the fast text
    existed: stores written by earlier versions keep verifying only while this holds."""
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    event = AuditEvent(
        event_id="0001", case_id="C-1", seq=2, position=7, occurred_at=at,
        recorded_at=at + timedelta(seconds=1), trigger="refer", from_state="referral",
        to_state="choice_appointment", from_team="hub", to_team="lets",
        from_organisation="council", to_organisation="council", actor_id="w-1",
        actor_team="hub", actor_roles=("social_worker",), outcome="applied",
        pathway_id="barnet-enablement", pathway_version="1", reasons=(), note="seen \"today\"",
        data={"plan": "weekly", "visits": 3, "risk": None}, imported=False, closes=False,
        prev_hash="ab" * 32,
    )  # fmt: skip
    assert event_payload_json(event) == (
        '{"actor_id":"w-1","actor_roles":["social_worker"],"actor_team":"hub","case_id":"C-1",'
        '"closes":false,"data":{"plan":"weekly","risk":null,"visits":3},"event_id":"0001",'
        '"from_organisation":"council","from_state":"referral","from_team":"hub",'
        '"imported":false,"note":"seen \\"today\\"","occurred_at":"2026-03-02T09:30:00.000000+00:00",'
        '"outcome":"applied","pathway_id":"barnet-enablement","pathway_version":"1","position":7,'
        f'"prev_hash":"{"ab" * 32}","reasons":[],'
        '"recorded_at":"2026-03-02T09:30:01.000000+00:00","seq":2,"to_organisation":"council",'
        '"to_state":"choice_appointment","to_team":"lets","trigger":"refer"}'
    )
    assert event_hash(event) == chain_hash(event.prev_hash, hash_payload(event))
    assert event_hash(event) == "d7a8198cd3b44ad19334752e05e643c6e6e96052c2dd956f177f36d7e9247488"


@settings(max_examples=300, deadline=None)
@given(
    pathway=st.tuples(TEXT, TEXT) | st.just(("100%", "%s %d %%")),
    case_id=TEXT,
    at=INSTANT,
    trigger=TEXT,
    states=st.tuples(OPTIONAL, TEXT),
    teams=st.tuples(OPTIONAL, OPTIONAL),
    organisations=st.tuples(OPTIONAL, OPTIONAL),
    actor=TEXT,
    data=st.dictionaries(TEXT, JSON, max_size=3),
    closes=st.booleans(),
)
def test_an_imported_event_hashes_as_any_stored_event_does(
    pathway: tuple[str, str],
    case_id: str,
    at: datetime,
    trigger: str,
    states: tuple[str | None, str],
    teams: tuple[str | None, str | None],
    organisations: tuple[str | None, str | None],
    actor: str,
    data: dict[str, object],
    closes: bool,
) -> None:
    """The import writes each event's hashed text from one template per import (with the shared
    fields filled in once and each value's JSON encoded once); ``audit verify`` recomputes it from
    the stored row with the general code. They must agree on every value, awkward ones included
    (quotes, control characters, ``%`` in the pathway's name)."""
    from json.encoder import encode_basestring

    from pathway.audit import hash_text
    from pathway.importer import _Chain
    from pathway.store.base import dumps
    from pathway.timeutil import format_instant

    chain = _Chain((41, "cd" * 32), *pathway)
    for seq in (1, 2):  # the second event reuses the JSON texts the first one encoded
        chain.add(
            case_id, encode_basestring(case_id), seq, format_instant(at), trigger, states[0],
            states[1], teams[0], teams[1], organisations[0], organisations[1], actor,
            dumps(data), closes,
        )  # fmt: skip
    prev = "cd" * 32
    for row in chain.rows:
        assert row[-2] == prev
        assert row[-1] == hash_text(prev, row_payload_json(row))
        prev = row[-1]
    assert [row[0] for row in chain.rows] == [42, 43] and chain.prev == prev
