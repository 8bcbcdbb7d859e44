"""The activity report: what the pathway did in a period, against the plan.

Each stage of the plan (by default the Barnet business case's Table 15, shipped as
``pathway/data/activity_plan.yaml``; replace it with ``--plan``) counts the applied events in the
period that *entered* one of its states (a move from another state into it), or that fired one of
its triggers. The yearly plan is prorated to the period: ``plan * days in period / 365``. Without
``--since`` the period is the year up to the window's end.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from ..definition import Pathway
from ..errors import InvalidRequest
from ..timeutil import format_instant, to_utc
from ..validation import validate_document
from ..yamlsource import parse_document, read_document
from .scope import DAY, Scope

DEFAULT_PLAN = "activity_plan.yaml"


@attrs.frozen
class Stage:
    """One stage of an activity plan: its planned count a year (and upper bound), and the states entered or triggers fired that count as it."""

    stage: str
    plan_per_year: float
    states: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    plan_high: float | None = None


@attrs.frozen
class Plan:
    """An activity plan (``load_plan``): the stages the business case planned for a year, and where the plan came from."""

    source: str
    stages: tuple[Stage, ...]


@attrs.frozen
class StageActivity:
    """One stage's actual count in the period against its plan (scaled to the period), and their ratio."""

    stage: str
    actual: int
    plan: float
    plan_high: float | None
    ratio: float | None


@attrs.frozen
class ActivityReport:
    """The activity report: each stage's actual count in the period against the plan."""

    scope: Scope
    period_days: float
    plan_source: str
    stages: tuple[StageActivity, ...]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON, in the shape of ``schemas/report_activity.schema.json``."""
        return {
            "report": "activity",
            **self.scope.header(),
            "period_days": self.period_days,
            "plan_source": self.plan_source,
            "stages": [attrs.asdict(s) for s in self.stages],
        }


def load_plan(path: str | Path | None = None) -> Plan:
    """The activity plan: the shipped Table 15, or a YAML file (schemas/activity_plan.schema.json)."""
    if path is None:
        text = resources.files("pathway.data").joinpath(DEFAULT_PLAN).read_text("utf-8")
        doc = parse_document(text, f"shipped {DEFAULT_PLAN}")
    else:
        doc = read_document(Path(path))
    validate_document(doc, "activity_plan")
    stages = tuple(
        Stage(
            stage=item["stage"],
            plan_per_year=float(item["plan"]),
            states=tuple(item.get("states", ())),
            triggers=tuple(item.get("triggers", ())),
            plan_high=float(item["plan_high"]) if "plan_high" in item else None,
        )
        for item in doc.data["stages"]
    )
    return Plan(str(doc.data.get("source", doc.name)), stages)


def activity_report(
    conn: Any, scope: Scope, plan: Plan | None = None, pathway: Pathway | None = None
) -> ActivityReport:
    """Count entries into each stage's states (or its triggers) in the period, against the plan.

    With the ``pathway``, an event of one of its ``return`` transitions (the end of an
    interruption, a declined offer) is no entry: it takes the case back to a stay it had already
    begun (one enablement package, however often it was interrupted), as the engine's clock and
    the waits report count it. Without one, every move into a state is an entry.
    """
    chosen = plan or load_plan()
    returns = sorted(pathway.return_steps) if pathway is not None else []
    returns_sql = "".join(
        " AND (from_state IS NULL OR NOT (trigger = ? AND from_state = ?))" for _ in returns
    )
    returns_args = [value for pair in returns for value in pair]
    end = to_utc(scope.until) if scope.until is not None else to_utc(scope.as_of)
    end = min(end, to_utc(scope.as_of))
    start = to_utc(scope.since) if scope.since is not None else end - timedelta(days=365)
    period_days = max((end - start).total_seconds() / DAY, 0.0)
    if period_days == 0:
        raise InvalidRequest("the period is empty: --since must be before --until and --as-of")
    bounds = [format_instant(start), format_instant(end)]
    team_sql = " AND actor_team = ?" if scope.team else ""
    team_arg = [scope.team] if scope.team else []
    results = []
    for stage in chosen.stages:
        clauses = []
        args: list[Any] = []
        if stage.states:
            marks = ", ".join("?" * len(stage.states))
            clauses.append(
                f"(to_state IN ({marks}) AND (from_state IS NULL OR from_state != to_state)"
                f"{returns_sql})"
            )
            args.extend(stage.states)
            args.extend(returns_args)
        if stage.triggers:
            marks = ", ".join("?" * len(stage.triggers))
            clauses.append(f"trigger IN ({marks})")
            args.extend(stage.triggers)
        actual = conn.execute(
            "SELECT COUNT(*) FROM events WHERE outcome = 'applied' AND occurred_at >= ? "
            f"AND occurred_at <= ? AND ({' OR '.join(clauses) or '1 = 0'}){team_sql}",
            [*bounds, *args, *team_arg],
        ).fetchone()[0]
        planned = stage.plan_per_year * period_days / 365.0
        high = stage.plan_high * period_days / 365.0 if stage.plan_high is not None else None
        results.append(
            StageActivity(stage.stage, actual, planned, high, actual / planned if planned else None)
        )
    return ActivityReport(scope, period_days, chosen.source, tuple(results))
