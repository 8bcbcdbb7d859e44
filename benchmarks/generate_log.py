"""Write a seeded, synthetic event log in the CSV shape ``pathway import`` reads.

Columns: ``case_id``, ``occurred_at`` (ISO 8601 with the UK offset of the moment, ``+00:00`` in
winter and ``+01:00`` in summer), ``state``, ``team``, ``organisation``, ``actor``, ``trigger``.
About ten events per case on average (the number of events is random, so the total is close to,
not exactly, ten times the cases). Teams belong to two organisations: the council (``hub``,
``lets``, ``network``, ``iet``, ``amhp``) and the trust (``cmht``, ``triage``).

What the log has, on purpose, because the reports must get each of these right:

* referrals at the hub or straight to trust triage, then moves between teams;
* **ping-pongs**: a case sent back to the team that just passed it on (about one move in six);
* **unallocated gaps**: events with an empty ``team`` (and an empty ``organisation``);
* **closures**: state ``closed`` (import with ``final_states=["closed"]`` / ``--final-state
  closed``), and **re-referrals** of about a third of the closed cases some weeks later;
* **ties**: about one event in a hundred has exactly the time of the case's event before it, so
  the order of rows in the file decides which came first;
* **rows slightly out of order**: the rows are sorted by time and then about one row in ten is
  swapped with one up to 50 rows further on (so a case's rows can come in any order).

The same ``--cases`` and ``--seed`` always give the same file, byte for byte (no time zone
database is used: the UK summer-time rule is computed).

Usage::

    python benchmarks/generate_log.py --cases 100000 --seed 1 --out events.csv
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

COLUMNS = ("case_id", "occurred_at", "state", "team", "organisation", "actor", "trigger")
ORGANISATION = {
    "hub": "council",
    "lets": "council",
    "network": "council",
    "iet": "council",
    "amhp": "council",
    "cmht": "trust",
    "triage": "trust",
}
# The states each team works a case in (the first is where a case arrives).
STATES = {
    "hub": ("referral", "screening"),
    "lets": ("choice_appointment", "brief_enablement"),
    "network": ("standard_enablement", "network_plus"),
    "iet": ("intensive_enablement",),
    "amhp": ("mha_assessment",),
    "cmht": ("specialist_support", "care_coordination"),
    "triage": ("trust_triage",),
}
# Where a case goes next from each team (weights), when it moves on.
NEXT = {
    "hub": {"lets": 5, "triage": 3, "network": 2, "amhp": 1},
    "lets": {"network": 4, "cmht": 2, "hub": 1, "iet": 1},
    "network": {"lets": 2, "cmht": 2, "iet": 2, "hub": 1},
    "iet": {"network": 3, "cmht": 2, "amhp": 1},
    "amhp": {"cmht": 3, "iet": 2, "hub": 1},
    "cmht": {"network": 3, "lets": 2, "triage": 1, "iet": 1},
    "triage": {"cmht": 4, "lets": 3, "hub": 2},
}
MEAN_EVENTS = 10.0
"""Events a case's first spell of work is planned to have, on average (before early ends)."""
RE_REFERRED = 1 / 3
"""The share of closures followed by a re-referral."""
START = datetime(2023, 1, 2, tzinfo=UTC)
REFERRAL_SPREAD_DAYS = 2 * 365
END = START + timedelta(days=REFERRAL_SPREAD_DAYS + 3 * 365)
"""No event falls after this instant (a re-referral that would is dropped)."""


def _last_sunday(year: int, month: int) -> datetime:
    day = datetime(year, month + 1, 1, tzinfo=UTC) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def uk_text(when: datetime) -> str:
    """The instant as UK local time with its offset (BST: last Sunday of March to October, 01:00 UTC)."""
    start = _last_sunday(when.year, 3).replace(hour=1)
    end = _last_sunday(when.year, 10).replace(hour=1)
    offset = timedelta(hours=1) if start <= when < end else timedelta(0)
    local = (when + offset).replace(tzinfo=None)
    return local.isoformat(timespec="seconds") + ("+01:00" if offset else "+00:00")


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    teams = list(weights)
    return rng.choices(teams, weights=[weights[t] for t in teams])[0]


