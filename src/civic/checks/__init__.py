"""Integrity checks (the "Checkout" report): each check is one function over a ledger session
returning ``Problem`` values, listed in ``registry.CHECKS``. They find what a database
constraint cannot; what a constraint can refuse, the ledger refuses at write time."""
