"""Words for a trainer: each step of a sample case explained in plain text.

The command line prints these lines; they are plain strings so another front end (a web page,
a notebook) can show the same explanations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .definition import Pathway
from .model import Case, Decision
from .samples import SampleCase, StepOutcome


def _holder(case: Case | None, pathway: Pathway) -> str:
    if case is None:
        return "(no case yet)"
    return f"{case.team} ({case.organisation})"


def _days(days: float) -> str:
    return f"{days:.1f} day" + ("" if round(days, 1) == 1.0 else "s")


def describe_sample(sample: SampleCase) -> list[str]:
    """The heading of a walk: title, learning point, the invented person."""
    lines = [f"{sample.title}  [{sample.id}]", f"Learning point: {sample.learning_point}"]
    lines.append(f"Person: {sample.pseudonym}")
    if sample.seed_reference:
        lines.append(f"Source: {sample.seed_reference}")
    return lines


def describe_step(outcome: StepOutcome, pathway: Pathway, total_steps: int) -> list[str]:
    """Everything about one step: who, what, before -> after, each guard, and holding so far."""
    step = outcome.step
    when = step.when.strftime("%Y-%m-%d %H:%M")
    roles = f", roles {', '.join(step.actor.roles)}" if step.actor.roles else ""
    lines = [
        f"Step {step.index + 1} of {total_steps} · {when} · {step.actor.id} ({step.actor.team}{roles}) fires {step.trigger}"
    ]
    before_state = outcome.before.state if outcome.before else "(new case)"
    internal = any(t.internal for t in pathway.triggers.get(step.trigger, ()))
    if outcome.applied and internal:
        lines.append(f"  state   {outcome.after.state} (kept: this step moves nothing)")
        lines.append(f"  holder  {_holder(outcome.after, pathway)} (kept)")
    elif outcome.applied:
        lines.append(f"  state   {before_state} -> {outcome.after.state}")
        lines.append(
            f"  holder  {_holder(outcome.before, pathway)} -> {_holder(outcome.after, pathway)}"
        )
    else:
        lines.append(f"  state   {outcome.after.state} (unchanged)")
        lines.append(f"  holder  {_holder(outcome.after, pathway)} (unchanged)")
    if outcome.after.return_stack and outcome.applied:
        point = outcome.after.return_stack[-1]
        lines.append(
            f"  returns to {point.state} ({point.team}) when this offer or interruption ends"
        )
    if outcome.before and outcome.before.organisation != outcome.after.organisation:
        lines.append(
            f"  S75     responsibility crosses from {outcome.before.organisation} to {outcome.after.organisation}"
        )
    placement_id = step.data.get("placement_id")
    if outcome.applied and isinstance(placement_id, str):
        found = (outcome.after.attributes.get("placements") or {}).get(placement_id)
        if isinstance(found, dict):
            lines.append(f"  placement {placement_id}: {_placement(found)}")
    for check in outcome.checks:
        mark = "pass" if check.passed else "FAIL"
        lines.append(f"  guard   [{mark}] {check.guard}: {check.reason}")
    if not outcome.checks and step.trigger != "open" and not outcome.applied:
        for reason in outcome.reasons:
            lines.append(f"  guard   [FAIL] {reason}")
    if outcome.applied:
        verdict = "applied" if outcome.as_scripted else "applied, BUT THE SCRIPT EXPECTED A REFUSAL"
    else:
        verdict = "REFUSED (as scripted)" if outcome.as_scripted else "REFUSED, NOT AS SCRIPTED"
        verdict += ": " + "; ".join(outcome.reasons)
    lines.append(f"  result  {verdict}")
    held = ", ".join(f"{h.team} {_days(h.days)}" for h in outcome.holdings)
    lines.append(f"  held    {held}")
    if step.note:
        lines.append(f"  note    {step.note}")
    if step.explain:
        lines.append(f"  trainer {step.explain}")
    return lines


def _placement(found: dict[str, Any]) -> str:
    """A placement as it stands after a step, in one line."""
    s117 = ", section 117" if found.get("s117") else ""
    until = f" to {found['end_date']}" if found.get("end_date") else ", open"
    return (
        f"{found['care_type']}, {found['weekly_cost']} a week{s117}; council "
        f"{found['council_pct']}%, NHS {found['nhs_pct']}%, person {found['person_pct']}% "
        f"from {found['period_start']}{until}; agreed by {found['agreed_by']}"
    )


def describe_choices(decisions: Sequence[Decision]) -> list[str]:
    """The triggers a trainee may choose now, numbered, and why the others are refused."""
    lines: list[str] = []
    for number, decision in enumerate(decisions, start=1):
        if decision.allowed:
            lines.append(f"  {number}. {decision.trigger} -> {decision.dest}")
        else:
            lines.append(
                f"  {number}. {decision.trigger} (not allowed: {'; '.join(decision.reasons)})"
            )
    return lines
