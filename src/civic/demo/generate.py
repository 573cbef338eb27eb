"""Generate the sample town from a seed: customers block by block, each customer's history,
and the truth of the planted duplicates and look-alikes.

Pure and deterministic: ``random.Random`` seeded from the options, never the global generator
and never today's date. The town is planned in blocks of up to 5,000 customers, each from its
own generator, so a million customers never sit in memory at once; a customer's history has its
own generator too, so it does not depend on how the loader batches customers.
"""

from __future__ import annotations

from collections.abc import Iterator

from civic.demo.billing import history
from civic.demo.model import Calendar, DemoCustomer, DemoOptions, History
from civic.demo.planner import BLOCK_SIZE, Block, Planner
from civic.demo.plant import PLANTERS
from civic.demo.truth import TruthGroup

RATES: dict[str, int] = {
    "name_typo": 8,
    "transposed_letters": 6,
    "street_format": 8,
    "unit_format": 4,
    "punctuation": 4,
    "nickname": 8,
    "zip_format": 5,
    "phone_format": 5,
    "imported_twice": 6,
    "same_customer_several_accounts": 4,
    "consolidated_billing": 2,
    "successive_tenants": 80,
    "household_members": 6,
    "father_son": 3,
    "common_name": 5,
}
"""Groups planted per 1,000 customers of each truth kind (at least one in every block)."""

__all__ = [
    "RATES",
    "Block",
    "block_sizes",
    "customer_history",
    "plan",
    "plan_block",
    "town_truth",
]


def block_sizes(total: int) -> list[int]:
    """Split ``total`` customers into blocks of at most ``BLOCK_SIZE``, as equal as possible."""
    count = -(-total // BLOCK_SIZE)
    return [total // count + (1 if i < total % count else 0) for i in range(count)]


def plan(options: DemoOptions) -> Iterator[Block]:
    """The town's customers and truth, block by block."""
    for index, size in enumerate(block_sizes(options.customers)):
        yield plan_block(options, index, size)


def plan_block(options: DemoOptions, index: int, size: int) -> Block:
    """Block ``index`` of ``size`` customers: the planted groups first, then ordinary
    locations until the block holds exactly ``size`` customers."""
    planner = Planner(options, index, size)
    for kind, rate in RATES.items():
        for _ in range(max(1, (rate * size + 500) // 1000)):
            PLANTERS[kind](planner)
    while planner.count < size:
        planner.ordinary()
    return planner.finish()


def customer_history(customer: DemoCustomer, options: DemoOptions) -> History:
    """Transactions, meter readings and orders of one customer."""
    return history(customer, Calendar.for_as_of(options.as_of), options.seed)


def town_truth(options: DemoOptions) -> list[TruthGroup]:
    """Every truth group of the town (plans the blocks; no histories)."""
    return [group for block in plan(options) for group in block.truth]