def _budget(rng: random.Random, mean: float) -> int:
    """A number of events, at least 2, with about the given mean (a long tail of busy cases)."""
    return max(2, round(rng.expovariate(1.0 / (mean - 1.5)) + 1.5))


def case_events(rng: random.Random, case_id: str) -> Iterator[tuple[datetime, tuple[str, ...]]]:
    """The events of one case, in the order they happened: (time, CSV row)."""
    budget = _budget(rng, MEAN_EVENTS)
    when = START + timedelta(seconds=rng.randrange(REFERRAL_SPREAD_DAYS * 86400))
    team = "hub" if rng.random() < 0.75 else "triage"
    previous: str | None = None
    state = STATES[team][0]
    trigger = "refer"
    emitted = 0
    while emitted < budget:
        if when > END:
            return
        closing = state == "closed"
        unallocated = not closing and emitted > 0 and rng.random() < 0.05
        row_team = "" if unallocated else team
        if closing and rng.random() < 0.2:
            row_team = ""  # some closures are recorded without a team
        row = (
            case_id,
            uk_text(when),
            "awaiting_allocation" if unallocated else state,
            row_team,
            ORGANISATION[row_team] if row_team else "",
            f"worker-{rng.randrange(400):03d}" if rng.random() < 0.95 else "",
            trigger if rng.random() < 0.97 else "",
        )
        yield when, row
        emitted += 1
        # When the next event happens: mostly days to weeks later, sometimes at the same instant.
        if rng.random() < 0.01:
            gap = 0.0
        elif closing:
            gap = rng.uniform(14, 120) * 86400  # a re-referral, weeks or months later
        else:
            gap = rng.expovariate(1.0 / (12 * 86400)) + rng.uniform(0, 3600)
        when += timedelta(seconds=int(gap))
        if closing:
            if rng.random() >= RE_REFERRED:
                return
            budget = emitted + _budget(rng, MEAN_EVENTS / 2)  # a new spell of work
            team = "hub" if rng.random() < 0.8 else "triage"
            previous, state, trigger = None, STATES[team][0], "re_refer"
            continue
        if (emitted >= budget - 1 and rng.random() < 0.8) or rng.random() < 0.03:
            state, trigger = "closed", "close"
            continue
        roll = rng.random()
        if roll < 0.30 and len(STATES[team]) > 1:
            state, trigger = rng.choice(STATES[team][1:]), "progress"  # same team, next step
        elif roll < 0.40:
            state, trigger = STATES[team][0], "review"
        else:
            if previous is not None and rng.random() < 0.17:
                target = previous  # a ping-pong: straight back to the team that passed it on
            else:
                target = _pick(rng, NEXT[team])
            previous, team = team, target
            state, trigger = STATES[team][0], "handoff"


def generate(cases: int, seed: int) -> list[tuple[str, ...]]:
    """All rows of the log, in file order (sorted by time, then a little shuffled)."""
    rng = random.Random(seed)
    timed: list[tuple[datetime, int, tuple[str, ...]]] = []
    width = max(6, len(str(cases)))
    for i in range(cases):
        for when, row in case_events(rng, f"C{i:0{width}d}"):
            timed.append((when, len(timed), row))
    timed.sort(key=lambda item: (item[0], item[1]))
    rows = [row for _when, _n, row in timed]
    for i in range(len(rows) - 1):
        if rng.random() < 0.1:
            j = min(len(rows) - 1, i + rng.randint(1, 50))
            rows[i], rows[j] = rows[j], rows[i]
    return rows


def write_log(path: Path, cases: int, seed: int) -> int:
    """Write the log for ``cases`` and ``seed`` to ``path``; return the number of event rows."""
    rows = generate(cases, seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a seeded synthetic event log (CSV) for `pathway import`."
    )
    parser.add_argument("--cases", type=int, default=100_000, help="number of cases")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same file)")
    parser.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    rows = write_log(args.out, args.cases, args.seed)
    print(f"{rows:,} events of {args.cases:,} cases written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
