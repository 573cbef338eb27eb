"""``civic serve api`` as a real process, the OpenAPI document, and the API's import rules."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

import civic

CIVIC = str(Path(sys.executable).parent / "civic")
ENDPOINTS = {
    "/api/v1/customers",
    "/api/v1/customers/{customer_id}",
    "/api/v1/customers/by-account/{account}",
    "/api/v1/customers/{customer_id}/balances",
    "/api/v1/customers/{customer_id}/transactions",
    "/api/v1/changes",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[str], seconds: float = 30) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"civic serve api exited: {proc.communicate()}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_civic_serve_api_answers_openapi(sqlite_url):
    port = free_port()
    proc = subprocess.Popen(
        [CIVIC, "serve", "api", "--port", str(port), "--db", sqlite_url, "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        r = wait_for(f"http://127.0.0.1:{port}/openapi.json", proc)
        assert r.status_code == 200
        spec = r.json()
        assert spec["info"]["title"] == "Civic Ledger API"
        assert ENDPOINTS <= set(spec["paths"])
        assert all(set(ops) == {"get"} for ops in spec["paths"].values())
        assert httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5).status_code == 200
        denied = httpx.get(f"http://127.0.0.1:{port}/api/v1/customers", timeout=5)
        assert denied.status_code == 401
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_civic_serve_api_refuses_a_missing_ledger(tmp_path):
    done = subprocess.run(
        [CIVIC, "serve", "api", "--port", str(free_port()), "--db", str(tmp_path / "none.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "run `civic init` first" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_openapi_documents_auth_money_and_errors(api):
    spec = httpx.get(f"{api.base_url}/openapi.json", timeout=10).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["token"]["scheme"].lower() == "bearer"
    schemas = spec["components"]["schemas"]
    assert schemas["BalanceOut"]["properties"]["total"]["type"] == "string"
    assert set(schemas["ErrorOut"]["properties"]) == {"error"}
    for path in ENDPOINTS:
        op = spec["paths"][path]["get"]
        assert op["security"] == [{"token": []}]
        assert op["summary"] and op["description"]
        for status in ("401", "403", "422"):
            ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorOut")


def test_the_api_does_not_import_the_cli():
    code = (
        "import sys, civic.api.app\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('civic.cli', 'typer')))\n"
        "print(','.join(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_only_the_serve_command_imports_the_api():
    src = Path(civic.__file__).parent
    importers = sorted(
        p.relative_to(src).as_posix()
        for p in src.rglob("*.py")
        if not p.is_relative_to(src / "api")
        and any(n == "civic.api" or n.startswith("civic.api.") for n in _imports(p))
    )
    assert importers == ["cli/serve.py"]


def test_the_api_imports_only_what_architecture_allows():
    allowed = ("civic.api", "civic.ledger", "civic.money", "civic.errors", "civic.db")
    allowed += ("civic.config", "civic.security", "civic.merge", "civic.matching")
    for path in (Path(civic.__file__).parent / "api").rglob("*.py"):
        ours = {n for n in _imports(path) if n.startswith("civic")}
        bad = {n for n in ours if n not in ("civic", "civic.__version__")}
        bad = {n for n in bad if not n.startswith(allowed)}
        assert not bad, f"{path.name} imports {sorted(bad)}"
