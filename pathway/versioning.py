"""Changing a pathway's definition while cases are open: record it, compare it, migrate cases.

Workflow engines with long-running instances keep each instance on a known version of its
definition and move instances to a new version only by an explicit, mapped migration (Camunda's
process instance migration, SpiffWorkflow's versioned specs). care-pathway does the same:

* a store records, per pathway id, the definition its cases run on (its version, a fingerprint of
  everything that decides how a case moves, and that summary itself) in its ``meta`` table. An
  :class:`~pathway.engine.Engine` records it when it is made (:func:`check_definition`), so a store
  made by ``open_store`` records its pathway as ``pathway init`` does;
* an engine made with a changed definition gets what changed (:class:`DefinitionChanges`: teams,
  states, transitions, guards added, removed or changed); when an open case sits where the new
  definition has no place for it (a state, holding team or return point it no longer has) the
  engine is refused with :class:`~pathway.errors.PathwayChanged` naming the cases, and nothing is
  written. A change that strands nothing is accepted and recorded, with its version;
* :func:`migrate_cases` maps old states to new ones (``OLD=NEW``, or ``OLD=NEW:TEAM`` to give the
  cases to another team) and moves every affected open case with an audited admin event (who, when,
  why), all in one transaction or none; its dry run (:func:`plan_migration`) lists the moves.

The rules (what may change freely, what needs a map) are in docs/versioning.md.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from .canonical import new_event_id
from .definition import Pathway
from .errors import InvalidRequest, PathwayChanged, StoreReadOnly
from .model import Actor, Case, ReturnPoint
from .store.base import NewEvent, Store, StoreTransaction
from .store.common import META_UPSERT, read_meta
from .timeutil import Clock, format_instant, system_clock, to_utc

META_PREFIX = "pathway_definition:"
"""The ``meta`` key of a pathway's recorded definition is this followed by the pathway's id."""

STAMP_PREFIX = "pathway_stamp:"
"""The ``meta`` key of the recorded definition's version and fingerprint alone (a few bytes an
engine reads when it is made, instead of the whole definition), followed by the pathway's id."""

MIGRATION_TRIGGER = "migrate_case"
"""The trigger name of the admin event that moves a case to a new version of its pathway."""

SHOWN = 10
"""Stranded cases named in a message before "and N more"."""


# --- the definition as recorded -------------------------------------------------------------


def summarise(pathway: Pathway) -> dict[str, Any]:
    """What decides how a case moves, as plain JSON values: teams and their organisations, states
    (holder, offer, task, time limit, final), the initial state, and each trigger's transitions
    with their guards and parameters. Titles and descriptions are left out: changing them
    changes nothing for a case."""
    return {
        "id": pathway.id,
        "version": pathway.version,
        "initial": pathway.initial,
        "initial_holder": pathway.initial_holder,
        "teams": {team.id: team.organisation for team in pathway.teams.values()},
        "states": {
            state.id: {
                "holder": state.holder,
                "offer_to": state.offer_to,
                "task": state.task,
                "time_limit_days": state.time_limit_days,
                "final": state.final,
            }
            for state in pathway.states.values()
        },
        "transitions": {
            trigger: [
                {
                    "sources": list(t.sources),
                    "dest": t.dest,
                    "returns": t.returns,
                    "holder": t.holder,
                    "task": t.task,
                    "handoff": t.handoff,
                    "interrupt": t.interrupt,
                    "internal": t.internal,
                    "placement": t.placement,
                    "guards": [
                        {"guard": g.name, "params": _plain(g.params), "automatic": g.automatic}
                        for g in t.guards
                    ],
                }
                for t in transitions
            ]
            for trigger, transitions in pathway.triggers.items()
        },
    }


