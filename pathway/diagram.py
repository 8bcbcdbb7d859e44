"""Draw a pathway as a state diagram: Mermaid ``stateDiagram-v2`` text or Graphviz DOT text.

Both drawings show the same graph: the initial state, one edge per transition from each of its
sources to its destination, labelled with the trigger; a ``return`` transition (a declined offer,
the end of an interruption) drawn back to every state the offer or interruption could have been
made from, as the compiled machine does; final states leading to an end mark; offer states (pending handoffs) marked
with the team they are offered to. Internal steps (which leave a case where it is) are listed as
comments rather than drawn.

Output is deterministic: states and edges come in definition order, so the same definition always
gives the same text and a diagram kept in the documentation can be checked against the definition.
Producing DOT text needs no Graphviz; render it with ``dot -Tsvg``.

State names may contain dots (``amhp.interview``), which neither Mermaid nor DOT accepts in an
identifier, and may be words the diagram languages reserve (``note``, ``node``). Each state gets an
identifier that is valid in both languages, and the state's own name is shown as its label.
"""

from __future__ import annotations

import re

from .definition import Pathway
from .machine import return_targets

__all__ = ["dot", "edges", "internal_steps", "mermaid", "state_identifiers"]

RETURN_MARK = " (return)"
"""Appended to the label of an edge drawn for a ``return`` transition."""

_RESERVED = frozenset(
    {
        # Mermaid stateDiagram-v2 keywords
        "as",
        "class",
        "classdef",
        "click",
        "direction",
        "end",
        "hide",
        "left",
        "note",
        "of",
        "over",
        "right",
        "scale",
        "state",
        "statediagram",
        "style",
        # Graphviz DOT keywords (case-insensitive in DOT)
        "digraph",
        "edge",
        "graph",
        "node",
        "strict",
        "subgraph",
    }
)
_SAFE_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def state_identifiers(pathway: Pathway) -> dict[str, str]:
    """A diagram identifier for each state: valid in Mermaid and DOT, unique, stable.

    A name that is already a plain identifier and no keyword keeps itself. A dotted name has its
    dots replaced by double underscores (``amhp.interview`` becomes ``amhp__interview``); a
    keyword gets a trailing underscore. Should that clash with another state's identifier, a
    number is added (``_2``, ``_3``, ...). Plain names are assigned first, so they never change.
    """
    names = list(pathway.states)
    taken: set[str] = set()
    found: dict[str, str] = {}
    for name in names:
        if _SAFE_ID.match(name) and name not in _RESERVED:
            found[name] = name
            taken.add(name)
    for name in names:
        if name in found:
            continue
        base = name.replace(".", "__")
        if base in _RESERVED:
            base += "_"
        candidate, number = base, 2
        while candidate in taken or candidate in _RESERVED:
            candidate, number = f"{base}_{number}", number + 1
        found[name] = candidate
        taken.add(candidate)
    return {name: found[name] for name in names}


def _return_targets(pathway: Pathway) -> dict[str, list[str]]:
    """For each state, where a return from it may go back to, as the compiled machine has it."""
    offers = [name for name, state in pathway.states.items() if state.is_offer]
    return return_targets(list(pathway.states), pathway.transitions, offers)


def edges(pathway: Pathway) -> list[tuple[str, str, str, bool]]:
    """Every edge of the diagram as ``(source, dest, trigger, is_return)``, by state name.

    One edge per transition and source, in definition order; a ``return`` transition gives one
    edge per state the case may go back to (where the offer or interruption it ends was made
    from). An edge repeated exactly (same ends, trigger and kind) is drawn once.
    """
    entered = _return_targets(pathway)
    seen: set[tuple[str, str, str, bool]] = set()
    result: list[tuple[str, str, str, bool]] = []
    for transition in pathway.transitions:
        if transition.internal:
            continue  # it moves nothing: listed beside the diagram, not drawn
        for source in transition.sources:
            if transition.dest is not None:
                targets, is_return = [transition.dest], False
            else:
                targets, is_return = entered.get(source, []), True
            for target in targets:
                edge = (source, target, transition.trigger, is_return)
                if edge not in seen:
                    seen.add(edge)
                    result.append(edge)
    return result


