"""Load a pathway definition, check it against its schema and its meaning, and compile it.

Loading reports *every* problem at once, each with its file, line and JSON pointer: a definition
author fixes a file in one pass rather than one error per run. The schema catches shape (missing
fields, wrong types, misspelt keys); the checks here catch meaning: names that refer to nothing,
states no case can reach or leave, handoffs with no way back when the receiving team declines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import pluggy

from .errors import DefinitionError, Problem
from .guards import BUILTIN_GUARDS, GuardRegistry
from .machine import CompiledMachine, return_targets
from .plugins import (
    LoadedPlugin,
    PluginInfo,
    ReportSpec,
    load_plugins,
    make_manager,
    merge_fragments,
    plugin_guards,
    plugin_reports,
)
from .spec import (
    ACTOR_HOLDER,
    HOLDER_KEYWORDS,
    Catalog,
    Escalation,
    Governance,
    GuardRef,
    Organisation,
    State,
    StatutoryFunction,
    Task,
    Team,
    Transition,
)
from .validation import schema_problems
from .yamlsource import SourceDocument, parse_document, pointer, read_document

DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")


@attrs.frozen(eq=False)
class Role:
    """A role some guard of the pathway asks for, and the triggers that ask for it."""

    name: str
    triggers: tuple[str, ...]


@attrs.frozen
class ReviewRules:
    """When reviews of care and support are owed, per open placement (the definition's
    ``reviews``): Care Act s27 and its statutory guidance (13.32: a light-touch review about 6-8
    weeks after the plan is agreed, then at least every 12 months), and BEP line 152 (reviews
    more regular in residential care)."""

    first_review_days: float = 56.0
    interval_days: float = 365.0
    interval_days_by_care_type: Mapping[str, float] = attrs.field(factory=dict)

    def interval_for(self, care_type: str) -> float:
        """Days between reviews for a placement of this care type."""
        return float(self.interval_days_by_care_type.get(care_type, self.interval_days))


@attrs.frozen(eq=False)
class Pathway:
    """A validated, compiled pathway definition: the spec every case of it runs against.

    One ``Pathway`` (and its one compiled state machine) serves every case; cases are never
    registered with the machine.
    """

    id: str
    """The definition's ``id`` (stored on every case and event)."""
    version: str
    """The definition's ``version`` (stored on every case and event)."""
    title: str
    """A one-line title."""
    description: str
    """What the pathway is for, in the definition's words."""
    source: str
    """Where the definition came from: a file path or a shipped name."""
    organisations: Catalog[Organisation]
    """The partner organisations, by id (e.g. ``council``, ``nhs``)."""
    teams: Catalog[Team]
    """The teams, by id; each belongs to one organisation."""
    tasks: Catalog[Task]
    """The task matrix: each task with the teams that may perform it."""
    states: Catalog[State]
    """The states a case moves through, by id, in definition order."""
    initial: str
    """The state a case opens in."""
    initial_holder: str | None
    """The team that holds a newly opened case (None: the state's holder, else the opener's)."""
    transitions: tuple[Transition, ...]
    """Every transition, in definition order (plug-ins' after the pathway's own)."""
    triggers: Catalog[tuple[Transition, ...]]
    """The transitions of each trigger, by trigger name."""
    roles: Catalog[Role]
    """The roles guards ask for (e.g. ``amhp``), by name."""
    guards: GuardRegistry
    """The guards transitions may name: the built-in ones and the plug-ins'."""
    plugins: tuple[PluginInfo, ...] = ()
    """The plug-ins the pathway was loaded with (name, version, where from)."""
    hooks: pluggy.PluginManager | None = attrs.field(default=None, repr=False)
    """The plug-ins' hooks (observers are called through it), or None without plug-ins."""
    reports: Mapping[str, ReportSpec] = attrs.field(factory=dict, repr=False)
    """The reports the pathway's plug-ins add, by name (:class:`pathway.plugins.ReportSpec`);
    the built-in reports are not here (they are in :mod:`pathway.reports`). ``pathway report
    NAME`` runs either kind; from Python call ``p.reports[name].function(store.connection,
    scope, p)``."""
    statutory_functions: Catalog[StatutoryFunction] = attrs.field(
        factory=lambda: Catalog("statutory function", {}), repr=False
    )
    """The statutory functions the pathway's steps carry out (definition order): what the S75
    report counts by acting team and organisation."""
    reviews: ReviewRules = attrs.field(factory=ReviewRules)
    """When reviews of care and support are owed (the definition's ``reviews``)."""
    governance: Governance = attrs.field(factory=Governance)
    """Helping teams, routes of access and the escalation rule (empty when not defined)."""
    machine: CompiledMachine = attrs.field(init=False, repr=False)
    """The compiled state machine every case of the pathway runs on."""
    interruption_states: frozenset[str] = attrs.field(init=False, repr=False)
    """The states a case can only be in during an interruption (see :func:`interruption_states`)."""
    return_steps: frozenset[tuple[str, str]] = attrs.field(init=False, repr=False)
    """``(trigger, source state)`` of every ``return`` transition: an event with that trigger
    from that state took the case back to where an offer or interruption left it (a declined
    offer, the end of a safeguarding enquiry). The reports read events, so they tell a return
    from a fresh move by these pairs."""

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "machine", CompiledMachine(self))
        object.__setattr__(
            self,
            "interruption_states",
            interruption_states(self.states, self.transitions, self.initial),
        )
        object.__setattr__(
            self,
            "return_steps",
            frozenset(
                (t.trigger, source) for t in self.transitions if t.returns for source in t.sources
            ),
        )

    @property
    def review_states(self) -> tuple[str, ...]:
        """The states a review is held in: those whose name says review. An entry into one is a
        review (the waits report's overdue reviews, and what the dashboard needs in the data)."""
        return tuple(n for n in self.states if "review" in n)

    def organisation_of(self, team: str) -> str:
        """The organisation of ``team``; a team unknown to the pathway (imported history) has none."""
        found = self.teams.get(team)
        return found.organisation if found is not None else "unknown"

    def final_states(self) -> list[str]:
        """The names of the final states (a case in one is closed)."""
        return [name for name, state in self.states.items() if state.final]

    def placement_action(self, trigger: str) -> str | None:
        """``start``, ``change`` or ``end`` if ``trigger`` records a placement, else ``None``.

        Loading makes every transition of one trigger agree, so the action is known before the
        guards pick one of them.
        """
        found = self.triggers.get(trigger)
        return found[0].placement if found else None


