"""Idempotency keys compare the whole request, a clock far ahead is refused, check() agrees with fire().

Issue 16 item 6, on SQLite and on PostgreSQL alike (the ``store_factory`` fixture):

* a key used again replays the first result only when the retry repeats the whole request (case,
  trigger, actor id, team and roles, ``at``, data, note, expected version); any difference is an
  :class:`pathway.IdempotencyMismatch` naming what differs, and nothing is written. Keys stored
  before the store kept a request's fingerprint (schema version 5) keep comparing case and
  trigger only. ``open_case`` takes a key too.
* an ``at`` more than the engine's allowed clock skew (default five minutes) past its clock is
  refused: one such event would put every later call "before the case's newest event".
* ``check()`` answers exactly as ``fire()`` would (time order, skew, expected version,
  idempotency, placement data, guards), tested by hypothesis over random calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import HUB, LETS, Backend, FakeClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pathway

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(
    minimal: pathway.Pathway, store_factory: Backend, clock: FakeClock
) -> Iterator[pathway.Engine]:
    location = store_factory.location()
    store = store_factory.open(location)
    clock.advance(days=1)  # the business times below (from T0 on) are in the clock's past
    engine = pathway.Engine(minimal, store, clock=clock)
    engine.location = location  # type: ignore[attr-defined]
    yield engine
    store.close()


def _written(engine: pathway.Engine) -> tuple[Any, ...]:
    """Everything a call could write: cases, the chain head, idempotency records, people."""
    conn = engine.store.connection
    keys = conn.execute("SELECT count(*) FROM idempotency").fetchone()[0]
    people = conn.execute("SELECT count(*) FROM people").fetchone()[0]
    return tuple(engine.store.cases()), engine.store.checkpoint(), keys, people


# --- idempotency keys compare the whole request --------------------------------------------------

FIRST = {
    "actor": LETS,
    "at": T0 + timedelta(hours=1),
    "data": {"route": "gp"},
    "note": "phoned",
    "expected_version": 1,
}
"""The first call with key "k" (book_choice_appointment on C1); each retry below changes one part."""

RETRIES = [
    ("data", {"data": {"route": "self"}}),
    ("data", {"data": None}),
    ("note", {"note": "phoned again"}),
    ("note", {"note": None}),
    ("at", {"at": T0 + timedelta(hours=2)}),
    ("at", {"at": None}),
    ("actor id", {"actor": pathway.Actor("w-other", "lets")}),
    ("actor team", {"actor": pathway.Actor("w-lets", "cmht")}),
    ("actor roles", {"actor": pathway.Actor("w-lets", "lets", roles=("amhp",))}),
    ("expected_version", {"expected_version": None}),
]


@pytest.mark.parametrize(
    ("differs", "change"), RETRIES, ids=[f"{d}-{i}" for i, (d, _) in enumerate(RETRIES)]
)
def test_a_key_reused_with_a_different_request_is_refused_naming_what_differs(
    engine: pathway.Engine, differs: str, change: dict[str, Any]
) -> None:
    """Only a retry of the very same request replays; any other request is refused, unwritten."""
    engine.open_case("C1", HUB, at=T0)
    first = engine.fire("C1", "book_choice_appointment", idempotency_key="k", **FIRST)
    before = _written(engine)
    with pytest.raises(pathway.IdempotencyMismatch) as info:
        engine.fire("C1", "book_choice_appointment", idempotency_key="k", **{**FIRST, **change})
    assert isinstance(info.value, pathway.InvalidRequest)  # exit 2 on the command line
    message = str(info.value)
    assert "idempotency key 'k' was already used" in message
    assert f"different {differs}" in message, message
    assert info.value.differs == (differs,)
    assert _written(engine) == before
    # The very same request still replays the first result.
    assert engine.fire("C1", "book_choice_appointment", idempotency_key="k", **FIRST) == first
    assert _written(engine) == before


def test_several_differences_are_all_named(engine: pathway.Engine) -> None:
    engine.open_case("C1", HUB, at=T0)
    engine.fire("C1", "book_choice_appointment", idempotency_key="k", **FIRST)
    with pytest.raises(pathway.IdempotencyMismatch, match="different case, trigger, data") as info:
        engine.fire("C2", "refer_to_cmht", LETS, at=FIRST["at"], data={"x": 1}, note="phoned",
                    expected_version=1, idempotency_key="k")  # fmt: skip
    assert info.value.differs == ("case", "trigger", "data")


def test_equivalent_requests_are_the_same_request(engine: pathway.Engine, clock: FakeClock) -> None:
    """The same instant in another zone, roles in another order, data as tuples: one request."""
    engine.open_case("C1", HUB, at=T0)
    amhp_lets = pathway.Actor("w-lets", "lets", roles=("amhp", "sw"))
    first = engine.fire(
        "C1", "book_choice_appointment", amhp_lets, at=datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
        data={"goals": ["walk", "cook"]}, idempotency_key="k",
    )  # fmt: skip
    before = _written(engine)
    clock.advance(minutes=3)  # a retry a moment later, "now" has moved on
    again = engine.fire(
        "C1", "book_choice_appointment", pathway.Actor("w-lets", "lets", roles=("sw", "amhp")),
        at=datetime(2026, 1, 5, 11, 0, tzinfo=timezone(timedelta(hours=1))),
        data={"goals": ("walk", "cook")}, idempotency_key="k",
    )  # fmt: skip
    assert again == first
    assert _written(engine) == before


def test_a_retry_without_at_replays_even_after_the_clock_moved(
    engine: pathway.Engine, clock: FakeClock
) -> None:
    """``at`` left out means "now" in both calls: the request is the same, its result replays."""
    engine.open_case("C1", HUB)
    first = engine.fire("C1", "book_choice_appointment", LETS, idempotency_key="k")
    clock.advance(hours=2)
    assert engine.fire("C1", "book_choice_appointment", LETS, idempotency_key="k") == first


def test_a_refusal_replays_only_for_the_same_request(engine: pathway.Engine) -> None:
    engine.open_case("C1", HUB, at=T0)
    with pytest.raises(pathway.TransitionRefused):
        engine.fire("C1", "start_enablement", LETS, at=T0, idempotency_key="k")
    before = _written(engine)
    with pytest.raises(pathway.TransitionRefused):
        engine.fire("C1", "start_enablement", LETS, at=T0, idempotency_key="k")
    with pytest.raises(pathway.IdempotencyMismatch, match="different data"):
        engine.fire("C1", "start_enablement", LETS, at=T0, data={"enablement_plan": "x"},
                    idempotency_key="k")  # fmt: skip
    assert _written(engine) == before


def _drop_fingerprints(engine: pathway.Engine, store_factory: Backend) -> None:
    """Take the store back to schema version 5: its idempotency records have no fingerprint."""
    location = engine.location  # type: ignore[attr-defined]
    engine.store.close()
    with store_factory.raw(location) as raw:
        raw.execute("ALTER TABLE idempotency DROP COLUMN fingerprint")
        raw.execute("DROP TABLE free_text")  # and what the free-text version added
        raw.execute("DROP TABLE redactions")
        store_factory.set_schema_version(raw, 5)  # type: ignore[attr-defined]
    engine.store = store_factory.open(location)


def test_keys_stored_before_fingerprints_keep_comparing_case_and_trigger(
    engine: pathway.Engine, store_factory: Backend
) -> None:
    """A key written by a store of schema version 5 has no fingerprint: as before, only its case
    and trigger are compared (the migration cannot know what the first request was)."""
    engine.open_case("C1", HUB, at=T0)
    first = engine.fire("C1", "book_choice_appointment", idempotency_key="old", **FIRST)
    _drop_fingerprints(engine, store_factory)
    conn = engine.store.connection
    assert conn.execute("SELECT fingerprint FROM idempotency").fetchall() == [(None,)]
    before = _written(engine)
    again = engine.fire(
        "C1", "book_choice_appointment", HUB, data={"other": 1}, idempotency_key="old"
    )
    assert again == first
    with pytest.raises(pathway.IdempotencyMismatch, match="different trigger"):
        engine.fire("C1", "refer_to_cmht", LETS, idempotency_key="old")
    assert _written(engine) == before
    # A key used after the migration is fingerprinted again.
    engine.fire("C1", "refer_to_cmht", LETS, at=T0 + timedelta(hours=2), idempotency_key="new")
    with pytest.raises(pathway.IdempotencyMismatch, match="different at"):
        engine.fire("C1", "refer_to_cmht", LETS, at=T0 + timedelta(hours=3), idempotency_key="new")


# --- open_case takes a key ----------------------------------------------------------------------


def test_open_case_with_a_key_replays_and_refuses_a_different_request(
    engine: pathway.Engine, clock: FakeClock
) -> None:
    person = pathway.Person(name="Ada Example", date_of_birth="1980-02-03", nhs_number="9434765919")
    opened = engine.open_case("C1", HUB, at=T0, data={"route": "gp"}, note="walk-in",
                              person=person, idempotency_key="o1")  # fmt: skip
    before = _written(engine)
    clock.advance(minutes=1)
    again = engine.open_case("C1", HUB, at=T0, data={"route": "gp"}, note="walk-in",
                             person=person, idempotency_key="o1")  # fmt: skip
    assert again == opened
    assert _written(engine) == before
    assert [e.trigger for e in engine.store.history("C1")] == ["open"]
    with pytest.raises(pathway.IdempotencyMismatch, match="different data"):
        engine.open_case("C1", HUB, at=T0, data={"route": "self"}, note="walk-in",
                         person=person, idempotency_key="o1")  # fmt: skip
    other = pathway.Person(name="Bea Example", date_of_birth="1980-02-03", nhs_number="9434765919")
    with pytest.raises(pathway.IdempotencyMismatch, match="different person"):
        engine.open_case("C1", HUB, at=T0, data={"route": "gp"}, note="walk-in",
                         person=other, idempotency_key="o1")  # fmt: skip
    with pytest.raises(pathway.IdempotencyMismatch, match="different case"):
        engine.open_case("C2", HUB, at=T0, data={"route": "gp"}, note="walk-in",
                         person=person, idempotency_key="o1")  # fmt: skip
    with pytest.raises(pathway.IdempotencyMismatch, match="different trigger"):
        engine.fire("C1", "book_choice_appointment", LETS, idempotency_key="o1")
    assert _written(engine) == before
    assert engine.store.person("C1") == person
    # Without a key a second open is still a CaseExists, and it uses no key.
    with pytest.raises(pathway.CaseExists):
        engine.open_case("C1", HUB, idempotency_key="o2")
    assert _written(engine) == before
    engine.open_case("C2", HUB, idempotency_key="o2")  # the key is still free


# --- a clock far ahead --------------------------------------------------------------------------


def test_an_at_far_in_the_future_is_refused_and_writes_nothing(
    engine: pathway.Engine, clock: FakeClock
) -> None:
    """2099 from a bad client clock would freeze the case: every later call would be "before the
    case's newest event". It is refused; backdating stays allowed."""
    engine.open_case("C1", HUB, at=T0 - timedelta(days=30))
    before = _written(engine)
    with pytest.raises(
        pathway.InvalidRequest, match=r"more than 5 minutes ahead of the clock"
    ) as info:
        engine.fire("C1", "book_choice_appointment", LETS, at=datetime(2099, 1, 1, tzinfo=UTC))
    assert "2099-01-01T00:00:00" in str(info.value)
    with pytest.raises(pathway.InvalidRequest, match="ahead of the clock"):
        engine.open_case("C2", HUB, at=datetime(2099, 1, 1, tzinfo=UTC))
    with pytest.raises(pathway.InvalidRequest, match="ahead of the clock"):
        engine.check("C1", "book_choice_appointment", LETS, at=datetime(2099, 1, 1, tzinfo=UTC))
    with pytest.raises(pathway.InvalidRequest, match="ahead of the clock"):
        engine.available("C1", LETS, at=datetime(2099, 1, 1, tzinfo=UTC))
    assert _written(engine) == before
    # Just past the clock, inside the skew, is accepted; later calls still work.
    edge = clock.now + timedelta(minutes=5)
    assert engine.fire("C1", "book_choice_appointment", LETS, at=edge).version == 2
    with pytest.raises(pathway.InvalidRequest, match="ahead of the clock"):
        engine.fire("C1", "refer_to_cmht", LETS, at=edge + timedelta(microseconds=1))
    clock.advance(minutes=6)
    assert engine.fire("C1", "refer_to_cmht", LETS).version == 3


