"""Everything the dashboard shows, gathered from the report functions in one call.

:func:`dashboard_data` runs the governance reports (caseload, handoffs, holding, s75, waits,
activity, monthly) for one :class:`~pathway.reports.Scope`, inside one read transaction, so every
figure on the page comes from the same snapshot of the store even while others write to it; and
it verifies the audit chain (or reads its head) in that same snapshot. The page never queries the
store itself: each figure it shows is a field of these report records, or arithmetic on them that
is stated with the figure (:meth:`DashboardData.headline`).

Nothing here needs the charting library; :mod:`pathway.dashboard.page` renders the record.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ..audit import Checkpoint
from ..definition import Pathway
from ..errors import InvalidRequest
from ..reports import (
    ActivityReport,
    CaseloadReport,
    FundingReport,
    HandoffsReport,
    HoldingReport,
    MonthlyReport,
    Plan,
    S75Report,
    Scope,
    UnitCosts,
    WaitsReport,
)
from ..reports.activity import load_plan
from ..reports.coverage import (
    IMPORT_SOURCES_KEY,
    Basis,
    DataFacts,
    StaleNotice,
    activity_basis,
    data_facts,
    data_title,
    first_appointment_basis,
    months_of_data,
    offer_basis,
    read_import_sources,
    rests_on,
    review_basis,
    stale_notice_for,
    time_limit_basis,
)
from ..reports.handoffs import CaseHandoffs
from ..reports.monthly import MonthCounts
from ..reports.registry import BUILTIN_REPORTS, DEFAULT_MILESTONE, DEFAULT_THRESHOLD
from ..reports.scope import check_team
from ..store.base import Store
from ..store.dialect import begin_snapshot
from ..timeutil import Clock, system_clock

DEFAULT_TOP = 10
"""How many of the most passed-around cases (and of each list of cases) the page shows."""


def _passed(case: CaseHandoffs) -> bool:
    """Whether a case was passed on, waited between teams or was handed on at all."""
    return case.handoffs > 0 or bool(case.passes) or bool(case.days_between_teams)


@attrs.frozen
class AuditTrail:
    """The audit chain behind the figures: its head, and whether this run verified it.

    ``verified`` is ``None`` when the run did not verify (``--no-verify``), else whether the whole
    chain recomputed and every case row, closed episode and handoff matched what the events give
    (``store.verify()``); ``events_checked``, ``cases_checked`` and ``problem`` are those of the
    verification.
    """

    head: Checkpoint
    verified: bool | None
    events_checked: int | None = None
    problem: str | None = None
    cases_checked: int | None = None


@attrs.frozen
class HeadlineFigure:
    """One headline number: ``value`` is exact (``None``: cannot be known), ``text`` as shown."""

    key: str
    label: str
    value: float | str | None
    """A number, or money as the reports give it: text of pounds with two decimals."""
    text: str
    unit: str
    note: str
    source: str
    """Where it comes from, in the reports' JSON terms (e.g. ``waits.reviews_overdue (count)``)."""


@attrs.frozen
class OrganisationInfo:
    """An organisation of the pathway: its id, full name and side of the S75 (its ``kind``)."""

    id: str
    name: str
    kind: str


KIND_WORDS = {"council": "council", "nhs_trust": "NHS trust"}


@attrs.frozen
class TimeLimit:
    """A state's time limit in days (an overrun is a stay longer than this)."""

    state: str
    days: float


