"""The handoffs and holding reports against an independent plain-Python reading of the definitions.

The reference below is written from the report definitions (what a handoff, a ping-pong, an S75
crossing, an episode, the as-of cut and the since/until window are), not from ``pathway.flow`` or
the report SQL: it keeps every event, orders each case's events itself, cuts them at ``as_of`` and
works each figure out case by case in exact integer microseconds. It is compared, figure by
figure, with both reports on a seeded generated log and on the real receipt log.

Where the definitions leave a choice open the reference follows the library's documented one
(``pathway/reports/sql.py`` and the report docstrings): with a window, a case is in scope when it
had an event by the window's end and was held (by a team or nobody), handed on or opened in the
window; with a team, the cases are those the team held in the window or handed on or received in
it; ``events`` counts the scoped cases' events inside the window; a team's ``organisation`` is the
greatest of its episodes' organisations (they agree in these logs). ``by_pair`` and ``by_team`` are
compared as sets, plus a check that they come most first.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from report_helpers import DAY_US, EPOCH, RECEIPT_DROP, RECEIPT_MAP, parse_us, receipt_path, to_us

import pathway
from pathway.importer import import_events
from pathway.reports import Scope, handoffs_report, holding_report, write_handoffs_json
from pathway.reports import holding as holding_module


def days_approx(value: float) -> Any:
    """Days compared at rel 1e-9; abs 1e-11 d (under a microsecond) covers float seconds rounding.

    The library keeps instants as float POSIX seconds (about 2.4e-7 s apart near 2011-2026), so a
    one-second episode can be off by ~1e-7 relative; the reference works in exact microseconds.
    """
    return pytest.approx(value, rel=1e-9, abs=1e-11)


# --- the reference ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    case_id: str
    at: int  # microseconds since the epoch
    line: int  # line in the file (input order breaks ties)
    state: str
    team: str | None  # None: nobody (empty team cell)
    organisation: str  # organisation of the team ("unknown" when none is given)


@dataclass
class Handoff:
    at: int
    from_team: str
    to_team: str
    crossing: bool
    ping_pong: bool


@dataclass
class EpisodeRef:
    team: str | None
    organisation: str | None
    start: int
    end: int


@dataclass
class CaseView:
    """One case as it stood at ``as_of``."""

    events: list[Event]
    handoffs: list[Handoff] = field(default_factory=list)
    episodes: list[EpisodeRef] = field(default_factory=list)


def read_log(text: str, mapping: dict[str, str] | None = None) -> dict[str, list[Event]]:
    """Every case's events, in time order, ties by line; only the columns the definitions use."""
    reader = csv.reader(io.StringIO(text))
    header = [(mapping or {}).get(name, name) for name in next(reader)]
    col = {name: i for i, name in enumerate(header)}
    cases: dict[str, list[Event]] = defaultdict(list)
    for row in reader:
        if not row:
            continue
        line = reader.line_num
        team = row[col["team"]].strip() or None
        given = row[col["organisation"]].strip() if "organisation" in col else ""
        case_id = row[col["case_id"]].strip()
        cases[case_id].append(
            Event(
                case_id,
                parse_us(row[col["occurred_at"]]),
                line,
                row[col["state"]].strip(),
                team,
                given or "unknown",
            )
        )
    for events in cases.values():
        events.sort(key=lambda e: (e.at, e.line))
    return dict(cases)


def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    frac = pos - lo
    if lo + 1 >= len(ordered):
        return ordered[lo]
    return ordered[lo] + (ordered[lo + 1] - ordered[lo]) * frac