def interruption_states(
    states: Mapping[str, State], transitions: Sequence[Transition], initial: str
) -> frozenset[str]:
    """The states that lie inside an interruption: where interruptions lead (a safeguarding
    enquiry, a Mental Health Act assessment), and the steps entered only from inside one (a
    plug-in's sub-steps of the enquiry or assessment); never an offer or a final state.

    The engine uses them to drop an interruption's return point when the case leaves the
    interruption other than by returning, e.g. when an admission offered from an assessment is
    accepted: the case will not go back to where it was before the assessment.

    Computed as the largest set that holds the interruptions' destinations and in which every
    other state is entered only by plain transitions from states of the set (steps inside an
    interruption can form cycles, so it is grown down from every candidate, not up).
    """
    roots = {t.dest for t in transitions if t.interrupt and t.dest is not None}
    entering: dict[str, list[Transition]] = defaultdict(list)
    for t in transitions:
        if t.dest is not None and not t.returns and not t.internal:
            entering[t.dest].append(t)
    inside = {
        name
        for name, state in states.items()
        if not state.final and not state.is_offer and (name in roots or name != initial)
    }
    shrunk = True
    while shrunk:
        shrunk = False
        for name in sorted(inside - roots):
            if not entering[name] or any(
                t.remembers or any(source not in inside for source in t.sources)
                for t in entering[name]
            ):
                inside.discard(name)
                shrunk = True
    return frozenset(inside)


def _ids(
    doc: SourceDocument, key: str, kind: str, problems: list[Problem]
) -> dict[str, tuple[int, dict[str, Any]]]:
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, item in enumerate(doc.data.get(key) or []):
        ident = item["id"]
        if ident in found:
            problems.append(
                doc.problem(
                    pointer(key, index, "id"),
                    f"duplicate {kind} {ident!r}: already defined at "
                    f"{pointer(key, found[ident][0])}",
                )
            )
            continue
        found[ident] = (index, item)
    return found


