"""The portal store: the portal's own database. Everything synced is written only by the sync;
the one exception is the portal's own sign-in data (``portal_users``,
``portal_user_accounts``), written by the portal web app and ``civic portal users``.

Synced customers (profile, community, account number in its normalised forms, status,
eligibility and its reason, merged-into pointer), balances per service aged by period,
transactions of the last 24 months, payment status, the search index, and the sync cursor and
status. It knows nothing of the ledger: the sync hands it ``records.CustomerRecord`` values.
"""
