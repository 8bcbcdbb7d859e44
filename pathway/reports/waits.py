"""The waits report: how long people wait, and where the pathway's time limits are broken.

* ``first_appointment``: from a case's first event to its first entry into the milestone state
  (default ``choice_appointment``), for cases that reached it in the period; and the cases still
  waiting at ``as_of`` (open, not yet there), with the days so far;
* ``over_time_limit``: stays in a state with a time limit (brief enablement: six weeks) that
  overlap the period and lasted longer than the limit (still running at ``as_of`` or ended); a
  ``return`` into the state continues the stay it interrupted, as the engine's clock does;
* ``reviews_overdue``: placements (care packages) open at ``as_of`` whose review is overdue: the
  first review is owed ``first_review_days`` (56: eight weeks) after the placement starts, each
  next one ``interval_days`` (365, or the shorter interval of its care type, e.g. residential
  care) after the last; a review is an entry into a review state of the case on or after the
  placement's first day (Care Act s27 and its statutory guidance 13.32; BEP line 152). The
  intervals are the pathway's ``reviews`` (:class:`pathway.definition.ReviewRules`);
* ``open_offers``: cases sitting in an offer state at ``as_of``: offered to a team that has not
  yet accepted or declined, with how long they have waited;
* ``time_to_help`` (with the pathway's ``governance.helping_teams``): from a referral to the first
  accepted allocation to a team that delivers work, by route of access, and the referrals still
  waiting at ``as_of`` (see :mod:`pathway.helped`); a case already helped on another route (a
  CMHT, section 117 aftercare, the IET) is not waiting for a first appointment;
* ``escalation`` (with the pathway's ``governance.escalation``): the open cases that met the
  escalation rule and have no manager's decision recorded since.

Refused transitions are listed by team and reason in ``refusals``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import attrs

from ..definition import Pathway, ReviewRules
from ..helped import CaseHelp, Escalated, Helped, HelpFold, Waiting
from ..passes import PassRules
from ..store.dialect import days_between, inline_cte, stream
from ..timeutil import format_instant, parse_instant
from .registry import DEFAULT_MILESTONE as DEFAULT_MILESTONE  # declared with its option
from .scope import Scope


@attrs.frozen
class Wait:
    """One case's wait, in days."""

    case_id: str
    days: float


@attrs.frozen
class WaitSummary:
    """Waits to reach a state: how many reached it, the median, and those still waiting."""

    reached: int
    median_days: float | None
    p90_days: float | None
    still_waiting: tuple[Wait, ...]
    waits: tuple[Wait, ...]


@attrs.frozen
class Overrun:
    """A stay in a state past its time limit: the state, when entered and left, days, and the limit."""

    case_id: str
    state: str
    entered: str
    left: str | None
    days: float
    limit_days: float


@attrs.frozen
class OverdueReview:
    """An open placement whose review is overdue at ``as_of``."""

    case_id: str
    placement_id: str
    care_type: str
    started: str  # the placement's first day
    last_review: str | None  # latest entry into a review state since it started
    due: str  # first day + first_review_days, or last review + the care type's interval
    days_overdue: float  # from due to as_of


@attrs.frozen
class OpenOffer:
    """An offer still open at ``as_of``, and how long it has waited."""

    case_id: str
    state: str
    offered_to: str
    held_by: str | None  # None: nobody holds the case meanwhile (an empty team)
    since: str
    days: float


@attrs.frozen
class Refusal:
    """A refused step in the period: the trigger, who was refused, and the reasons."""

    team: str
    reason: str
    count: int


@attrs.frozen
class RouteWaits:
    """Time to help of the referrals of one route (``None``: no route step was seen)."""

    route: str | None
    helped: int
    median_days: float | None
    p90_days: float | None
    still_waiting: int


@attrs.frozen
class TimeToHelp:
    """Referral to first accepted allocation to a helping team, overall and by route."""

    helping_teams: tuple[str, ...]
    helped: int
    median_days: float | None
    p90_days: float | None
    by_route: tuple[RouteWaits, ...]
    waits: tuple[Helped, ...]
    still_waiting: tuple[Waiting, ...]


@attrs.frozen
class EscalationList:
    """The definition's escalation rule and the open cases that met it without a decision."""

    declined_offers: int | None
    days_in_offers: float | None
    step: str
    cases: tuple[Escalated, ...]


