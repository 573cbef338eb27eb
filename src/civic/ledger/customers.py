"""Communities, services and customer accounts: create, find, update (with optimistic
concurrency), close, external references and alert messages. Every change is audited and
written to the outbox in the caller's transaction."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import String, Table, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from civic.errors import Conflict, CustomerNotFound, InvalidInput, NotFound, StaleUpdate
from civic.ledger import outbox
from civic.ledger.accounts import parse_account_number
from civic.ledger.parsing import blank_to_none, parse_bool, parse_date
from civic.ledger.tables import (
    STATUSES,
    AlertMessage,
    AuditEntry,
    Community,
    Customer,
    CustomerRef,
    Service,
)
from civic.ledger.types import CUSTOMER_FIELDS, CustomerView, ExternalRef

DEFAULT_SERVICES: tuple[tuple[str, str, int, bool], ...] = (
    ("WA", "Water", 2, True),
    ("SE", "Sewer", 2, True),
    ("GA", "Garbage", 2, True),
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ZIP = re.compile(r"^\d{5}(-?\d{4})?$")
REF_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,19}$")


def now() -> datetime:
    return datetime.now(UTC)


def audit(
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    customer_id: int | None,
    changes: Mapping[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=now(),
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            customer_id=customer_id,
            changes=_jsonable(dict(changes or {})),
        )
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- communities and services -------------------------------------------------------------


def create_community(
    session: Session,
    code: str,
    name: str,
    *,
    actor: str,
    period_months: int = 1,
    services: Iterable[tuple[str, str, int, bool]] = DEFAULT_SERVICES,
) -> Community:
    code = code.strip().upper()
    if not code or len(code) > 20:
        raise InvalidInput("community code must be 1 to 20 characters", field="code")
    if session.scalar(select(Community).where(Community.code == code)) is not None:
        raise Conflict(f"community {code} already exists", community=code)
    community = Community(code=code, name=name.strip() or code, period_months=period_months)
    session.add(community)
    session.flush()
    for svc_code, svc_name, cert, eligible in services:
        add_service(session, community, svc_code, svc_name, cert, eligible)
    audit(session, actor, "community.create", "community", community.id, None, {"code": code})
    return community


def list_communities(session: Session) -> list[Community]:
    return list(session.scalars(select(Community).order_by(Community.code)))


def get_community(session: Session, code: str | None = None) -> Community:
    """The community with ``code``; without a code, the only community there is."""
    if code:
        found = session.scalar(select(Community).where(Community.code == code.strip().upper()))
        if found is None:
            raise NotFound(f"no community {code.strip().upper()}", community=code)
        return found
    communities = list_communities(session)
    if not communities:
        raise NotFound("the ledger has no community yet: run `civic init --community CODE`")
    if len(communities) > 1:
        codes = ", ".join(c.code for c in communities)
        raise InvalidInput(f"several communities ({codes}): say which with --community")
    return communities[0]


def add_service(
    session: Session,
    community: Community,
    code: str,
    name: str,
    certification_periods: int = 2,
    portal_eligible: bool = True,
) -> Service:
    if certification_periods < 0:
        raise InvalidInput("certification period must be 0 or more periods")
    service = Service(
        community_id=community.id,
        code=code.strip().upper(),
        name=name,
        certification_periods=certification_periods,
        portal_eligible=portal_eligible,
    )
    session.add(service)
    session.flush()
    return service


def services_by_code(session: Session, community: Community) -> dict[str, Service]:
    cache: dict[int, dict[str, Service]] = session.info.setdefault("service_cache", {})
    if community.id not in cache:
        rows = session.scalars(select(Service).where(Service.community_id == community.id))
        cache[community.id] = {s.code: s for s in rows}
    return cache[community.id]


def get_service(session: Session, community: Community, code: str) -> Service:
    found = services_by_code(session, community).get(code.strip().upper())
    if found is None:
        known = ", ".join(sorted(services_by_code(session, community)))
        raise InvalidInput(f"service: no service {code!r} (known: {known})", field="service")
    return found


# -- field validation -------------------------------------------------------------------------


@functools.cache
def _max_length(field: str) -> int | None:
    col_type = Customer.__table__.c[field].type
    return col_type.length if isinstance(col_type, String) else None


def clean_customer_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate customer fields (canonical names, minus ``account_number``); returns the values
    to store. Raises ``InvalidInput`` naming the first bad field."""
    values: dict[str, Any] = {}
    for field, value in raw.items():
        if field not in CUSTOMER_FIELDS or field == "account_number":
            if field in ("collection_code", "master_account"):
                values[field] = blank_to_none(value) if isinstance(value, str) else value
                continue
            raise InvalidInput(f"{field}: not a customer field", field=field)
        if field == "online_access":
            values[field] = True if value is None or value == "" else parse_bool(value, field)
            continue
        if field == "created_date":
            values[field] = None if value in (None, "") else parse_date(value, field)
            continue
        text = blank_to_none(value) if isinstance(value, str) or value is None else str(value)
        if text is not None:
            limit = _max_length(field)
            if limit is not None and len(text) > limit:
                raise InvalidInput(
                    f"{field}: longer than {limit} characters ({len(text)})", field=field
                )
        if field == "status" and text is not None:
            # Blank means "leave it": an update must never reactivate a closed account by
            # accident; a new customer defaults to active in add_customer.
            text = text.lower()
            if text not in STATUSES:
                raise InvalidInput(
                    f"status: {value!r} is not one of {', '.join(STATUSES)}", field=field
                )
        elif field == "email" and text is not None and not _EMAIL.match(text):
            raise InvalidInput(f"email: {text!r} is not an e-mail address", field=field)
        elif field == "state" and text is not None:
            if len(text) != 2 or not text.isalpha():
                raise InvalidInput(f"state: {text!r} is not a two-letter state", field=field)
            text = text.upper()
        elif field == "zip" and text is not None and not _ZIP.match(text):
            raise InvalidInput(f"zip: {text!r} is not a ZIP or ZIP+4", field=field)
        elif field == "phone" and text is not None:
            digits = sum(ch.isdigit() for ch in text)
            if not 7 <= digits <= 15:
                raise InvalidInput(f"phone: {text!r} is not a phone number", field=field)
        values[field] = text
    return values


