"""The candidate keys of import-time matching (``civic.matching.prevent._Pool``): however the
customers are read (many at once in aggregated values from SQLite, one row each, or by id),
they get exactly the keys that ``_K_SQL`` and ``_keys_sql`` give over their columns as stored,
and the hashed keys group customers exactly as the keys written out do."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from civic.db import read_only
from civic.demo.load import load_demo
from civic.demo.model import DemoOptions
from civic.ledger import service as ledger
from civic.matching import prevent
from tests.builders import Town

COMMUNITY = "MAPLEFALLS"


@pytest.fixture
def sample_town(engine: Engine) -> int:
    """A sample town (``civic demo``) and a few customers written awkwardly: accents, the
    separator the keying packs a row's values with, nothing but a business name, a closed
    account."""
    load_demo(
        engine, DemoOptions(seed=7, customers=500, as_of=date(2026, 10, 31), community=COMMUNITY)
    )
    town = Town(engine, community=COMMUNITY, _next_location=900000)
    town.customer("José Ñúñez", "900001-01", service_address="12 N. Main St", zip="97471-1234")
    town.customer("Ann Sep\x1farator", "900002-01", service_address="7 Elm St", zip="97471")
    town.customer(
        "Acme & Sons, Inc.",
        "900004-01",
        business=True,
        service_address="PO Box 5",
        phone="(541) 555-0101",
    )
    town.customer("Closed Account", "900005-01", service_address="1 Gone Way", status="closed")
    with read_only(engine) as s:
        return int(ledger.get_community(s, COMMUNITY).id)


def _table(con: Any, sql: str) -> list[tuple[Any, ...]]:
    return sorted(con.execute(sql).fetchall())


def _reference(session: Session, community_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """The keys computed the plain way: every column read through SQLAlchemy, ``_K_SQL`` over
    them in DuckDB."""
    import duckdb

    rows = session.execute(
        text(
            f"SELECT id, version, {', '.join(prevent._KEY_COLUMNS[1:])} FROM customers "
            "WHERE community_id = :c AND status IN ('active', 'inactive') "
            "AND merged_into_id IS NULL"
        ),
        {"c": community_id},
    ).all()
    columns = list(zip(*rows, strict=True))
    con = duckdb.connect(":memory:")
    con.register(
        "raw",
        pa.table(
            {
                "id": pa.array(columns[0], pa.int64()),
                "version": pa.array(columns[1], pa.int32()),
                **{
                    name: pa.array(values, pa.string())
                    for name, values in zip(prevent._KEY_COLUMNS[1:], columns[2:], strict=True)
                },
            }
        ),
    )
    con.execute("CREATE TABLE k AS " + prevent._K_SQL.format(source="raw"))
    out = {
        "pool": _table(con, prevent._keys_sql("k")),
        "names": _table(con, prevent._NAMES_SQL.format(k="k")),
        "seen": _table(con, "SELECT id, version FROM raw"),
        "written": _table(con, prevent._keys_sql("k", hashed=False)),
        "hashed": _table(con, prevent._keys_sql("k")),
    }
    con.close()
    return out


def _stored(pool: prevent._Pool) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "pool": _table(pool.con, "SELECT id, h FROM pool"),
        "names": _table(pool.con, "SELECT * FROM names"),
        "seen": _table(pool.con, "SELECT id, version FROM seen"),
    }


def test_every_way_of_reading_customers_gives_the_same_keys(
    engine: Engine, sample_town: int
) -> None:
    with read_only(engine) as s:
        expected = _reference(s, sample_town)
        assert len(expected["seen"]) > 400
        # a first import: every customer at once (aggregated values on SQLite)
        first = prevent._Pool(sample_town)
        first.refresh(s)
        # one row each (what a server ledger does)
        by_row = prevent._Pool(sample_town)
        ids = [row[0] for row in expected["seen"]]
        by_row._key(s, ids, above=0)
        # by id (a few new or changed customers)
        by_id = prevent._Pool(sample_town)
        by_id._key(s, ids, above=None)
        for pool in (first, by_row, by_id):
            try:
                assert _stored(pool) == {k: expected[k] for k in ("pool", "names", "seen")}
            finally:
                pool.close()


def test_aggregated_reading_gives_way_to_rows_that_hold_a_separator(
    engine: Engine, sample_town: int
) -> None:
    with read_only(engine) as s:
        if s.connection().dialect.name != "sqlite":
            pytest.skip("only SQLite ledgers are read in aggregated values")
        packed = " || :sep || ".join(
            ["CAST(id AS VARCHAR(20))", "CAST(version AS VARCHAR(20))"]
            + [f"coalesce({c}, '')" for c in prevent._KEY_COLUMNS[1:]]
        )
        assert prevent._aggregated(s, packed, sample_town, 0) is not None
    Town(engine, community=COMMUNITY).customer(
        "Rowan Break", "900003-01", service_address="8 Oak\x1e Rd", zip="97472"
    )
    with read_only(engine) as s:
        # a street holding the separator of rows: the rows are read one by one instead
        assert prevent._aggregated(s, packed, sample_town, 0) is None
        expected = _reference(s, sample_town)
        pool = prevent._Pool(sample_town)
        try:
            pool.refresh(s)
            assert _stored(pool) == {k: expected[k] for k in ("pool", "names", "seen")}
        finally:
            pool.close()


def test_hashed_keys_group_customers_as_the_written_keys_do(
    engine: Engine, sample_town: int
) -> None:
    with read_only(engine) as s:
        expected = _reference(s, sample_town)
    written, hashed = expected["written"], expected["hashed"]
    assert len(written) == len(hashed)
    by_key: dict[tuple[str, str], set[int]] = {}
    for cid, kind, key in written:
        by_key.setdefault((kind, key), set()).add(cid)
    by_hash: dict[int, set[int]] = {}
    for cid, h in hashed:
        by_hash.setdefault(h, set()).add(cid)
    assert sorted(map(sorted, by_key.values())) == sorted(map(sorted, by_hash.values()))