@attrs.frozen
class DashboardData:
    """Every figure of one dashboard: the scope, the report records and the audit trail."""

    scope: Scope
    generated_at: datetime
    pathway_id: str | None
    pathway_title: str | None
    pathway_version: str | None
    organisations: tuple[OrganisationInfo, ...]
    time_limits: tuple[TimeLimit, ...]
    caseload: CaseloadReport
    handoffs: HandoffsReport
    holding: HoldingReport
    s75: S75Report
    waits: WaitsReport
    activity: ActivityReport
    monthly: MonthlyReport
    audit: AuditTrail
    top: int = DEFAULT_TOP
    funding: FundingReport | None = None
    """The funding report where placements exist (see :func:`dashboard_data`), else None."""
    facts: DataFacts | None = None
    """What the store's events hold (states, triggers, imports, first and newest event)."""
    title: str | None = None
    """What the data is (:func:`~pathway.reports.coverage.data_title`); None: the pathway's."""
    stale: StaleNotice | None = None
    """Set when the newest event is long before as-of (the page's notice)."""
    hidden: dict[str, str] = attrs.field(factory=dict)
    """Figures the data cannot support (``first_appointment``, ``over_time_limit``,
    ``reviews_overdue``, ``offers``, ``activity``), each with the sentence shown instead."""

    @property
    def has_pathway(self) -> bool:
        """Whether a pathway was known: without one, time limits, reviews and offers are unknown."""
        return self.pathway_id is not None

    def shows(self, figure: str) -> bool:
        """Whether the data has the states ``figure`` rests on (see :attr:`hidden`)."""
        return figure not in self.hidden

    def data_title(self) -> str:
        """The page's title line: what the data is."""
        return self.title or self.pathway_title or "Pathway: none recorded in the store"

    def chart_months(self) -> tuple[MonthCounts, ...]:
        """The monthly report's months that the data reaches (not empty months up to as-of)."""
        if self.facts is None:
            return self.monthly.months
        return months_of_data(self.monthly.months, self.facts)

    def most_passed(self) -> tuple[CaseHandoffs, ...]:
        """The ``top`` most passed-around cases (the handoffs report's order: by passes and days
        between teams with a pathway, by handoffs without), each passed, waiting or handed on."""
        return tuple(c for c in self.handoffs.by_case[: self.top] if _passed(c))

    def passed_around(self) -> int:
        """How many cases in scope were passed on, waited between teams or were handed on (the
        cases :meth:`most_passed` lists the first of)."""
        return sum(1 for c in self.handoffs.by_case if _passed(c))

    def headline(self) -> tuple[HeadlineFigure, ...]:
        """The headline figures, each taken from one report record (see ``source``)."""
        handed = self.handoffs
        waits = self.waits
        first = waits.first_appointment
        per_case = handed.handoffs / handed.cases if handed.cases else None
        known = self.has_pathway
        limits = ", ".join(f"{_words(t.state)} {_days(t.days)}" for t in self.time_limits)
        if len(self.time_limits) == 1:
            only = self.time_limits[0]
            limit_label = f"{_words(only.state).capitalize()} over {_days(only.days)}"
        else:
            limit_label = "Stays over a time limit"
        milestone = _words(waits.milestone)
        figures = (
            _count(
                "open_cases",
                "Open cases",
                self.caseload.open_cases,
                None,
                f"held by a team: {self.caseload.open_cases - self.caseload.unallocated:,}; "
                f"unallocated: {self.caseload.unallocated:,}",
                "caseload.open_cases",
            ),
            HeadlineFigure(
                "handoffs_per_case",
                "Handoffs per case",
                per_case,
                "n/a" if per_case is None else f"{per_case:.2f}",
                "",
                f"{handed.handoffs:,} handoffs between teams over {handed.cases:,} cases in scope",
                "handoffs.handoffs / handoffs.cases",
            ),
            _count(
                "passes",
                "Passes",
                handed.passes,
                None,
                f"{handed.offers_declined:,} declined offers and {handed.ping_pongs:,} transfers "
                "sent straight back; never the first allocation from the front door, never an "
                "interruption"
                if handed.passes is not None
                else "needs the pathway (offers and interruptions are its own)",
                "handoffs.passes",
            ),
            HeadlineFigure(
                "days_between_teams",
                "Days waiting between teams",
                None,
                "n/a",
                "",
                self.hidden["offers"],
                "handoffs.days_between_teams",
            )
            if self.hidden.get("offers")
            else HeadlineFigure(
                "days_between_teams",
                "Days waiting between teams",
                handed.days_between_teams,
                "n/a" if handed.days_between_teams is None else f"{handed.days_between_teams:,.1f}",
                "" if handed.days_between_teams is None else "days",
                f"time cases spent offered to a team that had not yet accepted; "
                f"{handed.offers:,} offers to another team"
                if handed.offers is not None
                else "needs the pathway (offers are its own)",
                "handoffs.days_between_teams",
            ),
            _count(
                "ping_pongs",
                "Ping-pongs",
                handed.ping_pongs,
                None,
                "transfers straight back to the team that had just passed the case on "
                "(interruptions such as safeguarding are not transfers)"
                if handed.passes is not None
                else "cases sent straight back to the team that had just passed them on",
                "handoffs.ping_pongs",
            ),
            _count(
                "s75_crossings",
                "S75 crossings",
                handed.s75_crossings,
                None,
                "handoffs between teams of different organisations",
                "handoffs.s75_crossings",
            ),
            _hidden(
                "median_wait_days",
                f"Median wait, referral to first {milestone}",
                "waits.first_appointment.median_days",
                self.hidden.get("first_appointment"),
            )
            or HeadlineFigure(
                "median_wait_days",
                f"Median wait, referral to first {milestone}",
                first.median_days,
                "none" if first.median_days is None else f"{first.median_days:.1f}",
                "" if first.median_days is None else "days",
                f"{first.reached:,} reached it in the period; "
                f"{len(first.still_waiting):,} open cases still waiting",
                "waits.first_appointment.median_days",
            ),
            _count(
                "over_time_limit",
                limit_label,
                len(waits.over_time_limit) if known else None,
                self.hidden.get("over_time_limit"),
                (
                    "stays longer than the limit, ended or still running in the period"
                    if len(self.time_limits) == 1
                    else f"stays longer than their limit ({limits}), ended or still running "
                    "in the period"
                )
                if self.time_limits
                else "the pathway sets no time limits",
                "waits.over_time_limit (count)",
            ),
            _count(
                "reviews_overdue",
                "Overdue reviews",
                len(waits.reviews_overdue) if known else None,
                self.hidden.get("reviews_overdue"),
                "open cases not reviewed for more than a year (Care Act s27)",
                "waits.reviews_overdue (count)",
            ),
            _count(
                "open_offers",
                "Open handoff offers",
                len(waits.open_offers) if known else None,
                self.hidden.get("offers"),
                "cases offered to a team that has neither accepted nor declined",
                "waits.open_offers (count)",
            ),
        )
        return figures + self._help_headline() + self._funding_headline()

    def _help_headline(self) -> tuple[HeadlineFigure, ...]:
        """Time to help and the escalation list, where the pathway defines them."""
        found: list[HeadlineFigure] = []
        help_ = self.waits.time_to_help
        if help_ is not None:
            found.append(
                HeadlineFigure(
                    "median_time_to_help_days",
                    "Median time to help",
                    help_.median_days,
                    "none" if help_.median_days is None else f"{help_.median_days:.1f}",
                    "" if help_.median_days is None else "days",
                    f"referral to first accepted allocation to a team that delivers work; "
                    f"{help_.helped:,} helped in the period, "
                    f"{len(help_.still_waiting):,} open referrals still waiting",
                    "waits.time_to_help.median_days",
                )
            )
        rule = self.waits.escalation
        if rule is not None:
            found.append(
                _count(
                    "escalations_due",
                    "Cases to escalate",
                    len(rule.cases),
                    None,
                    f"met the escalation rule ({_rule_words(rule.declined_offers, rule.days_in_offers)}) "
                    f"with no {rule.step} decision recorded since",
                    "waits.escalation.cases (count)",
                )
            )
        return tuple(found)

    def _funding_headline(self) -> tuple[HeadlineFigure, ...]:
        """Spend on placements and the size of the scrutiny list, where placements exist."""
        funding = self.funding
        if funding is None:
            return ()
        funders = funding.by_funder
        return (
            HeadlineFigure(
                "placement_spend",
                "Spend on placements",
                funding.spend,
                pounds(funding.spend),
                "",
                f"council {pounds(funders['council'])}, NHS {pounds(funders['nhs'])}, "
                f"the person {pounds(funders['person'])}",
                "funding.spend",
            ),
            _count(
                "scrutiny_items",
                "Placements to scrutinise",
                len(funding.scrutiny),
                None,
                "placement and rule pairs for the budget scrutiny board (e.g. council-funded "
                "without an eligibility decision)",
                "funding.scrutiny (count)",
            ),
        )

    def organisation_label(self, organisation: str | None) -> str:
        """A short label: the id and the pathway's side of the S75, e.g. ``lbb (council)``."""
        if organisation is None:
            return "unallocated"
        for known in self.organisations:
            if known.id == organisation and known.kind in KIND_WORDS:
                return f"{organisation} ({KIND_WORDS[known.kind]})"
        return organisation