def test_the_allowed_skew_is_an_engine_setting(
    minimal: pathway.Pathway, store_factory: Backend, clock: FakeClock
) -> None:
    store = store_factory.open(store_factory.location())
    try:
        strict = pathway.Engine(minimal, store, clock=clock, max_clock_skew=timedelta(0))
        with pytest.raises(pathway.InvalidRequest, match="more than 0 seconds ahead"):
            strict.open_case("C1", HUB, at=clock.now + timedelta(microseconds=1))
        strict.open_case("C1", HUB, at=clock.now)
        lenient = pathway.Engine(minimal, store, clock=clock, max_clock_skew=timedelta(days=2))
        lenient.fire("C1", "book_choice_appointment", LETS, at=clock.now + timedelta(days=1))
        with pytest.raises(pathway.InvalidRequest, match="more than 2 days ahead"):
            lenient.fire("C1", "refer_to_cmht", LETS, at=clock.now + timedelta(days=3))
        with pytest.raises(ValueError, match="max_clock_skew"):
            pathway.Engine(minimal, store, clock=clock, max_clock_skew=timedelta(minutes=-1))
    finally:
        store.close()


# --- check() agrees with fire() -----------------------------------------------------------------


def test_check_refuses_what_fire_refuses_without_writing(engine: pathway.Engine) -> None:
    """Each case-level refusal of fire is a reason in check: time order, stale version, a key."""
    engine.open_case("C1", HUB, at=T0)
    engine.fire("C1", "book_choice_appointment", LETS, at=T0 + timedelta(hours=1))
    before = _written(engine)
    early = engine.check("C1", "refer_to_cmht", LETS, at=T0)
    assert not early.allowed
    assert "before the case's newest event" in early.reasons[0]
    stale = engine.check("C1", "refer_to_cmht", LETS, expected_version=1)
    assert not stale.allowed and "is at version 2, not the expected 1" in stale.reasons[0]
    assert engine.check("C1", "refer_to_cmht", LETS, expected_version=2).allowed
    decisions = engine.available("C1", LETS, at=T0)
    assert decisions and all(
        not d.allowed and "before the case's newest event" in d.reasons[0] for d in decisions
    )
    assert _written(engine) == before
    # A key already used: check answers what fire would, a replay or a mismatch.
    with pytest.raises(pathway.TransitionRefused):
        engine.fire("C1", "start_enablement", LETS, idempotency_key="k")
    replay = engine.check("C1", "start_enablement", LETS, idempotency_key="k")
    assert not replay.allowed and "enablement_plan" in replay.reasons[0]
    with pytest.raises(pathway.IdempotencyMismatch):
        engine.check("C1", "refer_to_cmht", LETS, idempotency_key="k")
    moved = engine.fire("C1", "refer_to_cmht", LETS, idempotency_key="r")
    again = engine.check("C1", "refer_to_cmht", LETS, idempotency_key="r")
    assert again.allowed and again.dest == moved.state


