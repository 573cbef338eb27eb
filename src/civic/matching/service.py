"""Use-cases of duplicate detection: run the matcher over the ledger and store the review
queue, read the queue, decide a pair. ``run`` takes an Engine (it reads, matches outside any
transaction, then writes the queue in one transaction); the others take a Session and the
caller commits."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from civic.db import read_only, transaction
from civic.errors import Conflict, InvalidInput, NotFound
from civic.ledger.customers import audit, get_community, now
from civic.ledger.imports_base import table_of
from civic.ledger.tables import Community, Customer, CustomerRef
from civic.matching import engine as model_engine
from civic.matching import records, tiers
from civic.matching.tables import MatchCluster, MatchModel, MatchPair

PARTICIPATING = ("active", "inactive")
"""Only active and inactive customers that no merge has retired take part."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunSummary:
    records: int
    model_version: int
    trained: bool
    pairs: int
    merge_tier: int
    review_tier: int
    clusters: int
    new_pairs: int
    kept_decisions: int
    resuggested: int
    dropped: int
    seconds: float


@dataclass(frozen=True)
class Side:
    id: int
    account_number: str
    name: str
    service_address: str | None
    status: str


@dataclass(frozen=True)
class PairView:
    id: int
    left: Side
    right: Side
    match_weight: float
    match_probability: float
    tier: str
    classification: str
    cluster_id: int | None
    status: str
    reviewer: str | None
    decided_at: datetime | None
    model_version: int
    evidence: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


# -- reading the ledger --------------------------------------------------------------------------


def _display(c: Customer) -> str:
    if c.business_name:
        return c.business_name
    return " ".join(p for p in (c.first_name, c.middle_name, c.last_name, c.suffix) if p)


def load_sources(
    session: Session, community: Community | None = None
) -> tuple[list[records.SourceRecord], dict[int, int]]:
    """The participating customers as source records, and each one's version."""
    t = Customer.__table__.c
    query = select(
        t.id,
        t.community_id,
        t.account_number,
        t.first_name,
        t.middle_name,
        t.last_name,
        t.suffix,
        t.business_name,
        t.service_address,
        t.mailing_address,
        t.zip,
        t.phone,
        t.email,
        t.status,
        t.version,
    ).where(t.status.in_(PARTICIPATING), t.merged_into_id.is_(None))
    ref_query = select(CustomerRef.customer_id, CustomerRef.ref_type, CustomerRef.value).join(
        Customer, Customer.id == CustomerRef.customer_id
    )
    if community is not None:
        query = query.where(t.community_id == community.id)
        ref_query = ref_query.where(Customer.community_id == community.id)
    with records.collector_paused():  # a million records alive: see records.build
        return _read_sources(session, query, ref_query)


def _read_sources(
    session: Session, query: Any, ref_query: Any
) -> tuple[list[records.SourceRecord], dict[int, int]]:
    refs: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for cid, ref_type, value in session.execute(ref_query):
        refs[cid].append((ref_type, value))
    sources: list[records.SourceRecord] = []
    versions: dict[int, int] = {}
    no_refs: tuple[tuple[str, str], ...] = ()
    for row in session.execute(query):
        cid = row[0]
        sources.append(
            records.SourceRecord(
                cid,
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                row[7],
                row[8],
                row[9],
                row[10],
                row[11],
                row[12],
                row[13],
                tuple(refs.get(cid, no_refs)),
            )
        )
        versions[cid] = row[14]
    return sources, versions


# -- the model ---------------------------------------------------------------------------------


def latest_model(session: Session) -> MatchModel | None:
    return session.scalar(select(MatchModel).order_by(MatchModel.version.desc()).limit(1))


def save_model(session: Session, model: dict[str, Any], *, actor: str) -> MatchModel:
    last = latest_model(session)
    row = MatchModel(
        version=(last.version + 1) if last else 1,
        trained_at=now(),
        trained_by=actor,
        records=int(model.get("records", 0)),
        model=model,
    )
    session.add(row)
    session.flush()
    return row


