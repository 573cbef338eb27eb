"""Rendering a page: the template, the signed-in user, and the session's CSRF token (a visitor
without a session gets one here, so every form carries a token)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from civic.errors import CivicError
from civic.money import format_cents
from civic.portal.web.auth import SignInRequired, jar, session_data, set_session
from civic.portal.web.views import PAYMENT_STATUS

VERDICTS = {
    "not_in_ledger": "Not in the system of record",
    "not_synced": "In the system of record, not synced yet",
    "not_eligible": "Not eligible for the portal",
    "other_community": "In another community, or beyond your permissions",
    "merged": "Merged into another record",
    "looser_query": "Found by a looser search",
    "found": "Found by this search",
}

_LOCAL_PATH = re.compile(r"/[A-Za-z0-9/_.~%?=&+-]*")
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["money"] = format_cents
TEMPLATES.env.globals["statuses"] = PAYMENT_STATUS
TEMPLATES.env.globals["verdicts"] = VERDICTS


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    data = session_data(request)
    fresh = not data or "csrf" not in data
    if fresh:
        data = jar(request).new()
    assert data is not None
    context.setdefault("user", None)
    response = TEMPLATES.TemplateResponse(
        request, name, {"csrf": data["csrf"], **context}, status_code=status_code
    )
    if fresh:
        set_session(request, response, data)
    response.headers["Cache-Control"] = "no-store"
    return response


def safe_next(target: str | None) -> str:
    """Only a path of this site (no ``//host`` or scheme): never an open redirect."""
    if target and _LOCAL_PATH.fullmatch(target) and not target.startswith("//"):
        return target
    return "/"


def error_page(request: Request, err: CivicError) -> Response:
    if isinstance(err, SignInRequired):
        target = safe_next(str(err.details.get("next") or "/"))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    return render(request, "error.html", status_code=err.status, error=err)
