"""The portal store: the portal's own database, written only by the sync.

Synced customers (profile, community, account number in its normalised forms, status,
eligibility and its reason, merged-into pointer), balances per service aged by period,
transactions of the last 24 months, payment status, the search index, and the sync cursor and
status. It knows nothing of the ledger: the sync hands it ``records.CustomerRecord`` values.
"""
