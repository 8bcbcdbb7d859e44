"""Import a council's finance extract of placements (CSV), all or nothing.

One row per placement period at one cost: ``case_id``, ``placement_id``, ``care_type``,
``weekly_cost`` (pounds, at most two decimals), ``start_date``, ``end_date`` (the last day,
inclusive; empty while open), ``council_pct``, ``nhs_pct``, ``person_pct`` (empty counts as 0;
together 100) and ``agreed_by`` (the organisation whose panel agreed it); optional ``s117``
(yes/no: the placement is section 117 aftercare), ``eligibility_date``, ``health_screen_date``,
``provider``, ``urgent_reason`` (Care Act s19(3): why the placement met urgent needs before an
eligibility decision, a short phrase), ``chc_checklist`` (the NHS continuing healthcare checklist
outcome when the period started: negative, positive or pending) and ``s117_person`` (yes/no: the
person was entitled to section 117 aftercare, whatever this placement's funding); the funding
report's scrutiny list reads the last three as it does for placements recorded step by step.
No other column is
accepted: a finance extract may carry names or addresses, and nothing personal may enter the
audit trail.

Each row becomes an audit event of its case (trigger ``placement_imported``, marked imported,
in the hash chain; the case keeps its state and holder) and a ``placement_periods`` row, written
through the store's own ``apply_transition`` in one transaction. The event happens on the
period's first day, or at the case's newest event if that is later (a case's events stay in time
order), and never after the import (so later steps on the case stay possible). Imported periods are history:
they count as known from their first day, so a report as of an earlier date sees them.

Rejected, naming line and field, with nothing written: a missing or unknown column; a bad
amount, percentage, date or care type; shares not adding up to 100; an end before the start;
two periods of one placement that overlap (both lines named); one placement with two care
types; a case that is not in the store (import its event log, or open the case, first); a
placement the case already has (an import adds new placements only).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import attrs

from . import placements as pl
from .canonical import new_event_id
from .csvinput import NUL, nul_problems, undecodable
from .definition import Pathway
from .errors import DefinitionError, Problem
from .periods import WHOLE_BP, Period, PlacementChange
from .store.base import NewEvent, Store

REQUIRED = (
    "case_id", "placement_id", "care_type", "weekly_cost", "start_date", "end_date",
    "council_pct", "nhs_pct", "person_pct", "agreed_by",
)  # fmt: skip
OPTIONAL = (
    "s117", "eligibility_date", "health_screen_date", "provider", "urgent_reason",
    "chc_checklist", "s117_person",
)  # fmt: skip
MAX_URGENT_REASON = 200
"""The longest ``urgent_reason`` accepted: a short statement of the need, never case notes."""
IMPORT_TRIGGER = "placement_imported"
"""The trigger of the audit event an imported placement period becomes."""
IMPORT_ACTOR = "import"
MAX_PROBLEMS = 20
PROGRESS_EVERY = 5_000

Progress = Callable[[int], None]


@attrs.frozen
class PlacementImportResult:
    """What a placements import added."""

    source: str
    rows: int
    placements: int
    cases: int
    first_position: int
    last_position: int


@attrs.frozen
class _Row:
    line: int
    case_id: str
    placement_id: str
    care_type: str
    weekly_pence: int
    start: date
    end: date | None
    council_bp: int
    nhs_bp: int
    person_bp: int
    agreed_by: str
    s117: bool
    eligibility: date | None
    health_screen: date | None
    provider: str | None
    urgent_reason: str | None
    chc_checklist: str | None
    s117_person: bool

    def data(self, source: str) -> dict[str, Any]:
        """The audit event's data: the row as the engine would normalise it, and where it came from."""
        values: dict[str, Any] = {
            "placement_id": self.placement_id, "care_type": self.care_type,
            "weekly_cost": pl.format_pence(self.weekly_pence),
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat() if self.end else None,
            "council_pct": pl.format_share(self.council_bp),
            "nhs_pct": pl.format_share(self.nhs_bp),
            "person_pct": pl.format_share(self.person_bp), "s117": self.s117,
            "agreed_by": self.agreed_by, "provider": self.provider,
            "eligibility_date": self.eligibility.isoformat() if self.eligibility else None,
            "health_screen_date": self.health_screen.isoformat() if self.health_screen else None,
            pl.URGENT: self.urgent_reason, pl.CHC_CHECKLIST: self.chc_checklist,
            "s117_person": self.s117_person or None,
            "source": source, "source_line": self.line,
        }  # fmt: skip
        return {k: v for k, v in values.items() if v is not None}