def _guard_refs(
    doc: SourceDocument,
    index: int,
    raw: Iterable[Any],
    registry: GuardRegistry,
    problems: list[Problem],
) -> list[GuardRef]:
    import jsonschema  # imported when first needed (see validation._validator)

    refs: list[GuardRef] = []
    for g_index, entry in enumerate(raw):
        name, params = (
            (entry, {}) if isinstance(entry, str) else (entry["guard"], entry.get("params") or {})
        )
        where = pointer("transitions", index, "guards", g_index)
        spec = registry.get(name)
        if spec is None:
            known = ", ".join(sorted(registry))
            problems.append(doc.problem(where, f"unknown guard {name!r} (known guards: {known})"))
            continue
        for error in jsonschema.Draft202012Validator(spec.params_schema).iter_errors(params):
            sub = pointer(*error.absolute_path)
            problems.append(
                doc.problem(
                    where,
                    f"guard {name}: params{sub}: {error.message}".replace("params: ", "params "),
                )
            )
        refs.append(GuardRef(name=name, params=dict(params)))
    return refs


def _check_references(
    doc: SourceDocument, registry: GuardRegistry, problems: list[Problem]
) -> dict[str, Any]:
    """Check every name refers to something; build the parts. Returns the parts by kind."""
    data = doc.data
    orgs = _ids(doc, "organisations", "organisation", problems)
    teams = _ids(doc, "teams", "team", problems)
    tasks = _ids(doc, "tasks", "task", problems)
    states = _ids(doc, "states", "state", problems)

    def team_ref(ptr: str, name: str, allow_actor: bool = False) -> None:
        if allow_actor and name in HOLDER_KEYWORDS:
            return
        if name not in teams:
            problems.append(doc.problem(ptr, f"unknown team {name!r} (teams: {', '.join(teams)})"))

    def state_ref(ptr: str, name: str) -> None:
        if name not in states:
            problems.append(
                doc.problem(ptr, f"unknown state {name!r} (states: {', '.join(states)})")
            )

    def task_ref(ptr: str, name: str) -> None:
        if name not in tasks:
            problems.append(
                doc.problem(ptr, f"unknown task {name!r} (tasks: {', '.join(tasks) or 'none'})")
            )

    for name, (index, item) in teams.items():
        where = ("teams", index, "organisation")
        _known_organisation(doc, orgs, item["organisation"], where, f"team {name}", problems)
    for _name, (index, item) in tasks.items():
        for t_index, team in enumerate(item["teams"]):
            team_ref(pointer("tasks", index, "teams", t_index), team)
    for name, (index, item) in states.items():
        if "holder" in item:
            team_ref(pointer("states", index, "holder"), item["holder"])
        elif "offer_to" not in item:
            problems.append(
                doc.problem(
                    pointer("states", index),
                    f"state {name} has no holder: every state but an offer state names the team "
                    "that holds a case in it",
                )
            )
        if "offer_to" in item:
            team_ref(pointer("states", index, "offer_to"), item["offer_to"])
        if "task" in item:
            task_ref(pointer("states", index, "task"), item["task"])
    state_ref("/initial", data["initial"])
    if data["initial"] in states and "offer_to" in states[data["initial"]][1]:
        problems.append(doc.problem("/initial", "a case cannot open on an offer state"))
    if "initial_holder" in data:
        team_ref("/initial_holder", data["initial_holder"], allow_actor=True)

    transitions: list[Transition] = []
    placement_of: dict[str, tuple[str | None, int]] = {}
    for index, item in enumerate(data["transitions"]):
        base = ("transitions", index)
        sources_raw = item["sources"]
        internal = bool(item.get("internal", False))
        if sources_raw == "*":
            sources = tuple(n for n, (_, s) in states.items() if not s.get("final", False))
        else:
            sources = tuple(sources_raw)
            for s_index, source in enumerate(sources):
                state_ref(pointer(*base, "sources", s_index), source)
                if internal and states.get(source, (0, {}))[1].get("final", False):
                    problems.append(
                        doc.problem(
                            pointer(*base, "sources", s_index),
                            f"{item['trigger']} is internal, so it cannot be taken from the final "
                            f"state {source}: its event would count as a new start of a closed case",
                        )
                    )
        placement = item.get("placement")
        first = placement_of.setdefault(item["trigger"], (placement, index))
        if first[0] != placement:
            problems.append(
                doc.problem(
                    pointer(*base, "placement") if placement else pointer(*base),
                    f"{item['trigger']}: every transition of a trigger must record the same kind of "
                    f"placement step, but /transitions/{first[1]} says "
                    f"{first[0] or 'none'} and this one {placement or 'none'}",
                )
            )
        dest = item.get("dest")
        if dest is not None:
            state_ref(pointer(*base, "dest"), dest)
        if "holder" in item:
            team_ref(pointer(*base, "holder"), item["holder"], allow_actor=True)
        if "task" in item:
            task_ref(pointer(*base, "task"), item["task"])
        refs = _guard_refs(doc, index, item.get("guards") or [], registry, problems)
        dest_item = states.get(dest, (0, {}))[1] if dest else {}
        task = item.get("task")
        names_task = task is not None or dest_item.get("task") is not None
        if names_task and not any(r.name == "team_may_perform" for r in refs):
            refs.insert(0, GuardRef(name="team_may_perform", automatic=True))
        is_offer_dest = "offer_to" in dest_item
        handoff = bool(item.get("handoff", False))
        if handoff and dest is not None and dest in states and not is_offer_dest:
            problems.append(
                doc.problem(
                    pointer(*base, "handoff"),
                    f"{item['trigger']} is a handoff, so its destination {dest} must be an offer "
                    "state (one with offer_to) that the receiving team accepts or declines",
                )
            )
        if is_offer_dest and not handoff:
            problems.append(
                doc.problem(
                    pointer(*base, "dest"),
                    f"{item['trigger']} leads to the offer state {dest}: mark it handoff: true",
                )
            )
        transitions.append(
            Transition(
                trigger=item["trigger"],
                sources=sources,
                dest=dest,
                index=index,
                description=item.get("description", ""),
                returns=bool(item.get("return", False)),
                holder=item.get("holder"),
                task=task,
                handoff=handoff,
                interrupt=bool(item.get("interrupt", False)),
                guards=tuple(refs),
                internal=internal,
                placement=placement,
            )
        )
    transitions = _inherit_into_substeps(transitions, list(states))
    functions = _check_functions(doc, orgs, {t.trigger for t in transitions}, problems)
    return {
        "functions": functions,
        "orgs": orgs,
        "teams": teams,
        "tasks": tasks,
        "states": states,
        "transitions": transitions,
    }


