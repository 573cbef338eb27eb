"""The list of integrity checks ``civic check`` runs, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from sqlalchemy.orm import Session

from civic.checks import billing, certifications, orphans, readings, voids
from civic.errors import Problem

Check = Callable[[Session], Iterable[Problem]]

CHECKS: tuple[tuple[str, str, Check], ...] = (
    (voids.NAME, "more than one void for the same payment or check", voids.check),
    (readings.NAME, "more than one meter reading for a meter in one period", readings.check),
    (billing.NAME, "consolidated billing without an active master account", billing.check),
    (orphans.NAME, "records whose customer does not exist", orphans.check),
    (orphans.MERGED_NAME, "records left on a customer that a merge retired", orphans.check_merged),
    (certifications.NAME, "certifications posted more than once", certifications.check),
)


def run_checks(session: Session, only: Iterable[str] | None = None) -> Iterator[Problem]:
    wanted = set(only) if only else None
    for name, _, check in CHECKS:
        if wanted is None or name in wanted:
            yield from check(session)
