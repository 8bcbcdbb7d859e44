"""Persist :class:`pathway.flow.FlowState` and its derived rows in the SQL store.

The flow state of a case lives in its ``cases`` row (the ``FLOW_COLUMNS``), read with the case
and written in the same UPDATE as the case, so keeping the reports' rows in step costs the engine
no extra round trip; the view ``case_flow`` shows them to the reports. Episodes and handoffs have
tables of their own. The import path folds whole cases in memory and writes the same columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..flow import EpisodeRow, FlowState, HandoffRow

FLOW_COLUMNS = (
    "first_at", "first_team", "first_team_at", "last_team", "last_organisation", "prev_team",
    "handoffs", "episode_n", "open_n", "open_team", "open_organisation", "open_start",
    "ping_pongs", "crossings", "team_sequence",
)  # fmt: skip
"""The flow state's columns in the ``cases`` table, in this order."""

EPISODE_COLUMNS = ("case_id", "n", "team", "organisation", "start_at", "end_at", "seconds")
HANDOFF_COLUMNS = (
    "case_id", "n", "at", "from_team", "to_team", "from_organisation", "to_organisation",
    "crossing", "ping_pong",
)  # fmt: skip
EPISODE_INSERT = (
    f"INSERT INTO closed_episodes ({', '.join(EPISODE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EPISODE_COLUMNS))})"
)
HANDOFF_INSERT = (
    f"INSERT INTO handoffs ({', '.join(HANDOFF_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(HANDOFF_COLUMNS))})"
)


def flow_values(state: FlowState) -> tuple[Any, ...]:
    """The values of ``FLOW_COLUMNS`` for a flow state."""
    episode = state.open_episode
    return (
        state.first_at, state.first_team, state.first_team_at, state.last_team,
        state.last_organisation, state.prev_team, state.handoffs, state.episode_n,
        episode.n if episode else None, episode.team if episode else None,
        episode.organisation if episode else None, episode.start if episode else None,
        state.ping_pongs, state.crossings, state.teams,
    )  # fmt: skip


def flow_from_values(case_id: str, values: Sequence[Any]) -> FlowState:
    """Rebuild a case's flow state from its ``FLOW_COLUMNS`` values."""
    (first_at, first_team, first_team_at, last_team, last_org, prev_team, handoffs, episode_n,
     open_n, open_team, open_org, open_start, ping_pongs, crossings, teams) = values  # fmt: skip
    episode = (
        EpisodeRow(case_id, open_n, open_team, open_org, open_start) if open_n is not None else None
    )
    return FlowState(
        case_id=case_id, first_at=first_at, first_team=first_team, first_team_at=first_team_at,
        last_team=last_team, last_organisation=last_org, prev_team=prev_team,
        handoffs=handoffs or 0, episode_n=episode_n or 0, open_episode=episode,
        ping_pongs=ping_pongs or 0, crossings=crossings or 0, teams=teams or "",
    )  # fmt: skip


def episode_row(episode: EpisodeRow) -> tuple[Any, ...]:
    """The ``closed_episodes`` row values of an episode."""
    return (
        episode.case_id,
        episode.n,
        episode.team,
        episode.organisation,
        episode.start,
        episode.end,
        episode.end - episode.start if episode.end is not None else None,
    )


def handoff_row(handoff: HandoffRow) -> tuple[Any, ...]:
    """The ``handoffs`` row values of a handoff."""
    return (
        handoff.case_id, handoff.n, handoff.at, handoff.from_team, handoff.to_team,
        handoff.from_organisation, handoff.to_organisation, int(handoff.crossing),
        int(handoff.ping_pong),
    )  # fmt: skip


def step_rows(
    closed: EpisodeRow | None, handoff: HandoffRow | None
) -> list[tuple[str, tuple[Any, ...]]]:
    """The INSERTs (statement, values) of one fold step's derived rows (the open episode goes
    with the case row)."""
    rows: list[tuple[str, tuple[Any, ...]]] = []
    if closed is not None:
        rows.append((EPISODE_INSERT, episode_row(closed)))
    if handoff is not None:
        rows.append((HANDOFF_INSERT, handoff_row(handoff)))
    return rows


def write_step(
    conn: Any,
    closed: EpisodeRow | None,
    opened: EpisodeRow | None,
    handoff: HandoffRow | None,
) -> None:
    """Write the derived rows of one fold step (the open episode goes with the case row)."""
    for statement, values in step_rows(closed, handoff):
        conn.execute(statement, values)


def write_bulk(conn: Any, episodes: Iterable[EpisodeRow], handoffs: Iterable[HandoffRow]) -> None:
    """Write the closed episodes and the handoffs of whole imported cases."""
    conn.executemany(EPISODE_INSERT, (episode_row(e) for e in episodes))
    conn.executemany(HANDOFF_INSERT, (handoff_row(h) for h in handoffs))
