"""Compile a pathway into one shared ``transitions`` state machine and evaluate triggers on it.

One flat :class:`transitions.Machine` per pathway serves every case: cases are never registered
(``add_model`` costs time and memory per case); instead each evaluation hands the machine a
throw-away token with a ``state`` attribute. ``transitions`` does the matching of trigger and source
state and tries the candidate transitions in definition order; every guard of every candidate is
evaluated (not only up to the first failure) so a refusal can give *every* reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
from transitions import Machine, MachineError

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
        entered_from: dict[str, set[str]] = {}
        for t in pathway.transitions:
            if t.dest is not None:
                for source in t.sources:
                    entered_from.setdefault(t.dest, set()).add(source)
        for t in pathway.transitions:
            for source in t.sources:
                if t.returns:
                    # One machine transition per place the case may return to, chosen by its
                    # remembered previous state.
                    for target in sorted(entered_from.get(source, ())):
                        self._machine.add_transition(
                            t.trigger,
                            source,
                            target,
                            conditions=[_returns_to(target), self._guard_condition(t, target)],
                        )
                else:
                    self._machine.add_transition(
                        t.trigger, source, t.dest, conditions=[self._guard_condition(t, t.dest)]
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
        try:
            ok = bool(event.trigger(token))
        except MachineError:
            possible = ", ".join(self.triggers_from(case.state)) or "none"
            reason = (
                f"{trigger} cannot be fired from state {case.state} (possible here: {possible})"
            )
            return Evaluation(trigger, False, None, None, (), (reason,))
        checks = tuple(c for _, cs in token.results for c in cs)
        if ok and token.chosen is not None:
            return Evaluation(trigger, True, token.chosen, token.chosen_dest, checks, ())
        reasons: list[str] = []
        for _, cs in token.results:
            for c in cs:
                if not c.passed and c.reason not in reasons:
                    reasons.append(c.reason)
        if not token.results:
            reasons.append(
                f"{trigger} returns the case to where it was before {case.state}, "
                f"but it came from {case.previous_state or 'nowhere'}, which this trigger cannot return to"
            )
        return Evaluation(trigger, False, None, None, checks, tuple(reasons))


def _returns_to(target: str) -> Any:
    def condition(event: Any) -> bool:
        token: _Token = event.model
        return bool(token.case.previous_state == target)

    return condition