def case_view(events: list[Event], as_of: int, finals: set[str]) -> CaseView | None:
    """The case at ``as_of`` (None when it had no event by then): its handoffs and episodes."""
    seen = [e for e in events if e.at <= as_of]
    if not seen:
        return None
    view = CaseView(seen)
    # Handoffs: consecutive named teams that differ (empty teams are skipped).
    sequence: list[str] = []
    last: Event | None = None
    for e in seen:
        if e.team is None:
            continue
        if last is not None and e.team != last.team:
            sequence.append(e.team)
            view.handoffs.append(
                Handoff(
                    e.at,
                    last.team or "",
                    e.team,
                    crossing=last.organisation != e.organisation,
                    ping_pong=len(sequence) >= 3 and sequence[-1] == sequence[-3],
                )
            )
        elif last is None:
            sequence.append(e.team)
        last = e
    # Holding: event j's team from its time to the next event's (or as_of), unless j closed.
    intervals: list[tuple[str | None, str | None, int, int] | None] = []
    for j, e in enumerate(seen):
        if e.state in finals:
            intervals.append(None)  # closed: nobody holds it, not even "unallocated"
            continue
        end = seen[j + 1].at if j + 1 < len(seen) else as_of
        intervals.append((e.team, e.organisation if e.team else None, e.at, end))
    current: EpisodeRef | None = None
    for interval in intervals:
        if interval is None:
            current = None
            continue
        team, org, start, end = interval
        if current is not None and current.team == team:
            current.end = end
        else:
            current = EpisodeRef(team, org, start, end)
            view.episodes.append(current)
    return view


def team_sequence(view: CaseView, until: int) -> list[str]:
    """The collapsed named-team sequence of the case's events up to ``until``."""
    out: list[str] = []
    for e in view.events:
        if e.at <= until and e.team is not None and (not out or out[-1] != e.team):
            out.append(e.team)
    return out


@dataclass
class Window:
    as_of: int
    start: int | None
    end: int  # min(until, as_of)

    def overlaps(self, ep: EpisodeRef) -> bool:
        return ep.start <= self.end and (self.start is None or ep.end >= self.start)

    def inside(self, at: int) -> bool:
        return (self.start is None or at >= self.start) and at <= self.end

    def clipped(self, ep: EpisodeRef) -> int:
        lo = ep.start if self.start is None else max(ep.start, self.start)
        return max(0, min(ep.end, self.end) - lo)


def window_of(scope: Scope) -> Window:
    as_of = to_us(scope.as_of)
    end = as_of if scope.until is None else min(as_of, to_us(scope.until))
    return Window(as_of, None if scope.since is None else to_us(scope.since), end)


def views_at(cases: dict[str, list[Event]], as_of: int, finals: set[str]) -> dict[str, CaseView]:
    out = {}
    for case_id, events in cases.items():
        view = case_view(events, as_of, finals)
        if view is not None:
            out[case_id] = view
    return out


def team_cases(views: dict[str, CaseView], w: Window, team: str) -> set[str]:
    """Cases the team held in the window, or handed on or received in it."""
    return {
        case_id
        for case_id, v in views.items()
        if any(ep.team == team and w.overlaps(ep) for ep in v.episodes)
        or any(w.inside(h.at) and team in (h.from_team, h.to_team) for h in v.handoffs)
    }


def in_scope(views: dict[str, CaseView], w: Window, team: str | None) -> set[str]:
    """Cases with an event by the window's end that were held, handed on or opened in it."""
    scope = {
        case_id
        for case_id, v in views.items()
        if v.events[0].at <= w.end
        and (
            any(w.overlaps(ep) for ep in v.episodes)
            or any(w.inside(h.at) for h in v.handoffs)
            or w.inside(v.events[0].at)
        )
    }
    if team is not None:
        scope &= team_cases(views, w, team)
    return scope


