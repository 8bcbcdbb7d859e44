"""The S75 report: time under council and under trust responsibility, and crossings between them.

* ``by_organisation``: the days of holding episodes inside the period, by the holding team's
  organisation, and the cases each organisation held (unallocated time is not anyone's);
* ``crossings``: S75 crossings (handoffs between teams of different organisations) in the period,
  by direction;
* ``cases_over_threshold``: cases whose responsibility crossed the boundary more than
  ``threshold`` times in the period, most first, with their crossings;
* ``functions`` (with a pathway that declares ``statutory_functions``, else ``None``): per
  statutory function, the applied events of its triggers in the period by acting team and that
  team's organisation, and how many were carried out inside an organisation other than the one
  whose duty it is: the council's functions done inside trust teams, and the trust's inside the
  council's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidRequest
from ..timeutil import format_instant, to_utc
from .registry import DEFAULT_THRESHOLD as DEFAULT_THRESHOLD  # declared with its option
from .scope import Scope
from .sql import CASES_OF_TEAM, clipped_episodes, days_of_us, sum_us, us_total

if TYPE_CHECKING:
    from ..definition import Pathway


@attrs.frozen
class OrganisationTime:
    """Days an organisation's teams held cases in the period, and how many cases."""

    organisation: str
    days: float
    cases: int


@attrs.frozen
class Crossing:
    """Handoffs from one organisation to the other in the period (S75 crossings)."""

    from_organisation: str
    to_organisation: str
    count: int


@attrs.frozen
class CaseCrossings:
    """A case that crossed between organisations more often than the threshold."""

    case_id: str
    crossings: int


@attrs.frozen
class FunctionTotal:
    """One statutory function's events and cases in the period, and those done inside the other
    organisation (whose organisation is known and is not ``duty_of``)."""

    function: str
    name: str
    duty_of: str
    reference: str
    events: int
    cases: int
    events_inside_other_organisation: int
    cases_inside_other_organisation: int


@attrs.frozen
class FunctionByTeam:
    """One statutory function carried out by one acting team in the period.

    ``team`` is ``None`` for events that name no acting team (an imported row with an empty
    team); ``inside_other_organisation`` is ``None`` when the organisation is not known.
    """

    function: str
    team: str | None
    organisation: str
    events: int
    cases: int
    inside_other_organisation: bool | None


@attrs.frozen
class StatutoryFunctions:
    """The statutory functions carried out in the period: totals, and by acting team."""

    totals: tuple[FunctionTotal, ...]
    by_team: tuple[FunctionByTeam, ...]


