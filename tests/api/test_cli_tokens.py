"""``civic tokens create | list | revoke`` on a SQLite ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from civic.cli.main import app
from civic.db import make_engine, read_only, transaction
from civic.errors import Unauthorized
from civic.ledger import tokens
from civic.ledger.tables import ApiToken

CIVIC = str(Path(sys.executable).parent / "civic")
runner = CliRunner()


def civic(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def test_create_prints_the_token_once_and_stores_its_hash(sqlite_url):
    out = civic("tokens", "create", "portal-sync", "--scope", "changes:read", "--db", sqlite_url)

    assert "cannot be shown again" in out
    (plaintext,) = [line for line in out.splitlines() if line.startswith("cl_")]
    engine = make_engine(sqlite_url)
    try:
        with transaction(engine) as s:
            row = tokens.verify(s, plaintext, tokens.SCOPE_CHANGES_READ)
            assert row.name == "portal-sync"
            assert row.token_hash != plaintext and plaintext not in row.prefix
    finally:
        engine.dispose()


def test_create_json_for_scripts(sqlite_url):
    out = civic(
        "tokens", "create", "ops", "-s", "customers:read", "-s", "changes:read",
        "--db", sqlite_url, "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert data["token"].startswith("cl_") and data["prefix"] == data["token"][:11]
    assert data["scopes"] == ["customers:read", "changes:read"]
    assert (data["name"], data["active"], data["revoked_at"]) == ("ops", True, None)


def test_list_and_revoke(sqlite_url):
    first = json.loads(
        civic("tokens", "create", "a", "-s", "customers:read", "--db", sqlite_url, "--json")
    )
    civic("tokens", "create", "b", "-s", "changes:read", "--db", sqlite_url)

    listed = json.loads(civic("tokens", "list", "--db", sqlite_url, "--json"))
    assert [(t["name"], t["scopes"], t["active"]) for t in listed] == [
        ("a", ["customers:read"], True),
        ("b", ["changes:read"], True),
    ]
    assert all("token" not in t for t in listed)
    assert first["token"] not in civic("tokens", "list", "--db", sqlite_url)

    out = civic("tokens", "revoke", str(first["id"]), "--db", sqlite_url)
    assert f"Revoked API token {first['id']}" in out
    listed = json.loads(civic("tokens", "list", "--db", sqlite_url, "--json"))
    assert [t["active"] for t in listed] == [False, True]
    active = json.loads(civic("tokens", "list", "--active", "--db", sqlite_url, "--json"))
    assert [t["name"] for t in active] == ["b"]
    table = civic("tokens", "list", "--db", sqlite_url)
    assert "2 API tokens" in table and first["prefix"] in table

    engine = make_engine(sqlite_url)
    try:
        with read_only(engine) as s, pytest.raises(Unauthorized):
            tokens.authenticate(s, first["token"], tokens.SCOPE_CUSTOMERS_READ)
        with read_only(engine) as s:
            assert s.get(ApiToken, first["id"]).revoked_at is not None
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "x", "--scope", "customers:write"], "customers:write is not a scope"),
        (["revoke", "99"], "no API token with id 99"),
    ],
)
def test_mistakes_are_one_red_line_and_exit_1(sqlite_url, args, message):
    done = subprocess.run(
        [CIVIC, "tokens", *args, "--db", sqlite_url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: {done.stderr.strip()[7:]}"]
    assert message in done.stderr
    assert done.stdout == ""


def test_a_missing_scope_option_is_a_usage_error(sqlite_url):
    result = runner.invoke(app, ["tokens", "create", "x", "--db", sqlite_url])
    assert result.exit_code == 2
    assert "--scope" in result.output


@pytest.mark.parametrize("sub", ["tokens", "serve"])
def test_every_command_and_option_has_help(sub):
    # Typer vendors its own click: walk the tree by duck typing, not isinstance.
    group = typer.main.get_command(app).commands[sub]  # type: ignore[attr-defined]
    assert group.help and "not yet available" not in group.help
    commands = group.commands
    assert commands
    for name, command in commands.items():
        assert command.help, f"{name} has no help"
        for param in command.params:
            assert param.help, f"{name} {param.name} has no help"