MINUS = "\u2212"


def pounds(amount: str) -> str:
    """Money as the reports give it (``"-1234.5"``) as shown: ``£1,234.50`` after a minus sign."""
    value = Decimal(amount)
    return f"{MINUS if value < 0 else ''}£{abs(value):,.2f}"


def _rule_words(declined: int | None, days: float | None) -> str:
    """The escalation rule in words: ``2 declined offers or 14 days in offers``."""
    parts = []
    if declined is not None:
        parts.append(f"{declined} declined offers")
    if days is not None:
        parts.append(f"{days:g} days in offers")
    return " or ".join(parts)


def _words(name: str) -> str:
    return name.replace("_", " ")


def _days(days: float) -> str:
    text = f"{days:g} days"
    if days % 7 == 0:
        text += f" ({days / 7:g} weeks)"
    return text


def _hidden(key: str, label: str, source: str, absent: str | None) -> HeadlineFigure | None:
    """The figure shown as "n/a" with why, when the data has none of the states it rests on."""
    if absent is None:
        return None
    return HeadlineFigure(key, label, None, "n/a", "", absent, source)


def _count(
    key: str, label: str, value: int | None, absent: str | None, note: str, source: str
) -> HeadlineFigure:
    if absent is not None and value is not None:
        return HeadlineFigure(key, label, None, "n/a", "", absent, source)
    if value is None:
        return HeadlineFigure(key, label, None, "n/a", "", "needs the store's pathway", source)
    return HeadlineFigure(key, label, value, f"{value:,}", "", note, source)


