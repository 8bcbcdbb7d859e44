"""Placements (care packages) on a case: who agreed them, what they cost, and who pays.

A placement is started, changed and ended by **placement steps**: transitions of the pathway
marked ``placement: start|change|end`` (usually ``internal: true``, so the case keeps its state
and holder). The placement travels in the step's data, is checked and normalised here before any
guard looks at it, and becomes part of the audit event like any other data; the case keeps its
placements as they stand now in the attribute ``placements``; and the store writes the periods
the step makes known (``placement_periods``) in the same transaction as the event.

Money is exact: a weekly cost is given in pounds as text (``"912.50"``: at most two decimals) or
as a whole number of pounds, and kept as integer pence; the funding split is given in percent
(``60``, ``"33.33"``) and kept as integer basis points. Floats are refused: they cannot hold
most amounts of pence exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .errors import InvalidRequest
from .store.placementrows import WHOLE_BP, Period, PlacementChange

if TYPE_CHECKING:
    from .definition import Pathway
    from .model import Case

CARE_TYPES = (
    "residential",
    "nursing",
    "home_care",
    "supported_living",
    "day_care",
    "direct_payment",
)
"""The care types of the Barnet business case's Table 13, in its order."""

FUNDERS = ("council", "nhs", "person")
"""Who pays: the council's adult social care, the NHS (continuing healthcare, the trust, the
ICB), and the person's own contribution. A section 117 placement is split between the council and
the NHS, its joint duty."""

ACTIONS = ("start", "change", "end")

PLACEMENTS = "placements"
"""The case attribute holding the case's placements as they stand (kept by the engine)."""

ELIGIBILITY = "eligibility_date"
"""Case field: the date of the written Care Act (s13) determination that the person has eligible needs."""
ASSESSMENT = "care_act_assessment_date"
"""Case field: the date of the Care Act (s9) needs assessment."""
HEALTH_SCREEN = "health_screen_date"
"""Case field: the date of the health needs screen (e.g. the NHS continuing healthcare checklist)."""
S117_ELIGIBILITY = "s117_eligibility_date"
"""Case field: the date from which the person is entitled to section 117 aftercare."""
S117_EVIDENCE = (
    S117_ELIGIBILITY,
    "section_3_start",
    "section_37_start",
    "section_45a_start",
    "section_47_start",
    "section_48_start",
)
"""Case fields any one of which shows the person is entitled to section 117 aftercare: the
entitlement itself, or the start of a detention under section 3, 37, 45A, 47 or 48 of the Mental
Health Act 1983 (s117(1); never section 2)."""
S117_END = "s117_end_decision"
"""Case field: the joint council and NHS decision that section 117 aftercare has ended."""
CHC_CHECKLIST = "chc_checklist"
"""Case field: the outcome of the NHS continuing healthcare checklist (the health needs screen)."""
CHC_OUTCOMES = ("negative", "positive", "pending")
"""Checklist outcomes: ``negative`` (no full assessment), ``positive`` (a full CHC assessment is
owed), ``pending`` (screen started, outcome not yet known)."""
URGENT = "urgent_reason"
"""Placement field: why the placement meets urgent needs before an eligibility decision (Care Act
s19(3))."""

SHARE_FIELDS = ("council_pct", "nhs_pct", "person_pct")
PLACEMENT_FIELDS = frozenset(
    {
        "placement_id",
        "care_type",
        "provider",
        "weekly_cost",
        "start_date",
        "end_date",
        "effective_date",
        *SHARE_FIELDS,
        "s117",
        "agreed_by",
        "panel",
        "reason",
        URGENT,
    }
)
"""Fields of a placement step's data that describe the placement (kept in the event and in the
case's ``placements``, not as case fields of their own)."""

MAX_WEEKLY_PENCE = 100_000_000
"""A weekly cost above £1,000,000 is refused as a slip of the keyboard (and keeps the report's
integer sums far inside 64 bits)."""

# ASCII digits only ([0-9], never \d: in Python that matches every script's digits, so "٣٤٥" would
# be £345), matched whole (fullmatch: "$" alone lets a trailing newline through).
_MONEY = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,2}))?")
_GROUPED_MONEY = re.compile(r"([0-9]{1,3}(?:,[0-9]{3}){1,3})(?:\.([0-9]{1,2}))?")
_PERCENT = re.compile(r"([0-9]{1,3})(?:\.([0-9]{1,2}))?")


