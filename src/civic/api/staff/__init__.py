"""The staff web pages of the ledger API (``/staff``): sign-in, the review queue of suspected
duplicates, merge with preview, and undo. Server-rendered with Jinja2; no front-end build."""