def reference_handoffs(
    cases: dict[str, list[Event]], scope: Scope, finals: set[str]
) -> dict[str, Any]:
    w = window_of(scope)
    views = views_at(cases, w.as_of, finals)
    chosen = in_scope(views, w, scope.team)
    by_case = []
    pairs: Counter[tuple[str, str]] = Counter()
    events = total = pings = crossings = 0
    for case_id in chosen:
        v = views[case_id]
        events += sum(1 for e in v.events if w.inside(e.at))
        counted = [
            h
            for h in v.handoffs
            if w.inside(h.at) and (scope.team is None or scope.team in (h.from_team, h.to_team))
        ]
        n, p, c = len(counted), sum(h.ping_pong for h in counted), sum(h.crossing for h in counted)
        total, pings, crossings = total + n, pings + p, crossings + c
        pairs.update((h.from_team, h.to_team) for h in counted)
        by_case.append(
            {
                "case_id": case_id,
                "handoffs": n,
                "ping_pongs": p,
                "s75_crossings": c,
                "teams": team_sequence(v, w.end),
            }
        )
    by_case.sort(key=lambda r: (-r["handoffs"], -r["ping_pongs"], r["case_id"]))
    distribution = Counter(r["handoffs"] for r in by_case)
    return {
        "cases": len(chosen),
        "events": events,
        "handoffs": total,
        "ping_pongs": pings,
        "s75_crossings": crossings,
        "by_pair": sorted(
            ({"from_team": f, "to_team": t, "count": n} for (f, t), n in pairs.items()),
            key=lambda r: (-r["count"], r["from_team"], r["to_team"]),
        ),
        "by_case": by_case,
        "distribution": [{"handoffs": k, "cases": distribution[k]} for k in sorted(distribution)],
    }


def reference_holding(
    cases: dict[str, list[Event]], scope: Scope, finals: set[str]
) -> dict[str, Any]:
    w = window_of(scope)
    views = views_at(cases, w.as_of, finals)
    chosen = set(views) if scope.team is None else team_cases(views, w, scope.team)
    per_team: dict[str, list[tuple[str, str | None, int]]] = defaultdict(list)
    unallocated = 0
    for case_id in chosen:
        for ep in views[case_id].episodes:
            if not w.overlaps(ep):
                continue
            if ep.team is None:
                unallocated += w.clipped(ep)
            elif scope.team is None or ep.team == scope.team:
                per_team[ep.team].append((case_id, ep.organisation, w.clipped(ep)))
    by_team = {}
    for team, eps in per_team.items():
        in_days = [us / DAY_US for _c, _o, us in eps]
        by_team[team] = {
            "team": team,
            "organisation": max(o for _c, o, _us in eps if o is not None),
            "days": sum(us for _c, _o, us in eps) / DAY_US,
            "episodes": len(eps),
            "cases": len({c for c, _o, _us in eps}),
            "median_days": quantile(in_days, 0.5),
            "p90_days": quantile(in_days, 0.9),
        }
    return {"by_team": by_team, "unallocated_days": unallocated / DAY_US}


# --- comparing ----------------------------------------------------------------------------------


def compare_handoffs(store: Any, cases: dict[str, list[Event]], scope: Scope, finals: set[str]):
    got = handoffs_report(store.connection, scope).to_json()
    want = reference_handoffs(cases, scope, finals)
    for key in ("cases", "events", "handoffs", "ping_pongs", "s75_crossings"):
        assert got[key] == want[key], key
    counts = [p["count"] for p in got["by_pair"]]
    assert counts == sorted(counts, reverse=True)
    key = lambda r: (-r["count"], r["from_team"], r["to_team"])  # noqa: E731
    assert sorted(got["by_pair"], key=key) == want["by_pair"]
    assert got["distribution"] == want["distribution"]
    assert len(got["by_case"]) == len(want["by_case"])
    fields = ("case_id", "handoffs", "ping_pongs", "s75_crossings")
    for mine, theirs in zip(want["by_case"], got["by_case"], strict=True):
        assert {k: theirs[k] for k in fields} == {k: mine[k] for k in fields}
    # The team sequences last, so that a wrong sequence does not hide the other figures.
    wrong = [
        (mine["case_id"], theirs["teams"], mine["teams"])
        for mine, theirs in zip(want["by_case"], got["by_case"], strict=True)
        if theirs["teams"] != mine["teams"]
    ]
    assert not wrong, f"{len(wrong)} team sequences differ (case, library, reference): {wrong[:5]}"
    return got, want