# --- exact money ---------------------------------------------------------------------------------


def parse_pence(value: Any, field: str = "amount", *, grouped: bool = False) -> int:
    """Pounds (text with at most two decimals, or a whole number) as integer pence.

    Only ASCII digits 0-9 and one ``.`` are read. With ``grouped`` (amounts a person types, such
    as ``--budget``) commas may group thousands, and then every group after the first has exactly
    three digits (``11,500,000.00``; never ``1,2,3``); data files never use commas.

    Raises ``ValueError`` naming ``field``: for floats, negative amounts, more than two decimals,
    any other character.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        kind = "a decimal number" if isinstance(value, float) else type(value).__name__
        raise ValueError(
            f'{field}: give pounds as text such as "912.50", not {kind} '
            "(binary fractions cannot hold pence exactly)"
        )
    text = str(value).strip()
    if text.startswith("-"):
        raise ValueError(f"{field}: {value!r} is negative; an amount is never below 0")
    match = _MONEY.fullmatch(text) or (_GROUPED_MONEY.fullmatch(text) if grouped else None)
    if match is None:
        example = "912.50 or 11,500,000" if grouped else "912.50"
        raise ValueError(
            f"{field}: {value!r} is not an amount in pounds with at most two decimals, in the "
            f"digits 0-9 (e.g. {example})"
        )
    return int(match[1].replace(",", "")) * 100 + int((match[2] or "").ljust(2, "0"))


def format_pence(pence: int) -> str:
    """Integer pence as pounds with two decimals (``123457`` -> ``"1234.57"``)."""
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}{whole}.{part:02d}"


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, halves away from zero.

    Exact for any size (integer arithmetic): the report divides its exact sums once, here.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return sign * quotient


def parse_share(value: Any, field: str) -> int:
    """A share in percent (``60``, ``"33.33"``: at most two decimals, 0 to 100) as basis points."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        kind = "a decimal number" if isinstance(value, float) else type(value).__name__
        raise ValueError(
            f'{field}: give a percentage as a whole number or text such as "33.33", not {kind}'
        )
    text = str(value).strip()
    match = _PERCENT.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{field}: {value!r} is not a percentage from 0 to 100 with at most two decimals, "
            "in the digits 0-9"
        )
    bp = int(match[1]) * 100 + int((match[2] or "").ljust(2, "0"))
    if bp > WHOLE_BP:
        raise ValueError(f"{field}: {value!r} is more than 100 percent")
    return bp


def format_share(bp: int) -> str:
    """Basis points as percent text without needless zeros (``6000`` -> ``"60"``, ``3333`` -> ``"33.33"``)."""
    whole, part = divmod(bp, 100)
    return str(whole) if part == 0 else f"{whole}.{part:02d}".rstrip("0")


def parse_day(value: Any, field: str) -> date:
    """An ISO 8601 calendar date (``2026-01-05``)."""
    if value is None or value == "":
        raise ValueError(f"{field} is required (a date such as 2026-01-05)")
    if not isinstance(value, str):
        raise ValueError(f'{field}: give a date as text such as "2026-01-05", not {value!r}')
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{field}: {value!r} is not a date such as 2026-01-05") from None


def optional_day(value: Any) -> date | None:
    """A recorded date field, or ``None`` when it is missing or not a date."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def parse_flag(value: Any, field: str) -> bool:
    """``true``/``false``, or the words yes/no."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "no", "true", "false"):
        return value.strip().lower() in ("yes", "true")
    raise ValueError(f"{field}: {value!r} is not yes or no")


# --- a placement as it stands ---------------------------------------------------------------------


