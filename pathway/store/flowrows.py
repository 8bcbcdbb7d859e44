"""Persist :class:`pathway.flow.FlowState` and its derived rows in the SQL store.

The engine path folds one event at a time (load the case's flow row, step, write the changes);
the import path folds whole cases in memory and writes their rows in bulk with the same columns.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from ..flow import EpisodeRow, FlowState, HandoffRow

FLOW_COLUMNS = (
    "case_id", "first_at", "last_at", "first_team", "first_team_at", "last_team", "last_organisation",
    "prev_team", "handoffs", "episode_n", "open_n", "open_team", "open_organisation",
    "open_start", "events",
)  # fmt: skip

FLOW_UPSERT = (
    f"INSERT OR REPLACE INTO case_flow ({', '.join(FLOW_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(FLOW_COLUMNS))})"
)
EPISODE_INSERT = "INSERT INTO episodes (case_id, n, team, organisation, start_at, end_at) VALUES (?, ?, ?, ?, ?, ?)"
EPISODE_CLOSE = "UPDATE episodes SET end_at = ? WHERE case_id = ? AND n = ?"
HANDOFF_INSERT = (
    "INSERT INTO handoffs (case_id, n, at, from_team, to_team, from_organisation, "
    "to_organisation, crossing, ping_pong) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def flow_row(state: FlowState) -> tuple[Any, ...]:
    episode = state.open_episode
    return (
        state.case_id, state.first_at, state.last_at, state.first_team, state.first_team_at,
        state.last_team,
        state.last_organisation, state.prev_team, state.handoffs, state.episode_n,
        episode.n if episode else None, episode.team if episode else None,
        episode.organisation if episode else None, episode.start if episode else None,
        state.events,
    )  # fmt: skip


def episode_row(episode: EpisodeRow) -> tuple[Any, ...]:
    return (
        episode.case_id,
        episode.n,
        episode.team,
        episode.organisation,
        episode.start,
        episode.end,
    )


def handoff_row(handoff: HandoffRow) -> tuple[Any, ...]:
    return (
        handoff.case_id, handoff.n, handoff.at, handoff.from_team, handoff.to_team,
        handoff.from_organisation, handoff.to_organisation, int(handoff.crossing),
        int(handoff.ping_pong),
    )  # fmt: skip


def load_flow(conn: sqlite3.Connection, case_id: str) -> FlowState:
    """The case's flow state (a fresh one for a case with no applied event yet)."""
    row = conn.execute(
        f"SELECT {', '.join(FLOW_COLUMNS)} FROM case_flow WHERE case_id = ?", (case_id,)
    ).fetchone()
    if row is None:
        return FlowState(case_id)
    (cid, first_at, last_at, first_team, first_team_at, last_team, last_org, prev_team, handoffs,
     episode_n, open_n, open_team, open_org, open_start, events) = row  # fmt: skip
    episode = (
        EpisodeRow(cid, open_n, open_team, open_org, open_start) if open_n is not None else None
    )
    return FlowState(
        case_id=cid, first_at=first_at, last_at=last_at, first_team=first_team,
        first_team_at=first_team_at,
        last_team=last_team, last_organisation=last_org, prev_team=prev_team,
        handoffs=handoffs, episode_n=episode_n, open_episode=episode, events=events,
    )  # fmt: skip


def write_flow_changes(
    conn: sqlite3.Connection,
    state: FlowState,
    closed: EpisodeRow | None,
    opened: EpisodeRow | None,
    handoff: HandoffRow | None,
) -> None:
    """Write one fold step: close/open episodes, add the handoff, save the flow state."""
    if closed is not None:
        conn.execute(EPISODE_CLOSE, (closed.end, closed.case_id, closed.n))
    if opened is not None:
        conn.execute(EPISODE_INSERT, episode_row(opened))
    if handoff is not None:
        conn.execute(HANDOFF_INSERT, handoff_row(handoff))
    conn.execute(FLOW_UPSERT, flow_row(state))


def write_bulk(
    conn: sqlite3.Connection,
    states: Iterable[FlowState],
    episodes: Iterable[EpisodeRow],
    handoffs: Iterable[HandoffRow],
) -> None:
    """Write whole cases folded in memory (episodes complete with their ends)."""
    conn.executemany(EPISODE_INSERT, (episode_row(e) for e in episodes))
    conn.executemany(HANDOFF_INSERT, (handoff_row(h) for h in handoffs))
    conn.executemany(FLOW_UPSERT, (flow_row(s) for s in states))
