"""Compile a pathway into one table of candidate transitions and evaluate triggers on it.

One table per pathway serves every case: for each trigger and source state, the transitions that
may be taken, in definition order, each with its destination and guards. Evaluating a trigger
tries its candidates in that order; every guard of a tried candidate is evaluated (not only up to
the first failure) so that a refusal can give *every* reason, and the first candidate whose guards
all pass is the transition.

The table is a :class:`transitions.Machine`, built with ``add_transition`` and read back with
``get_transitions`` (its documented API) once, when the pathway is compiled; ``transitions`` checks
that every source and destination is a state of the machine. It is used only as that lookup table,
never to fire: ``Event.trigger`` would move a model between states and run the library's callback
and logging machinery (INFO lines on every trigger, under a host application that logs at INFO),
while here the store, not a model, records the move, and a decision must explain every refusal.
So evaluation reads the compiled candidates and calls the guards itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
from transitions import Machine

from .guards import GuardContext
from .model import Actor, Case, GuardCheck
from .spec import Transition

if TYPE_CHECKING:
    from .definition import Pathway


@attrs.frozen
class Evaluation:
    """The outcome of evaluating a trigger on a case: the chosen transition or every reason not."""

    trigger: str
    allowed: bool
    transition: Transition | None
    dest: str | None
    checks: tuple[GuardCheck, ...]
    reasons: tuple[str, ...]


def return_targets(
    state_order: Sequence[str], transitions: Sequence[Transition], offer_states: Iterable[str]
) -> dict[str, list[str]]:
    """For each state, where a ``return`` from it may go back to (in definition order).

    An offer or interruption made from states S leads into a *region*: its destination and every
    state reached from there by ordinary transitions (not returns, not further offers or
    interruptions, and not out of an offer, since leaving an offer other than by returning
    accepts it). A return from anywhere in the region goes back to one of S.
    """
    offers = set(offer_states)
    order = {name: index for index, name in enumerate(state_order)}
    outgoing: dict[str, list[Transition]] = {}
    for t in transitions:
        for source in t.sources:
            outgoing.setdefault(source, []).append(t)
    targets: dict[str, set[str]] = {}
    for t in transitions:
        if not t.remembers or t.dest is None:
            continue
        region = {t.dest}
        frontier = [t.dest]
        while frontier:
            current = frontier.pop()
            if current in offers:
                continue
            for u in outgoing.get(current, []):
                if not (u.returns or u.remembers) and u.dest is not None and u.dest not in region:
                    region.add(u.dest)
                    frontier.append(u.dest)
        for state in region:
            targets.setdefault(state, set()).update(t.sources)
    return {
        state: sorted(found, key=lambda name: order.get(name, len(order)))
        for state, found in targets.items()
    }


@attrs.frozen
class Candidate:
    """One transition a trigger may take from one state: the pathway's transition, where it goes,
    and, for a ``return``, the state on top of the case's return stack it is taken for."""

    transition: Transition
    dest: str | None
    returns_to: str | None = None


class CompiledMachine:
    """The shared table of one pathway's transitions, and the evaluation of a trigger on a case."""

    def __init__(self, pathway: Pathway) -> None:
        self._pathway = pathway
        machine = Machine(
            model=None,
            states=list(pathway.states),
            initial=pathway.initial,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )
        targets = return_targets(
            list(pathway.states),
            pathway.transitions,
            [name for name, state in pathway.states.items() if state.is_offer],
        )
        table: dict[tuple[str, str], list[Candidate]] = {}
        for t in pathway.transitions:
            for source in t.sources:
                if t.returns:
                    # One candidate per place the case may return to, chosen by the newest
                    # return point on the case's stack.
                    found = [Candidate(t, target, target) for target in targets.get(source, ())]
                else:
                    # An internal step stays where it is: a transition from the state to itself.
                    found = [Candidate(t, source if t.internal else t.dest)]
                for candidate in found:
                    machine.add_transition(t.trigger, source, candidate.dest)
                    table.setdefault((t.trigger, source), []).append(candidate)
        for (trigger, source), candidates in table.items():
            # The machine keeps each trigger's transitions from a source in the order added.
            built = [m.dest for m in machine.get_transitions(trigger, source)]
            assert built == [c.dest for c in candidates], (trigger, source, built)
        self._machine = machine
        self._table = {key: tuple(found) for key, found in table.items()}
        self._triggers = frozenset(machine.events)

    def candidates(self, trigger: str, state: str) -> tuple[Candidate, ...]:
        """The transitions ``trigger`` may take from ``state``, in definition order."""
        return self._table.get((trigger, state), ())

    def triggers_from(self, state: str) -> list[str]:
        """Triggers that have a transition from ``state``, in definition order."""
        return [name for name in self._pathway.triggers if (name, state) in self._table]

    def _checks(
        self, transition: Transition, case: Case, ctx_args: Mapping[str, Any]
    ) -> list[GuardCheck]:
        """Every guard of ``transition`` on ``case``, each with its result and reason."""
        pathway = self._pathway
        ctx = GuardContext(pathway=pathway, case=case, transition=transition, **ctx_args)
        checks = []
        for ref in transition.guards:
            result = pathway.guards[ref.name].function(ctx, **ref.params)
            checks.append(GuardCheck(ref.name, result.passed, result.reason))
        return checks

    def evaluate(
        self, case: Case, trigger: str, actor: Actor, at: datetime, data: Mapping[str, Any]
    ) -> Evaluation:
        """Decide whether ``trigger`` may be fired on ``case`` now; changes nothing."""
        if trigger not in self._triggers:
            return Evaluation(
                trigger, False, None, None, (), (f"{trigger} is not a trigger of this pathway",)
            )
        candidates = self._table.get((trigger, case.state))
        if not candidates:
            possible = ", ".join(self.triggers_from(case.state)) or "none"
            reason = (
                f"{trigger} cannot be fired from state {case.state} (possible here: {possible})"
            )
            return Evaluation(trigger, False, None, None, (), (reason,))
        ctx_args = {"actor": actor, "at": at, "data": data}
        stack = case.return_stack
        tried = False
        checks: list[GuardCheck] = []
        for candidate in candidates:
            if candidate.returns_to is not None and not (
                stack and stack[-1].state == candidate.returns_to
            ):
                continue
            tried = True
            found = self._checks(candidate.transition, case, ctx_args)
            checks.extend(found)
            if all(c.passed for c in found):
                return Evaluation(
                    trigger, True, candidate.transition, candidate.dest, tuple(checks), ()
                )
        reasons: list[str] = []
        for c in checks:
            if not c.passed and c.reason not in reasons:
                reasons.append(c.reason)
        if not tried:
            came_from = stack[-1].state if stack else None
            reasons.append(
                f"{trigger} returns the case to where it was before it was offered on or interrupted, "
                + (
                    f"but {came_from} is not a state it can return to"
                    if came_from
                    else "but the case was neither offered on nor interrupted"
                )
            )
        return Evaluation(trigger, False, None, None, tuple(checks), tuple(reasons))