@contextmanager
def _snapshot(conn: Any) -> Iterator[None]:
    """Read everything in one transaction, so all reports see the same moment of the store."""
    if conn.in_transaction:
        yield
        return
    conn.execute(begin_snapshot(conn))
    try:
        yield
    finally:
        conn.execute("ROLLBACK")  # nothing was written to the store; temp tables are dropped


def _run(conn: Any, scope: Scope, pathway: Pathway | None, name: str, **options: Any) -> Any:
    """Built-in report ``name`` from the registry (the page is laid out for those reports)."""
    return BUILTIN_REPORTS[name].run(conn, scope, pathway, **options)


def dashboard_data(
    store: Store,
    scope: Scope,
    pathway: Pathway | None = None,
    *,
    verify: bool = True,
    plan: Plan | None = None,
    milestone: str = DEFAULT_MILESTONE,
    threshold: int = DEFAULT_THRESHOLD,
    top: int = DEFAULT_TOP,
    budget_pence: int | None = None,
    unit_costs: UnitCosts | None = None,
    clock: Clock = system_clock,
) -> DashboardData:
    """Run the reports the dashboard shows for ``scope`` and, unless told not to, verify the chain.

    ``pathway`` (usually the store's) gives time limits, offer and review states and the
    organisations' names; without it those figures are unknown. ``plan`` is the activity plan
    (default: the business case's Table 15). The funding report (with ``budget_pence`` and
    ``unit_costs``, default Table 13) is kept where placements exist: a placement has a day in the
    period, or one is on the scrutiny list, or a budget was given. Raises
    :class:`InvalidRequest` for a team no event of the store names, and for an empty period.
    """
    if top < 1:
        raise InvalidRequest("top must be at least 1")
    conn = store.connection
    with _snapshot(conn):
        if scope.team is not None:
            check_team(conn, scope.team, pathway)
        # Each report through the registry, as `pathway report NAME` runs it.
        run = functools.partial(_run, conn, scope, pathway)
        activity: ActivityReport = run("activity", plan=plan)
        caseload: CaseloadReport = run("caseload")
        handed: HandoffsReport = run("handoffs")
        held: HoldingReport = run("holding")
        s75: S75Report = run("s75", threshold=threshold)
        waits: WaitsReport = run("waits", milestone=milestone)
        monthly: MonthlyReport = run("monthly")
        funding: FundingReport | None = run(
            "funding", unit_costs=unit_costs, budget_pence=budget_pence
        )
        if funding is not None and not placements_exist(funding):
            funding = None
        facts = data_facts(conn, read_import_sources(store.get_meta(IMPORT_SOURCES_KEY)))
        head = store.checkpoint()
        if verify:
            result = store.verify()
            audit = AuditTrail(head, result.ok, result.events, result.problem, result.cases)
        else:
            audit = AuditTrail(head, None)
    return DashboardData(
        scope=scope,
        generated_at=clock(),
        pathway_id=pathway.id if pathway is not None else None,
        pathway_title=pathway.title if pathway is not None else None,
        pathway_version=pathway.version if pathway is not None else None,
        organisations=tuple(
            OrganisationInfo(o.id, o.name, o.kind)
            for o in (pathway.organisations.values() if pathway else ())
        ),
        time_limits=tuple(
            TimeLimit(name, float(state.time_limit_days))
            for name, state in (pathway.states.items() if pathway else ())
            if state.time_limit_days
        ),
        caseload=caseload,
        handoffs=handed,
        holding=held,
        s75=s75,
        waits=waits,
        activity=activity,
        monthly=monthly,
        audit=audit,
        top=top,
        funding=funding,
        facts=facts,
        title=data_title(facts, pathway),
        stale=stale_notice_for(facts.newest_event, scope.as_of),
        hidden=hidden_figures(facts, pathway, plan, milestone),
    )


def hidden_figures(
    facts: DataFacts, pathway: Pathway | None, plan: Plan | None, milestone: str
) -> dict[str, str]:
    """The figures the data cannot support, each with the sentence the page shows instead.

    The wait for a first appointment and activity against the plan are judged with or without a
    pathway (their states are named by ``milestone`` and the plan); time limits, reviews and
    offers only with one (without one they are "n/a: needs the store's pathway" already).
    """
    bases: list[Basis] = [
        first_appointment_basis(milestone),
        activity_basis(plan or load_plan()),
    ]
    if pathway is not None:
        bases += [time_limit_basis(pathway), review_basis(pathway), offer_basis(pathway)]
    return {b.figure: b.absent() for b in bases if not rests_on(facts, b, pathway)}


def placements_exist(funding: FundingReport) -> bool:
    """Whether the funding report has anything to show: a placement with a day in its window, an
    item on the scrutiny list, or a budget to compare with."""
    return (
        any(row.clients for row in funding.by_care_type)
        or bool(funding.scrutiny)
        or funding.budget is not None
    )