@attrs.frozen
class WaitsReport:
    """The waits report: time to assessment and enablement, overruns, open offers, refusals, overdue reviews."""

    scope: Scope
    milestone: str
    first_appointment: WaitSummary
    over_time_limit: tuple[Overrun, ...]
    reviews_overdue: tuple[OverdueReview, ...]
    open_offers: tuple[OpenOffer, ...]
    refusals: tuple[Refusal, ...]
    time_to_help: TimeToHelp | None = None
    """None: the pathway names no helping teams."""
    escalation: EscalationList | None = None
    """None: the pathway sets no escalation rule."""

    def to_json(self) -> dict[str, Any]:
        """The report as JSON, in the shape of ``schemas/report_waits.schema.json``."""
        help_ = self.time_to_help
        rule = self.escalation
        return {
            "report": "waits",
            **self.scope.header(),
            "milestone": self.milestone,
            "first_appointment": attrs.asdict(self.first_appointment),
            "over_time_limit": [attrs.asdict(o) for o in self.over_time_limit],
            "reviews_overdue": [attrs.asdict(r) for r in self.reviews_overdue],
            "open_offers": [attrs.asdict(o) for o in self.open_offers],
            "refusals": [attrs.asdict(r) for r in self.refusals],
            "time_to_help": None
            if help_ is None
            else {
                **attrs.asdict(help_, recurse=False),
                "helping_teams": list(help_.helping_teams),
                "by_route": [attrs.asdict(r) for r in help_.by_route],
                "waits": [attrs.asdict(w) for w in help_.waits],
                "still_waiting": [attrs.asdict(w) for w in help_.still_waiting],
            },
            "escalation": None
            if rule is None
            else {
                **attrs.asdict(rule, recurse=False),
                "cases": [
                    {**attrs.asdict(c), "conditions": list(c.conditions)} for c in rule.cases
                ],
            },
        }


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    pos = q * (len(sorted_values) - 1)
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (pos - low) * (sorted_values[high] - sorted_values[low])


def _named(prefix: str, values: Iterable[str]) -> tuple[str, dict[str, str]]:
    """Named placeholders for an IN list (``NULL`` when empty) and their values."""
    names = {f"{prefix}{i}": value for i, value in enumerate(values)}
    return ", ".join(f":{name}" for name in names) or "NULL", names


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _days_between(later: str, earlier: str) -> float:
    """As :func:`pathway.store.dialect.days_between` computes it in SQL: exact microseconds."""
    us = (parse_instant(later) - parse_instant(earlier)) // timedelta(microseconds=1)
    return us / 86_400_000_000


class _CaseRow(NamedTuple):
    """One case as the waits report's per-case query gives it (columns in this order)."""

    case_id: str
    reached: str | None  # first entry into the milestone
    wait_days: float  # first event -> milestone (or as_of while not reached)
    closes: int  # the latest event closed the case
    team: str | None  # holding team after the latest event
    state: str  # state after the latest event
    last_review: str | None  # latest entry into a review state
    review_days: float  # since the last review (or the first event) at as_of
    offered: str | None  # entry into the offer state the case is in, if it is in one
    offer_days: float | None  # since then, at as_of


_APPLIED_IN_ORDER = """
    SELECT case_id, occurred_at, trigger, from_state, to_state, from_team, to_team, closes
      FROM events WHERE outcome = 'applied' AND occurred_at <= ?
     ORDER BY case_id, seq"""


def _fold_help(conn: Any, as_of: str, pathway: Pathway) -> dict[str, CaseHelp]:
    """Every case's time to help and escalation (:mod:`pathway.helped`), by case id."""
    rules = PassRules.from_pathway(pathway)
    governance = pathway.governance
    found: dict[str, CaseHelp] = {}
    fold: HelpFold | None = None
    for case_id, at, trigger, from_state, to_state, from_team, to_team, closes in stream(
        conn, _APPLIED_IN_ORDER, [as_of]
    ):
        if fold is None or fold.case_id != case_id:
            if fold is not None:
                found[fold.case_id] = fold.finish()
            fold = HelpFold(case_id, rules, governance, as_of)
        fold.step(at, trigger, from_state, to_state, from_team, to_team, bool(closes))
    if fold is not None:
        found[fold.case_id] = fold.finish()
    return found


