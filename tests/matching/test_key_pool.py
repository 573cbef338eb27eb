"""The candidate keys of import-time matching (``civic.matching.prevent._Pool``): however the
customers are read (many at once in aggregated values from SQLite, one row each, or by id),
they get exactly the keys that ``_K_SQL`` and ``_keys_sql`` give over their columns as stored,
and the hashed keys group customers exactly as the keys written out do."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from civic.db import read_only, transaction
from civic.demo.load import load_demo
from civic.demo.model import DemoOptions
from civic.ledger import service as ledger
from civic.matching import prevent, records, service
from tests.builders import Town

COMMUNITY = "MAPLEFALLS"
KEPT = ("pool", "names", "seen", "refpool")


@pytest.fixture
def sample_town(engine: Engine) -> int:
    """A sample town (``civic demo``) and a few customers written awkwardly: accents, nothing
    but a business name, a closed account."""
    load_demo(
        engine, DemoOptions(seed=7, customers=500, as_of=date(2026, 10, 31), community=COMMUNITY)
    )
    town = Town(engine, community=COMMUNITY, _next_location=900000)
    town.customer("José Ñúñez", "900001-01", service_address="12 N. Main St", zip="97471-1234")
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
    refs = session.execute(
        text(
            "SELECT r.customer_id, r.ref_type, r.normalized FROM customer_refs r "
            "JOIN customers c ON c.id = r.customer_id WHERE c.community_id = :c "
            "AND c.status IN ('active', 'inactive') AND c.merged_into_id IS NULL "
            "AND r.ref_type NOT IN :location"
        ).bindparams(bindparam("location", expanding=True)),
        {"c": community_id, "location": sorted(records.LOCATION_REF_TYPES)},
    ).all()
    assert refs  # the sample town has SSR numbers
    con = duckdb.connect(":memory:")
    con.register(
        "refs",
        pa.table(
            {
                "id": pa.array([r[0] for r in refs], pa.int64()),
                "ref_type": pa.array([r[1] for r in refs], pa.string()),
                "normalized": pa.array([r[2] for r in refs], pa.string()),
            }
        ),
    )
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
        "refpool": _table(con, prevent._REF_KEYS_SQL.format(source="refs")),
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
        "refpool": _table(pool.con, "SELECT id, h FROM refpool"),
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
        # every customer above an id (what a refresh does when many changed)
        by_row = prevent._Pool(sample_town)
        ids = [row[0] for row in expected["seen"]]
        by_row._key(s, ids, above=0)
        by_row._refs(s)
        # by id (a few new or changed customers)
        by_id = prevent._Pool(sample_town)
        by_id._key(s, ids, above=None)
        by_id._refs(s)
        for pool in (first, by_row, by_id):
            try:
                assert _stored(pool) == {k: expected[k] for k in KEPT}
            finally:
                pool.close()


def test_a_value_holding_the_separator_is_read_on_its_own(engine: Engine, sample_town: int) -> None:
    """The keying reads values joined by ``_SEP``: a customer whose name holds it is read
    column by column, and everyone gets the same keys as ever."""
    with read_only(engine) as s:
        sqlite = s.connection().dialect.name == "sqlite"
        if sqlite:
            assert prevent._aggregated(s, sample_town, 0) is not None
    Town(engine, community=COMMUNITY).customer(
        "Ann Sep\x1farator", "900002-01", service_address="7 Elm St", zip="97471"
    )
    with read_only(engine) as s:
        if sqlite:  # then the rows are read one by one
            assert prevent._aggregated(s, sample_town, 0) is None
        expected = _reference(s, sample_town)
        held = text("SELECT count(*) FROM customers WHERE last_name LIKE :p")
        assert s.execute(held, {"p": "%\x1f%"}).scalar_one() == 1
        pool = prevent._Pool(sample_town)
        try:
            pool.refresh(s)
            assert _stored(pool) == {k: expected[k] for k in KEPT}
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


def test_keys_prefetched_in_the_background_are_the_keys_of_a_refresh(
    engine: Engine, sample_town: int
) -> None:
    """``ImportScreening.prefetch`` keys the community on a connection of its own while the
    import reads its file; the import then refreshes them in its own transaction, which keys
    whatever changed in between."""
    screening = prevent.ImportScreening({"a saved model": True}, 1)
    try:
        screening.prefetch(engine, sample_town)
        screening._settled()
        pool = screening._pool
        assert pool is not None
        with read_only(engine) as s:
            assert _stored(pool) == {k: _reference(s, sample_town)[k] for k in KEPT}
        Town(engine, community=COMMUNITY).customer("Late Comer", "900009-01", zip="97471")
        with read_only(engine) as s:
            pool.refresh(s)
            assert _stored(pool) == {k: _reference(s, sample_town)[k] for k in KEPT}
    finally:
        screening.close()
    assert screening._pool is None and screening._warming is None


def test_nothing_is_prefetched_when_keys_are_kept(
    engine: Engine, sample_town: int, tmp_path: Path
) -> None:
    """With keys kept from an earlier import the import's own refresh is quick: no second
    refresh in the background."""
    cache = tmp_path / "ledger"
    first = prevent.ImportScreening({"a saved model": True}, 1, cache)
    first.prefetch(engine, sample_town)
    assert first._warming is not None
    first.close()
    again = prevent.ImportScreening({"a saved model": True}, 1, cache)
    try:
        again.prefetch(engine, sample_town)
        assert again._warming is None
        assert again._pool is not None and again._pool.keyed() > 400
    finally:
        again.close()


def test_an_import_into_one_of_several_communities_keys_it_in_the_background(
    engine: Engine, sample_town: int
) -> None:
    """With a saved model, ``screening_for`` starts keying the import's community at once:
    the community named (as ``civic import --community`` passes it), or the ledger's only
    one; with several and none named it waits for the import to say which."""
    service.run(engine, actor="clerk")
    with transaction(engine) as s:
        ledger.create_community(s, "RIVERTON", "Riverton", actor="clerk")
    named = prevent.screening_for(engine, cache=False, community="maplefalls")
    try:
        assert named._warming is not None
        named._settled()
        assert named._pool is not None and named._pool.keyed() > 400
    finally:
        named.close()
    unnamed = prevent.screening_for(engine, cache=False)
    try:
        assert unnamed._warming is None
    finally:
        unnamed.close()