def _check_functions(
    doc: SourceDocument,
    orgs: Mapping[str, Any],
    triggers: set[str],
    problems: list[Problem],
) -> dict[str, tuple[int, dict[str, Any]]]:
    """Each statutory function names a known organisation and triggers the pathway has.

    A misspelt trigger would count nothing, silently, and the board would read "never carried
    out": so it is an error, placed at its JSON pointer, like every other name that refers to
    nothing.
    """
    functions = _ids(doc, "statutory_functions", "statutory function", problems)
    for name, (index, item) in functions.items():
        where = ("statutory_functions", index, "duty_of")
        owner = f"statutory function {name}"
        _known_organisation(doc, orgs, item["duty_of"], where, owner, problems)
        for t_index, trigger in enumerate(item["triggers"]):
            if trigger not in triggers:
                problems.append(
                    doc.problem(
                        pointer("statutory_functions", index, "triggers", t_index),
                        f"statutory function {name}: unknown trigger {trigger!r} "
                        f"(triggers: {', '.join(sorted(triggers))})",
                    )
                )
    return functions


def _inherit_into_substeps(transitions: list[Transition], names: list[str]) -> list[Transition]:
    """A sub-step (``mha_assessment.interview``) inherits its parent state's transitions.

    A transition from a state also leaves each of its sub-steps, unless the sub-step has its own
    transition for that trigger (which then takes precedence): a plug-in nesting steps inside a
    state of the base pathway need not repeat the ways out of it.
    """
    children = {name: [other for other in names if other.startswith(name + ".")] for name in names}
    own = {(t.trigger, source) for t in transitions for source in t.sources}
    inherited = []
    for t in transitions:
        extra = tuple(
            child
            for source in t.sources
            for child in children.get(source, ())
            if child not in t.sources and (t.trigger, child) not in own
        )
        inherited.append(attrs.evolve(t, sources=(*t.sources, *extra)) if extra else t)
    return inherited