# -- a run ---------------------------------------------------------------------------------------


def _levels(scored: model_engine.Scored) -> dict[str, str]:
    return {e.comparison: e.label for e in scored.evidence}


def _evidence(scored: model_engine.Scored) -> list[dict[str, Any]]:
    return [
        {
            "comparison": e.comparison,
            "level": e.level,
            "label": e.label,
            "match_weight": e.match_weight,
            "left": list(e.values_l),
            "right": list(e.values_r),
        }
        for e in scored.evidence
    ]


def members_key(members: Iterable[int]) -> str:
    text = ",".join(str(m) for m in sorted(members))
    return hashlib.sha256(text.encode()).hexdigest()


def run(
    engine: Engine,
    *,
    community: str | None = None,
    retrain: bool = False,
    actor: str,
    progress: Progress | None = None,
    backend: model_engine.Backend = "duckdb",
) -> RunSummary:
    """Score every plausible pair of participating customers and store the review queue
    (``backend``: where Splink runs, docs/scaling.md)."""
    say = progress or (lambda _msg: None)
    started = time.monotonic()
    say("reading customers")
    with read_only(engine) as session:
        scope = get_community(session, community) if community else None
        sources, versions = load_sources(session, scope)
        saved = None if retrain else latest_model(session)
        model = dict(saved.model) if saved else None
        model_version = saved.version if saved else 0
    if len(sources) < 2:
        raise InvalidInput("fewer than two customers take part: nothing to match")
    say(f"normalising {len(sources):,} customers")
    columns = records.build(sources)
    trained = model is None
    if model is None:
        say("training the model (unsupervised)")
        model = model_engine.train(columns, backend=backend)
    say("scoring pairs")
    prediction = model_engine.predict(
        columns, model, min_weight=tiers.REVIEW_WEIGHT, backend=backend
    )
    say("writing the review queue")
    with transaction(engine) as session:
        if trained:
            model_version = save_model(session, model, actor=actor).version
        summary = _store(
            session,
            prediction,
            versions,
            {s.id: s.community_id for s in sources},
            scope,
            model_version,
            actor,
        )
    return RunSummary(
        records=len(sources),
        model_version=model_version,
        trained=trained,
        seconds=round(time.monotonic() - started, 2),
        **summary,
    )


CLUSTERS = table_of(MatchCluster)
PAIRS = table_of(MatchPair)