@attrs.frozen
class Placement:
    """A placement as it stands: its current (or last) period and who agreed it."""

    placement_id: str
    care_type: str
    weekly_pence: int
    council_bp: int
    nhs_bp: int
    person_bp: int
    s117: bool
    agreed_by: str
    start: date
    """The day the placement started."""
    period_start: date
    """The first day of its current period (at the current cost and split)."""
    end: date | None = None
    provider: str | None = None
    panel: str | None = None
    eligibility: date | None = None
    health_screen: date | None = None
    urgent_reason: str | None = None
    """Care Act s19(3): why it was started before an eligibility decision (kept for good)."""
    chc_checklist: str | None = None
    """The continuing healthcare checklist outcome the case had when the period was recorded."""
    s117_person: bool = False
    """The person was entitled to section 117 aftercare when the period was recorded."""

    @property
    def is_open(self) -> bool:
        """True while the placement has no end date."""
        return self.end is None

    @property
    def council_funded(self) -> bool:
        """True if the council pays any share of it."""
        return self.council_bp > 0

    def to_json(self) -> dict[str, Any]:
        """The placement as the case attribute ``placements`` keeps it."""
        return {
            "care_type": self.care_type,
            "weekly_cost": format_pence(self.weekly_pence),
            "council_pct": format_share(self.council_bp),
            "nhs_pct": format_share(self.nhs_bp),
            "person_pct": format_share(self.person_bp),
            "s117": self.s117,
            "agreed_by": self.agreed_by,
            "provider": self.provider,
            "panel": self.panel,
            "start_date": self.start.isoformat(),
            "period_start": self.period_start.isoformat(),
            "end_date": self.end.isoformat() if self.end else None,
            "eligibility_date": self.eligibility.isoformat() if self.eligibility else None,
            "health_screen_date": self.health_screen.isoformat() if self.health_screen else None,
            URGENT: self.urgent_reason,
            CHC_CHECKLIST: self.chc_checklist,
            "s117_person": self.s117_person,
        }

    @classmethod
    def from_json(cls, placement_id: str, data: Mapping[str, Any]) -> Placement:
        """The placement from its case-attribute form (:meth:`to_json`)."""
        return cls(
            placement_id=placement_id,
            care_type=data["care_type"],
            weekly_pence=parse_pence(data["weekly_cost"]),
            council_bp=parse_share(data["council_pct"], "council_pct"),
            nhs_bp=parse_share(data["nhs_pct"], "nhs_pct"),
            person_bp=parse_share(data["person_pct"], "person_pct"),
            s117=bool(data["s117"]),
            agreed_by=data["agreed_by"],
            provider=data.get("provider"),
            panel=data.get("panel"),
            start=date.fromisoformat(data["start_date"]),
            period_start=date.fromisoformat(data["period_start"]),
            end=optional_day(data.get("end_date")),
            eligibility=optional_day(data.get("eligibility_date")),
            health_screen=optional_day(data.get("health_screen_date")),
            urgent_reason=data.get(URGENT),
            chc_checklist=data.get(CHC_CHECKLIST),
            s117_person=bool(data.get("s117_person", False)),
        )

    def period(self, case_id: str, agreed_kind: str, reason: str | None = None) -> Period:
        """Its current period as a ``placement_periods`` row."""
        return Period(
            case_id=case_id, placement_id=self.placement_id, care_type=self.care_type,
            weekly_pence=self.weekly_pence, council_bp=self.council_bp, nhs_bp=self.nhs_bp,
            person_bp=self.person_bp, s117=self.s117, agreed_by=self.agreed_by,
            agreed_kind=agreed_kind, start=self.period_start, end=self.end,
            provider=self.provider, panel=self.panel, eligibility=self.eligibility,
            health_screen=self.health_screen, reason=reason, urgent_reason=self.urgent_reason,
            chc_checklist=self.chc_checklist, s117_person=self.s117_person,
        )  # fmt: skip


def placements_of(attributes: Mapping[str, Any]) -> dict[str, Placement]:
    """The case's placements as they stand, by placement id."""
    raw = attributes.get(PLACEMENTS) or {}
    if not isinstance(raw, Mapping):
        return {}
    return {pid: Placement.from_json(pid, item) for pid, item in raw.items()}


def s117_evidence(
    values: Mapping[str, Any], fields: tuple[str, ...] | list[str] = S117_EVIDENCE
) -> list[tuple[str, date | None]]:
    """The section 117 evidence recorded in ``values``: (field, its date if it is one), in order."""
    found = []
    for name in fields:
        value = values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        found.append((name, optional_day(value)))
    return found


def s117_person(
    values: Mapping[str, Any], fields: tuple[str, ...] | list[str] = S117_EVIDENCE
) -> bool:
    """Whether the person is entitled to section 117 aftercare now: some evidence is recorded
    (a detention under s3, 37, 45A, 47 or 48, or the entitlement itself) and no joint decision
    has ended it (``s117_end_decision``)."""
    if _filled(values.get(S117_END)):
        return False
    return bool(s117_evidence(values, fields))