def _plain(value: Any) -> Any:
    """A guard parameter as JSON reads it back (a date from YAML becomes its text)."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(summary: Mapping[str, Any]) -> str:
    """SHA-256 of a summary's canonical JSON without its version label: two definitions that
    move cases alike have the same fingerprint whatever their versions say."""
    body = {key: value for key, value in summary.items() if key != "version"}
    return hashlib.sha256(_json(body).encode("utf-8")).hexdigest()


_KNOWN: dict[int, tuple[weakref.ref[Pathway], dict[str, Any], str]] = {}
_KNOWN_LOCK = threading.Lock()


def _summary_of(pathway: Pathway) -> tuple[dict[str, Any], str]:
    """A pathway's summary and its stamp (version and fingerprint), computed once per
    (immutable) pathway object: an engine is made per request in a web service, and summarising
    a large definition takes milliseconds."""
    key = id(pathway)
    found = _KNOWN.get(key)
    if found is not None and found[0]() is pathway:
        return found[1], found[2]
    summary = summarise(pathway)
    digest = _stamp(pathway.version, fingerprint(summary))

    def forget(ref: weakref.ref[Pathway]) -> None:
        with _KNOWN_LOCK:
            if _KNOWN.get(key, (None,))[0] is ref:
                del _KNOWN[key]

    with _KNOWN_LOCK:
        _KNOWN[key] = (weakref.ref(pathway, forget), summary, digest)
    return summary, digest


@attrs.frozen
class RecordedDefinition:
    """The definition a store records for one pathway id (see :func:`recorded_definition`)."""

    pathway_id: str
    version: str
    fingerprint: str
    recorded_at: str
    definition: Mapping[str, Any]


def _record_text(pathway: Pathway, summary: Mapping[str, Any], at: datetime) -> str:
    return _json(
        {
            "id": pathway.id,
            "version": pathway.version,
            "fingerprint": fingerprint(summary),
            "recorded_at": format_instant(at),
            "definition": summary,
        }
    )


def _stamp(version: str, digest: str) -> str:
    return _json({"fingerprint": digest, "version": version})


def _write_record(conn: Any, pathway: Pathway, summary: Mapping[str, Any], at: datetime) -> None:
    """Record ``pathway``'s definition and its stamp (inside the caller's transaction)."""
    conn.execute(META_UPSERT, (META_PREFIX + pathway.id, _record_text(pathway, summary, at)))
    stamp = _stamp(pathway.version, fingerprint(summary))
    conn.execute(META_UPSERT, (STAMP_PREFIX + pathway.id, stamp))


def _parse_record(pathway_id: str, text: str | None) -> RecordedDefinition | None:
    if text is None:
        return None
    try:
        data = json.loads(text)
        return RecordedDefinition(
            pathway_id,
            str(data["version"]),
            str(data["fingerprint"]),
            str(data["recorded_at"]),
            dict(data["definition"]),
        )
    except (ValueError, KeyError, TypeError):
        return None  # an unreadable record is treated as none: the next engine records anew


def recorded_definition(store: Store, pathway_id: str) -> RecordedDefinition | None:
    """The definition the store records for ``pathway_id`` (None: it records none yet)."""
    return _parse_record(pathway_id, store.get_meta(META_PREFIX + pathway_id))


# --- what changed -----------------------------------------------------------------------------


@attrs.frozen
class DefinitionChanges:
    """What changed between the definition a store records and a new one, as readable lines.

    ``first`` is true when the store recorded no definition for the pathway (a store from before
    definitions were recorded, or a new one): then nothing can be compared and every list is
    empty.
    """

    pathway_id: str
    old_version: str | None
    new_version: str
    first: bool = False
    teams_added: tuple[str, ...] = ()
    teams_removed: tuple[str, ...] = ()
    teams_changed: tuple[str, ...] = ()
    states_added: tuple[str, ...] = ()
    states_removed: tuple[str, ...] = ()
    states_changed: tuple[str, ...] = ()
    transitions_added: tuple[str, ...] = ()
    transitions_removed: tuple[str, ...] = ()
    transitions_changed: tuple[str, ...] = ()
    guards_added: tuple[str, ...] = ()
    guards_removed: tuple[str, ...] = ()
    guards_changed: tuple[str, ...] = ()
    initial_changed: str | None = None

    _PARTS = (
        "teams_added",
        "teams_removed",
        "teams_changed",
        "states_added",
        "states_removed",
        "states_changed",
        "transitions_added",
        "transitions_removed",
        "transitions_changed",
        "guards_added",
        "guards_removed",
        "guards_changed",
    )

    @property
    def changed(self) -> bool:
        """True when anything that moves cases changed (the version label alone does not)."""
        return self.initial_changed is not None or any(getattr(self, p) for p in self._PARTS)

    def lines(self) -> list[str]:
        """One line per kind of change, e.g. ``states removed: choice_appt``."""
        if self.first:
            return [f"no definition of pathway {self.pathway_id} was recorded before"]
        found = [
            f"{part.replace('_', ' ')}: {', '.join(getattr(self, part))}"
            for part in self._PARTS
            if getattr(self, part)
        ]
        if self.initial_changed is not None:
            found.append(f"initial state: {self.initial_changed}")
        if not found:
            found.append("nothing that moves cases (the version label only)")
        return found


def _show(value: Any) -> str:
    return _json(value) if not isinstance(value, str) else value


def _fields(old: Mapping[str, Any], new: Mapping[str, Any], skip: str = "") -> list[str]:
    """Each field that differs: ``dest a -> b``; a list of names as what it gained and lost
    (``sources +choice_appt -choice_appointment``)."""
    found = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if key == skip or before == after:
            continue
        if isinstance(before, list) and isinstance(after, list):
            gained = [f"+{_show(v)}" for v in after if v not in before]
            lost = [f"-{_show(v)}" for v in before if v not in after]
            if gained or lost:
                found.append(f"{key} {' '.join(gained + lost)}")
                continue
        found.append(f"{key} {_show(before)} -> {_show(after)}")
    return found


def compare(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> DefinitionChanges:
    """What changed from summary ``old`` to summary ``new`` (see :func:`summarise`)."""
    pid, version = str(new["id"]), str(new["version"])
    if old is None:
        return DefinitionChanges(pid, None, version, first=True)
    found: dict[str, list[str]] = {part: [] for part in DefinitionChanges._PARTS}

    def catalogue(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        found[f"{kind}_added"] += [name for name in after if name not in before]
        found[f"{kind}_removed"] += [name for name in before if name not in after]
        for name in after:
            if name in before and before[name] != after[name]:
                if isinstance(after[name], Mapping) and isinstance(before[name], Mapping):
                    found[f"{kind}_changed"].append(
                        f"{name} ({'; '.join(_fields(before[name], after[name]))})"
                    )
                else:
                    found[f"{kind}_changed"].append(
                        f"{name} ({_show(before[name])} -> {_show(after[name])})"
                    )

    catalogue("teams", old.get("teams", {}), new["teams"])
    catalogue("states", old.get("states", {}), new["states"])
    before_t: Mapping[str, list[dict[str, Any]]] = old.get("transitions", {})
    after_t: Mapping[str, list[dict[str, Any]]] = new["transitions"]
    found["transitions_added"] += [t for t in after_t if t not in before_t]
    found["transitions_removed"] += [t for t in before_t if t not in after_t]
    for trigger, after in after_t.items():
        before = before_t.get(trigger)
        if before is None or before == after:
            continue
        if len(before) != len(after):
            found["transitions_changed"].append(
                f"{trigger} ({len(before)} transition(s) -> {len(after)})"
            )
            continue
        for index, (b, a) in enumerate(zip(before, after, strict=True)):
            where = trigger if len(after) == 1 else f"{trigger}[{index + 1}]"
            moved = _fields(b, a, skip="guards")
            if moved:
                found["transitions_changed"].append(f"{where} ({'; '.join(moved)})")
            _compare_guards(where, b.get("guards", []), a.get("guards", []), found)
    initial = None
    if old.get("initial") != new["initial"] or old.get("initial_holder") != new["initial_holder"]:
        initial = f"{old.get('initial')} -> {new['initial']}"
        if old.get("initial_holder") != new["initial_holder"]:
            initial += f" (holder {old.get('initial_holder')} -> {new['initial_holder']})"
    changes = DefinitionChanges(pid, str(old.get("version")), version, initial_changed=initial)
    parts: dict[str, Any] = {part: tuple(lines) for part, lines in found.items()}
    return attrs.evolve(changes, **parts)


def _compare_guards(
    where: str,
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    found: dict[str, list[str]],
) -> None:
    old = {g["guard"]: g for g in before}
    new = {g["guard"]: g for g in after}
    found["guards_added"] += [f"{where}: {name}" for name in new if name not in old]
    found["guards_removed"] += [f"{where}: {name}" for name in old if name not in new]
    for name, guard in new.items():
        if name in old and old[name] != guard:
            found["guards_changed"].append(
                f"{where}: {name} ({'; '.join(_fields(old[name], guard, skip='guard'))})"
            )


# --- open cases the definition has no place for ----------------------------------------------


@attrs.frozen
class StrandedCase:
    """An open case the definition has no place for, and why (one reason per problem)."""

    case_id: str
    state: str
    team: str
    problems: tuple[str, ...]

    def __str__(self) -> str:
        return f"case {self.case_id}: {'; '.join(self.problems)}"


@attrs.frozen
class _Open:
    """An open case's row, as far as a migration needs it."""

    case_id: str
    state: str
    team: str
    pathway_version: str
    stack: tuple[tuple[str, str], ...]
    imported: bool = False
    """Its newest applied event is imported history (read only when no definition is recorded)."""


