"""`civic staff add | list | disable`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.cli.test_cli import CIVIC, run


def test_add_list_and_disable_staff(tmp_path: Path) -> None:
    db = str(tmp_path / "civic.db")
    run("init", "--db", db, "--community", "SPRINGFIELD", "--name", "Springfield")
    env = {**os.environ, "CIVIC_LEDGER_URL": db, "CIVIC_ACTOR": "admin"}
    add = [CIVIC, "staff", "add", "sue", "-c", "springfield", "--role", "supervisor"]
    done = subprocess.run(
        [*add, "--password-stdin"], input="long enough pw\n", text=True, capture_output=True,
        env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Added staff user sue (supervisor; SPRINGFIELD)" in done.stdout
    again = subprocess.run(
        [*add, "--password-stdin"], input="long enough pw\n", text=True, capture_output=True,
        env=env, check=False,
    )  # fmt: skip
    assert again.returncode == 1 and "already exists" in again.stderr
    weak = subprocess.run(
        [CIVIC, "staff", "add", "bo", "-c", "SPRINGFIELD", "--password-stdin"],
        input="short\n", text=True, capture_output=True, env=env, check=False,
    )  # fmt: skip
    assert weak.returncode == 1 and "at least 8 characters" in weak.stderr
    listed = json.loads(run("staff", "list", "--json", db=db).stdout)
    assert listed == [{"username": "sue", "role": "supervisor", "communities": ["SPRINGFIELD"]}]
    run("staff", "disable", "sue", db=db)
    assert json.loads(run("staff", "list", "--json", db=db).stdout) == []
