"""The funding report: placement spend by care type and by who pays, against a budget, with the
placements a budget scrutiny board should look at.

Definitions (docs/reports.md, "Funding"):

* The report counts **days** from ``--since`` to ``--until`` (dates, both inclusive); a day
  counts only if it is on or before the ``--as-of`` date. Without ``--since`` every day of every
  placement up to the last day counts.
* Placements are read **as known at** ``--as-of``: each period of a placement as the steps
  recorded at or before ``--as-of`` left it (imported periods count as known from their start).
* The **spend** of a period is its weekly cost x its days in the window / 7, split between the
  council, the NHS and the person by its percentages. Sums are exact (integer pence x days x
  basis points, added up in the database); each figure is divided once and rounded to the penny,
  halves up, only when shown, so a row's parts may differ from its shown total by a penny.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from ..errors import DefinitionError, Problem, StoreError
from ..placements import CARE_TYPES, FUNDERS, format_pence, parse_pence, round_half_up
from ..store.placementrows import WHOLE_BP
from ..timeutil import format_instant
from ..validation import validate_document
from ..yamlsource import parse_document, pointer, read_document
from .scope import Scope
from .sql import CASES_OF_TEAM

DEFAULT_UNIT_COSTS = "unit_costs.yaml"

RULES = {
    "no_eligibility": "council-funded without a Care Act eligibility determination dated on or "
    "before the period began",
    "urgent_pending_eligibility": "council-funded to meet urgent needs before an eligibility "
    "decision (Care Act s19(3)), the decision not yet recorded on the placement",
    "no_health_screen": "council-funded without a health needs screen dated on or before the "
    "period began",
    "trust_panel_council_funded": "agreed by an NHS trust's panel and charged to the council",
    "chc_checklist_positive_or_pending": "council-funded while the NHS continuing healthcare "
    "checklist is positive or pending (a possible health need)",
    "nursing_without_nhs": "a nursing placement charged to the council with no NHS share (no "
    "NHS-funded nursing care, Care Act s22(3))",
    "s117_charged_to_person": "section 117 aftercare, which is free, charged to the person",
    "charged_to_s117_eligible_person": "charged to a person entitled to section 117 aftercare, "
    "which is never charged for",
    "after_case_closed": "charged to the council for days after the case was closed",
}
"""The scrutiny rules by their stable codes, in the order the report lists them."""

PERSON_RULES = frozenset({"s117_charged_to_person", "charged_to_s117_eligible_person"})
"""Rules whose amount is the person's share; the others' is the council's."""

_FIRST_DAY = date.min.toordinal()


@attrs.frozen
class UnitCost:
    """A reference figure for one care type (Table 13 as shipped)."""

    care_type: str
    clients: int
    average_weekly_pence: int
    outturn_pence: int | None = None


@attrs.frozen
class UnitCosts:
    """A unit costs file (``load_unit_costs``): reference clients and costs by care type, and where they came from."""

    source: str
    by_care_type: Mapping[str, UnitCost]


@attrs.frozen
class CareTypeSpend:
    """Placement spend of one care type in the period, split by funder, with the reference figures beside it (money as pounds text)."""

    care_type: str
    clients: int
    spend: str
    council: str
    nhs: str
    person: str
    average_weekly_cost: str | None
    reference_clients: int | None
    reference_spend: str | None
    reference_average_weekly_cost: str | None


@attrs.frozen
class BudgetLine:
    """The council's spend against a budget: the amount, the spend, the difference and its percentage."""

    amount: str
    council_spend: str
    difference: str
    percent: str | None


@attrs.frozen
class ScrutinyItem:
    """A placement the scrutiny rules flag, with the rule, why, and the amount concerned."""

    case_id: str
    placement_id: str
    care_type: str
    rule: str
    explanation: str
    amount: str