_OPEN_SQL = (
    "SELECT id, state, team, pathway_version, return_stack{imported} FROM cases "
    "WHERE pathway_id = ? AND closed_at IS NULL ORDER BY id"
)
_IMPORTED_SQL = (
    ", (SELECT e.imported FROM events e WHERE e.case_id = cases.id AND e.outcome = 'applied' "
    "ORDER BY e.seq DESC LIMIT 1)"
)


def _open_cases(conn: Any, pathway_id: str, imported: bool = False) -> list[_Open]:
    sql = _OPEN_SQL.format(imported=_IMPORTED_SQL if imported else "")
    return [
        _Open(
            str(row[0]),
            str(row[1]),
            str(row[2]),
            str(row[3]),
            tuple((str(p[0]), str(p[1])) for p in json.loads(row[4])) if row[4] != "[]" else (),
            bool(row[5]) if imported else False,
        )
        for row in conn.execute(sql, (pathway_id,)).fetchall()
    ]


@attrs.frozen
class _Baseline:
    """The states and teams the recorded definition had (None: none is recorded).

    A state or team the new definition lacks strands a case only if the recorded definition had
    it: imported history is recorded as it happened, in states and teams no definition need
    have, and a change of definition does not strand it. With no definition recorded, the cases
    whose newest applied event is imported are left out instead.
    """

    new_states: frozenset[str]
    new_teams: frozenset[str]
    states: frozenset[str] | None = None
    teams: frozenset[str] | None = None

    @classmethod
    def of(cls, recorded: RecordedDefinition | None, pathway: Pathway) -> _Baseline:
        new_states, new_teams = frozenset(pathway.states), frozenset(pathway.teams)
        if recorded is None:
            return cls(new_states, new_teams)
        definition = recorded.definition
        return cls(
            new_states,
            new_teams,
            frozenset(definition.get("states", {})),
            frozenset(definition.get("teams", {})),
        )

    def lost_state(self, state: str) -> bool:
        return state not in self.new_states and (self.states is None or state in self.states)

    def lost_team(self, team: str) -> bool:
        return team not in self.new_teams and (self.teams is None or team in self.teams)


