"""The sample town behind ``civic demo``, the tests and the benchmarks: a deterministic,
seeded generator of customers with two years of water, sewer and garbage history (charges,
payments, fees, voided checks, delinquent balances, meter readings, orders), planted duplicate
records and hard negatives recorded in a truth file, and a fast loader into the ledger.

``generate`` (with ``planner``, ``plant``, ``people``, ``names`` and ``billing``) is pure: the
same options always give the same records. ``load`` writes them; ``truth`` records which
accounts are the same person and which only look alike. See docs/demo.md.
"""
