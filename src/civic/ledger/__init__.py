"""The system of record: communities, services, billing periods, customers, the append-only
transaction ledger, meter readings, orders, the audit log and the outbox (change feed).

Use-cases live in ``service`` (a facade over ``customers``, ``postings``, ``records``,
``balances``); each takes a ``Session`` and never commits — the caller owns the transaction.
"""