def _problems(
    pathway: Pathway,
    state: str,
    team: str,
    stack: Iterable[tuple[str, str]],
    base: _Baseline,
) -> tuple[str, ...]:
    version = pathway.version
    found = []
    if base.lost_state(state):
        found.append(f"state {state!r} is not in version {version}")
    if base.lost_team(team):
        found.append(f"held by team {team!r}, which version {version} does not have")
    for point_state, point_team in stack:
        if base.lost_state(point_state):
            found.append(
                f"a return (a declined offer, an interruption ending) would go back to state "
                f"{point_state!r}, which version {version} does not have"
            )
        if base.lost_team(point_team):
            found.append(
                f"a return would go back to team {point_team!r}, which version {version} "
                "does not have"
            )
    return tuple(found)


def stranded_cases(
    conn: Any, pathway: Pathway, recorded: RecordedDefinition | None = None
) -> list[StrandedCase]:
    """The open cases of ``pathway``'s id that ``pathway`` has no place for, in id order.

    With the ``recorded`` definition, a case counts when it sits in a state, with a holding
    team, or has a return point, that the recorded definition had and ``pathway`` lacks; without
    one, cases whose newest applied event is imported history are left out (imported history
    need not fit any definition). ``conn`` is a store's connection or a transaction's.
    """
    base = _Baseline.of(recorded, pathway)
    found = []
    for row in _open_cases(conn, pathway.id, imported=recorded is None):
        if row.imported or (
            row.state in base.new_states and row.team in base.new_teams and not row.stack
        ):
            continue  # the usual open case: nothing to look at more closely
        problems = _problems(pathway, row.state, row.team, row.stack, base)
        if problems:
            found.append(StrandedCase(row.case_id, row.state, row.team, problems))
    return found