def _check_graph(doc: SourceDocument, parts: Mapping[str, Any], problems: list[Problem]) -> None:
    """Reachability, ways out, and handoffs that can be declined."""
    states: dict[str, tuple[int, dict[str, Any]]] = parts["states"]
    transitions: list[Transition] = parts["transitions"]
    outgoing: dict[str, list[Transition]] = defaultdict(list)
    for t in transitions:
        for source in t.sources:
            outgoing[source].append(t)

    def holder_of(t: Transition) -> str | None:
        if t.holder is not None:
            return t.holder
        if t.dest is not None and t.dest in states:
            return states[t.dest][1].get("holder")
        return None

    # Reachability: a return goes back to where the offer or interruption was made from.
    return_map = return_targets(
        list(states), transitions, [n for n, (_, item) in states.items() if "offer_to" in item]
    )
    initial = doc.data["initial"]
    seen = {initial} if initial in states else set()
    frontier = list(seen)
    while frontier:
        current = frontier.pop()
        for t in outgoing.get(current, []):
            targets = set(return_map.get(current, ())) if t.returns else {t.dest}
            for target in targets:
                if target in states and target not in seen:
                    seen.add(target)
                    frontier.append(target)
    for name, (index, item) in states.items():
        if name not in seen:
            problems.append(
                doc.problem(
                    pointer("states", index),
                    f"state {name} is unreachable: no sequence of transitions from {initial} leads to it",
                )
            )
        if not item.get("final", False) and not any(not t.internal for t in outgoing.get(name, ())):
            problems.append(
                doc.problem(
                    pointer("states", index),
                    f"state {name} is not final but no transition leaves it: a case there would be stuck",
                )
            )
    for t in transitions:
        if not t.handoff or t.dest not in states:
            continue
        offer = t.dest
        receiver = states[offer][1].get("offer_to")
        exits = outgoing.get(offer, [])
        back = [e for e in exits if e.returns or (e.dest is not None and e.dest in t.sources)]
        accept = [e for e in exits if not e.returns and holder_of(e) in (receiver, ACTOR_HOLDER)]
        where = pointer("transitions", t.index)
        if not back:
            problems.append(
                doc.problem(
                    where,
                    f"handoff {t.trigger} has no way back when declined: add a transition from "
                    f"{offer} with return: true (or back to {', '.join(t.sources)})",
                )
            )
        if not accept:
            problems.append(
                doc.problem(
                    where,
                    f"handoff {t.trigger} cannot be accepted: no transition from {offer} gives the "
                    f"case to {receiver}",
                )
            )
    # A return needs something to return to: its source must lie inside the region of an offer
    # or an interruption.
    for t in transitions:
        if t.returns:
            for source in t.sources:
                if not return_map.get(source):
                    problems.append(
                        doc.problem(
                            pointer("transitions", t.index, "return"),
                            f"{t.trigger} returns from {source}, but no offer or interruption "
                            f"(handoff: true or interrupt: true) leads into {source}: there is "
                            "nothing to return to",
                        )
                    )


