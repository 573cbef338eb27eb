"""The ledger's HTTP API: a read-only customer query service and the change feed.

``app.create_app`` builds the FastAPI application (OpenAPI at ``/docs``); one router module per
area (``customers``, ``changes``) answers under ``/api/v1``. Requests carry a bearer token made
by ``civic tokens create`` and checked by ``civic.ledger.tokens``; every error, FastAPI's own
included, is answered with one JSON shape by ``errors``. The API is a shell: it opens a
read-only session per request, calls ``civic.ledger`` services and renders what they return.
Nothing imports this package, and it imports nothing from ``civic.cli``.
"""
