"""The ``civic`` command: sub-apps registered here; ``main`` maps errors to one red line."""

from __future__ import annotations

import inspect
import sys

import typer
from sqlalchemy.exc import IntegrityError, OperationalError

from civic.cli import (
    certify,
    check,
    customers,
    demo,
    imports,
    ledger,
    match,
    merge,
    post,
    serve,
    staff,
    sync,
    tokens,
)
from civic.cli.output import error
from civic.db import describe_operational_error, translate_integrity_error
from civic.errors import CivicError

app = typer.Typer(
    name="civic",
    help="Civic Ledger: the system of record for a city utility's customers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ledger.register(app)
app.add_typer(customers.app, name="customers")
app.add_typer(post.app, name="post")
app.add_typer(imports.app, name="import")
app.add_typer(tokens.app, name="tokens")
app.add_typer(serve.app, name="serve")
app.add_typer(certify.app, name="certify")
app.add_typer(match.app, name="match")
app.add_typer(merge.app, name="merge")
app.add_typer(staff.app, name="staff")
sync.register(app)  # civic sync, civic portal
demo.register(app)
check.register(app)


def _unwrap(doc: str) -> str:
    """A docstring as help text: paragraphs kept, the source's line breaks joined."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def _tidy_help(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            info.help = _unwrap(info.callback.__doc__)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _tidy_help(group.typer_instance)


_tidy_help(app)


def main() -> None:
    """Entry point: run the app; a user's mistake is one red line on stderr and exit 1.

    Usage errors (a missing argument, an unknown command) are Typer's own: a usage line and
    exit status 2.
    """
    try:
        app()
    except CivicError as exc:
        error(exc.message)
        sys.exit(1)
    except IntegrityError as exc:
        error(translate_integrity_error(exc).message)
        sys.exit(1)
    except OperationalError as exc:
        error(describe_operational_error(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        error("interrupted: nothing of the unfinished batch was stored")
        sys.exit(130)