def compare_holding(store: Any, cases: dict[str, list[Event]], scope: Scope, finals: set[str]):
    got = holding_report(store.connection, scope).to_json()
    want = reference_holding(cases, scope, finals)
    assert got["unallocated_days"] == days_approx(want["unallocated_days"])
    days = [t["days"] for t in got["by_team"]]
    assert days == sorted(days, reverse=True)
    assert {t["team"] for t in got["by_team"]} == set(want["by_team"])
    for row in got["by_team"]:
        ref = want["by_team"][row["team"]]
        for name in ("organisation", "episodes", "cases"):
            assert row[name] == ref[name], (row["team"], name)
        for name in ("days", "median_days", "p90_days"):
            assert row[name] == days_approx(ref[name]), (row["team"], name)
    return got, want


def test_quantile_matches_numpy_linear() -> None:
    """The reference quantile gives numpy's default (linear) figures on known inputs."""
    # numpy.quantile([1, 2, 3, 4], [0.5, 0.9]) == [2.5, 3.7]; of [5] it is 5 for any q.
    assert quantile([4, 1, 3, 2], 0.5) == 2.5
    assert quantile([4, 1, 3, 2], 0.9) == pytest.approx(3.7)
    assert quantile([5.0], 0.9) == 5.0
    # numpy.quantile([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9) == 90.0
    assert quantile(list(range(0, 101, 10)), 0.9) == pytest.approx(90.0)


# --- the generated log --------------------------------------------------------------------------

SEED = 20260105
COUNCIL = ("hub", "lets", "network", "amhp")
TRUST = ("triage", "cmht", "iet")
UNLISTED = ("agency",)  # named in rows without an organisation: "unknown"
FINALS = {"closed", "discharged"}
T0 = datetime(2025, 1, 1, tzinfo=UTC)
OFFSETS = ("+00:00", "Z", "+01:00", "-05:00", "")  # "" = naive, read as UTC


def _org(team: str) -> str:
    if team in COUNCIL:
        return "council"
    if team in TRUST:
        return "trust"
    return ""


def _stamp(rng: random.Random, at: datetime) -> str:
    offset = rng.choice(OFFSETS)
    if offset in ("", "Z", "+00:00"):
        local = at
    else:
        sign = 1 if offset[0] == "+" else -1
        local = at + sign * timedelta(hours=int(offset[1:3]))
    sep = rng.choice("T ")
    text = local.replace(tzinfo=None).isoformat(sep=sep)
    return text + offset


def generate_log(seed: int = SEED, n_cases: int = 4000) -> str:
    """A seeded log: two organisations, empty teams, closures, re-referrals, ties, shuffled rows."""
    rng = random.Random(seed)
    teams = COUNCIL + TRUST + UNLISTED
    rows: list[list[str]] = []
    for i in range(n_cases):
        case_id = f"c{i:05d}"
        at = T0 + timedelta(seconds=rng.randrange(0, 300 * 86_400))
        holder = rng.choice(teams)
        previous: str | None = None
        for _ in range(rng.choice((1, 1, 2, 3, 4, 5, 6, 8, 10, 14))):
            roll = rng.random()
            if roll < 0.12:
                state, team_cell = "awaiting_allocation", ""  # unallocated from here
            else:
                if roll < 0.30 and previous is not None:
                    new = previous  # back where it came from: ping-pong fodder
                elif roll < 0.42:
                    new = holder
                else:
                    new = rng.choice(teams)
                if new != holder:
                    previous, holder = holder, new
                state, team_cell = "working", new
            if rng.random() < 0.09:
                state = rng.choice(sorted(FINALS))  # closes; later rows are re-referrals
            micros = rng.choice((0, 0, 0, rng.randrange(1_000_000)))
            stamp = _stamp(rng, at.replace(microsecond=micros))
            org = _org(team_cell) if team_cell else rng.choice(("", "", "council"))
            rows.append([case_id, stamp, state, team_cell, org, f"w{rng.randrange(40)}"])
            # Ties: the next event is at the same instant one time in ten.
            gap = 0 if rng.random() < 0.1 else int(rng.expovariate(1 / (9 * 86_400)))
            at = at + timedelta(seconds=gap)
    rng.shuffle(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["case_id", "occurred_at", "state", "team", "organisation", "actor"])
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture(scope="module")
def generated() -> tuple[Any, dict[str, list[Event]]]:
    text = generate_log()
    store = pathway.open_store(":memory:")
    import_events(store, "generated.csv", text=text, final_states=sorted(FINALS))
    yield store, read_log(text)
    store.close()


