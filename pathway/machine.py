"""Compile a pathway into one shared ``transitions`` state machine and evaluate triggers on it.

One flat :class:`transitions.Machine` per pathway serves every case: cases are never registered
(``add_model`` costs time and memory per case); instead each evaluation hands the machine a
throw-away token with a ``state`` attribute. ``transitions`` does the matching of trigger and source
state and tries the candidate transitions in definition order; every guard of every candidate is
evaluated (not only up to the first failure) so a refusal can give *every* reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
from transitions import EventData, Machine

from .guards import GuardContext
from .model import Actor, Case, GuardCheck
from .spec import Transition

if TYPE_CHECKING:
    from .definition import Pathway

# INFO logging makes every trigger several times slower; the library logs its own decisions.
logging.getLogger("transitions").setLevel(logging.WARNING)


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


class _Token:
    """The stand-in model handed to the shared machine for one evaluation."""

    __slots__ = ("case", "chosen", "chosen_dest", "ctx_args", "results", "state")

    def __init__(self, case: Case, ctx_args: Mapping[str, Any]) -> None:
        self.state = case.state
        self.case = case
        self.ctx_args = ctx_args
        self.results: list[tuple[Transition, list[GuardCheck]]] = []
        self.chosen: Transition | None = None
        self.chosen_dest: str | None = None


class CompiledMachine:
    """The shared state machine of one pathway."""

    def __init__(self, pathway: Pathway) -> None:
        self._pathway = pathway
        self._machine = Machine(
            model=None,
            states=list(pathway.states),
            initial=pathway.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        targets = return_targets(
            list(pathway.states),
            pathway.transitions,
            [name for name, state in pathway.states.items() if state.is_offer],
        )
        for t in pathway.transitions:
            for source in t.sources:
                if t.returns:
                    # One machine transition per place the case may return to, chosen by the
                    # newest return point on the case's stack.
                    for target in targets.get(source, ()):
                        self._machine.add_transition(
                            t.trigger,
                            source,
                            target,
                            conditions=[_returns_to(target), self._guard_condition(t, target)],
                        )
                else:
                    # An internal step stays where it is: a transition from the state to itself.
                    dest = source if t.internal else t.dest
                    self._machine.add_transition(
                        t.trigger, source, dest, conditions=[self._guard_condition(t, dest)]
                    )

    def _guard_condition(self, transition: Transition, dest: str | None) -> Any:
        pathway = self._pathway

        def condition(event: Any) -> bool:
            token: _Token = event.model
            ctx = GuardContext(
                pathway=pathway, case=token.case, transition=transition, **token.ctx_args
            )
            checks = []
            for ref in transition.guards:
                result = pathway.guards[ref.name].function(ctx, **ref.params)
                checks.append(GuardCheck(ref.name, result.passed, result.reason))
            token.results.append((transition, checks))
            ok = all(c.passed for c in checks)
            if ok:
                token.chosen = transition
                token.chosen_dest = dest
            return ok

        return condition

    def triggers_from(self, state: str) -> list[str]:
        """Triggers that have a transition from ``state``, in definition order."""
        return [
            name
            for name in self._pathway.triggers
            if state in self._machine.events[name].transitions
        ]

    def evaluate(
        self, case: Case, trigger: str, actor: Actor, at: datetime, data: Mapping[str, Any]
    ) -> Evaluation:
        """Decide whether ``trigger`` may be fired on ``case`` now; changes nothing."""
        token = _Token(case, {"actor": actor, "at": at, "data": data})
        event = self._machine.events.get(trigger)
        if event is None:
            return Evaluation(
                trigger, False, None, None, (), (f"{trigger} is not a trigger of this pathway",)
            )
        candidates = event.transitions.get(case.state)
        if not candidates:
            possible = ", ".join(self.triggers_from(case.state)) or "none"
            reason = (
                f"{trigger} cannot be fired from state {case.state} (possible here: {possible})"
            )
            return Evaluation(trigger, False, None, None, (), (reason,))
        # The machine's candidates for this trigger and state, in definition order, each with its
        # conditions; the first whose conditions all hold is the transition. Checking them here,
        # rather than through Event.trigger, skips moving the throw-away token between states
        # (the store, not the token, records the move).
        event_data = EventData(
            self._machine.get_state(case.state), event, self._machine, token, (), {}
        )
        ok = False
        for candidate in candidates:
            if all(condition.check(event_data) for condition in candidate.conditions):
                ok = True
                break
        checks = tuple(c for _, cs in token.results for c in cs)
        if ok and token.chosen is not None:
            return Evaluation(trigger, True, token.chosen, token.chosen_dest, checks, ())
        reasons: list[str] = []
        for _, cs in token.results:
            for c in cs:
                if not c.passed and c.reason not in reasons:
                    reasons.append(c.reason)
        if not token.results:
            came_from = case.return_stack[-1].state if case.return_stack else None
            reasons.append(
                f"{trigger} returns the case to where it was before it was offered on or interrupted, "
                + (
                    f"but {came_from} is not a state it can return to"
                    if came_from
                    else "but the case was neither offered on nor interrupted"
                )
            )
        return Evaluation(trigger, False, None, None, checks, tuple(reasons))


def _returns_to(target: str) -> Any:
    def condition(event: Any) -> bool:
        token: _Token = event.model
        stack = token.case.return_stack
        return bool(stack) and stack[-1].state == target

    return condition