def internal_steps(pathway: Pathway) -> list[str]:
    """One line per internal trigger, saying where it may be taken (they are not drawn as edges).

    An internal step (a placement started, changed or ended) leaves the case in its state, so an
    edge for it would be a loop on every state it may be taken from; the diagrams list them as
    comments instead, in definition order.
    """
    open_states = [name for name, state in pathway.states.items() if not state.final]
    sources: dict[str, list[str]] = {}
    for transition in pathway.transitions:
        if transition.internal:
            found = sources.setdefault(transition.trigger, [])
            found.extend(s for s in transition.sources if s not in found)
    lines = []
    for trigger, names in sources.items():
        where = (
            "every open state"
            if set(names) == set(open_states)
            else ", ".join(n for n in pathway.states if n in names)
        )
        lines.append(f"internal step {trigger} (the case stays in its state): from {where}")
    return lines


def _label(trigger: str, is_return: bool) -> str:
    return trigger + (RETURN_MARK if is_return else "")


def mermaid(pathway: Pathway) -> str:
    """The pathway as Mermaid ``stateDiagram-v2`` text, ending with a newline.

    ``[*] --> initial``; ``source --> dest : trigger`` for each edge (``trigger (return)`` for a
    return); ``final --> [*]`` for each final state; a note beside each offer state naming the
    team it is offered to, and the ``offer`` class (dashed border) on offer states. A state whose
    identifier differs from its name is declared ``state "name" as identifier``.
    """
    ids = state_identifiers(pathway)
    lines = [
        "stateDiagram-v2",
        f"    %% {pathway.id} version {pathway.version}",
    ]
    for name, ident in ids.items():
        if ident != name:
            lines.append(f'    state "{name}" as {ident}')
    lines.append(f"    [*] --> {ids[pathway.initial]}")
    for source, dest, trigger, is_return in edges(pathway):
        lines.append(f"    {ids[source]} --> {ids[dest]} : {_label(trigger, is_return)}")
    for name, state in pathway.states.items():
        if state.final:
            lines.append(f"    {ids[name]} --> [*]")
    lines.extend(f"    %% {line}" for line in internal_steps(pathway))
    offers = [name for name, state in pathway.states.items() if state.is_offer]
    for name in offers:
        team = pathway.states[name].offer_to
        lines.append(f"    note right of {ids[name]} : offer to {team}, pending acceptance")
    if offers:
        lines.append("    classDef offer stroke-dasharray: 5 5")
        lines.append(f"    class {','.join(ids[name] for name in offers)} offer")
    return "\n".join(lines) + "\n"


def _dot_string(text: str) -> str:
    """``text`` as a DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(pathway: Pathway) -> str:
    """The pathway as Graphviz DOT text (a ``digraph``), ending with a newline.

    Each state is a node labelled with its name and the team that holds it (for an offer state,
    the team it is offered to, with a dashed border); final states have a double border. A point
    node ``__start`` leads to the initial state and final states lead to ``__end``. Edges are
    labelled with their trigger; return edges are dashed and marked ``(return)``.
    """
    ids = state_identifiers(pathway)
    lines = [
        f"digraph {_dot_string(pathway.id)} {{",
        f"    label={_dot_string(f'{pathway.title} (version {pathway.version})')};",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded"];',
        '    __start [shape=point, label=""];',
    ]
    for name, state in pathway.states.items():
        attributes = []
        if state.is_offer:
            label = f"{name}\noffer to {state.offer_to}"
            attributes.append('style="rounded,dashed"')
        else:
            label = f"{name}\n({state.holder})"
        if state.final:
            attributes.append("peripheries=2")
        attributes.insert(0, f"label={_dot_string(label)}")
        lines.append(f"    {ids[name]} [{', '.join(attributes)}];")
    if pathway.final_states():
        lines.append('    __end [shape=doublecircle, label="", width=0.2];')
    lines.append(f"    __start -> {ids[pathway.initial]};")
    for source, dest, trigger, is_return in edges(pathway):
        attributes = [f"label={_dot_string(_label(trigger, is_return))}"]
        if is_return:
            attributes.append("style=dashed")
        lines.append(f"    {ids[source]} -> {ids[dest]} [{', '.join(attributes)}];")
    for name in pathway.final_states():
        lines.append(f"    {ids[name]} -> __end;")
    lines.extend(f"    // {line}" for line in internal_steps(pathway))
    lines.append("}")
    return "\n".join(lines) + "\n"
