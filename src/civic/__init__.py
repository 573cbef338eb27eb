"""Civic Ledger: the system of record for a municipal utility's customers.

Packages, one per domain (see ARCHITECTURE.md for which may import which):
``money`` and ``errors`` are leaf modules; ``db`` and ``config`` sit on them; ``ledger`` is the
system of record; ``api`` and ``cli`` are thin shells over the services.
"""

__version__ = "0.1.0"
