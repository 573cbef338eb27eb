"""Rendering for the CLI: tables, JSON, and the one place errors become a red line."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_default, indent=2, ensure_ascii=False)


def print_json(value: Any) -> None:
    sys.stdout.write(to_json(value) + "\n")


def error(message: str) -> None:
    """One red line on stderr (Rich markup in ``message`` is not interpreted)."""
    from rich.text import Text

    err_console.print(Text(f"error: {message}", style="bold red"))


def note(message: str) -> None:
    from rich.text import Text

    err_console.print(Text(message, style="yellow"))