CHECK_CASES = ["C1", "C2", "C3"]
TRIGGERS = ["book_choice_appointment", "start_enablement", "complete_enablement", "refer_to_cmht",
            "accept_handoff", "decline_handoff", "request_mha_assessment", "close", "re_refer"]  # fmt: skip
ACTORS = [HUB, LETS, pathway.Actor("w-cmht", "cmht"), pathway.Actor("w-amhp", "amhp", ("amhp",))]
calls = st.fixed_dictionaries(
    {
        "case_id": st.sampled_from([*CHECK_CASES, "nope"]),
        "trigger": st.sampled_from(TRIGGERS),
        "actor": st.sampled_from(ACTORS),
        "at": st.sampled_from([None, "past", "newest", "soon", "far"]),
        "data": st.sampled_from([None, {"enablement_plan": "walk"}, {"decline_reason": "full"}]),
        "version": st.sampled_from([None, "current", "stale"]),
        "key": st.sampled_from([None, "k1", "k2", "k3"]),
        "wait": st.sampled_from([timedelta(0), timedelta(hours=3), timedelta(days=50)]),
    }
)


EXAMPLES = [0]


def _outcome(call: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any]:
    """What a call did: ("ok", dest state), ("refused", reasons) or ("error", (type, message))."""
    try:
        result = call(*args, **kwargs)
    except pathway.TransitionRefused as exc:
        return "refused", exc.reasons
    except pathway.PathwayError as exc:
        return "error", (type(exc), str(exc))
    if isinstance(result, pathway.Decision):
        return ("ok", result.dest) if result.allowed else ("refused", result.reasons)
    return "ok", result.state


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(calls, min_size=1, max_size=12))
def test_check_gives_the_answer_fire_gives(
    minimal: pathway.Pathway, store_factory: Backend, steps: list[dict[str, Any]]
) -> None:
    """For random calls on random cases: check(...) allows exactly when fire(...) succeeds, with
    the same reasons and destination, and check writes nothing."""
    clock = FakeClock(T0)
    EXAMPLES[0] += 1  # a fresh store for each example (the fixture's folder is shared)
    store = store_factory.open(store_factory.location(f"prop{EXAMPLES[0]}"))
    try:
        engine = pathway.Engine(minimal, store, clock=clock)
        for case_id in CHECK_CASES:
            engine.open_case(case_id, HUB)
        for step in steps:
            clock.advance(seconds=step["wait"].total_seconds())
            case_id = step["case_id"]
            known = case_id in CHECK_CASES
            newest = store.history(case_id)[-1].occurred_at if known else clock.now
            version = store.case(case_id).version if known else 1
            at = {
                None: None,
                "past": newest - timedelta(minutes=1),
                "newest": newest,
                "soon": clock.now + timedelta(minutes=4),
                "far": clock.now + timedelta(days=365),
            }[step["at"]]
            expected = {None: None, "current": version, "stale": version - 1}[step["version"]]
            args = (case_id, step["trigger"], step["actor"])
            kwargs = {"at": at, "data": step["data"], "expected_version": expected,
                      "idempotency_key": step["key"], "note": None}  # fmt: skip
            before = tuple(store.cases()), store.checkpoint()
            checked = _outcome(engine.check, args, kwargs)
            assert (tuple(store.cases()), store.checkpoint()) == before
            fired = _outcome(engine.fire, args, kwargs)
            if fired[0] == "error" and checked[0] == "refused":
                # A case-level request problem: fire raises it, check gives it as the reason.
                kind, message = fired[1]
                assert kind in (pathway.InvalidRequest, pathway.ConcurrencyConflict), fired
                assert checked[1] == (message,), (step, checked, fired)
            else:
                assert checked == fired, (step, checked, fired)
    finally:
        store.close()