def _time_to_help(
    pathway: Pathway, helps: Mapping[str, CaseHelp], since: str, until: str, team: str | None
) -> TimeToHelp:
    """The referrals helped in the period (by ``team``) and those waiting (held by or offered
    to ``team``), overall and by route in the definition's order (no route last)."""
    offer_to = {n: s.offer_to for n, s in pathway.states.items() if s.offer_to}
    helped = sorted(
        (
            h
            for case in helps.values()
            for h in case.helped
            if since <= h.helped <= until and (team is None or h.team == team)
        ),
        key=lambda h: (-h.days, h.case_id, h.helped),
    )
    waiting = sorted(
        (
            w
            for case in helps.values()
            if (w := case.waiting) is not None
            and (team is None or team in (w.held_by, offer_to.get(w.state)))
        ),
        key=lambda w: (-w.days, w.case_id),
    )
    routes: list[str | None] = list(dict.fromkeys(pathway.governance.routes.values()))
    if any(h.route is None for h in helped) or any(w.route is None for w in waiting):
        routes.append(None)
    by_route = []
    for route in routes:
        values = sorted(h.days for h in helped if h.route == route)
        by_route.append(
            RouteWaits(
                route,
                len(values),
                _quantile(values, 0.5),
                _quantile(values, 0.9),
                sum(1 for w in waiting if w.route == route),
            )
        )
    values = sorted(h.days for h in helped)
    return TimeToHelp(
        tuple(sorted(pathway.governance.helping_teams)),
        len(values),
        _quantile(values, 0.5),
        _quantile(values, 0.9),
        tuple(by_route),
        tuple(helped),
        tuple(waiting),
    )


def _escalation(
    pathway: Pathway, helps: Mapping[str, CaseHelp], team: str | None
) -> EscalationList | None:
    """The open cases that met the rule, earliest first (held by or offered to ``team``)."""
    rule = pathway.governance.escalation
    if rule is None:
        return None
    offer_to = {n: s.offer_to for n, s in pathway.states.items() if s.offer_to}
    cases = sorted(
        (
            e
            for case in helps.values()
            if (e := case.escalated) is not None
            and (team is None or team in (e.held_by, offer_to.get(e.state)))
        ),
        key=lambda e: (e.since, e.case_id),
    )
    return EscalationList(rule.declined_offers, rule.days_in_offers, rule.step, tuple(cases))


