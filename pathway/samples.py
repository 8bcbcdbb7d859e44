"""Sample cases: scripted, invented journeys for trainers and tests.

A sample (YAML, ``schemas/sample_case.schema.json``) names a pathway and a list of steps: who
acts, for which team, when, firing which trigger with which data, and, for a step that must be
refused, exactly the reasons it must be refused with. :func:`play` runs a sample through an
engine and yields one :class:`StepOutcome` per step, with everything a trainer explains: state
and holder before and after, each guard checked and why, and how long each team held the case.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from .definition import Pathway, load_pathway
from .engine import OPEN_TRIGGER, Engine
from .errors import DefinitionError, PathwayError, Problem, TransitionRefused
from .flow import EpisodeRow, FlowState
from .model import Actor, AuditEvent, Case, GuardCheck
from .packaged import data_folder
from .timeutil import NaiveTime, parse_instant
from .validation import validate_document
from .yamlsource import SourceDocument, parse_document, pointer, read_document

DEFAULT_SAMPLE_PATHWAY = "barnet-enablement"


@attrs.frozen
class SampleStep:
    """One scripted step."""

    index: int
    when: datetime
    actor: Actor
    trigger: str
    data: Mapping[str, Any]
    note: str | None
    explain: str | None
    refused: tuple[str, ...] | None


@attrs.frozen
class SampleCase:
    """A validated sample case."""

    id: str
    title: str
    learning_point: str
    pathway: str
    pseudonym: str
    steps: tuple[SampleStep, ...]
    end_state: str
    end_team: str
    end_closed: bool | None
    source: str
    seed_reference: str = ""
    plugins: tuple[str, ...] = ()


@attrs.frozen
class Holding:
    """How long one team has held a case so far (days, decimal)."""

    team: str
    organisation: str
    days: float


@attrs.frozen
class StepOutcome:
    """What happened at one step, for a trainer to explain."""

    step: SampleStep
    before: Case | None
    after: Case
    applied: bool
    reasons: tuple[str, ...]
    checks: tuple[GuardCheck, ...]
    expected_refusal: tuple[str, ...] | None
    holdings: tuple[Holding, ...]

    @property
    def as_scripted(self) -> bool:
        """True when the engine did what the script says (applied, or refused for these reasons)."""
        if self.expected_refusal is None:
            return self.applied
        return not self.applied and self.reasons == self.expected_refusal


def _parse(doc: SourceDocument) -> SampleCase:
    validate_document(doc, "sample_case")
    data = doc.data
    problems: list[Problem] = []
    steps: list[SampleStep] = []
    previous: datetime | None = None
    for index, raw in enumerate(data["steps"]):
        where = pointer("steps", index, "when")
        try:
            # The schema says a sample's times are UTC unless they carry an offset: a walk-through
            # gives the same figures whatever $PATHWAY_NAIVE_TIME says.
            when = parse_instant(str(raw["when"]), NaiveTime.UTC)
        except ValueError as exc:
            problems.append(doc.problem(where, str(exc)))
            continue
        if previous is not None and when < previous:
            problems.append(doc.problem(where, "steps must be in time order"))
        previous = when
        if index == 0 and raw["trigger"] != OPEN_TRIGGER:
            problems.append(
                doc.problem(pointer("steps", 0, "trigger"), "the first step must be `open`")
            )
        if index > 0 and raw["trigger"] == OPEN_TRIGGER:
            problems.append(
                doc.problem(
                    pointer("steps", index, "trigger"), "only the first step opens the case"
                )
            )
        steps.append(
            SampleStep(
                index=index,
                when=when,
                actor=Actor(raw["actor"], raw["team"], tuple(raw.get("roles", ()))),
                trigger=raw["trigger"],
                data=dict(raw.get("data") or {}),
                note=raw.get("note"),
                explain=raw.get("explain"),
                refused=tuple(raw["refused"]) if "refused" in raw else None,
            )
        )
    if problems:
        raise DefinitionError(problems)
    end = data["end"]
    return SampleCase(
        id=data["id"],
        title=data["title"],
        learning_point=data["learning_point"],
        pathway=data.get("pathway", DEFAULT_SAMPLE_PATHWAY),
        pseudonym=data["person"]["pseudonym"],
        steps=tuple(steps),
        end_state=end["state"],
        end_team=end["team"],
        end_closed=end.get("closed"),
        source=doc.name,
        seed_reference=data.get("seed_reference", ""),
        plugins=tuple(data.get("plugins", ())),
    )


def load_sample(name_or_path: str | Path) -> SampleCase:
    """Load a sample by shipped name (``s01-self-referral``) or by file path."""
    text_name = str(name_or_path)
    if isinstance(name_or_path, Path) or text_name.endswith((".yaml", ".yml")) or "/" in text_name:
        return _parse(read_document(Path(name_or_path)))
    shipped = shipped_samples()
    if text_name not in shipped:
        known = ", ".join(shipped) or "none"
        raise DefinitionError(
            [Problem(text_name, "", f"no sample case of that name (samples: {known})")]
        )
    file_name = shipped[text_name]
    text = data_folder("sample_cases").joinpath(file_name).read_text("utf-8")
    return _parse(parse_document(text, f"sample_cases/{file_name}"))


def shipped_samples() -> dict[str, str]:
    """Shipped sample names (file names without ``.yaml``), sorted, with their file names."""
    folder = data_folder("sample_cases")
    names = {e.name[:-5]: e.name for e in folder.iterdir() if e.name.endswith(".yaml")}
    return dict(sorted(names.items()))


def sample_pathway(sample: SampleCase, plugins: Sequence[Any] = ()) -> Pathway:
    """Load the pathway a sample runs on (a relative file path is relative to the sample), with
    the plug-ins the sample names and then ``plugins``."""
    ref = sample.pathway
    if ref.endswith((".yaml", ".yml", ".json")) and not Path(ref).is_absolute():
        base = Path(sample.source).parent
        if (base / ref).exists():
            ref = str(base / ref)
    return load_pathway(ref, plugins=[*sample.plugins, *plugins])


def holdings(history: list[AuditEvent], pathway: Pathway, until: datetime) -> tuple[Holding, ...]:
    """Days each team has held the case up to ``until``, by the reports' own rules.

    The applied events are folded by :class:`pathway.flow.FlowState`, the same fold the holding
    report aggregates, so a trainer's walk and a governance report never disagree (a closed case
    is held by nobody until it is re-referred).
    """
    flow = FlowState(history[0].case_id if history else "")
    episodes: list[EpisodeRow] = []
    for event in history:
        if event.outcome != "applied" or event.occurred_at > until:
            continue
        closed, _opened, _handoff = flow.step(
            event.occurred_at.timestamp(), event.to_team, event.to_organisation, event.closes
        )
        if closed is not None:
            episodes.append(closed)
    if flow.open_episode is not None:
        episodes.append(flow.open_episode)
    end = until.timestamp()
    totals: dict[str, float] = {}
    for episode in episodes:
        team = episode.team or "unallocated"
        seconds = max((episode.end if episode.end is not None else end) - episode.start, 0.0)
        totals[team] = totals.get(team, 0.0) + seconds / 86400.0
    return tuple(
        Holding(team, pathway.organisation_of(team), days) for team, days in totals.items()
    )


def play(engine: Engine, sample: SampleCase, case_id: str | None = None) -> Iterator[StepOutcome]:
    """Run the sample's steps on ``engine``, yielding what happened at each.

    A step the engine refuses is recorded (as a refused audit event) and yielded, not raised; use
    :attr:`StepOutcome.as_scripted` to compare with the script.
    """
    return play_steps(engine, case_id or sample.id, sample.steps)


def play_steps(
    engine: Engine, cid: str, steps: Iterable[SampleStep], before: Case | None = None
) -> Iterator[StepOutcome]:
    """Run ``steps`` on case ``cid`` (the first opens it if its trigger is ``open``)."""
    for step in steps:
        reasons: tuple[str, ...] = ()
        checks: tuple[GuardCheck, ...] = ()
        if step.trigger == OPEN_TRIGGER:
            after = engine.open_case(cid, step.actor, at=step.when, data=step.data, note=step.note)
            applied = True
        else:
            decision = engine.check(cid, step.trigger, step.actor, at=step.when, data=step.data)
            checks = decision.checks
            try:
                after = engine.fire(
                    cid, step.trigger, step.actor, at=step.when, data=step.data, note=step.note
                )
                applied = True
            except TransitionRefused as refusal:
                after = engine.store.case(cid)
                applied, reasons = False, refusal.reasons
        history = engine.store.history(cid)
        yield StepOutcome(
            step=step,
            before=before,
            after=after,
            applied=applied,
            reasons=reasons,
            checks=checks,
            expected_refusal=step.refused,
            holdings=holdings(history, engine.pathway, step.when),
        )
        before = after


def check_sample(path: str | Path) -> SampleCase:
    """Validate a sample case file and replay it on a throw-away store.

    Raises :class:`DefinitionError` naming the step (file, line, pointer) of every step that does
    not go as scripted, and the end if the case does not finish where the script says.
    """
    doc = read_document(Path(path))
    sample = _parse(doc)
    from .store import open_store  # a throw-away store; the store package imports no samples

    engine = Engine(sample_pathway(sample), open_store(":memory:"))
    problems: list[Problem] = []
    try:
        for outcome in play(engine, sample):
            if outcome.as_scripted:
                continue
            where = pointer("steps", outcome.step.index)
            if outcome.expected_refusal is None:
                problems.append(
                    doc.problem(
                        where, f"{outcome.step.trigger} was refused: " + "; ".join(outcome.reasons)
                    )
                )
            elif outcome.applied:
                problems.append(
                    doc.problem(
                        where,
                        f"{outcome.step.trigger} was applied, but the script expects a refusal",
                    )
                )
            else:
                problems.append(
                    doc.problem(
                        where,
                        "refused for other reasons than scripted: " + "; ".join(outcome.reasons),
                    )
                )
    except PathwayError as exc:
        problems.append(doc.problem("/steps", f"the script cannot be played: {exc}"))
    if not problems:
        final = engine.store.case(sample.id)
        if (final.state, final.team) != (sample.end_state, sample.end_team):
            problems.append(
                doc.problem(
                    "/end",
                    f"the case ends in {final.state} held by {final.team}, not {sample.end_state} held by {sample.end_team}",
                )
            )
    if problems:
        raise DefinitionError(problems)
    return sample


def is_sample_document(path: str | Path) -> bool:
    """True if the file looks like a sample case (it has ``steps``) rather than a pathway."""
    doc = read_document(Path(path))
    return isinstance(doc.data, dict) and "steps" in doc.data and "transitions" not in doc.data
