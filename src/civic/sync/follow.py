"""``civic sync run --follow``: keep the portal in step, run after run, until told to stop.

Between runs it waits the shortest schedule of the portal's communities (or the interval it is
given). A failed run is recorded (``civic sync status`` shows it) and retried after a backoff
that doubles up to a ceiling and resets after a success. ``stop`` (set by Ctrl-C or SIGTERM)
ends the wait at once; a run in progress finishes its current batch and stops cleanly: a batch
is one transaction, so nothing is half-applied.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from civic.db import read_only
from civic.portal.store.tables import PortalCommunity
from civic.sync.feeds import Feed
from civic.sync.run import Progress, RunResult, sync_once

DEFAULT_INTERVAL = 1.0
MAX_BACKOFF = 60.0


@dataclass
class FollowStats:
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0


def schedule_seconds(portal: Engine, default: float = DEFAULT_INTERVAL) -> float:
    """The shortest sync interval any community asks for (``default`` when none is set)."""
    with read_only(portal) as s:
        shortest = s.scalar(select(func.min(PortalCommunity.sync_interval_seconds)))
    return float(shortest) if shortest else default


def backoff_seconds(failures: int, ceiling: float = MAX_BACKOFF) -> float:
    """1, 2, 4, ... seconds after the 1st, 2nd, 3rd failure in a row, at most ``ceiling``."""
    return float(min(ceiling, 2 ** max(0, failures - 1)))


def follow(
    feed: Feed,
    portal: Engine,
    *,
    stop: threading.Event,
    interval: float | None = None,
    batch_size: int = 500,
    max_backoff: float = MAX_BACKOFF,
    report: Callable[[Progress], None] | None = None,
    on_run: Callable[[RunResult], None] | None = None,
    on_error: Callable[[BaseException, float], None] | None = None,
    use_deltas: bool = True,
) -> FollowStats:
    """Run ``sync_once`` again and again until ``stop`` is set; returns what happened."""
    stats = FollowStats()
    while not stop.is_set():
        try:
            result = sync_once(
                feed,
                portal,
                batch_size=batch_size,
                report=report,
                stop=stop.is_set,
                use_deltas=use_deltas,
            )
        except Exception as exc:  # noqa: BLE001 - recorded, reported, retried
            stats.failures += 1
            stats.consecutive_failures += 1
            wait = backoff_seconds(stats.consecutive_failures, max_backoff)
            if on_error:
                on_error(exc, wait)
            stop.wait(wait)
            continue
        stats.runs += 1
        stats.consecutive_failures = 0
        if on_run:
            on_run(result)
        if result.caught_up:
            stop.wait(interval if interval is not None else schedule_seconds(portal))
    return stats