def _governance(
    doc: SourceDocument, parts: Mapping[str, Any], problems: list[Problem]
) -> Governance:
    """The ``governance`` block, its names checked against the teams and triggers."""
    raw = doc.data.get("governance") or {}
    teams: Mapping[str, Any] = parts["teams"]
    transitions: list[Transition] = parts["transitions"]
    triggers = {t.trigger for t in transitions}
    helping = raw.get("helping_teams") or []
    for index, team in enumerate(helping):
        if team not in teams:
            problems.append(
                doc.problem(
                    pointer("governance", "helping_teams", index),
                    f"unknown team {team!r} (teams: {', '.join(teams)})",
                )
            )
    routes: dict[str, str] = dict(raw.get("routes") or {})
    for trigger in routes:
        if trigger not in triggers:
            problems.append(
                doc.problem(
                    pointer("governance", "routes", trigger),
                    f"unknown trigger {trigger!r}: a route is recorded by a trigger of the "
                    "pathway's transitions",
                )
            )
    escalation = None
    rule = raw.get("escalation")
    if rule is not None:
        step = rule["step"]
        used = [t for t in transitions if t.trigger == step]
        if not used:
            problems.append(
                doc.problem(
                    pointer("governance", "escalation", "step"),
                    f"unknown trigger {step!r}: add a transition with this trigger "
                    "(internal: true) by which a manager records the escalation decision",
                )
            )
        elif not all(t.internal for t in used):
            problems.append(
                doc.problem(
                    pointer("governance", "escalation", "step"),
                    f"the escalation step {step} must be an internal transition (internal: true): "
                    "recording the managers' decision leaves the case where it is",
                )
            )
        days = rule.get("days_in_offers")
        escalation = Escalation(
            rule.get("declined_offers"), None if days is None else float(days), step
        )
    return Governance(frozenset(helping), routes, escalation)


def build_pathway(
    doc: SourceDocument,
    guards: GuardRegistry | None = None,
    plugins: Sequence[LoadedPlugin] = (),
    hooks: pluggy.PluginManager | None = None,
    reports: Mapping[str, ReportSpec] | None = None,
) -> Pathway:
    """Validate a parsed definition document and compile it into a :class:`Pathway`.

    ``plugins`` are those whose fragments are already merged into ``doc``; they are recorded on
    the pathway, and their versions become part of its version, which every case and audit
    event records.
    """
    registry = guards if guards is not None else BUILTIN_GUARDS
    problems = schema_problems(doc, "pathway")
    if problems:
        raise DefinitionError(problems)
    parts = _check_references(doc, registry, problems)
    governance = _governance(doc, parts, problems)
    if not problems:
        _check_graph(doc, parts, problems)
    if problems:
        raise DefinitionError(sorted(problems, key=lambda p: (p.line or 0, p.pointer)))
    data = doc.data
    transitions: list[Transition] = parts["transitions"]
    by_trigger: dict[str, list[Transition]] = defaultdict(list)
    for t in transitions:
        by_trigger[t.trigger].append(t)
    role_triggers: dict[str, list[str]] = defaultdict(list)
    for t in transitions:
        for ref in t.guards:
            for role in registry[ref.name].roles(ref.params):
                if t.trigger not in role_triggers[role]:
                    role_triggers[role].append(t.trigger)
    return Pathway(
        id=data["id"],
        version=str(data["version"]) + "".join(f"+{p.info.name}-{p.info.version}" for p in plugins),
        title=data.get("title", data["id"]),
        description=data.get("description", ""),
        source=doc.name,
        organisations=Catalog(
            "organisation",
            {
                k: Organisation(
                    k, v.get("name", k), v.get("kind", "other"), v.get("description", "")
                )
                for k, (_, v) in parts["orgs"].items()
            },
        ),
        teams=Catalog(
            "team",
            {
                k: Team(k, v["organisation"], v.get("name", k), v.get("description", ""))
                for k, (_, v) in parts["teams"].items()
            },
        ),
        tasks=Catalog(
            "task",
            {
                k: Task(k, frozenset(v["teams"]), v.get("description", ""))
                for k, (_, v) in parts["tasks"].items()
            },
        ),
        states=Catalog(
            "state",
            {
                k: State(
                    id=k,
                    holder=v.get("holder"),
                    description=v.get("description", ""),
                    offer_to=v.get("offer_to"),
                    task=v.get("task"),
                    time_limit_days=v.get("time_limit_days"),
                    final=bool(v.get("final", False)),
                )
                for k, (_, v) in parts["states"].items()
            },
        ),
        initial=data["initial"],
        initial_holder=data.get("initial_holder"),
        transitions=tuple(transitions),
        triggers=Catalog("trigger", {k: tuple(v) for k, v in by_trigger.items()}),
        roles=Catalog("role", {k: Role(k, tuple(v)) for k, v in sorted(role_triggers.items())}),
        guards=registry,
        plugins=tuple(p.info for p in plugins),
        hooks=hooks,
        reports=dict(reports or {}),
        statutory_functions=Catalog(
            "statutory function",
            {
                k: StatutoryFunction(
                    k, v.get("name", k), v["duty_of"], v["reference"], tuple(v["triggers"])
                )
                for k, (_, v) in parts["functions"].items()
            },
        ),
        reviews=_review_rules(data.get("reviews")),
        governance=governance,
    )


