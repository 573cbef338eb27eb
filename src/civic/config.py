"""Settings, read once from the environment (``CIVIC_*``) and passed in; never imported deep."""

from __future__ import annotations

import os
from pathlib import Path
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
    match_backend: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="Where duplicate detection runs (CIVIC_MATCH_BACKEND): duckdb, embedded; or "
        "spark, which needs the spark extra (pip install 'civic-ledger[spark]') and Java 17 "
        "(docs/scaling.md).",
    )
    spark_master: str = Field(
        "local[2]",
        description="The Spark master for the spark match backend (CIVIC_SPARK_MASTER): "
        "local[N], or a cluster's, e.g. spark://host:7077.",
    )
    match_cache_dir: Path = Field(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "civic",
        description="Where an import into a server ledger (PostgreSQL) keeps its candidate "
        "keys between imports (CIVIC_MATCH_CACHE_DIR; a SQLite ledger keeps them beside its "
        "file). Safe to delete.",
    )
    secret_key: str | None = Field(
        None,
        description="Signs web session cookies (CIVIC_SECRET_KEY); at least 32 characters in "
        "production. Without one, outside production, a random key is made per process.",
    )
