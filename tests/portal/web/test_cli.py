"""``civic portal users`` and ``civic serve portal`` as an operator runs them: real processes
over real SQLite files."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.cli.test_cli import CIVIC, run
from tests.sync.test_cli import _ledger


def _synced(tmp_path: Path) -> tuple[str, str]:
    db = _ledger(tmp_path)
    portal = str(tmp_path / "portal.db")
    run("sync", "run", "--ledger", db, "--portal", portal)
    return db, portal


def _add(portal: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CIVIC, "portal", "users", "add", *args, "--portal", portal, "--password-stdin"],
        input="correct horse battery\n",
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
    )


def test_users_add_list_disable(tmp_path: Path) -> None:
    _db, portal = _synced(tmp_path)
    added = _add(portal, "cleo", "--role", "clerk", "-c", "springfield", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["communities"] == ["SPRINGFIELD"]
    unknown = _add(portal, "zed", "-c", "NOWHERE")
    assert unknown.returncode == 1 and "no community NOWHERE" in unknown.stderr
    listed = json.loads(run("portal", "users", "list", "--portal", portal, "--json").stdout)
    assert listed == [{"username": "cleo", "role": "clerk", "communities": ["SPRINGFIELD"]}]
    run("portal", "users", "disable", "cleo", "--portal", portal)
    assert json.loads(run("portal", "users", "list", "--portal", portal, "--json").stdout) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_portal_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    db, portal = _synced(tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [CIVIC, "serve", "portal", "--portal", portal, "--ledger", db, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.2)
        assert r.status_code == 200 and "Sign in" in r.text
        assert "httponly" in r.headers["set-cookie"].lower()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_production_without_a_real_secret_refuses_to_start(tmp_path: Path) -> None:
    _db, portal = _synced(tmp_path)
    env = {**os.environ, "NO_COLOR": "1", "CIVIC_ENVIRONMENT": "production"}
    env.pop("CIVIC_SECRET_KEY", None)
    result = subprocess.run(
        [CIVIC, "serve", "portal", "--portal", portal, "--port", str(_free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1 and "secret key" in result.stderr


def test_bill_shows_what_a_resident_needs_to_register(tmp_path: Path) -> None:
    _db, portal = _synced(tmp_path)
    facts = json.loads(run("portal", "bill", "1234-1", "--portal", portal, "--json").stdout)
    assert facts["account_number"] == "001234-01" and facts["name"] == "O'Brien"
    assert facts["last_bill"] == "68.27" and facts["last_bill_period"] == "2026-10-31"
    example = json.loads(run("portal", "bill", "--portal", portal, "--json").stdout)
    assert example == facts  # the only account with a bill
    missing = run("portal", "bill", "9999-1", "--portal", portal, ok=False)
    assert missing.returncode == 1 and "no account 9999-1" in missing.stderr
