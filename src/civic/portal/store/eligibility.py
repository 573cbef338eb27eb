"""Which customers residents and staff see in the portal (seed 001), per community.

A customer is eligible unless a rule of its community says otherwise, checked in this order:
inactive or closed account, record not marked for online access, no eligible charges or
balance (no charge or fee in the history window and no balance on a service that counts).
Ineligible customers stay in the store with the rule's reason, so ``explain`` can say why.
Pure functions: the sync calls them as it applies a record, and again over stored rows when a
community's rules change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from civic.portal.store.records import CustomerRecord

REASONS: dict[str, str] = {
    "inactive": "the account is inactive",
    "closed": "the account is closed",
    "no_online_access": "the record is not marked for online access",
    "no_eligible_charges": "the customer has no eligible charges or balance",
}
"""Reason code -> the sentence staff read."""

CHARGE_KINDS = ("CHG", "FEE")


@dataclass(frozen=True)
class Rules:
    hide_inactive: bool = True
    require_online_access: bool = True
    require_charges: bool = True
    ineligible_services: frozenset[str] = frozenset()


def evaluate(
    rules: Rules,
    *,
    status: str,
    online_access: bool,
    balances: Mapping[str, int],
    charged_services: Iterable[str],
) -> str | None:
    """The reason code the customer is not eligible, or None when it is."""
    if rules.hide_inactive and status in ("inactive", "closed"):
        return status
    if rules.require_online_access and not online_access:
        return "no_online_access"
    if rules.require_charges:
        counted = [s for s, b in balances.items() if b != 0 and s not in rules.ineligible_services]
        charged = [s for s in charged_services if s not in rules.ineligible_services]
        if not counted and not charged:
            return "no_eligible_charges"
    return None


def evaluate_record(rules: Rules, record: CustomerRecord) -> str | None:
    return evaluate(
        rules,
        status=record.status,
        online_access=record.online_access,
        balances={s.service: s.balance for s in record.services},
        charged_services={t.service for t in record.transactions if t.kind in CHARGE_KINDS},
    )


def payment_status(record: CustomerRecord) -> str:
    """``credit`` (money owed to the customer), ``paid`` (nothing owed), ``due`` (only the
    newest period of each service is unpaid) or ``past_due`` (an older period is unpaid)."""
    total = record.balance
    if total < 0:
        return "credit"
    if total == 0:
        return "paid"
    for service in record.services:
        if any(p.age > 0 and p.outstanding > 0 for p in service.periods):
            return "past_due"
    return "due"


def last_payment(record: CustomerRecord) -> tuple[date | None, int | None]:
    """(date, cents paid as a positive number) of the newest payment in the window that was
    not voided."""
    voided = {t.voids_id for t in record.transactions if t.kind == "VOID"}
    for t in record.transactions:
        if t.kind == "PAY" and t.id not in voided:
            return t.txn_date, -t.amount
    return None, None