_MIGRATE_HINT = (
    "Nothing was written. Move them first: pathway migrate-cases --map OLD=NEW[:TEAM] "
    "--actor ID --team TEAM --reason TEXT (docs/versioning.md)"
)


def _changed_message(
    location: str,
    changes: DefinitionChanges,
    stranded: Sequence[StrandedCase],
    hint: str = _MIGRATE_HINT,
) -> str:
    pid, new = changes.pathway_id, changes.new_version
    if changes.first:
        head = f"{location}: pathway {pid} version {new} has no place for open cases of the store"
    else:
        head = (
            f"{location}: pathway {pid} changed since the store recorded it "
            f"(version {changes.old_version} -> {new}):\n  "
            + "\n  ".join(changes.lines())
            + f"\nand {len(stranded)} open case(s) sit where version {new} has no place for them"
        )
    cases = [f"  {case}" for case in stranded[:SHOWN]]
    if len(stranded) > SHOWN:
        cases.append(f"  and {len(stranded) - SHOWN} more")
    return head + ":\n" + "\n".join(cases) + "\n" + hint


def check_definition(
    store: Store, pathway: Pathway, *, clock: Clock = system_clock
) -> DefinitionChanges | None:
    """Check ``pathway`` against the definition ``store`` records for its id, and record it.

    Returns None when the store records this very definition (the usual case: one read of the
    ``meta`` table). Otherwise it returns what changed, having recorded the new definition, or
    raises :class:`~pathway.errors.PathwayChanged` (writing nothing) when open cases of the
    pathway sit where the new definition has no place for them. The check and the record are one
    write transaction; on a store this process cannot write, the check is made and nothing
    recorded (the next engine that can write records it).
    """
    summary, stamp = _summary_of(pathway)
    if store.get_meta(STAMP_PREFIX + pathway.id) == stamp:
        return None
    try:
        with store.transaction() as tx:
            return _check_and_record(tx.connection, store.location, pathway, summary, clock)
    except StoreReadOnly:
        return _check_and_record(store.connection, store.location, pathway, summary, None)