def _header(reader: Iterator[list[str]], source: str) -> list[str]:
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise DefinitionError(
            [Problem(source, "", "the file is empty: expected a header row", 1)]
        ) from None
    except csv.Error as exc:
        raise DefinitionError([Problem(source, "", f"not valid CSV: {exc}", 1)]) from None
    problems = nul_problems(header, header, source, 1)
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        problems.append(
            Problem(
                source, "", f"missing required column(s) {', '.join(missing)} (the header has: "
                f"{', '.join(header)})", 1,
            )
        )  # fmt: skip
    unknown = [name for name in header if name not in (*REQUIRED, *OPTIONAL)]
    if unknown:
        problems.append(
            Problem(
                source, "", f"column(s) {', '.join(unknown)} are not placement columns (allowed: "
                f"{', '.join((*REQUIRED, *OPTIONAL))}); remove them: nothing personal may enter "
                "the audit trail", 1,
            )
        )  # fmt: skip
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        problems.append(Problem(source, "", f"column(s) {', '.join(twice)} appear twice", 1))
    if problems:
        raise DefinitionError(problems)
    return header


def _parse_row(
    values: dict[str, str], line: int, source: str, pathway: Pathway | None
) -> tuple[_Row | None, list[Problem]]:
    problems: list[Problem] = []

    def check(field: str, parse: Callable[[Any, str], Any], value: str) -> Any:
        try:
            return parse(value, field)
        except ValueError as exc:
            message = str(exc).removeprefix(f"{field}: ")
            problems.append(Problem(source, field, message, line))
            return None

    def text(field: str, required: bool = True) -> str | None:
        value = values.get(field, "").strip()
        if not value and required:
            problems.append(Problem(source, field, f"empty {field.replace('_', ' ')}", line))
        return value or None

    def flag(field: str) -> bool:
        """An optional yes/no column: empty (or absent) is no."""
        value = values.get(field, "").strip()
        return bool(check(field, pl.parse_flag, value)) if value else False

    case_id, pid = text("case_id"), text("placement_id")
    care_type = text("care_type")
    if care_type is not None and care_type not in pl.CARE_TYPES:
        problems.append(
            Problem(
                source, "care_type", f"{care_type!r} is not one of {', '.join(pl.CARE_TYPES)}", line
            )
        )
    pence = check("weekly_cost", pl.parse_pence, values["weekly_cost"].strip())
    if pence is not None and pence > pl.MAX_WEEKLY_PENCE:
        problems.append(
            Problem(source, "weekly_cost", f"{pl.format_pence(pence)} a week is over "
                    f"{pl.format_pence(pl.MAX_WEEKLY_PENCE)}; check the amount", line)
        )  # fmt: skip
    start = check("start_date", pl.parse_day, values["start_date"])
    end = (
        check("end_date", pl.parse_day, values["end_date"]) if values["end_date"].strip() else None
    )
    if start is not None and end is not None and end < start:
        problems.append(
            Problem(
                source,
                "end_date",
                f"{end.isoformat()} is before start_date {start.isoformat()}",
                line,
            )
        )
    shares = [
        check(f, pl.parse_share, values[f].strip()) if values[f].strip() else 0
        for f in pl.SHARE_FIELDS
    ]
    if all(s is not None for s in shares) and sum(shares) != WHOLE_BP:
        given = ", ".join(
            f"{f} {pl.format_share(s)}" for f, s in zip(pl.SHARE_FIELDS, shares, strict=True)
        )
        problems.append(
            Problem(source, "council_pct", f"the shares must add up to 100 ({given} make "
                    f"{pl.format_share(sum(shares))})", line)
        )  # fmt: skip
    agreed_by = text("agreed_by")
    if agreed_by is not None and pathway is not None and agreed_by not in pathway.organisations:
        problems.append(
            Problem(source, "agreed_by", f"{agreed_by!r} is not an organisation of pathway "
                    f"{pathway.id} ({', '.join(pathway.organisations)})", line)
        )  # fmt: skip
    s117, s117_person = flag("s117"), flag("s117_person")
    checklist = text("chc_checklist", required=False)
    if checklist is not None and checklist not in pl.CHC_OUTCOMES:
        problems.append(
            Problem(source, "chc_checklist", f"{checklist!r} is not one of "
                    f"{', '.join(pl.CHC_OUTCOMES)} (leave it empty if no checklist was done)", line)
        )  # fmt: skip
    urgent = text("urgent_reason", required=False)
    if urgent is not None and len(urgent) > MAX_URGENT_REASON:
        problems.append(
            Problem(source, "urgent_reason", f"{len(urgent)} characters, over "
                    f"{MAX_URGENT_REASON}: say why the need was urgent in a short phrase "
                    "(never case notes or names)", line)
        )  # fmt: skip
    dated = {
        field: check(field, pl.parse_day, values[field]) if values.get(field, "").strip() else None
        for field in ("eligibility_date", "health_screen_date")
    }
    if problems:
        return None, problems
    council, nhs, person = shares
    assert case_id and pid and care_type and agreed_by and start is not None and pence is not None
    return (
        _Row(
            line=line,
            case_id=case_id,
            placement_id=pid,
            care_type=care_type,
            weekly_pence=pence,
            start=start,
            end=end,
            council_bp=council,
            nhs_bp=nhs,
            person_bp=person,
            agreed_by=agreed_by,
            s117=s117,
            eligibility=dated["eligibility_date"],
            health_screen=dated["health_screen_date"],
            provider=text("provider", required=False),
            urgent_reason=urgent,
            chc_checklist=checklist,
            s117_person=s117_person,
        ),
        [],
    )


