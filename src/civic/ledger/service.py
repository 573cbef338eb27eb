"""The ledger's use-cases in one place. Each takes a ``Session``; the caller commits.

Every function here that changes a customer, its transactions, readings or orders writes the
change feed (outbox) in the same transaction; ``tests/ledger/test_outbox_coverage.py`` fails if
one is added that does not.
"""

from civic.ledger.balances import balance_report, total_balance
from civic.ledger.customers import (
    add_alert,
    add_alert_to_many,
    add_customer,
    add_ref,
    add_service,
    assign_collection_code,
    clear_alerts,
    close_customer,
    create_community,
    find_by_ref,
    get_community,
    get_customer,
    get_customer_by_id,
    get_service,
    list_communities,
    list_customers,
    normalize_ref,
    to_view,
    update_customer,
)
from civic.ledger.postings import (
    payments_by_reference,
    post_adjustment,
    post_charge,
    post_fee,
    post_payment,
    post_void,
)
from civic.ledger.records import add_order, add_reading, close_order, history

__all__ = [
    "add_alert",
    "add_alert_to_many",
    "add_customer",
    "add_order",
    "add_reading",
    "add_ref",
    "add_service",
    "assign_collection_code",
    "balance_report",
    "clear_alerts",
    "close_customer",
    "close_order",
    "create_community",
    "find_by_ref",
    "get_community",
    "get_customer",
    "get_customer_by_id",
    "get_service",
    "history",
    "list_communities",
    "list_customers",
    "normalize_ref",
    "payments_by_reference",
    "post_adjustment",
    "post_charge",
    "post_fee",
    "post_payment",
    "post_void",
    "to_view",
    "total_balance",
    "update_customer",
]