@attrs.frozen
class FundingReport:
    """The funding report: placement spend in the period by care type and funder, budget and scrutiny."""

    scope: Scope
    first_day: str | None
    last_day: str
    days: int | None
    unit_costs_source: str
    spend: str
    by_care_type: tuple[CareTypeSpend, ...]
    by_funder: Mapping[str, str]
    section_117: Mapping[str, str]
    budget: BudgetLine | None
    scrutiny: tuple[ScrutinyItem, ...]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON, in the shape of ``schemas/report_funding.schema.json``."""
        return {
            "report": "funding",
            **self.scope.header(),
            "first_day": self.first_day,
            "last_day": self.last_day,
            "days": self.days,
            "unit_costs_source": self.unit_costs_source,
            "spend": self.spend,
            "by_care_type": [attrs.asdict(row) for row in self.by_care_type],
            "by_funder": dict(self.by_funder),
            "section_117": dict(self.section_117),
            "budget": attrs.asdict(self.budget) if self.budget is not None else None,
            "scrutiny": [attrs.asdict(item) for item in self.scrutiny],
        }


def load_unit_costs(path: str | Path | None = None) -> UnitCosts:
    """Reference unit costs: the shipped Table 13, or a YAML file (schemas/unit_costs.schema.json)."""
    if path is None:
        text = resources.files("pathway.data").joinpath(DEFAULT_UNIT_COSTS).read_text("utf-8")
        doc = parse_document(text, f"shipped {DEFAULT_UNIT_COSTS}")
    else:
        doc = read_document(Path(path))
    validate_document(doc, "unit_costs")
    found: dict[str, UnitCost] = {}
    problems: list[Problem] = []
    for index, item in enumerate(doc.data["care_types"]):
        if item["care_type"] in found:
            problems.append(
                doc.problem(
                    pointer("care_types", index, "care_type"),
                    f"care type {item['care_type']} is listed twice",
                )
            )
        found[item["care_type"]] = UnitCost(
            care_type=item["care_type"],
            clients=item["clients"],
            average_weekly_pence=parse_pence(item["average_weekly_cost"]),
            outturn_pence=parse_pence(item["outturn"]) if "outturn" in item else None,
        )
    if problems:
        raise DefinitionError(problems)
    return UnitCosts(str(doc.data.get("source", doc.name)), found)


def window(scope: Scope) -> tuple[int, int]:
    """The first and last day counted, as day numbers (``date.toordinal()``), both inclusive.

    The first is ``--since``'s date (or the first day there is); the last is the earlier of
    ``--until``'s date and ``--as-of``'s date: a day counts if it is on or before the as-of date.
    """
    last = scope.as_of.date()
    if scope.until is not None:
        last = min(last, scope.until.date())
    first = scope.since.date().toordinal() if scope.since is not None else _FIRST_DAY
    return first, last.toordinal()


KNOWN_PERIODS = """
    SELECT * FROM placement_periods
     WHERE known_from <= :as_of AND (known_until IS NULL OR known_until > :as_of)
"""
"""The periods as known at the as-of moment."""

CLIPPED_PERIODS = f"""
    SELECT k.*,
           (CASE WHEN COALESCE(k.end_day, :last) < :last THEN k.end_day ELSE :last END)
           - (CASE WHEN k.start_day > :first THEN k.start_day ELSE :first END) + 1 AS days
      FROM ({KNOWN_PERIODS}) AS k
     WHERE k.start_day <= :last AND COALESCE(k.end_day, :last) >= :first