def normalize_ref(value: str) -> str:
    """``SSR1234567``, ``SSR-1234567`` and `` ssr 1234567`` are one reference."""
    return "".join(ch for ch in value.upper() if ch.isalnum())


def check_ref(ref_type: str, value: str) -> tuple[str, str, str]:
    """(type, value as given, normalised value) of an external reference, or ``InvalidInput``."""
    ref_type = ref_type.strip().lower()
    if not REF_TYPE.match(ref_type):
        raise InvalidInput(f"ref:{ref_type}: not a reference type (a-z, 0-9, _)", field="ref")
    value = value.strip()
    normalized = normalize_ref(value)
    if not normalized:
        raise InvalidInput(f"ref:{ref_type}: empty reference", field=f"ref:{ref_type}")
    if len(value) > 60:
        raise InvalidInput(f"ref:{ref_type}: longer than 60 characters", field=f"ref:{ref_type}")
    return ref_type, value, normalized


# -- customers --------------------------------------------------------------------------------


def get_customer(session: Session, account: str, community: Community | None = None) -> Customer:
    """The customer with ``account`` (any accepted format), in ``community`` if given."""
    number = str(parse_account_number(account))
    stmt = select(Customer).where(Customer.account_number == number)
    if community is not None:
        stmt = stmt.where(Customer.community_id == community.id)
    found = list(session.scalars(stmt.options(selectinload(Customer.refs))))
    if not found:
        raise CustomerNotFound(number, community.code if community else None)
    if len(found) > 1:
        raise InvalidInput(
            f"account {number} exists in several communities: say which community",
            field="community",
            account=number,
        )
    return found[0]