def test_generated_log_has_the_shapes_under_test(generated) -> None:
    """The generated log holds ties, empty teams, closures, re-referrals and both organisations."""
    _store, cases = generated
    events = [e for evs in cases.values() for e in evs]
    assert len(cases) == 4000
    assert len(events) > 20_000  # more than one import batch (importer.BATCH)
    assert sum(e.team is None for e in events) > 500
    assert {e.organisation for e in events} >= {"council", "trust", "unknown"}
    assert sum(len({e.at for e in evs}) < len(evs) for evs in cases.values()) > 100
    closed_then_more = sum(any(e.state in FINALS for e in evs[:-1]) for evs in cases.values())
    assert closed_then_more > 100  # re-referrals after a closing event
    lines = [e.line for evs in cases.values() for e in evs]
    assert any(a > b for a, b in itertools.pairwise(lines))  # rows out of order


def _span(cases: dict[str, list[Event]]) -> tuple[datetime, datetime]:
    stamps = [e.at for evs in cases.values() for e in evs]
    lo, hi = min(stamps), max(stamps)
    return EPOCH + timedelta(microseconds=lo), EPOCH + timedelta(microseconds=hi)


def _scopes(cases: dict[str, list[Event]]) -> dict[str, Scope]:
    lo, hi = _span(cases)
    third = (hi - lo) / 3
    early, middle, late = lo + third, lo + 2 * third, hi + timedelta(days=30)
    return {
        "early": Scope(early),
        "middle": Scope(middle),
        "late": Scope(late),
        "window": Scope(late, since=lo + third / 2, until=middle),
        "team": Scope(middle, team="cmht"),
        "team-window": Scope(late, since=early, until=middle, team="agency"),
    }


@pytest.mark.parametrize("name", ["early", "middle", "late", "window", "team", "team-window"])
def test_generated_handoffs_match_reference(generated, name: str) -> None:
    """Every handoffs figure equals the reference on the generated log for this scope."""
    store, cases = generated
    _got, want = compare_handoffs(store, cases, _scopes(cases)[name], FINALS)
    assert want["handoffs"] > 0 and want["cases"] > 0


@pytest.mark.parametrize("name", ["early", "middle", "late", "window", "team", "team-window"])
def test_generated_holding_match_reference(generated, name: str) -> None:
    """Every holding figure equals the reference on the generated log for this scope."""
    store, cases = generated
    _got, want = compare_holding(store, cases, _scopes(cases)[name], FINALS)
    assert want["by_team"] and want["unallocated_days"] > 0


# --- the receipt log ----------------------------------------------------------------------------

RECEIPT_FINALS = (set(), {"T10 Determine necessity to stop indication"})


