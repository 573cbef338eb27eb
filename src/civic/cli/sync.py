"""``civic sync run | status``: keep the portal store in step with the ledger (``civic.sync``)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from civic.cli.common import JsonOption, open_engine, sqlite_path
from civic.cli.output import console, err_console, error, note, print_json
from civic.db import make_engine, read_only
from civic.errors import CivicError, InvalidInput
from civic.portal.store import migrate
from civic.portal.store import state as store_state
from civic.sync import run as sync_run
from civic.sync.feeds import Feed, HttpFeed, LedgerFeed
from civic.sync.follow import follow

DEFAULT_PORTAL_URL = "sqlite:///portal.db"

app = typer.Typer(
    help="Keep the portal store in step with the ledger: a one-way sync of the change feed.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    """Add ``civic sync`` and ``civic portal`` to the ``civic`` command."""
    from civic.cli import portal

    root.add_typer(app, name="sync")
    root.add_typer(portal.app, name="portal")


LedgerOption = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        envvar="CIVIC_LEDGER_URL",
        help="Ledger database to read directly: a SQLite path or a URL "
        "(default ./civic.db; env CIVIC_LEDGER_URL). Not used with --feed-url.",
        show_default=False,
    ),
]
PortalOption = Annotated[
    str | None,
    typer.Option(
        "--portal",
        envvar="CIVIC_PORTAL_URL",
        help="Portal store: a SQLite path or a URL such as postgresql://user@host/portal "
        "(default ./portal.db; env CIVIC_PORTAL_URL).",
        show_default=False,
    ),
]
FeedUrlOption = Annotated[
    str | None,
    typer.Option(
        "--feed-url",
        envvar="CIVIC_FEED_URL",
        help="Read the ledger over its HTTP API instead, e.g. http://ledger:8001 "
        "(env CIVIC_FEED_URL).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="CIVIC_FEED_TOKEN",
        help="API token with scopes changes:read and customers:read, from `civic tokens "
        "create` (env CIVIC_FEED_TOKEN).",
        show_default=False,
    ),
]


def portal_url(url: str | None) -> str:
    return url or DEFAULT_PORTAL_URL


def open_portal(url: str | None, *, create: bool = False, serving: bool = False) -> Engine:
    """The portal store; with ``create`` it is made or migrated to the newest schema, else it
    must already exist (``civic sync run`` makes it). ``serving``: for the web server, which
    keeps its SQLite connections open between requests (``make_engine``)."""
    target = portal_url(url)
    path = sqlite_path(target)
    if not create and path is not None and not path.exists():
        raise CivicError(f"no portal store at {path}: run `civic sync run` first")
    if create and path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(target, serving=serving)
    if create:
        migrate.upgrade(engine)
    elif not inspect(engine).has_table("portal_customers"):
        raise CivicError(f"no portal store at {target}: run `civic sync run` first")
    elif migrate.current_revision(engine) != migrate.head_revision(engine):
        raise CivicError(f"the portal store at {target} needs migrating: run `civic sync run`")
    return engine


def open_feed(ledger: str | None, feed_url: str | None, token: str | None) -> Feed:
    if feed_url:
        if not token:
            raise InvalidInput("--feed-url needs --token (scopes changes:read, customers:read)")
        return HttpFeed(feed_url, token)
    if token:
        raise InvalidInput("--token goes with --feed-url")
    return LedgerFeed(open_engine(ledger))


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM (for a clean stop between batches)."""
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _result_dict(result: sync_run.RunResult) -> dict[str, Any]:
    return {
        "snapshot": result.snapshot,
        "batches": result.batches,
        "changes": result.changes,
        "inserted": result.applied.inserted,
        "updated": result.applied.updated,
        "unchanged": result.applied.unchanged,
        "cursor": result.cursor,
        "latest_seq": result.latest,
        "caught_up": result.caught_up,
        "lag_changes": result.lag_changes,
        "lag_seconds": round(result.lag_seconds, 3),
        "stopped": result.stopped,
    }


def _summary(result: sync_run.RunResult) -> str:
    what = "snapshot and feed" if result.snapshot else "feed"
    return (
        f"Synced ({what}): {result.changes} changes in {result.batches} batches; "
        f"{result.applied.inserted} customers added, {result.applied.updated} updated, "
        f"{result.applied.unchanged} unchanged; cursor {result.cursor} of {result.latest}."
    )


