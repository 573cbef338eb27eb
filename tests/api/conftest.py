"""The ledger API over real HTTP: uvicorn serves ``create_app(engine)`` on a free port in a
background thread, and tests talk to it with httpx. Runs on both backends (``engine``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from civic.api.app import create_app
from civic.db import transaction
from civic.ledger import service, tokens
from tests.conftest import serving


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 (a port the OS picks); yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            pytest.fail("the API server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@dataclass
class LiveApi:
    """A running API over ``engine``; ``client(token)`` speaks to it."""

    base_url: str
    engine: Engine

    def token(self, *scopes: str, name: str = "test") -> str:
        with transaction(self.engine) as session:
            plaintext, _row = tokens.create(session, name, scopes)
        return plaintext

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=15)


@pytest.fixture
def api(engine: Engine) -> Iterator[LiveApi]:
    with serving(engine) as served, serve(create_app(served)) as base_url:
        yield LiveApi(base_url, engine)


@pytest.fixture
def reader(api: LiveApi) -> Iterator[httpx.Client]:
    """A client holding a ``customers:read`` token."""
    with api.client(api.token(tokens.SCOPE_CUSTOMERS_READ, name="reader")) as client:
        yield client


@pytest.fixture
def feed(api: LiveApi) -> Iterator[httpx.Client]:
    """A client holding a ``changes:read`` token."""
    with api.client(api.token(tokens.SCOPE_CHANGES_READ, name="sync")) as client:
        yield client


def customer_id(engine: Engine, account: str, community: str = "SPRINGFIELD") -> int:
    with transaction(engine) as s:
        found = service.get_customer(s, account, service.get_community(s, community))
        return found.id


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape, exactly: ``{"error": {"code", "message", "details"}}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return dict(error)
