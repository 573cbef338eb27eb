"""Account numbers: ``LLLLLL-OO`` — a six-digit service location and a two-digit occupant
sequence (a new tenant at the same location gets the next sequence)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from civic.errors import InvalidInput

_DASHED = re.compile(r"^\s*(\d{1,6})\s*-\s*(\d{1,2})\s*$")
_PACKED = re.compile(r"^\s*(\d{8})\s*$")


@dataclass(frozen=True, order=True)
class AccountNumber:
    location: str
    occupant: str

    def __str__(self) -> str:
        return f"{self.location}-{self.occupant}"


def parse_account_number(text: str, field: str = "account_number") -> AccountNumber:
    """Parse ``001234-01``, ``1234-1`` or ``00123401``; anything else is a clear error."""
    m = _DASHED.match(text or "")
    if m:
        loc, occ = m.groups()
    else:
        m = _PACKED.match(text or "")
        if not m:
            raise InvalidInput(
                f"{field}: {text!r} is not an account number "
                "(expected location-occupant such as 001234-01)",
                field=field,
            )
        loc, occ = m.group(1)[:6], m.group(1)[6:]
    if int(occ) == 0:
        raise InvalidInput(
            f"{field}: occupant sequence must be 01 or more in {text!r}", field=field
        )
    return AccountNumber(loc.zfill(6), occ.zfill(2))
