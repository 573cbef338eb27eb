"""The resident and staff portal: a read-only copy of what the ledger shows, kept by the sync.

``store`` holds the portal database (schema, search, eligibility, sync cursor and status) and
never imports the ledger; the web pages (``web``) read the store only.
"""