def _review_rules(data: Mapping[str, Any] | None) -> ReviewRules:
    """The definition's ``reviews`` block (already checked by the schema), defaults filled in."""
    if not data:
        return ReviewRules()
    default = ReviewRules()
    return ReviewRules(
        first_review_days=float(data.get("first_review_days", default.first_review_days)),
        interval_days=float(data.get("interval_days", default.interval_days)),
        interval_days_by_care_type={
            str(k): float(v) for k, v in (data.get("interval_days_by_care_type") or {}).items()
        },
    )


def shipped_definitions() -> dict[str, str]:
    """Names of the pathway definitions shipped inside the package, with their file names."""
    folder = resources.files("pathway.definitions")
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(DEFINITION_SUFFIXES):
            found[entry.name.rsplit(".", 1)[0]] = entry.name
    return dict(sorted(found.items()))


def _looks_like_path(name: str) -> bool:
    return name.endswith(DEFINITION_SUFFIXES) or "/" in name or "\\" in name or Path(name).exists()


def load_pathway(
    name_or_path: str | Path,
    *,
    guards: GuardRegistry | None = None,
    plugins: Iterable[Any] = (),
) -> Pathway:
    """Load, validate and compile a pathway: a shipped one by name, or a YAML/JSON file by path.

    ``plugins`` (entry-point names, module paths or plug-in objects) shape the pathway besides
    those its definition names. Raises :class:`~pathway.errors.DefinitionError` listing every
    problem with its place, plug-in faults and conflicts included.
    """
    if isinstance(name_or_path, Path) or _looks_like_path(str(name_or_path)):
        doc = read_document(Path(name_or_path))
    else:
        shipped = shipped_definitions()
        file_name = shipped.get(str(name_or_path))
        if file_name is None:
            known = ", ".join(shipped) or "none"
            raise DefinitionError(
                [
                    Problem(
                        str(name_or_path),
                        "",
                        f"no shipped pathway of that name (shipped: {known}); give a file path to load your own",
                    )
                ]
            )
        text = resources.files("pathway.definitions").joinpath(file_name).read_text("utf-8")
        doc = parse_document(text, f"{name_or_path} (shipped {file_name})")
    named = doc.data.get("plugins") if isinstance(doc.data, dict) else None
    wanted = [*(named if isinstance(named, list) else []), *plugins]
    if not wanted:
        return build_pathway(doc, guards)
    loaded = load_plugins(wanted, doc.name)
    hooks = make_manager(loaded, doc.name)
    registry = plugin_guards(loaded, doc.name)
    if guards is not None:
        for name in guards:
            if name not in registry:
                registry.register(guards[name])
    from .reports import REPORTS  # the built-in report names (reports import this module)

    reports = plugin_reports(loaded, doc.name, REPORTS)
    return build_pathway(merge_fragments(doc, loaded), registry, loaded, hooks, reports)


def _known_organisation(
    doc: SourceDocument,
    orgs: Mapping[str, Any],
    value: Any,
    path: tuple[str | int, ...],
    owner: str,
    problems: list[Problem],
) -> None:
    """A problem at ``path`` if ``value``, named there, is not one of the organisations."""
    if value not in orgs:
        problems.append(
            doc.problem(
                pointer(*path),
                f"{owner}: unknown organisation {value!r} (organisations: {', '.join(orgs)})",
            )
        )