def get_customer_by_id(session: Session, customer_id: int) -> Customer:
    found = session.get(Customer, customer_id)
    if found is None:
        raise NotFound(f"no customer with id {customer_id}", customer_id=customer_id)
    return found


def _resolve_master(session: Session, customer: Customer, account: str | None) -> int | None:
    if account is None:
        return None
    master = get_customer(session, account, session.get(Community, customer.community_id))
    if master.id == customer.id:
        raise InvalidInput("master_account: an account cannot be its own master")
    if master.merged_into_id is not None:
        survivor = session.get(Customer, master.merged_into_id)
        into = survivor.account_number if survivor else str(master.merged_into_id)
        raise InvalidInput(
            f"master_account: {master.account_number} was merged into {into}: use {into}",
            field="master_account",
        )
    return master.id


def add_customer(
    session: Session,
    community: Community,
    account: str,
    values: Mapping[str, Any],
    *,
    actor: str,
    refs: Iterable[tuple[str, str]] = (),
) -> Customer:
    number = parse_account_number(account)
    clean = clean_customer_values(values)
    if not clean.get("last_name") and not clean.get("business_name"):
        raise InvalidInput("last_name or business_name is required", field="last_name")
    exists = session.scalar(
        select(Customer.id).where(
            Customer.community_id == community.id, Customer.account_number == str(number)
        )
    )
    if exists is not None:
        raise Conflict(f"account {number} already exists", account=str(number))
    master = clean.pop("master_account", None)
    stamp = now()
    customer = Customer(
        community_id=community.id,
        account_number=str(number),
        location=number.location,
        occupant=number.occupant,
        created_at=stamp,
        updated_at=stamp,
        status=clean.pop("status", None) or "active",
        online_access=clean.pop("online_access", True),
        **clean,
    )
    session.add(customer)
    session.flush()
    if master is not None:
        customer.master_customer_id = _resolve_master(session, customer, master)
    for ref_type, value in refs:
        _attach_ref(session, customer, ref_type, value)
    session.flush()
    audit(
        session,
        actor,
        "customer.add",
        "customer",
        customer.id,
        customer.id,
        {k: [None, v] for k, v in clean.items() if v is not None},
    )
    outbox.record(
        session,
        community_id=community.id,
        customer_id=customer.id,
        entity="customer",
        entity_id=customer.id,
        op="add",
    )
    return customer


def _field_value(customer: Customer, field: str) -> Any:
    if field == "master_account":
        if customer.master_customer_id is None:
            return None
        master = customer_by_id(customer, customer.master_customer_id)
        return master.account_number if master else None
    return getattr(customer, field)


def customer_by_id(anchor: Customer, customer_id: int) -> Customer | None:
    from sqlalchemy.orm import object_session

    session = object_session(anchor)
    return session.get(Customer, customer_id) if session else None


def ensure_not_merged(session: Session, customer: Customer) -> None:
    """Refuse new activity on a record that a merge made inactive: it belongs on the survivor.

    On PostgreSQL the customer's row is read again under a share lock, so a merge committing
    meanwhile (it locks both rows ``FOR UPDATE``) cannot slip in between this check and the
    caller's insert; SQLite's ``BEGIN IMMEDIATE`` already serialises writers."""
    if customer.id is not None and session.get_bind().dialect.name == "postgresql":
        current = session.execute(
            select(Customer.merged_into_id)
            .where(Customer.id == customer.id)
            .with_for_update(read=True)
        ).scalar_one_or_none()
        if current != customer.merged_into_id:
            session.refresh(customer)
    if customer.merged_into_id is not None:
        survivor = session.get(Customer, customer.merged_into_id)
        number = survivor.account_number if survivor else f"customer {customer.merged_into_id}"
        raise Conflict(
            f"account {customer.account_number} was merged into {number}: use {number}, "
            "or undo the merge first",
            account=customer.account_number,
            survivor=number,
        )


