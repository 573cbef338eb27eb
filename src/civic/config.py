"""Settings, read once from the environment (``CIVIC_*``) and passed in; never imported deep."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_LEDGER_URL = "sqlite:///civic.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIVIC_", extra="ignore")

    ledger_url: str = Field(
        DEFAULT_LEDGER_URL,
        description="SQLAlchemy URL of the ledger database (CIVIC_LEDGER_URL).",
    )
    api_host: str = Field("127.0.0.1", description="Address the ledger API listens on.")
    api_port: int = Field(8001, description="Port the ledger API listens on.")
    environment: Literal["development", "production"] = Field(
        "development",
        description="production refuses a missing or placeholder secret key (CIVIC_ENVIRONMENT).",
    )
    secret_key: str | None = Field(
        None,
        description="Signs web session cookies (CIVIC_SECRET_KEY); at least 32 characters in "
        "production. Without one, outside production, a random key is made per process.",
    )