@pytest.fixture(scope="module", params=[0, 1], ids=["open", "t10-closes"])
def receipt(request) -> Iterable[tuple[Any, dict[str, list[Event]], set[str]]]:
    path = receipt_path()
    if path is None:
        pytest.skip("receipt.csv not found: set PATHWAY_RECEIPT_CSV or put it in shared/data/")
    finals = RECEIPT_FINALS[request.param]
    store = pathway.open_store(":memory:")
    import_events(store, path, mapping=RECEIPT_MAP, final_states=sorted(finals), drop=RECEIPT_DROP)
    text = path.read_text(encoding="utf-8-sig")
    yield store, read_log(text, RECEIPT_MAP), finals
    store.close()


def _receipt_scopes(cases: dict[str, list[Event]]) -> list[Scope]:
    lo, hi = _span(cases)
    mid = lo + (hi - lo) / 2
    return [
        Scope(lo + (hi - lo) / 4),
        Scope(mid),
        Scope(hi + timedelta(days=1)),
        Scope(hi, since=lo + (hi - lo) / 3, until=mid),
        Scope(mid, team="Group 4"),
    ]


def test_receipt_matches_reference(receipt) -> None:
    """Both reports on the real receipt log equal the reference at several scopes."""
    store, cases, finals = receipt
    assert len(cases) == 1434
    for scope in _receipt_scopes(cases):
        compare_handoffs(store, cases, scope, finals)
        compare_holding(store, cases, scope, finals)


# --- the fast paths agree with the general ones -------------------------------------------------


@pytest.mark.parametrize("name", ["early", "middle", "late", "window", "team", "team-window"])
def test_streamed_handoffs_json_is_the_records_json(generated, name: str) -> None:
    """write_handoffs_json (what the CLI prints) gives exactly the JSON of the report record."""
    store, cases = generated
    scope = _scopes(cases)[name]
    out = io.StringIO()
    write_handoffs_json(store.connection, scope, out)
    record = handoffs_report(store.connection, scope).to_json()
    assert out.getvalue() == json.dumps(record, ensure_ascii=False)
    assert json.loads(out.getvalue())["by_case"]  # the streamed list really has the cases


def test_holding_from_indexes_equals_the_general_query(generated, monkeypatch) -> None:
    """When no event is after the window, holding is read from indexes; the figures are the same.

    The general query (clipping every episode to the window) is forced by switching the index
    path off; both must agree on every figure, for an as-of after the last event with and
    without an --until that also lies after it.
    """
    store, cases = generated
    _lo, hi = _span(cases)
    scopes = [Scope(hi + timedelta(days=30)), Scope(hi + timedelta(days=30), until=hi)]
    fast = [holding_report(store.connection, s).to_json() for s in scopes]
    assert holding_module._whole_history(store.connection, scopes[0]) is not None
    monkeypatch.setattr(holding_module, "_whole_history", lambda conn, scope: None)
    general = [holding_report(store.connection, s).to_json() for s in scopes]
    for mine, theirs in zip(fast, general, strict=True):
        assert mine["unallocated_days"] == pytest.approx(theirs["unallocated_days"], rel=1e-12)
        assert [t["team"] for t in mine["by_team"]] == [t["team"] for t in theirs["by_team"]]
        for a, b in zip(mine["by_team"], theirs["by_team"], strict=True):
            assert (a["organisation"], a["episodes"], a["cases"]) == (
                b["organisation"],
                b["episodes"],
                b["cases"],
            )
            for key in ("days", "median_days", "p90_days"):
                assert a[key] == pytest.approx(b[key], rel=1e-12), (a["team"], key)


def test_holding_index_path_is_not_used_when_a_later_event_exists(generated) -> None:
    """An as-of before the last event needs episodes cut at the window: the index path declines."""
    store, cases = generated
    lo, hi = _span(cases)
    assert holding_module._whole_history(store.connection, Scope(lo + (hi - lo) / 2)) is None
    assert holding_module._whole_history(store.connection, Scope(hi, since=lo)) is None
    assert holding_module._whole_history(store.connection, Scope(hi, team="cmht")) is None