def update_customer(
    session: Session,
    customer: Customer,
    changes: Mapping[str, Any],
    *,
    actor: str,
    expected_version: int | None = None,
    action: str = "customer.update",
) -> dict[str, list[Any]]:
    """Apply ``changes`` (canonical field names); returns ``{field: [old, new]}``.

    With ``expected_version`` the update is refused unless the stored version equals it; a
    concurrent writer that commits first also makes this update fail (``StaleUpdate``).
    """
    if expected_version is not None and customer.version != expected_version:
        raise StaleUpdate(
            f"account {customer.account_number} was changed by someone else (version "
            f"{customer.version}, you had {expected_version}): reload it and try again",
            account=customer.account_number,
            version=customer.version,
        )
    ensure_not_merged(session, customer)
    clean = clean_customer_values(changes)
    diff: dict[str, list[Any]] = {}
    for field, new in clean.items():
        old = _field_value(customer, field)
        if field == "status" and new is None:
            continue
        if old == new:
            continue
        diff[field] = [old, new]
        if field == "master_account":
            customer.master_customer_id = _resolve_master(session, customer, new)
        else:
            setattr(customer, field, new)
    if "last_name" in diff or "business_name" in diff:
        if not customer.last_name and not customer.business_name:
            raise InvalidInput("last_name or business_name is required", field="last_name")
    if not diff:
        return diff
    customer.updated_at = now()
    number = customer.account_number
    try:
        session.flush()
    except StaleDataError:
        raise StaleUpdate(
            f"account {number} was changed by someone else meanwhile: reload it and try again",
            account=number,
        ) from None
    audit(session, actor, action, "customer", customer.id, customer.id, diff)
    outbox.record(
        session,
        community_id=customer.community_id,
        customer_id=customer.id,
        entity="customer",
        entity_id=customer.id,
        op="update",
    )
    return diff


def close_customer(
    session: Session, customer: Customer, *, actor: str, expected_version: int | None = None
) -> dict[str, list[Any]]:
    if customer.status == "closed":
        raise Conflict(f"account {customer.account_number} is already closed")
    return update_customer(
        session,
        customer,
        {"status": "closed"},
        actor=actor,
        expected_version=expected_version,
        action="customer.close",
    )


def _attach_ref(session: Session, customer: Customer, ref_type: str, value: str) -> bool:
    ref_type, value, normalized = check_ref(ref_type, value)
    for ref in customer.refs:
        if ref.ref_type == ref_type and ref.normalized == normalized:
            return False
    customer.refs.append(CustomerRef(ref_type=ref_type, value=value, normalized=normalized))
    return True


def add_ref(session: Session, customer: Customer, ref_type: str, value: str, *, actor: str) -> bool:
    """Add an external reference; returns False if the customer already had it."""
    added = _attach_ref(session, customer, ref_type, value)
    if added:
        customer.updated_at = now()
        session.flush()
        audit(
            session,
            actor,
            "customer.ref.add",
            "customer",
            customer.id,
            customer.id,
            {f"ref:{ref_type.strip().lower()}": [None, value.strip()]},
        )
        outbox.record(
            session,
            community_id=customer.community_id,
            customer_id=customer.id,
            entity="customer",
            entity_id=customer.id,
            op="update",
        )
    return added


def find_by_ref(session: Session, community: Community, ref_type: str, value: str) -> list[int]:
    """Ids of customers in ``community`` holding this reference (normalised comparison)."""
    stmt = (
        select(CustomerRef.customer_id)
        .join(Customer, Customer.id == CustomerRef.customer_id)
        .where(
            Customer.community_id == community.id,
            CustomerRef.ref_type == ref_type.strip().lower(),
            CustomerRef.normalized == normalize_ref(value),
        )
    )
    return list(session.scalars(stmt))