def _read(
    reader: Any, source: str, header: list[str], pathway: Pathway | None, progress: Progress | None
) -> list[_Row]:
    rows: list[_Row] = []
    problems: list[Problem] = []
    count = 0
    try:
        for raw in reader:
            line = reader.line_num
            if not raw:
                continue
            count += 1
            if len(raw) != len(header):
                problems.append(
                    Problem(
                        source, "", f"has {len(raw)} fields, the header has {len(header)}", line
                    )
                )
            elif any(NUL in value for value in raw):
                problems.extend(nul_problems(raw, header, source, line))
            else:
                row, found = _parse_row(dict(zip(header, raw, strict=True)), line, source, pathway)
                problems.extend(found)
                if row is not None:
                    rows.append(row)
            if len(problems) >= MAX_PROBLEMS:
                break
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(count)
    except csv.Error as exc:
        problems.append(Problem(source, "", f"not valid CSV: {exc}", reader.line_num))
    if not problems and count == 0:
        problems.append(Problem(source, "", "the file has a header but no rows", 1))
    if not problems:
        problems = _overlaps(rows, source)
    if problems:
        raise DefinitionError(problems[:MAX_PROBLEMS])
    return rows


def _overlaps(rows: list[_Row], source: str) -> list[Problem]:
    """Two periods of one placement overlapping, or one placement with two care types."""
    problems = []
    by_placement: dict[tuple[str, str], list[_Row]] = {}
    for row in rows:
        by_placement.setdefault((row.case_id, row.placement_id), []).append(row)
    for (case_id, pid), periods in by_placement.items():
        periods.sort(key=lambda r: (r.start, r.line))
        for before, after in itertools.pairwise(periods):
            if before.end is None or before.end >= after.start:
                until = before.end.isoformat() if before.end else "open"
                problems.append(
                    Problem(
                        source, "start_date",
                        f"placement {pid} of case {case_id}: this period from "
                        f"{after.start.isoformat()} overlaps the period on line {before.line} "
                        f"({before.start.isoformat()} to {until})", after.line,
                    )
                )  # fmt: skip
            if after.care_type != before.care_type:
                problems.append(
                    Problem(
                        source, "care_type",
                        f"placement {pid} of case {case_id} is {before.care_type} on line "
                        f"{before.line}: a placement keeps its care type", after.line,
                    )
                )  # fmt: skip
    return sorted(problems, key=lambda p: p.line or 0)