def _filled(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def agreed_kind(pathway: Pathway | None, organisation: str) -> str:
    """The kind of the organisation whose panel agreed a placement (``unknown`` if not in the pathway)."""
    if pathway is None or organisation not in pathway.organisations:
        return "unknown"
    return pathway.organisations[organisation].kind


# --- checking a placement step's data ---------------------------------------------------------------


def _text(data: Mapping[str, Any], field: str, trigger: str, required: bool) -> str | None:
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidRequest(f"{trigger}: {field} is required")
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{trigger}: {field} must be text, not {value!r}")
    return value.strip()


def _checked(trigger: str, parse: Any, value: Any, field: str) -> Any:
    try:
        return parse(value, field)
    except ValueError as exc:
        raise InvalidRequest(f"{trigger}: {exc}") from None


def _shares(trigger: str, data: Mapping[str, Any]) -> tuple[int, int, int] | None:
    if not any(data.get(f) is not None for f in SHARE_FIELDS):
        return None
    bps = tuple(
        _checked(trigger, parse_share, data[f], f) if data.get(f) is not None else 0
        for f in SHARE_FIELDS
    )
    if sum(bps) != WHOLE_BP:
        given = ", ".join(
            f"{f} {format_share(bp)}" for f, bp in zip(SHARE_FIELDS, bps, strict=True)
        )
        raise InvalidRequest(
            f"{trigger}: the funding split must add up to 100 percent ({given} make "
            f"{format_share(sum(bps))}); a share not given counts as 0"
        )
    council, nhs, person = bps
    return council, nhs, person


def _organisation(trigger: str, pathway: Pathway, value: str) -> str:
    if value not in pathway.organisations:
        known = ", ".join(pathway.organisations)
        raise InvalidRequest(
            f"{trigger}: agreed_by {value!r} is not an organisation of pathway {pathway.id} "
            f"(organisations: {known}); name the organisation whose panel agreed the placement"
        )
    return value


def prepare(
    action: str, trigger: str, case: Case, data: Mapping[str, Any], pathway: Pathway
) -> dict[str, Any]:
    """Check a placement step's data against the case and return it normalised.

    Normalised: money as pounds with two decimals, shares as percent text, dates as ISO text,
    ``s117`` as a boolean, names trimmed; other fields pass through. Raises
    :class:`InvalidRequest` naming the field for data that is missing, malformed or refers to a
    placement that does not exist or is not open, so nothing is written.
    """
    if PLACEMENTS in data:
        raise InvalidRequest(f"{trigger}: {PLACEMENTS} is kept by the engine and cannot be given")
    out = dict(data)
    pid = _text(data, "placement_id", trigger, required=True)
    assert pid is not None
    out["placement_id"] = pid
    current = placements_of(case.attributes).get(pid)
    for field in (ELIGIBILITY, ASSESSMENT, HEALTH_SCREEN, S117_ELIGIBILITY):
        if data.get(field) not in (None, ""):
            out[field] = _checked(trigger, parse_day, data[field], field).isoformat()
    for field in ("provider", "panel", "reason"):
        if field in data:
            out[field] = _text(data, field, trigger, required=False)
    if data.get(CHC_CHECKLIST) not in (None, ""):
        outcome = data[CHC_CHECKLIST]
        if not isinstance(outcome, str) or outcome.strip().lower() not in CHC_OUTCOMES:
            raise InvalidRequest(
                f"{trigger}: {CHC_CHECKLIST} {outcome!r} is not one of {', '.join(CHC_OUTCOMES)} "
                "(the outcome of the NHS continuing healthcare checklist)"
            )
        out[CHC_CHECKLIST] = outcome.strip().lower()
    if URGENT in data:
        if action != "start":
            raise InvalidRequest(
                f"{trigger}: {URGENT} is given when a placement starts (Care Act s19(3): urgent "
                "needs met before an eligibility decision); record the decision with "
                f"{ELIGIBILITY} instead"
            )
        out[URGENT] = _text(data, URGENT, trigger, required=False)
    if action == "start":
        if current is not None:
            raise InvalidRequest(
                f"{trigger}: placement {pid} already exists on case {case.id} (started "
                f"{current.start.isoformat()}); change or end it, or give a new placement_id"
            )
        care_type = _text(data, "care_type", trigger, required=True)
        if care_type not in CARE_TYPES:
            raise InvalidRequest(
                f"{trigger}: care_type {care_type!r} is not one of {', '.join(CARE_TYPES)}"
            )
        out["care_type"] = care_type
        if data.get("weekly_cost") is None:
            raise InvalidRequest(f'{trigger}: weekly_cost is required (pounds, e.g. "912.50")')
        pence = _checked(trigger, parse_pence, data["weekly_cost"], "weekly_cost")
        start = _checked(trigger, parse_day, data.get("start_date"), "start_date")
        out["start_date"] = start.isoformat()
        if data.get("end_date") not in (None, ""):
            end = _checked(trigger, parse_day, data["end_date"], "end_date")
            if end < start:
                raise InvalidRequest(
                    f"{trigger}: end_date {end.isoformat()} is before start_date {start.isoformat()}"
                )
            out["end_date"] = end.isoformat()
        shares = _shares(trigger, data)
        if shares is None:
            raise InvalidRequest(
                f"{trigger}: the funding split is required: council_pct, nhs_pct and person_pct "
                "in percent, adding up to 100 (a share not given counts as 0)"
            )
        agreed = _text(data, "agreed_by", trigger, required=True)
        assert agreed is not None
        out["agreed_by"] = _organisation(trigger, pathway, agreed)
        out["s117"] = (
            _checked(trigger, parse_flag, data["s117"], "s117")
            if data.get("s117") is not None
            else False
        )
    else:
        if current is None:
            raise InvalidRequest(f"{trigger}: case {case.id} has no placement {pid}")
        if not current.is_open:
            assert current.end is not None
            raise InvalidRequest(
                f"{trigger}: placement {pid} ended on {current.end.isoformat()}; "
                "only an open placement can be changed or ended"
            )
        field = "effective_date" if action == "change" else "end_date"
        day = _checked(trigger, parse_day, data.get(field), field)
        if day < current.period_start:
            raise InvalidRequest(
                f"{trigger}: {field} {day.isoformat()} is before the placement's current period "
                f"began ({current.period_start.isoformat()})"
            )
        out[field] = day.isoformat()
        if action == "change":
            if data.get("care_type") is not None:
                raise InvalidRequest(
                    f"{trigger}: a placement keeps its care type; end it and start a new one"
                )
            shares = _shares(trigger, data)
            pence = (
                _checked(trigger, parse_pence, data["weekly_cost"], "weekly_cost")
                if data.get("weekly_cost") is not None
                else None
            )
            if "agreed_by" in data:
                agreed = _text(data, "agreed_by", trigger, required=True)
                assert agreed is not None
                out["agreed_by"] = _organisation(trigger, pathway, agreed)
            if data.get("s117") is not None:
                out["s117"] = _checked(trigger, parse_flag, data["s117"], "s117")
            after = _with_case(
                _after_change(current, out, shares, pence), {**case.attributes, **out}
            )
            if attrs.evolve(after, period_start=current.period_start) == current:
                raise InvalidRequest(
                    f"{trigger}: nothing changes: give a new weekly_cost, funding split, s117, "
                    f"provider, panel or agreed_by, or record a new {ELIGIBILITY}, "
                    f"{HEALTH_SCREEN} or {CHC_CHECKLIST}"
                )
    if action != "end":
        if out.get("weekly_cost") is not None:
            if pence > MAX_WEEKLY_PENCE:
                raise InvalidRequest(
                    f"{trigger}: weekly_cost {format_pence(pence)} is over "
                    f"{format_pence(MAX_WEEKLY_PENCE)} a week; check the amount"
                )
            out["weekly_cost"] = format_pence(pence)
        if shares is not None:
            for f, bp in zip(SHARE_FIELDS, shares, strict=True):
                out[f] = format_share(bp)
    return out


def _after_change(
    current: Placement,
    data: Mapping[str, Any],
    shares: tuple[int, int, int] | None,
    pence: int | None,
) -> Placement:
    council, nhs, person = shares or (current.council_bp, current.nhs_bp, current.person_bp)
    return attrs.evolve(
        current,
        weekly_pence=pence if pence is not None else current.weekly_pence,
        council_bp=council,
        nhs_bp=nhs,
        person_bp=person,
        s117=data["s117"] if data.get("s117") is not None else current.s117,
        agreed_by=data.get("agreed_by", current.agreed_by),
        provider=data.get("provider", current.provider),
        panel=data.get("panel", current.panel),
        period_start=date.fromisoformat(data["effective_date"]),
    )


def after(
    action: str, attributes: Mapping[str, Any], data: Mapping[str, Any]
) -> tuple[Placement | None, Placement]:
    """The placement before and after a placement step whose data :func:`prepare` normalised.

    ``attributes`` are the case's before the step; the new period records the case's eligibility
    determination and health screen (on the case, or given with the step).
    """
    values = {**attributes, **data}
    pid = data["placement_id"]
    before = placements_of(attributes).get(pid)
    if action == "start":
        start = date.fromisoformat(data["start_date"])
        placement = Placement(
            placement_id=pid,
            care_type=data["care_type"],
            weekly_pence=parse_pence(data["weekly_cost"]),
            council_bp=parse_share(data.get("council_pct", "0"), "council_pct"),
            nhs_bp=parse_share(data.get("nhs_pct", "0"), "nhs_pct"),
            person_bp=parse_share(data.get("person_pct", "0"), "person_pct"),
            s117=bool(data.get("s117", False)),
            agreed_by=data["agreed_by"],
            start=start,
            period_start=start,
            end=optional_day(data.get("end_date")),
            provider=data.get("provider"),
            panel=data.get("panel"),
            urgent_reason=data.get(URGENT),
        )
    else:
        assert before is not None
        if action == "end":
            return before, attrs.evolve(before, end=date.fromisoformat(data["end_date"]))
        shares = None
        if any(data.get(f) is not None for f in SHARE_FIELDS):
            shares = (
                parse_share(data.get("council_pct", "0"), "council_pct"),
                parse_share(data.get("nhs_pct", "0"), "nhs_pct"),
                parse_share(data.get("person_pct", "0"), "person_pct"),
            )
        pence = parse_pence(data["weekly_cost"]) if data.get("weekly_cost") is not None else None
        placement = _after_change(before, data, shares, pence)
    return before, _with_case(placement, values)


def _with_case(placement: Placement, values: Mapping[str, Any]) -> Placement:
    """The placement with what the case knows when the period is recorded: its eligibility
    determination, health screen and checklist outcome, and the person's section 117 entitlement."""
    outcome = values.get(CHC_CHECKLIST)
    return attrs.evolve(
        placement,
        eligibility=optional_day(values.get(ELIGIBILITY)),
        health_screen=optional_day(values.get(HEALTH_SCREEN)),
        chc_checklist=outcome if outcome in CHC_OUTCOMES else None,
        s117_person=s117_person(values),
    )


def attributes_after(
    action: str, attributes: Mapping[str, Any], data: Mapping[str, Any]
) -> dict[str, Any]:
    """The case's attributes after a placement step: its other fields merged, ``placements`` updated."""
    _, placement = after(action, attributes, data)
    kept = dict(attributes.get(PLACEMENTS) or {})
    kept[placement.placement_id] = placement.to_json()
    others = {k: v for k, v in data.items() if k not in PLACEMENT_FIELDS}
    return {**attributes, **others, PLACEMENTS: kept}


def change_for(
    action: str, case: Case, data: Mapping[str, Any], pathway: Pathway | None
) -> PlacementChange:
    """The periods a placement step makes known (the store writes them with its event)."""
    before, placement = after(action, case.attributes, data)
    reason = data.get("reason")
    kind = agreed_kind(pathway, placement.agreed_by)
    if action == "start":
        return PlacementChange(
            case.id, placement.placement_id, False, (placement.period(case.id, kind, reason),)
        )
    assert before is not None
    old = before.period(case.id, agreed_kind(pathway, before.agreed_by))
    if action == "end":
        return PlacementChange(
            case.id,
            placement.placement_id,
            True,
            (attrs.evolve(old, end=placement.end, reason=reason),),
        )
    periods = []
    if placement.period_start > before.period_start:
        periods.append(attrs.evolve(old, end=placement.period_start - timedelta(days=1)))
    periods.append(placement.period(case.id, kind, reason))
    return PlacementChange(case.id, placement.placement_id, True, tuple(periods))