@app.command("run")
def run(
    ledger: LedgerOption = None,
    portal: PortalOption = None,
    feed_url: FeedUrlOption = None,
    token: TokenOption = None,
    follow_: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Keep syncing on the communities' schedule until Ctrl-C or SIGTERM, with "
            "backoff after errors.",
        ),
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=0.05,
            help="With --follow: seconds between runs (default: the shortest community schedule).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=10_000, help="Changes applied per transaction."),
    ] = sync_run.BATCH,
    deltas: Annotated[
        bool,
        typer.Option(
            "--deltas/--no-deltas",
            help="Apply new postings to customers already in the portal from their stored "
            "state (the delta path); --no-deltas re-reads every changed customer in full.",
        ),
    ] = True,
    json_out: JsonOption = False,
) -> None:
    """Apply the ledger's changes after the saved cursor to the portal store.

    The first run (or one that fell behind the ledger's retention) copies every customer
    first. Each batch commits with its cursor: an interrupted run loses nothing and the next
    one resumes.
    """
    feed = open_feed(ledger, feed_url, token)
    try:
        engine = open_portal(portal, create=True)
    except BaseException:
        feed.close()
        raise
    try:
        if follow_:
            _follow(feed, engine, interval, batch_size, json_out, deltas)
            return
        with (
            stop_on_signals() as stop,
            Progress(
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
                disable=json_out,
            ) as bar,
        ):
            task = bar.add_task("Syncing", total=None)

            def report(p: sync_run.Progress) -> None:
                bar.update(
                    task,
                    description=f"Syncing ({p.phase}): cursor {p.cursor} of {p.latest}, "
                    f"{p.customers} customers in the last step",
                )

            result = sync_run.sync_once(
                feed,
                engine,
                batch_size=batch_size,
                report=report,
                stop=stop.is_set,
                use_deltas=deltas,
            )
        if json_out:
            print_json(_result_dict(result))
        else:
            console.print(_summary(result))
            if result.stopped:
                note("Stopped before the end; the next run resumes from the cursor.")
    finally:
        feed.close()
        engine.dispose()


def _follow(
    feed: Feed,
    engine: Engine,
    interval: float | None,
    batch_size: int,
    json_out: bool,
    deltas: bool = True,
) -> None:
    import json

    def on_run(result: sync_run.RunResult) -> None:
        if result.changes or result.snapshot:
            if json_out:
                console.file.write(json.dumps(_result_dict(result)) + "\n")
                console.file.flush()
            else:
                console.print(_summary(result))

    def on_error(exc: BaseException, wait: float) -> None:
        message = getattr(exc, "message", None) or str(exc)
        error(f"sync failed: {message}; retrying in {wait:.0f} s")

    with stop_on_signals() as stop:
        if not json_out:
            note(f"Following {feed.source}; Ctrl+C stops after the current batch.")
        stats = follow(
            feed,
            engine,
            stop=stop,
            interval=interval,
            batch_size=batch_size,
            on_run=on_run,
            on_error=on_error,
            use_deltas=deltas,
        )
    if not json_out:
        note(f"Stopped after {stats.runs} runs ({stats.failures} failed).")


def _status_dict(status: store_state.SyncStatus, live_latest: int | None) -> dict[str, Any]:
    data = asdict(status)
    data["healthy"] = status.healthy
    data["communities"] = list(status.communities)
    if live_latest is not None:
        data["ledger_latest_seq"] = live_latest
        data["behind_changes"] = max(0, live_latest - (status.cursor or 0))
    return data


@app.command("status")
def status(
    portal: PortalOption = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            help="Also ask this ledger database how far behind the portal is now.",
            show_default=False,
        ),
    ] = None,
    feed_url: FeedUrlOption = None,
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """When the sync last ran and succeeded, its last error, and how far behind the ledger the
    portal is (changes and seconds)."""
    engine = open_portal(portal)
    try:
        with read_only(engine) as s:
            st = store_state.status(s)
    finally:
        engine.dispose()
    live: int | None = None
    if ledger or feed_url:
        feed = open_feed(ledger, feed_url, token)
        try:
            live = feed.latest()
        finally:
            feed.close()
    if json_out:
        print_json(_status_dict(st, live))
        return
    table = Table(show_header=False, box=None)
    table.add_row("source", st.source or "-")
    table.add_row("cursor", str(st.cursor) if st.cursor is not None else "none (never synced)")
    if st.snapshot_in_progress:
        table.add_row("snapshot", "in progress (the next run resumes it)")
    table.add_row("last run", _when(st.last_started_at))
    table.add_row("last success", _when(st.last_success_at))
    if st.lag_changes is not None:
        table.add_row(
            "behind then", f"{st.lag_changes} changes, {st.lag_seconds or 0:.1f} s at last success"
        )
    if live is not None:
        table.add_row("behind now", f"{max(0, live - (st.cursor or 0))} changes (ledger at {live})")
    table.add_row("next sync due", _when(st.next_due_at))
    table.add_row("customers", f"{st.customers} synced, {st.visible} shown in search")
    table.add_row("communities", ", ".join(st.communities) or "-")
    if st.last_error:
        table.add_row("last error", f"{st.last_error} ({_when(st.last_error_at)})")
    console.print(table)
    if not st.healthy:
        note("The last run did not succeed (or none has yet): see the last error.")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "-"