def _check_and_record(
    conn: Any, location: str, pathway: Pathway, summary: dict[str, Any], clock: Clock | None
) -> DefinitionChanges | None:
    stamp = _stamp(pathway.version, fingerprint(summary))
    if read_meta(conn, STAMP_PREFIX + pathway.id) == stamp:
        return None  # another process recorded it meanwhile
    recorded = _parse_record(pathway.id, read_meta(conn, META_PREFIX + pathway.id))
    changes = compare(recorded.definition if recorded else None, summary)
    stranded = stranded_cases(conn, pathway, recorded)
    if stranded:
        raise PathwayChanged(_changed_message(location, changes, stranded), changes, stranded)
    if clock is not None:
        _write_record(conn, pathway, summary, to_utc(clock()))
    return changes


# --- migration --------------------------------------------------------------------------------


@attrs.frozen
class StateMap:
    """Move the open cases in ``old`` state to ``new``; with ``team``, that team holds them.

    A return point (where a declined offer or an ended interruption goes back to) at ``old`` is
    moved the same way.
    """

    old: str
    new: str
    team: str | None = None

    def __str__(self) -> str:
        return f"{self.old}={self.new}" + (f":{self.team}" if self.team else "")


def parse_map(item: str) -> StateMap:
    """``OLD=NEW`` or ``OLD=NEW:TEAM`` as a :class:`StateMap` (InvalidRequest naming it)."""
    old, sep, rest = item.partition("=")
    new, colon, team = rest.partition(":")
    old, new, team = old.strip(), new.strip(), team.strip()
    if not sep or not old or not new or (colon and not team):
        raise InvalidRequest(f"--map {item!r}: expected OLD=NEW or OLD=NEW:TEAM")
    return StateMap(old, new, team or None)


@attrs.frozen
class CaseMove:
    """One case moved by a migration: from where to where, and from which version."""

    case_id: str
    from_state: str
    to_state: str
    from_team: str
    to_team: str
    from_version: str
    to_version: str
    return_points: tuple[tuple[str, str], ...] = ()
    """The return points' states before and after, where the map moved any."""

    def __str__(self) -> str:
        text = (
            f"case {self.case_id}: {self.from_state} ({self.from_team}) -> "
            f"{self.to_state} ({self.to_team}), version {self.from_version} -> {self.to_version}"
        )
        if self.return_points:
            text += "; return points " + ", ".join(f"{a} -> {b}" for a, b in self.return_points)
        return text