@attrs.frozen
class S75Report:
    """The S75 report: time by organisation, crossings between them, cases crossing often, statutory functions."""

    scope: Scope
    threshold: int
    by_organisation: tuple[OrganisationTime, ...]
    crossings: tuple[Crossing, ...]
    cases_over_threshold: tuple[CaseCrossings, ...]
    functions: StatutoryFunctions | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as JSON, in the shape of ``schemas/report_s75.schema.json``."""
        return {
            "report": "s75",
            **self.scope.header(),
            "threshold": self.threshold,
            "by_organisation": [attrs.asdict(o) for o in self.by_organisation],
            "crossings": [attrs.asdict(c) for c in self.crossings],
            "cases_over_threshold": [attrs.asdict(c) for c in self.cases_over_threshold],
            "functions": None
            if self.functions is None
            else {
                "totals": [attrs.asdict(t) for t in self.functions.totals],
                "by_team": [attrs.asdict(t) for t in self.functions.by_team],
            },
        }


def s75_report(
    conn: Any, scope: Scope, threshold: int = DEFAULT_THRESHOLD, pathway: Pathway | None = None
) -> S75Report:
    """Compute the S75 report inside the database.

    With a ``pathway`` that declares statutory functions, the report has its ``functions``
    section (see :func:`statutory_functions`); without one that section is ``None``.

    Raises :class:`InvalidRequest` for a negative ``threshold`` (the CLI refuses one too): the
    report's JSON schema, and any reader of it, expect a count.
    """
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 0:
        raise InvalidRequest(
            f"threshold must be a whole number of crossings, 0 or more: {threshold!r}"
        )
    params = scope.params()
    team_filter = f" AND case_id IN ({CASES_OF_TEAM})" if scope.team is not None else ""
    totals = [
        (org, us_total(whole, micros), cases)
        for org, whole, micros, cases in conn.execute(
            f"""SELECT organisation, {sum_us("seconds")}, COUNT(DISTINCT case_id)
                  FROM ({clipped_episodes(conn)}{team_filter}) AS clipped WHERE team IS NOT NULL
                 GROUP BY organisation""",
            params,
        )
    ]
    by_org = tuple(
        OrganisationTime(org, days_of_us(us), cases)
        for org, us, cases in sorted(totals, key=lambda t: (-t[1], t[0] is not None, t[0] or ""))
    )
    crossing_rows = f"""
        SELECT * FROM handoffs
         WHERE crossing = 1 AND at BETWEEN :wstart AND :wend{team_filter}
    """
    crossings = tuple(
        Crossing(a or "unknown", b or "unknown", n)
        for a, b, n in conn.execute(
            f"""SELECT from_organisation, to_organisation, COUNT(*) FROM ({crossing_rows}) AS h
                 GROUP BY from_organisation, to_organisation
                 ORDER BY COUNT(*) DESC, from_organisation NULLS FIRST,
                          to_organisation NULLS FIRST""",
            params,
        )
    )
    over = tuple(
        CaseCrossings(case_id, n)
        for case_id, n in conn.execute(
            f"""SELECT case_id, COUNT(*) AS n FROM ({crossing_rows}) AS h
                 GROUP BY case_id HAVING COUNT(*) > :threshold ORDER BY n DESC, case_id""",
            {**params, "threshold": threshold},
        )
    )
    functions = (
        statutory_functions(conn, scope, pathway)
        if pathway is not None and pathway.statutory_functions
        else None
    )
    return S75Report(scope, threshold, by_org, crossings, over, functions)


def _acting_organisation(pathway: Pathway) -> tuple[str, dict[str, Any]]:
    """SQL for the organisation of an event's acting team, and its parameters.

    An imported row names no acting team apart from its ``team`` column, so its organisation is
    the row's (the ``organisation`` column if given, else the pathway's, else ``unknown``: the
    event's ``to_organisation``). The engine's events take the pathway's organisation of the
    actor's team; a team the pathway does not know is ``unknown``.
    """
    params: dict[str, Any] = {}
    whens = []
    for i, (team, spec) in enumerate(pathway.teams.items()):
        params[f"sf_team{i}"], params[f"sf_org{i}"] = team, spec.organisation
        whens.append(f" WHEN actor_team = :sf_team{i} THEN :sf_org{i}")
    sql = (
        "CASE WHEN imported = 1 THEN COALESCE(to_organisation, 'unknown')"
        f"{''.join(whens)} ELSE 'unknown' END"
    )
    return sql, params


def statutory_functions(conn: Any, scope: Scope, pathway: Pathway) -> StatutoryFunctions:
    """Each statutory function's applied events in the period, by acting team and organisation.

    An event carries a function out when it is applied, its trigger is one of the function's, and
    it happened in the period (``since`` to the earlier of ``until`` and ``as_of``, both
    inclusive). The acting team is the event's ``actor_team`` (an imported row's ``team``); an
    event is **inside the other organisation** when that team's organisation is known and is not
    the function's ``duty_of``. With a team, only the cases of that team (as the rest of the
    report). One pass over the events: the function of each trigger is a small table joined in.
    """
    declared = list(pathway.statutory_functions.values())
    org_sql, params = _acting_organisation(pathway)
    triples = [(f.id, trigger, f.duty_of) for f in declared for trigger in f.triggers]
    mapping = " UNION ALL ".join(
        f"SELECT :sf_f{i} AS function_id, :sf_t{i} AS function_trigger, :sf_d{i} AS duty"
        for i in range(len(triples))
    )
    for i, (function_id, trigger, duty) in enumerate(triples):
        params[f"sf_f{i}"], params[f"sf_t{i}"], params[f"sf_d{i}"] = function_id, trigger, duty
    end = to_utc(scope.as_of)
    if scope.until is not None:
        end = min(end, to_utc(scope.until))
    params["sf_end"] = format_instant(end)
    since = ""
    if scope.since is not None:
        params["sf_start"] = format_instant(scope.since)
        since = " AND e.occurred_at >= :sf_start"
    team_filter = f" AND e.case_id IN ({CASES_OF_TEAM})" if scope.team is not None else ""
    rows = conn.execute(
        f"""WITH done AS (
                SELECT fn.function_id, e.case_id, NULLIF(e.actor_team, '') AS team,
                       {org_sql} AS organisation, fn.duty
                  FROM events AS e JOIN ({mapping}) AS fn ON e.trigger = fn.function_trigger
                 WHERE e.outcome = 'applied' AND e.occurred_at <= :sf_end{since}{team_filter}
            )
            SELECT 'team', function_id, team, organisation, duty, COUNT(*),
                   COUNT(DISTINCT case_id)
              FROM done GROUP BY function_id, team, organisation, duty
            UNION ALL
            SELECT 'all', function_id, NULL, NULL, NULL, COUNT(*), COUNT(DISTINCT case_id)
              FROM done GROUP BY function_id
            UNION ALL
            SELECT 'inside', function_id, NULL, NULL, NULL, COUNT(*), COUNT(DISTINCT case_id)
              FROM done WHERE organisation <> 'unknown' AND organisation <> duty
             GROUP BY function_id""",
        {**scope.params(), **params},
    ).fetchall()
    totals: dict[tuple[str, str], tuple[int, int]] = {}
    teams: list[FunctionByTeam] = []
    for kind, function_id, team, organisation, duty, events, cases in rows:
        if kind == "team":
            inside = None if organisation == "unknown" else organisation != duty
            teams.append(FunctionByTeam(function_id, team, organisation, events, cases, inside))
        else:
            totals[(kind, function_id)] = (int(events), int(cases))
    order = {f.id: i for i, f in enumerate(declared)}
    teams.sort(key=lambda t: (order[t.function], -t.events, t.team is None, t.team or "",
                              t.organisation))  # fmt: skip
    return StatutoryFunctions(
        tuple(
            FunctionTotal(
                f.id,
                f.name,
                f.duty_of,
                f.reference,
                *totals.get(("all", f.id), (0, 0)),
                *totals.get(("inside", f.id), (0, 0)),
            )
            for f in declared
        ),
        tuple(teams),
    )
