"""The ``civic`` command line (Typer + Rich): a thin shell that opens the ledger, calls one
service, renders the result, and turns a ``CivicError`` into one red line and exit status 1.
One sub-app per domain; nothing imports this package."""