@attrs.frozen
class MigrationPlan:
    """What a migration moves (``moves``), what it would leave stranded, and what changed.

    ``applied`` is true once the moves are written (false for a dry run); ``positions`` are the
    chain positions of the admin events written, one per move, in the moves' order.
    """

    pathway_id: str
    to_version: str
    changes: DefinitionChanges
    moves: tuple[CaseMove, ...]
    left_stranded: tuple[StrandedCase, ...]
    applied: bool = False
    positions: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no open case would be left where the new definition has no place for it."""
        return not self.left_stranded


def _maps(pathway: Pathway, maps: Iterable[StateMap | str]) -> dict[str, StateMap]:
    found: dict[str, StateMap] = {}
    for item in [maps] if isinstance(maps, str) else maps:
        if not isinstance(item, str | StateMap):
            raise InvalidRequest(f"a map is 'OLD=NEW[:TEAM]' text or a StateMap, not {item!r}")
        entry = parse_map(item) if isinstance(item, str) else item
        where = f"--map {str(entry)!r}"
        if entry.old in found:
            raise InvalidRequest(f"{where}: state {entry.old!r} is mapped twice")
        if entry.new not in pathway.states:
            raise InvalidRequest(
                f"{where}: version {pathway.version} of pathway {pathway.id} has no state "
                f"{entry.new!r} (states: {', '.join(pathway.states)})"
            )
        if pathway.states[entry.new].final:
            raise InvalidRequest(
                f"{where}: {entry.new!r} is a final state; a migration does not close cases "
                "(close them with the pathway's own steps)"
            )
        if entry.team is not None and entry.team not in pathway.teams:
            raise InvalidRequest(
                f"{where}: version {pathway.version} has no team {entry.team!r} "
                f"(teams: {', '.join(pathway.teams)})"
            )
        found[entry.old] = entry
    if not found:
        raise InvalidRequest("give at least one --map OLD=NEW")
    return found


def _plan(
    conn: Any, pathway: Pathway, maps: Mapping[str, StateMap], recorded: RecordedDefinition | None
) -> MigrationPlan:
    rows = _open_cases(conn, pathway.id, imported=recorded is None)
    base = _Baseline.of(recorded, pathway)
    old_states: dict[str, Any] = dict(recorded.definition.get("states", {})) if recorded else {}
    known = set(old_states) | {r.state for r in rows} | {s for r in rows for s, _t in r.stack}
    for entry in maps.values():
        if entry.old not in known:
            raise InvalidRequest(
                f"--map {str(entry)!r}: no open case is in state {entry.old!r} and the recorded "
                f"definition has none (open cases are in: {', '.join(sorted(known)) or 'none'})"
            )
        target = pathway.states[entry.new]
        was = old_states.get(entry.old)
        if isinstance(was, dict):
            was_offer = was.get("offer_to") is not None
        else:
            was_offer = entry.old in pathway.states and pathway.states[entry.old].is_offer
        if target.is_offer and not was_offer:
            raise InvalidRequest(
                f"--map {str(entry)!r}: {entry.new!r} is an offer state and {entry.old!r} was "
                "not: a case enters an offer only by the pathway's own handoff step"
            )
    moves: list[CaseMove] = []
    stranded: list[StrandedCase] = []
    for row in rows:
        mapped = maps.get(row.state)
        state, team = row.state, row.team
        if mapped is not None:
            state, team = mapped.new, mapped.team or row.team
        stack = []
        changed_points = []
        for point_state, point_team in row.stack:
            point = maps.get(point_state)
            if point is not None:
                stack.append((point.new, point.team or point_team))
                changed_points.append((point_state, point.new))
            else:
                stack.append((point_state, point_team))
        if mapped is not None or changed_points:
            moves.append(
                CaseMove(
                    row.case_id,
                    row.state,
                    state,
                    row.team,
                    team,
                    row.pathway_version,
                    pathway.version,
                    tuple(changed_points),
                )
            )
        problems = () if row.imported else _problems(pathway, state, team, stack, base)
        if problems:
            stranded.append(StrandedCase(row.case_id, state, team, problems))
    changes = compare(recorded.definition if recorded else None, summarise(pathway))
    return MigrationPlan(pathway.id, pathway.version, changes, tuple(moves), tuple(stranded))


def plan_migration(store: Store, pathway: Pathway, maps: Iterable[StateMap | str]) -> MigrationPlan:
    """The dry run of :func:`migrate_cases`: what would move, and what would be left stranded
    (``left_stranded``: a migration with any is refused). Writes nothing."""
    parsed = _maps(pathway, maps)
    recorded = recorded_definition(store, pathway.id)
    return _plan(store.connection, pathway, parsed, recorded)


def migrate_cases(
    store: Store,
    pathway: Pathway,
    maps: Iterable[StateMap | str],
    actor: Actor,
    reason: str,
    *,
    clock: Clock = system_clock,
) -> MigrationPlan:
    """Move the open cases of ``pathway``'s id onto this definition, as ``maps`` say.

    Each case in a mapped state (or with a return point at one) gets its new state, its new
    holder if the map names a team (its worker is then cleared), its return points mapped and
    ``pathway_version`` set to ``pathway.version``, with one applied admin event
    (:data:`MIGRATION_TRIGGER`: ``actor`` and ``reason`` as who and why, the map and the
    versions in its data) chained like every event and folded into the reports' derived rows.
    The new definition is recorded in the same transaction. All or nothing: an open case left
    where the definition has no place for it refuses the whole migration
    (:class:`~pathway.errors.PathwayChanged`), as does any bad map or actor
    (:class:`~pathway.errors.InvalidRequest`); nothing is written then.
    """
    if not isinstance(actor, Actor) or not actor.id:
        raise InvalidRequest("a migration needs an actor with an id: who moves the cases")
    if actor.team not in pathway.teams:
        raise InvalidRequest(
            f"unknown team {actor.team!r} for pathway {pathway.id} "
            f"(teams: {', '.join(pathway.teams)})"
        )
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidRequest("a migration needs a reason: why the cases are moved")
    parsed = _maps(pathway, maps)
    summary, _stamp_text = _summary_of(pathway)
    with store.transaction() as tx:
        recorded = _parse_record(pathway.id, read_meta(tx.connection, META_PREFIX + pathway.id))
        plan = _plan(tx.connection, pathway, parsed, recorded)
        if plan.left_stranded:
            raise PathwayChanged(
                _changed_message(
                    store.location,
                    plan.changes,
                    plan.left_stranded,
                    "Nothing was written: the migration is all or nothing; give a --map for "
                    "each of them too (see the dry run, --dry-run).",
                ),
                plan.changes,
                plan.left_stranded,
            )
        now = to_utc(clock())
        positions = [
            _move(tx, pathway, move, parsed, actor, reason.strip(), now) for move in plan.moves
        ]
        _write_record(tx.connection, pathway, summary, now)
    return attrs.evolve(plan, applied=True, positions=tuple(positions))


def _move(
    tx: StoreTransaction,
    pathway: Pathway,
    move: CaseMove,
    maps: Mapping[str, StateMap],
    actor: Actor,
    reason: str,
    now: datetime,
) -> int:
    """Write one case's move and its admin event; the event's chain position."""
    case = tx.load_case(move.case_id)
    at = max(now, tx.last_event_at(case.id))  # events of a case stay in time order
    stack = tuple(
        ReturnPoint(maps[p.state].new, maps[p.state].team or p.team, p.entered_at)
        if p.state in maps
        else p
        for p in case.return_stack
    )
    after: Case = attrs.evolve(
        case,
        state=move.to_state,
        team=move.to_team,
        organisation=pathway.organisation_of(move.to_team),
        worker=case.worker if move.to_team == case.team else None,
        version=case.version + 1,
        pathway_version=pathway.version,
        return_stack=stack,
    )
    states = dict.fromkeys([case.state, *(p.state for p in case.return_stack)])
    applied = [str(maps[s]) for s in states if s in maps]
    event = NewEvent(
        event_id=new_event_id(),
        case_id=case.id,
        occurred_at=at,
        recorded_at=now,
        trigger=MIGRATION_TRIGGER,
        from_state=case.state,
        to_state=after.state,
        from_team=case.team,
        to_team=after.team,
        from_organisation=case.organisation,
        to_organisation=after.organisation,
        actor_id=actor.id,
        actor_team=actor.team,
        actor_roles=tuple(actor.roles),
        outcome="applied",
        pathway_id=pathway.id,
        pathway_version=pathway.version,
        note=reason,
        data={
            "migration": {
                "from_version": case.pathway_version,
                "to_version": pathway.version,
                "map": applied,
            }
        },
    )
    return tx.apply_transition(after, case.version, event).position


__all__ = [
    "META_PREFIX",
    "MIGRATION_TRIGGER",
    "STAMP_PREFIX",
    "CaseMove",
    "DefinitionChanges",
    "MigrationPlan",
    "RecordedDefinition",
    "StateMap",
    "StrandedCase",
    "check_definition",
    "compare",
    "fingerprint",
    "migrate_cases",
    "parse_map",
    "plan_migration",
    "recorded_definition",
    "stranded_cases",
    "summarise",
]