"""
"""Known periods with at least one day in the window, with their days in it (plain integer SQL:
CASE rather than two-argument MAX/MIN, which not every database has)."""


def _money(numerator: int, denominator: int) -> str:
    return format_pence(round_half_up(numerator, denominator))


def funding_report(
    conn: Any,
    scope: Scope,
    pathway: Any = None,
    *,
    unit_costs: UnitCosts | None = None,
    budget_pence: int | None = None,
) -> FundingReport:
    """Compute the funding report inside the database (``pathway`` is unused; reports share a call)."""
    reference = unit_costs or load_unit_costs()
    first, last = window(scope)
    params = {**scope.params(), "as_of": scope.as_of.timestamp(), "first": first, "last": last}
    team = f" WHERE case_id IN ({CASES_OF_TEAM})" if scope.team is not None else ""
    clipped = f"SELECT * FROM ({CLIPPED_PERIODS}) AS clipped{team}"
    # Per care type: exact sums in pence x days (x basis points for the split).
    sums = {
        row[0]: row[1:]
        for row in _query(
            conn,
            f"""SELECT care_type, COUNT(DISTINCT case_id), SUM(weekly_pence * days),
                       SUM(weekly_pence * days * council_bp), SUM(weekly_pence * days * nhs_bp),
                       SUM(weekly_pence * days * person_bp), SUM(days)
                  FROM ({clipped}) AS c GROUP BY care_type""",
            params,
        )
    }
    split = 7 * WHOLE_BP
    rows = []
    totals = dict.fromkeys(FUNDERS, 0)
    total = 0
    for care_type in CARE_TYPES:
        clients, pence_days, council, nhs, person, days = sums.get(care_type, (0, 0, 0, 0, 0, 0))
        for funder, value in zip(FUNDERS, (council, nhs, person), strict=True):
            totals[funder] += value
        total += pence_days
        ref = reference.by_care_type.get(care_type)
        rows.append(
            CareTypeSpend(
                care_type=care_type,
                clients=clients,
                spend=_money(pence_days, 7),
                council=_money(council, split),
                nhs=_money(nhs, split),
                person=_money(person, split),
                average_weekly_cost=_money(pence_days, days) if days else None,
                reference_clients=ref.clients if ref else None,
                reference_spend=format_pence(ref.outturn_pence)
                if ref and ref.outturn_pence is not None
                else None,
                reference_average_weekly_cost=format_pence(ref.average_weekly_pence)
                if ref
                else None,
            )
        )
    s117 = _query(
        conn,
        f"""SELECT COALESCE(SUM(weekly_pence * days), 0),
                   COALESCE(SUM(weekly_pence * days * council_bp), 0),
                   COALESCE(SUM(weekly_pence * days * nhs_bp), 0)
              FROM ({clipped}) AS c WHERE s117 = 1""",
        params,
    )[0]
    budget = None
    if budget_pence is not None:
        council_exact = totals["council"]  # pence x days x bp: divide by 7 x 10,000 for pence
        budget = BudgetLine(
            amount=format_pence(budget_pence),
            council_spend=_money(council_exact, split),
            difference=_money(council_exact - budget_pence * split, split),
            percent=_percent(council_exact, budget_pence * split) if budget_pence else None,
        )
    return FundingReport(
        scope=scope,
        first_day=date.fromordinal(first).isoformat() if scope.since is not None else None,
        last_day=date.fromordinal(last).isoformat(),
        days=last - first + 1 if scope.since is not None else None,
        unit_costs_source=reference.source,
        spend=_money(total, 7),
        by_care_type=tuple(rows),
        by_funder={funder: _money(totals[funder], split) for funder in FUNDERS},
        section_117={
            "spend": _money(s117[0], 7),
            "council": _money(s117[1], split),
            "nhs": _money(s117[2], split),
        },
        budget=budget,
        scrutiny=_scrutiny(conn, clipped, {**params, "as_of_text": format_instant(scope.as_of)}),
    )


def _percent(numerator: int, denominator: int) -> str:
    """``numerator / denominator`` as a percentage with one decimal, halves up."""
    tenths = round_half_up(numerator * 1000, denominator)
    sign = "-" if tenths < 0 else ""
    whole, part = divmod(abs(tenths), 10)
    return f"{sign}{whole}.{part}"


def _query(conn: Any, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    try:
        return list(conn.execute(sql, params))
    except Exception as exc:  # the database's own error type: SQLite's OperationalError
        if "integer overflow" in str(exc):  # pragma: no cover - needs sums beyond 9.2 x 10^18
            raise StoreError(f"the funding sums are too large to add up exactly: {exc}") from None
        raise


def _scrutiny(conn: Any, clipped: str, params: Mapping[str, Any]) -> tuple[ScrutinyItem, ...]:
    """Placements with at least one period in the window that breaks a rule, largest amount first."""
    council_unfunded = "council_bp > 0 AND s117 = 0"
    selects = {
        "no_eligibility": (
            f"{council_unfunded} AND urgent_reason IS NULL"
            " AND (eligibility_day IS NULL OR eligibility_day > start_day)",
            "council_bp",
        ),
        "urgent_pending_eligibility": (
            f"{council_unfunded} AND urgent_reason IS NOT NULL"
            " AND (eligibility_day IS NULL OR eligibility_day > start_day)",
            "council_bp",
        ),
        "no_health_screen": (
            f"{council_unfunded} AND (health_screen_day IS NULL OR health_screen_day > start_day)",
            "council_bp",
        ),
        "trust_panel_council_funded": (
            "agreed_kind = 'nhs_trust' AND council_bp > 0",
            "council_bp",
        ),
        "chc_checklist_positive_or_pending": (
            f"{council_unfunded} AND chc_checklist IN ('positive', 'pending')",
            "council_bp",
        ),
        "nursing_without_nhs": (
            "care_type = 'nursing' AND council_bp > 0 AND nhs_bp = 0",
            "council_bp",
        ),
        "s117_charged_to_person": ("s117 = 1 AND person_bp > 0", "person_bp"),
        "charged_to_s117_eligible_person": (
            "s117 = 0 AND s117_person = 1 AND person_bp > 0",
            "person_bp",
        ),
    }
    sql = " UNION ALL ".join(
        f"""SELECT case_id, placement_id, MIN(care_type), '{rule}', MIN(agreed_by),
                   SUM(weekly_pence * days * {share})
              FROM ({clipped}) AS c WHERE {where} GROUP BY case_id, placement_id"""
        for rule, (where, share) in selects.items()
    )
    order = list(RULES)
    found = sorted(
        [*_query(conn, sql, params), *_after_closure(conn, clipped, params)],
        key=lambda r: (-r[5], r[0], r[1], order.index(r[3])),
    )
    items = []
    for case_id, placement_id, care_type, rule, agreed_by, exact in found:
        amount = _money(exact, 7 * WHOLE_BP)
        who = "the person" if rule in PERSON_RULES else "the council"
        explanation = f"{RULES[rule]}: {who} pays {amount} in the period"
        if rule == "trust_panel_council_funded":
            explanation = (
                f"agreed by the panel of {agreed_by}, an NHS trust, and charged to the council: "
                f"the council pays {amount} in the period"
            )
        items.append(ScrutinyItem(case_id, placement_id, care_type, rule, explanation, amount))
    return tuple(items)


def _after_closure(
    conn: Any, clipped: str, params: Mapping[str, Any]
) -> list[tuple[str, str, str, str, str, int]]:
    """Council-funded placements with days in the window after their case was closed (as of
    ``--as-of``: the case's newest applied event by then closed it), as the other rules' rows.

    A closed case's placements that nobody ended go on being paid for; the engine's
    ``no_open_placement`` guard stops that for cases it closes, so these come from imports (or
    pathways without the guard). The closing day is the UTC date of that event; the days after
    it that fall in the window and in the period count, at the council's share. When nothing of
    the case happened after ``--as-of`` (the usual case) its row says it: closed if it is in a
    final state, since ``closed_at``; only other cases have their events read.
    """
    rows = _query(
        conn,
        f"""SELECT c.case_id, c.placement_id, c.care_type, c.agreed_by, c.weekly_pence,
                   c.council_bp, c.start_day, c.end_day,
                   CASE WHEN k.last_at <= :as_of_text
                        THEN (CASE WHEN k.closed_at IS NULL THEN '0' ELSE '1' || k.closed_at END)
                        ELSE (SELECT CAST(e.closes AS TEXT) || e.occurred_at FROM events AS e
                               WHERE e.case_id = c.case_id AND e.outcome = 'applied'
                                 AND e.occurred_at <= :as_of_text
                               ORDER BY e.seq DESC LIMIT 1)
                   END AS newest
              FROM ({clipped}) AS c JOIN cases AS k ON k.id = c.case_id
             WHERE c.council_bp > 0 AND (k.closed_at IS NOT NULL OR k.last_at > :as_of_text)""",
        params,
    )
    first, last = params["first"], params["last"]
    found: dict[tuple[str, str], list[Any]] = {}
    for case_id, pid, care_type, agreed_by, weekly, council_bp, start, end, newest in rows:
        if not newest or not str(newest).startswith("1"):
            continue  # open at the as-of moment (or no event yet)
        closed_day = date.fromisoformat(str(newest)[1:11]).toordinal()
        begin = max(first, start, closed_day + 1)
        finish = min(last, end if end is not None else last)
        if finish < begin:
            continue
        entry = found.setdefault((case_id, pid), [care_type, agreed_by, 0])
        entry[2] += weekly * (finish - begin + 1) * council_bp
    return [
        (case_id, pid, care_type, "after_case_closed", agreed_by, exact)
        for (case_id, pid), (care_type, agreed_by, exact) in found.items()
    ]