def waits_report(
    conn: Any,
    scope: Scope,
    pathway: Pathway | None,
    milestone: str = DEFAULT_MILESTONE,
    review_states: Iterable[str] | None = None,
    review_rules: ReviewRules | None = None,
) -> WaitsReport:
    """Compute the waits report (``pathway`` gives time limits, offer and review states, and when
    reviews are owed; ``review_rules`` replaces its ``reviews``)."""
    header = scope.header()
    as_of = header["as_of"]
    since = header["since"] or "0000"
    until = min(header["until"] or as_of, as_of)
    team = scope.team
    params: dict[str, Any] = {"as_of": as_of, "milestone": milestone}
    applied = "SELECT * FROM events WHERE outcome = 'applied' AND occurred_at <= :as_of"
    inline = inline_cte(conn)  # PostgreSQL would materialise `a` and scan it per correlated row

    # 1, 3 and 4 in one pass over the events: each case's first event, first entry into the
    # milestone, latest entry into a review state and latest event (with what it left the case
    # in), so the events are scanned once, not once a figure. A review (and an offer) is an
    # *entry* into its state: a later event that leaves the case there (an internal step, an
    # imported row with another team) is no new review, and does not restart an offer's wait.
    reviews = (
        list(review_states)
        if review_states is not None
        else list(pathway.review_states if pathway else ())
    )
    offer_states = {
        n: s.offer_to for n, s in (pathway.states.items() if pathway else []) if s.offer_to
    }
    review_marks, review_names = _named("review", reviews)
    offer_marks, offer_names = _named("offer", offer_states)
    rows = conn.execute(
        f"""
        WITH a AS {inline}({applied}),
        per_case AS (
            SELECT case_id, MIN(occurred_at) AS opened,
                   MIN(CASE WHEN to_state = :milestone THEN occurred_at END) AS reached,
                   MAX(CASE WHEN to_state IN ({review_marks})
                             AND (from_state IS NULL OR from_state != to_state)
                            THEN occurred_at END) AS last_review,
                   MAX(seq) AS last_seq
              FROM a GROUP BY case_id
        ),
        latest AS (
            SELECT p.case_id, p.opened, p.reached, p.last_review, l.closes, l.to_team,
                   l.to_state,
                   CASE WHEN l.to_state IN ({offer_marks}) THEN
                        (SELECT MAX(x.occurred_at) FROM a AS x
                          WHERE x.case_id = p.case_id AND x.seq <= p.last_seq
                            AND x.to_state = l.to_state
                            AND (x.from_state IS NULL OR x.from_state != x.to_state))
                   END AS offered
              FROM per_case AS p JOIN a AS l ON l.case_id = p.case_id AND l.seq = p.last_seq
        )
        SELECT case_id, reached, {days_between(conn, "COALESCE(reached, :as_of)", "opened")},
               closes, to_team, to_state, last_review,
               {days_between(conn, ":as_of", "COALESCE(last_review, opened)")},
               offered, {days_between(conn, ":as_of", "offered")}
          FROM latest
        """,
        {**params, **review_names, **offer_names},
    ).fetchall()
    cases = [_CaseRow(*row) for row in rows]
    governance = pathway.governance if pathway is not None else None
    helps: dict[str, CaseHelp] = {}
    if pathway is not None and governance and (governance.helping_teams or governance.escalation):
        helps = _fold_help(conn, as_of, pathway)

    # 1. First appointment.
    waits = sorted(
        (
            Wait(c.case_id, c.wait_days)
            for c in cases
            if c.reached is not None and since <= c.reached <= until
        ),
        key=lambda w: (-w.days, w.case_id),
    )
    # A case already helped (taken by a helping team: a CMHT after triage, the IET after an
    # admission) came by a route that needed no first appointment: it is not waiting for one.
    still = sorted(
        (
            Wait(c.case_id, c.wait_days)
            for c in cases
            if c.reached is None
            and not c.closes
            and not (c.case_id in helps and helps[c.case_id].ever_helped)
        ),
        key=lambda w: (-w.days, w.case_id),
    )
    values = sorted(w.days for w in waits)
    summary = WaitSummary(
        len(waits), _quantile(values, 0.5), _quantile(values, 0.9), tuple(still), tuple(waits)
    )

    # 2. Stays over a state's time limit. A stay runs from an entry into the state to the next
    # event that moves the case elsewhere or closes it, except that a `return` transition back
    # into the state (the end of an interruption, a declined offer) continues the stay it
    # interrupted: the engine restores the state's clock on such a return, so six weeks of
    # brief enablement stay six weeks however often they are interrupted, and so does the report.
    limits = {
        n: s.time_limit_days
        for n, s in (pathway.states.items() if pathway else [])
        if s.time_limit_days
    }
    returns = pathway.return_steps if pathway else frozenset()
    overruns: list[Overrun] = []
    if limits:
        marks, names = _named("limit", limits)
        stays: list[list[Any]] = []  # [case_id, state, entered, left, team], in case order
        latest: dict[tuple[str, str], list[Any]] = {}  # (case, state) -> its newest stay
        for cid, state, entered, left, held_by, trigger, came_from in conn.execute(
            f"""
            WITH a AS {inline}({applied})
            SELECT e.case_id, e.to_state, e.occurred_at,
                   (SELECT MIN(x.occurred_at) FROM a AS x
                     WHERE x.case_id = e.case_id AND x.seq > e.seq
                       AND (x.to_state != e.to_state OR x.closes = 1)),
                   e.to_team, e.trigger, e.from_state
              FROM a AS e
             WHERE e.to_state IN ({marks})
               AND (e.from_state IS NULL OR e.from_state != e.to_state)
             ORDER BY e.case_id, e.seq
            """,
            {**params, **names},
        ):
            resumed = latest.get((cid, state))
            if resumed is not None and (trigger, came_from) in returns:
                resumed[3] = left  # the interrupted stay goes on to this part's end
                continue
            stay = [cid, state, entered, left, held_by]
            latest[(cid, state)] = stay
            stays.append(stay)
        for cid, state, entered, left, held_by in stays:
            if team is not None and held_by != team:
                continue
            end = left or as_of
            if end < since or entered > until:
                continue
            days = _days_between(end, entered)
            if days > limits[state]:
                overruns.append(Overrun(cid, state, entered, left, days, float(limits[state])))
    overruns.sort(key=lambda o: (-o.days, o.case_id))

    # 3. Reviews overdue, per placement open at as_of (on a case held by the team, with one).
    rules = review_rules or (pathway.reviews if pathway else ReviewRules())
    overdue = _reviews_overdue(conn, scope, as_of, reviews, rules, cases, team)

    # 4. Offers not yet accepted or declined (held by or offered to the team, with one).
    offers = sorted(
        (
            OpenOffer(
                c.case_id, c.state, str(offer_states[c.state]), c.team, c.offered, c.offer_days
            )
            for c in cases
            if c.offered is not None
            and c.offer_days is not None  # (the two are null together)
            and (team is None or team in (c.team, offer_states[c.state]))
        ),
        key=lambda o: (-o.days, o.case_id),
    )

    # 5. Refusals in the period, by acting team and reason.
    counts: dict[tuple[str, str], int] = {}
    for actor_team, reasons in conn.execute(
        "SELECT actor_team, reasons FROM events WHERE outcome = 'refused' "
        "AND occurred_at >= ? AND occurred_at <= ?" + (" AND actor_team = ?" if team else ""),
        [since, until, *([team] if team else [])],
    ):
        for reason in json.loads(reasons):
            counts[(actor_team, reason)] = counts.get((actor_team, reason), 0) + 1
    refusals = tuple(
        Refusal(t, r, n) for (t, r), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return WaitsReport(
        scope,
        milestone,
        summary,
        tuple(overruns),
        tuple(overdue),
        tuple(offers),
        refusals,
        None
        if pathway is None or not pathway.governance.helping_teams
        else _time_to_help(pathway, helps, since, until, team),
        None if pathway is None else _escalation(pathway, helps, team),
    )


def _reviews_overdue(
    conn: Any,
    scope: Scope,
    as_of: str,
    reviews: list[str],
    rules: ReviewRules,
    cases: list[_CaseRow],
    team: str | None,
) -> tuple[OverdueReview, ...]:
    """Open placements (as known at ``as_of``) whose first or next review is overdue.

    A placement is open at ``as_of`` if it has begun by then and a period known then has no end
    or ends on or after that day. Its reviews are the case's entries into a review state at or
    before ``as_of`` on or after the placement's first day (UTC dates of the events). Only the
    placements of cases open at ``as_of`` count: a closed case owes no review.
    """
    holders = {c.case_id: c.team for c in cases if not c.closes}
    today = scope.as_of.astimezone(UTC).date().toordinal()
    placed: dict[tuple[str, str], list[Any]] = {}
    for case_id, pid, care_type, start_day, open_ in conn.execute(
        """SELECT case_id, placement_id, MIN(care_type), MIN(start_day),
                  MAX(CASE WHEN end_day IS NULL OR end_day >= :today THEN 1 ELSE 0 END)
             FROM placement_periods
            WHERE known_from <= :as_of_ts AND (known_until IS NULL OR known_until > :as_of_ts)
            GROUP BY case_id, placement_id""",
        {"today": today, "as_of_ts": scope.as_of.timestamp()},
    ):
        held = case_id in holders and (team is None or holders[case_id] == team)
        if open_ and start_day <= today and held:
            placed[(case_id, pid)] = [care_type, start_day]
    if not placed:
        return ()
    marks, names = _named("review", reviews)
    entries: dict[str, list[str]] = {}
    for case_id, at in conn.execute(
        f"""SELECT case_id, occurred_at FROM events
             WHERE outcome = 'applied' AND occurred_at <= :as_of AND to_state IN ({marks})
               AND (from_state IS NULL OR from_state != to_state)""",
        {"as_of": as_of, **names},
    ):
        entries.setdefault(case_id, []).append(at)
    found = []
    for (case_id, pid), (care_type, start_day) in placed.items():
        started = datetime.fromordinal(start_day).replace(tzinfo=UTC)
        since = [
            at
            for at in entries.get(case_id, [])
            if parse_instant(at).date().toordinal() >= start_day
        ]
        last = max(since, key=parse_instant) if since else None
        if last is None:
            due = started + timedelta(days=rules.first_review_days)
        else:
            due = parse_instant(last) + timedelta(days=rules.interval_for(care_type))
        late = (scope.as_of - due) / timedelta(days=1)
        if late > 0:
            found.append(
                OverdueReview(
                    case_id=case_id,
                    placement_id=pid,
                    care_type=care_type,
                    started=started.date().isoformat(),
                    last_review=last,
                    due=format_instant(due),
                    days_overdue=late,
                )
            )
    return tuple(sorted(found, key=lambda r: (-r.days_overdue, r.case_id, r.placement_id)))