def add_alert(session: Session, customer: Customer, message: str, *, actor: str) -> AlertMessage:
    message = message.strip()
    if not message:
        raise InvalidInput("alert message: empty", field="message")
    if len(message) > 500:
        raise InvalidInput("alert message: longer than 500 characters", field="message")
    alert = AlertMessage(message=message, created_at=now(), created_by=actor)
    customer.alerts.append(alert)
    customer.updated_at = now()
    session.flush()
    audit(
        session,
        actor,
        "customer.alert.add",
        "customer",
        customer.id,
        customer.id,
        {"alert": [None, message]},
    )
    outbox.record(
        session,
        community_id=customer.community_id,
        customer_id=customer.id,
        entity="customer",
        entity_id=customer.id,
        op="update",
    )
    return alert


def clear_alerts(session: Session, customer: Customer, *, actor: str) -> int:
    removed = [a.message for a in customer.alerts]
    if not removed:
        return 0
    customer.alerts.clear()
    customer.updated_at = now()
    session.flush()
    audit(
        session,
        actor,
        "customer.alert.clear",
        "customer",
        customer.id,
        customer.id,
        {"alerts": [removed, []]},
    )
    outbox.record(
        session,
        community_id=customer.community_id,
        customer_id=customer.id,
        entity="customer",
        entity_id=customer.id,
        op="update",
    )
    return len(removed)


def to_view(session: Session, customer: Customer) -> CustomerView:
    community = session.get(Community, customer.community_id)
    master = (
        session.get(Customer, customer.master_customer_id)
        if customer.master_customer_id is not None
        else None
    )
    merged = (
        session.get(Customer, customer.merged_into_id)
        if customer.merged_into_id is not None
        else None
    )
    return CustomerView(
        id=customer.id,
        community=community.code if community else "",
        account_number=customer.account_number,
        first_name=customer.first_name,
        middle_name=customer.middle_name,
        last_name=customer.last_name,
        suffix=customer.suffix,
        business_name=customer.business_name,
        service_address=customer.service_address,
        mailing_address=customer.mailing_address,
        city=customer.city,
        state=customer.state,
        zip=customer.zip,
        phone=customer.phone,
        email=customer.email,
        status=customer.status,
        online_access=customer.online_access,
        collection_code=customer.collection_code,
        master_account=master.account_number if master else None,
        created_date=customer.created_date,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        version=customer.version,
        refs=tuple(ExternalRef(r.ref_type, r.value, r.normalized) for r in customer.refs),
        alerts=tuple(a.message for a in customer.alerts),
        merged_into=merged.account_number if merged else None,
    )


def list_customers(
    session: Session,
    *,
    community: Community | None = None,
    name: str | None = None,
    status: str | None = None,
    where: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Customer], int]:
    """Customers filtered by community, status, a name fragment (case-insensitive, in first,
    last or business name) and selection criteria (``civic.ledger.select``), ordered by
    account number; returns (page, total matching)."""
    from sqlalchemy import func, or_

    from civic.ledger.select import parse_where

    stmt = select(Customer)
    if where:
        codes = set(session.scalars(select(Service.code).distinct()))
        stmt = stmt.where(parse_where(where, codes))
    if community is not None:
        stmt = stmt.where(Customer.community_id == community.id)
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(
                f"status: {status!r} is not one of {', '.join(STATUSES)}", field="status"
            )
        stmt = stmt.where(Customer.status == status)
    if name:
        pattern = "%" + name.strip().lower().replace("%", r"\%").replace("_", r"\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(Customer.last_name).like(pattern, escape="\\"),
                func.lower(Customer.first_name).like(pattern, escape="\\"),
                func.lower(Customer.business_name).like(pattern, escape="\\"),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = session.scalars(
        stmt.options(selectinload(Customer.refs), selectinload(Customer.alerts))
        .order_by(Customer.community_id, Customer.account_number)
        .limit(limit)
        .offset(offset)
    )
    return list(page), int(total)


# -- bulk account updates (certification and other routines over many customers) ----------

_CHUNK = 5000


def customers_table() -> Table:
    return cast(Table, Customer.__table__)


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _touch_many(
    session: Session, ids: list[int], actor: str, action: str, changes: dict[int, dict[str, Any]]
) -> None:
    """Bump version and updated_at of ``ids``, audit each change, write the feed."""
    from sqlalchemy import bindparam, insert, update

    if not ids:
        return
    stamp = now()
    table = customers_table()
    session.execute(
        update(table)
        .where(table.c.id == bindparam("cid"))
        .values(version=table.c.version + 1, updated_at=stamp),
        [{"cid": i} for i in ids],
        execution_options={"synchronize_session": False},
    )
    session.execute(
        insert(AuditEntry),
        [
            {
                "at": stamp,
                "actor": actor,
                "action": action,
                "entity": "customer",
                "entity_id": i,
                "customer_id": i,
                "changes": _jsonable(changes[i]),
            }
            for i in ids
        ],
    )
    community_of: dict[int, int] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(Customer.id, Customer.community_id).where(Customer.id.in_(chunk))
        )
        community_of.update((cid, comm) for cid, comm in rows)
    outbox.record_many(session, [(community_of[i], i, "customer", i, "update") for i in ids])
    session.expire_all()


