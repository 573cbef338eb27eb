"""The ``civic`` command: sub-apps registered here; ``main`` maps errors to one red line."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Sequence

import typer
from sqlalchemy.exc import IntegrityError, OperationalError

from civic.cli.output import error
from civic.db import describe_operational_error, translate_integrity_error
from civic.errors import CivicError

SUB_APPS: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    # (module of civic.cli, name of its Typer sub-app or None for ``register(app)``, commands)
    ("ledger", None, ("init", "balance", "changes")),
    ("customers", "customers", ("customers",)),
    ("post", "post", ("post",)),
    ("imports", "import", ("import",)),
    ("tokens", "tokens", ("tokens",)),
    ("serve", "serve", ("serve",)),
    ("certify", "certify", ("certify",)),
    ("match", "match", ("match",)),
    ("merge", "merge", ("merge",)),
    ("staff", "staff", ("staff",)),
    ("sync", None, ("sync", "portal")),
    ("demo", None, ("demo",)),
    ("check", None, ("check",)),
)
"""Every top-level command, by the module that defines it. ``civic COMMAND ...`` imports only
that module (matching pulls in Splink and Arrow, the web apps FastAPI: seconds of start-up a
``civic post`` need not pay); ``civic --help`` and the ``app`` attribute import them all."""


def build_app(commands: Sequence[str] | None = None) -> typer.Typer:
    """The ``civic`` app with every command, or only the sub-apps defining ``commands``."""
    root = typer.Typer(
        name="civic",
        help="Civic Ledger: the system of record for a city utility's customers.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @root.callback()
    def _root() -> None:
        """Civic Ledger: the system of record for a city utility's customers."""

    for module_name, name, defines in SUB_APPS:
        if commands is not None and not set(commands) & set(defines):
            continue
        module = importlib.import_module(f"civic.cli.{module_name}")
        if name is None:
            module.register(root)
        else:
            root.add_typer(module.app, name=name)
    _tidy_help(root)
    return root


_app: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    """``civic.cli.main.app``: the whole app, built on first use."""
    global _app
    if name != "app":
        raise AttributeError(name)
    if _app is None:
        _app = build_app()
    return _app


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


def main() -> None:
    """Entry point: run the app; a user's mistake is one red line on stderr and exit 1.

    Usage errors (a missing argument, an unknown command) are Typer's own: a usage line and
    exit status 2.
    """
    argv = sys.argv[1:]
    known = {c for _m, _n, defines in SUB_APPS for c in defines}
    try:
        if argv and argv[0] in known:
            build_app([argv[0]])()
        else:
            build_app()()
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