def _check_store(store: Store, rows: list[_Row], source: str) -> None:
    problems = []
    conn = store.connection
    seen: set[tuple[str, str]] = set()
    for row in rows:
        if conn.execute("SELECT 1 FROM cases WHERE id = ?", (row.case_id,)).fetchone() is None:
            problems.append(
                Problem(
                    source, "case_id",
                    f"case {row.case_id!r} is not in the store: import its event log first "
                    "(pathway import FILE) or open the case (pathway case open)", row.line,
                )
            )  # fmt: skip
        elif (row.case_id, row.placement_id) not in seen:
            seen.add((row.case_id, row.placement_id))
            found = conn.execute(
                "SELECT 1 FROM placement_periods WHERE case_id = ? AND placement_id = ? LIMIT 1",
                (row.case_id, row.placement_id),
            ).fetchone()
            if found is not None or row.placement_id in pl.placements_of(
                store.case(row.case_id).attributes
            ):
                problems.append(
                    Problem(
                        source, "placement_id",
                        f"case {row.case_id} already has placement {row.placement_id}: an "
                        "import adds new placements only", row.line,
                    )
                )  # fmt: skip
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise DefinitionError(problems)


def import_placements(
    store: Store,
    source: Path | str,
    *,
    pathway: Pathway | None = None,
    progress: Progress | None = None,
    text: str | None = None,
) -> PlacementImportResult:
    """Import the placements CSV at ``source`` (or the given ``text``) into ``store``, all or nothing."""
    name = str(source)
    try:
        handle = (
            io.StringIO(text)
            if text is not None
            else open(source, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed by `with` below
        )
    except OSError as exc:
        raise DefinitionError([Problem(name, "", f"cannot read file: {exc}")]) from None
    try:
        with handle:
            reader = csv.reader(handle)
            header = _header(reader, name)
            rows = _read(reader, name, header, pathway, progress)
    except UnicodeDecodeError:
        raise undecodable(source, name) from None
    rows.sort(key=lambda r: (r.case_id, r.placement_id, r.start))
    with store.transaction() as tx:
        _check_store(store, rows, name)
        now = datetime.now(UTC)
        first = last = 0
        current = ""
        case: Any = None
        for row in rows:
            if row.case_id != current:
                current = row.case_id
                case = tx.load_case(current)
                starts: dict[str, date] = {}
            starts.setdefault(row.placement_id, row.start)
            # Business time: the period's first day, but never before the case's newest event
            # (a case's events stay in time order) nor after now (later steps stay possible).
            began = datetime.combine(row.start, time.min, UTC)
            at = max(tx.last_event_at(current), min(began, now))
            placement = pl.Placement(
                placement_id=row.placement_id, care_type=row.care_type,
                weekly_pence=row.weekly_pence, council_bp=row.council_bp, nhs_bp=row.nhs_bp,
                person_bp=row.person_bp, s117=row.s117, agreed_by=row.agreed_by,
                start=starts[row.placement_id], period_start=row.start, end=row.end,
                provider=row.provider, eligibility=row.eligibility,
                health_screen=row.health_screen, urgent_reason=row.urgent_reason,
                chc_checklist=row.chc_checklist, s117_person=row.s117_person,
            )  # fmt: skip
            kept = dict(case.attributes.get(pl.PLACEMENTS) or {})
            kept[row.placement_id] = placement.to_json()
            after = attrs.evolve(
                case,
                version=case.version + 1,
                attributes={**case.attributes, pl.PLACEMENTS: kept},
            )
            event = NewEvent(
                event_id=new_event_id(), case_id=case.id, occurred_at=at, recorded_at=now,
                trigger=IMPORT_TRIGGER, from_state=case.state, to_state=case.state,
                from_team=case.team, to_team=case.team, from_organisation=case.organisation,
                to_organisation=case.organisation, actor_id=IMPORT_ACTOR, actor_team=case.team,
                actor_roles=(), outcome="applied", pathway_id=case.pathway_id,
                pathway_version=case.pathway_version, data=row.data(name), imported=True,
                closes=case.is_closed,
            )  # fmt: skip
            period: Period = placement.period(case.id, pl.agreed_kind(pathway, row.agreed_by))
            change = PlacementChange(
                case.id, row.placement_id, False, (period,),
                known_from=datetime.combine(row.start, time.min, UTC).timestamp(),
            )  # fmt: skip
            chained = tx.apply_transition(after, case.version, event, placement=change)
            first = first or chained.position
            last = chained.position
            case = after
    return PlacementImportResult(
        source=name,
        rows=len(rows),
        placements=len({(r.case_id, r.placement_id) for r in rows}),
        cases=len({r.case_id for r in rows}),
        first_position=first,
        last_position=last,
    )


__all__ = ["IMPORT_TRIGGER", "PlacementImportResult", "import_placements"]