def _clusters(
    session: Session,
    heads: dict[int, int],
    live: Sequence[tuple[int, int]],
    community_of: dict[int, int],
    stamp: datetime,
) -> dict[int, int]:
    """Customer id -> cluster id. The clusters are Splink's connected components of the
    scored pairs (``heads``: record -> its component); a cluster whose membership did not
    change keeps its id."""
    wanted = {i for pair in live for i in pair}
    groups: dict[int, list[int]] = defaultdict(list)
    for member in wanted:
        groups[heads.get(member, member)].append(member)
    keys = {root: members_key(members) for root, members in groups.items()}

    def known(chunk_keys: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(chunk_keys, 500):
            query = select(CLUSTERS.c.members_key, CLUSTERS.c.id).where(
                CLUSTERS.c.members_key.in_(chunk)
            )
            found.update({k: int(i) for k, i in session.execute(query)})
        return found

    ids = known(list(keys.values()))
    missing = [root for root, key in keys.items() if key not in ids]
    if missing:
        session.execute(
            insert(CLUSTERS),
            [
                {
                    "community_id": community_of[root],
                    "members_key": keys[root],
                    "size": len(groups[root]),
                    "created_at": stamp,
                    "seen_at": stamp,
                }
                for root in missing
            ],
        )
        ids.update(known([keys[root] for root in missing]))
    return {member: ids[keys[root]] for root, members in groups.items() for member in members}


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_Stored = tuple[int, str, int, int, float, str, str, int | None, int]


def _store(
    session: Session,
    prediction: model_engine.Prediction,
    versions: dict[int, int],
    community_of: dict[int, int],
    scope: Community | None,
    model_version: int,
    actor: str,
) -> dict[str, int]:
    """Write the run's suggestions in bulk: new pairs inserted, changed ones updated, pending
    pairs no longer suggested deleted; decisions kept."""
    stamp = now()
    suggestions: dict[tuple[int, int], tuple[model_engine.Scored, tiers.Suggestion]] = {}
    for scored in prediction.pairs:
        suggestion = tiers.suggest(scored.match_weight, _levels(scored))
        if suggestion.tier is not None:
            key = (min(scored.id_l, scored.id_r), max(scored.id_l, scored.id_r))
            suggestions[key] = (scored, suggestion)
    c = PAIRS.c
    query = select(
        c.customer_id_l,
        c.customer_id_r,
        c.id,
        c.status,
        c.version_l,
        c.version_r,
        c.match_weight,
        c.tier,
        c.classification,
        c.cluster_id,
        c.model_version,
    )
    if scope is not None:
        query = query.where(c.community_id == scope.id)
    stored: dict[tuple[int, int], _Stored] = {
        (int(r[0]), int(r[1])): tuple(r[2:]) for r in session.execute(query)
    }
    counts = {"new_pairs": 0, "kept_decisions": 0, "resuggested": 0, "dropped": 0}
    live: list[tuple[int, int]] = []
    for key in suggestions:
        old = stored.get(key)
        changed = old is not None and (old[2], old[3]) != (versions[key[0]], versions[key[1]])
        if old is not None and old[1] == "rejected" and not changed:
            counts["kept_decisions"] += 1
            continue
        live.append(key)
    cluster_of = _clusters(session, prediction.clusters, live, community_of, stamp)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    tiers_seen = {"merge": 0, "review": 0}
    for key in live:
        scored, suggestion = suggestions[key]
        tier = suggestion.tier or "review"
        tiers_seen[tier] += 1
        values = {
            "version_l": versions[key[0]],
            "version_r": versions[key[1]],
            "match_weight": round(scored.match_weight, 4),
            "match_probability": scored.match_probability,
            "tier": tier,
            "classification": suggestion.classification,
            "cluster_id": cluster_of.get(key[0]),
            "evidence": _evidence(scored),
            "reasons": list(suggestion.reasons),
            "model_version": model_version,
            "scored_at": stamp,
        }
        old = stored.get(key)
        if old is None:
            counts["new_pairs"] += 1
            inserts.append(
                {
                    **values,
                    "community_id": community_of[key[0]],
                    "customer_id_l": key[0],
                    "customer_id_r": key[1],
                    "status": "pending",
                    "reviewer": None,
                    "decided_at": None,
                    "first_seen_at": stamp,
                }
            )
            continue
        status = old[1]
        if status == "rejected":
            counts["resuggested"] += 1
            values.update(status="pending", reviewer=None, decided_at=None)
        elif status != "pending":
            counts["kept_decisions"] += 1
        same = (old[2], old[3], old[4], old[5], old[6], old[7], old[8]) == (
            values["version_l"],
            values["version_r"],
            values["match_weight"],
            tier,
            suggestion.classification,
            values["cluster_id"],
            model_version,
        )
        if not same or status == "rejected":
            updates.append({"pair_id": old[0], **values})
    if inserts:
        session.execute(insert(PAIRS), inserts)
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in updates:
        shapes[tuple(sorted(row))].append(row)
    for shape, rows in shapes.items():
        fields: dict[str, Any] = {k: bindparam(k) for k in shape if k != "pair_id"}
        statement = update(PAIRS).where(c.id == bindparam("pair_id")).values(**fields)
        session.connection().execute(statement, rows)
    gone = [old[0] for k, old in stored.items() if k not in suggestions and old[1] == "pending"]
    for chunk in _chunks(gone, 500):
        session.execute(delete(PAIRS).where(c.id.in_(chunk)))
    counts["dropped"] = len(gone)
    audit(session, actor, "match.run", "match_run", None, None, {**counts, **tiers_seen})
    return {
        "pairs": len(live),
        "merge_tier": tiers_seen["merge"],
        "review_tier": tiers_seen["review"],
        "clusters": len(set(cluster_of.values())),
        **counts,
    }


# -- the queue ---------------------------------------------------------------------------------


def _side(c: Customer) -> Side:
    return Side(c.id, c.account_number, _display(c), c.service_address, c.status)


def _view(pair: MatchPair, left: Customer, right: Customer) -> PairView:
    return PairView(
        id=pair.id,
        left=_side(left),
        right=_side(right),
        match_weight=pair.match_weight,
        match_probability=pair.match_probability,
        tier=pair.tier,
        classification=pair.classification,
        cluster_id=pair.cluster_id,
        status=pair.status,
        reviewer=pair.reviewer,
        decided_at=pair.decided_at,
        model_version=pair.model_version,
        evidence=list(pair.evidence),
        reasons=list(pair.reasons),
    )


def get_pair(session: Session, pair_id: int) -> PairView:
    pair = session.get(MatchPair, pair_id)
    if pair is None:
        raise NotFound(f"no suggested pair {pair_id}", pair=pair_id)
    left = session.get(Customer, pair.customer_id_l)
    right = session.get(Customer, pair.customer_id_r)
    assert left is not None and right is not None
    return _view(pair, left, right)


def _queue_query(
    session: Session,
    tier: str | None,
    status: str | None,
    community: str | None,
    communities: Sequence[str] | None,
) -> Select[MatchPair, Customer, Customer]:
    left, right = aliased(Customer), aliased(Customer)
    query = (
        select(MatchPair, left, right)
        .join(left, left.id == MatchPair.customer_id_l)
        .join(right, right.id == MatchPair.customer_id_r)
    )
    if tier:
        if tier not in ("merge", "review"):
            raise InvalidInput(f"tier: {tier!r} is not merge or review", field="tier")
        query = query.where(MatchPair.tier == tier)
    if status:
        query = query.where(MatchPair.status == status)
    if community:
        query = query.where(MatchPair.community_id == get_community(session, community).id)
    if communities is not None:
        ids = select(Community.id).where(Community.code.in_(list(communities)))
        query = query.where(MatchPair.community_id.in_(ids))
    return query


def list_pairs(
    session: Session,
    *,
    tier: str | None = None,
    status: str | None = None,
    community: str | None = None,
    communities: Sequence[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[PairView]:
    """The queue, best score first: of one ``community``, or of any of ``communities`` (a
    staff user's), ``limit`` pairs from ``offset`` (paged by the database)."""
    query = _queue_query(session, tier, status, community, communities).order_by(
        MatchPair.match_weight.desc(), MatchPair.id
    )
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [_view(p, lc, rc) for p, lc, rc in session.execute(query)]


def count_pairs(
    session: Session,
    *,
    tier: str | None = None,
    status: str | None = None,
    community: str | None = None,
    communities: Sequence[str] | None = None,
) -> int:
    """How many pairs ``list_pairs`` would list without a limit."""
    query = _queue_query(session, tier, status, community, communities)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def decide(session: Session, pair_id: int, decision: str, *, actor: str) -> PairView:
    """Accept or reject a suggestion (a merged pair is final)."""
    if decision not in ("accepted", "rejected"):
        raise InvalidInput(f"decision: {decision!r} is not accepted or rejected")
    pair = session.get(MatchPair, pair_id)
    if pair is None:
        raise NotFound(f"no suggested pair {pair_id}", pair=pair_id)
    if pair.status == "merged":
        raise Conflict(f"pair {pair_id} is already merged: undo the merge instead", pair=pair_id)
    before = pair.status
    pair.status, pair.reviewer, pair.decided_at = decision, actor, now()
    audit(
        session,
        actor,
        f"match.{decision.removesuffix('ed')}",
        "match_pair",
        pair.id,
        pair.customer_id_l,
        {"status": [before, decision], "customer_id_r": pair.customer_id_r},
    )
    session.flush()
    return get_pair(session, pair_id)