def assign_collection_code(
    session: Session, customer_ids: Iterable[int], code: str, *, replace: bool, actor: str
) -> list[int]:
    """Give ``code`` to the customers without a collection code — or, with ``replace``, to all
    of them (a customer has at most one). Returns the ids that changed."""
    from sqlalchemy import bindparam, update

    code = code.strip().upper()
    if not code or len(code) > 10:
        raise InvalidInput("collection code: 1 to 10 characters", field="collection_code")
    ids = sorted(set(customer_ids))
    changes: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for cid, old in session.execute(
            select(Customer.id, Customer.collection_code).where(Customer.id.in_(chunk))
        ):
            if old == code or (old and not replace):
                continue
            changes[cid] = {"collection_code": [old, code]}
    changed = sorted(changes)
    if changed:
        table = customers_table()
        session.execute(
            update(table).where(table.c.id == bindparam("cid")).values(collection_code=code),
            [{"cid": i} for i in changed],
            execution_options={"synchronize_session": False},
        )
    _touch_many(session, changed, actor, "customer.collection_code", changes)
    return changed


ALERT_MODES = ("skip", "append", "replace")


def add_alert_to_many(
    session: Session, customer_ids: Iterable[int], message: str, *, mode: str, actor: str
) -> list[int]:
    """Add an alert message to many customers. ``skip``: leave customers that already have an
    alert alone; ``append``: add it after theirs; ``replace``: remove theirs first. Returns the
    ids that changed."""
    from sqlalchemy import delete, insert

    if mode not in ALERT_MODES:
        raise InvalidInput(f"alert mode: {mode!r} is not one of {', '.join(ALERT_MODES)}")
    message = message.strip()
    if not message or len(message) > 500:
        raise InvalidInput("alert message: 1 to 500 characters", field="message")
    ids = sorted(set(customer_ids))
    existing: dict[int, list[str]] = {}
    for chunk in _chunks(ids):
        for cid, text in session.execute(
            select(AlertMessage.customer_id, AlertMessage.message)
            .where(AlertMessage.customer_id.in_(chunk))
            .order_by(AlertMessage.id)
        ):
            existing.setdefault(cid, []).append(text)
    targets = [i for i in ids if mode != "skip" or i not in existing]
    if mode == "replace":
        for chunk in _chunks([i for i in targets if i in existing]):
            session.execute(delete(AlertMessage).where(AlertMessage.customer_id.in_(chunk)))
    stamp = now()
    if targets:
        session.execute(
            insert(AlertMessage),
            [
                {"customer_id": i, "message": message, "created_at": stamp, "created_by": actor}
                for i in targets
            ],
        )
    changes = {
        i: {
            "alerts": [
                existing.get(i, []),
                ([] if mode == "replace" else existing.get(i, [])) + [message],
            ]
        }
        for i in targets
    }
    _touch_many(session, targets, actor, "customer.alert", changes)
    return targets
