"""The one-way sync from the ledger to the portal store, and the answers built on both.

``feeds`` reads the ledger (its database, or its HTTP API), ``project`` turns ledger rows into
portal records, ``run`` applies the change feed after the saved cursor (a snapshot first when
needed), ``follow`` keeps doing it, ``explain`` says why a customer is not in the portal. This
is the only package that knows both databases.
"""
