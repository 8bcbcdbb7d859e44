"""Placement periods: the records the placement rules produce and the store writes.

A placement (care package) is a run of **periods**, each at one weekly cost and one funding split;
a placement step makes a :class:`PlacementChange` (:mod:`pathway.placements`, and the import of a
finance extract, :mod:`pathway.placement_import`), which the store writes beside the step's audit
event (:mod:`pathway.store.placementrows`). These records belong to the domain: the store imports
them, the rules never import the store.

Money is integer pence, shares integer basis points (percent x 100, adding up to 10,000).
"""

from __future__ import annotations

from datetime import date

import attrs

WHOLE_BP = 10_000
"""All of a placement's cost, in basis points (100 percent)."""


@attrs.frozen
class Period:
    """One period of a placement at one weekly cost and funding split.

    ``end`` is the last day (inclusive), ``None`` while open. ``eligibility`` and
    ``health_screen`` are the dates of the Care Act eligibility determination and the health
    needs screen the case had when the period was recorded (``None``: none recorded);
    ``agreed_kind`` is the kind of organisation whose panel agreed it (``council``,
    ``nhs_trust``, ``other``, or ``unknown`` when the organisation is not in the pathway).
    """

    case_id: str
    placement_id: str
    care_type: str
    weekly_pence: int
    council_bp: int
    nhs_bp: int
    person_bp: int
    s117: bool
    agreed_by: str
    agreed_kind: str
    start: date
    end: date | None = None
    provider: str | None = None
    panel: str | None = None
    eligibility: date | None = None
    health_screen: date | None = None
    reason: str | None = None
    urgent_reason: str | None = None
    """Care Act s19(3): why the placement meets urgent needs before an eligibility decision."""
    chc_checklist: str | None = None
    """The NHS continuing healthcare checklist outcome the case had (negative, positive, pending)."""
    s117_person: bool = False
    """The person was entitled to section 117 aftercare when the period was recorded."""


@attrs.frozen
class PlacementChange:
    """What one placement step writes beside its audit event.

    ``replaces_open`` marks the placement's open period as known only until the event;
    ``periods`` are inserted, known from the event (or from ``known_from``, POSIX seconds, for
    imported history, which counts as known from the start of its period).
    """

    case_id: str
    placement_id: str
    replaces_open: bool
    periods: tuple[Period, ...]
    known_from: float | None = None
