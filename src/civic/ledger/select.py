"""Selection criteria: one small expression language over customer fields and balances,
parsed into SQLAlchemy expressions with bound parameters (user text never becomes SQL text).

    status = active and balance > 100.00
    last_name starts with 'Mc' or last_name contains "brien"
    zip in (62701, 62702) and not collection_code = TC
    balance.WA between 50 and 500
    account_number == '001234-01'            (exact, case-sensitive match)

Operators: ``=`` (case-insensitive for text), ``==`` (exact match), ``<>`` / ``!=``, ``<``,
``>``, ``<=``, ``>=``, ``between X and Y``, ``in (A, B, ...)``, ``starts with``, ``contains``,
``is empty``; combined with ``and``, ``or``, ``not`` and parentheses (``and`` binds tighter).
Values are quoted strings, numbers, dates (2024-01-31) or bare words. Balance fields take
money (``100``, ``1,234.56`` must be quoted because of the comma). Errors name the bad token and
its position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement as Col

from civic.errors import InvalidInput
from civic.ledger.tables import Customer, Service, Transaction
from civic.money import AmountError, parse_amount

TEXT_FIELDS = (
    "account_number",
    "location",
    "first_name",
    "middle_name",
    "last_name",
    "suffix",
    "business_name",
    "service_address",
    "mailing_address",
    "city",
    "state",
    "zip",
    "phone",
    "email",
    "status",
    "collection_code",
)
DATE_FIELDS = ("created_date",)
BOOL_FIELDS = ("online_access",)
MONEY_FIELDS = ("balance",)  # and balance.<SERVICE CODE>
FIELDS = TEXT_FIELDS + DATE_FIELDS + BOOL_FIELDS + MONEY_FIELDS

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")
      | (?P<op>==|<>|!=|<=|>=|=|<|>|\(|\)|,)
      | (?P<word>[A-Za-z0-9_.$\-/:@#+']+)
    )""",
    re.X,
)
_KEYWORDS = {"and", "or", "not", "between", "in", "starts", "with", "contains", "is", "empty"}


@dataclass(frozen=True)
class Token:
    kind: str  # "str", "op", "word", "end"
    text: str
    pos: int

    @property
    def lower(self) -> str:
        return self.text.lower() if self.kind == "word" else self.text


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].strip()[:20]
            raise InvalidInput(f"--where: unexpected {bad!r} at position {pos + 1}")
        kind = m.lastgroup or "word"
        value = m.group(kind)
        start = m.start(kind)
        if kind == "str":
            quote = value[0]
            value = value[1:-1].replace(quote * 2, quote)
        tokens.append(Token(kind, value, start + 1))
        pos = m.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str, service_codes: set[str]) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.services = service_codes

    # -- helpers
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, tok: Token, expected: str) -> InvalidInput:
        found = "the end" if tok.kind == "end" else repr(tok.text)
        return InvalidInput(f"--where: expected {expected} at position {tok.pos}, found {found}")

    def accept_word(self, *words: str) -> bool:
        tok = self.peek()
        if tok.kind == "word" and tok.lower in words:
            self.i += 1
            return True
        return False

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            raise self.fail(self.peek(), f"'{word}'")

    def expect_op(self, op: str) -> None:
        tok = self.take()
        if tok.kind != "op" or tok.text != op:
            raise self.fail(tok, f"'{op}'")

    # -- grammar
    def parse(self) -> ColumnElement[bool]:
        if self.peek().kind == "end":
            raise self.fail(self.peek(), "a condition such as status = active")
        expr = self.expr()
        if self.peek().kind != "end":
            raise self.fail(self.peek(), "'and', 'or' or the end")
        return expr

    def expr(self) -> ColumnElement[bool]:
        parts = [self.term()]
        while self.accept_word("or"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def term(self) -> ColumnElement[bool]:
        parts = [self.factor()]
        while self.accept_word("and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def factor(self) -> ColumnElement[bool]:
        if self.accept_word("not"):
            return not_(self.factor())
        tok = self.peek()
        if tok.kind == "op" and tok.text == "(":
            self.take()
            inner = self.expr()
            self.expect_op(")")
            return inner
        return self.comparison()

    def comparison(self) -> ColumnElement[bool]:
        field_tok = self.take()
        if field_tok.kind != "word" or field_tok.lower in _KEYWORDS:
            raise self.fail(field_tok, "a field name (" + ", ".join(FIELDS) + ")")
        field = Field.resolve(field_tok, self.services)
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("=", "==", "<>", "!=", "<", ">", "<=", ">="):
            self.take()
            return field.compare(tok.text, self.value(field))
        if self.accept_word("between"):
            low = self.value(field)
            self.expect_word("and")
            high = self.value(field)
            return field.column.between(low, high)
        if self.accept_word("in"):
            self.expect_op("(")
            values = [self.value(field)]
            while self.peek().kind == "op" and self.peek().text == ",":
                self.take()
                values.append(self.value(field))
            self.expect_op(")")
            return field.isin(values)
        if self.accept_word("starts"):
            self.expect_word("with")
            return field.like(self.value(field), "{}%")
        if self.accept_word("contains"):
            return field.like(self.value(field), "%{}%")
        if self.accept_word("is"):
            negate = self.accept_word("not")
            self.expect_word("empty")
            empty = field.empty()
            return not_(empty) if negate else empty
        raise self.fail(
            tok,
            "an operator (=, ==, <>, <, >, <=, >=, between, in, starts with, contains, is empty)",
        )

    def value(self, field: Field) -> Any:
        tok = self.take()
        if tok.kind not in ("str", "word") or (tok.kind == "word" and tok.lower in _KEYWORDS):
            raise self.fail(tok, f"a value for {field.name}")
        return field.convert(tok)


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text, date, bool, money
    column: Col[Any]

    @staticmethod
    def resolve(tok: Token, services: set[str]) -> Field:
        name = tok.lower
        if name in TEXT_FIELDS:
            return Field(name, "text", getattr(Customer, name))
        if name in DATE_FIELDS:
            return Field(name, "date", getattr(Customer, name))
        if name in BOOL_FIELDS:
            return Field(name, "bool", getattr(Customer, name))
        if name == "balance":
            return Field(name, "money", _balance(None))
        if name.startswith("balance."):
            code = tok.text.split(".", 1)[1].upper()
            if code not in services:
                known = ", ".join(sorted(services)) or "none"
                raise InvalidInput(
                    f"--where: no service {code!r} in {tok.text!r} at position "
                    f"{tok.pos} (services: {known})"
                )
            return Field(name, "money", _balance(code))
        raise InvalidInput(
            f"--where: unknown field {tok.text!r} at position {tok.pos} "
            f"(fields: {', '.join(FIELDS)}, balance.<service>)"
        )

    def convert(self, tok: Token) -> Any:
        text = tok.text
        try:
            if self.kind == "money":
                return parse_amount(text)
            if self.kind == "date":
                return date.fromisoformat(text)
            if self.kind == "bool":
                low = text.lower()
                if low in ("yes", "true", "y", "1"):
                    return True
                if low in ("no", "false", "n", "0"):
                    return False
                raise ValueError(text)
        except (AmountError, ValueError):
            what = {"money": "an amount", "date": "a date like 2024-01-31", "bool": "yes or no"}
            raise InvalidInput(
                f"--where: {text!r} at position {tok.pos} is not "
                f"{what[self.kind]} (field {self.name})"
            ) from None
        return text

    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        col: Any = self.column
        if self.kind == "text" and op in ("=", "<>", "!="):
            col, value = func.lower(col), str(value).lower()
        result: ColumnElement[bool]
        if op in ("=", "=="):
            result = col == value
        elif op in ("<>", "!="):
            result = or_(col != value, col.is_(None)) if self.kind != "money" else col != value
        elif op == "<":
            result = col < value
        elif op == ">":
            result = col > value
        elif op == "<=":
            result = col <= value
        else:
            result = col >= value
        return result

    def isin(self, values: list[Any]) -> ColumnElement[bool]:
        if self.kind == "text":
            return func.lower(self.column).in_([str(v).lower() for v in values])
        return self.column.in_(values)

    def like(self, value: Any, pattern: str) -> ColumnElement[bool]:
        if self.kind != "text":
            raise InvalidInput(
                f"--where: 'starts with' and 'contains' need a text field, not {self.name}"
            )
        escaped = str(value).lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        return func.lower(self.column).like(pattern.format(escaped), escape="\\")

    def empty(self) -> ColumnElement[bool]:
        if self.kind == "text":
            return or_(self.column.is_(None), self.column == "")
        if self.kind == "money":
            return self.column == 0
        return self.column.is_(None)


def _balance(service_code: str | None) -> Col[Any]:
    stmt = select(func.coalesce(func.sum(Transaction.amount_cents), 0)).where(
        Transaction.customer_id == Customer.id
    )
    if service_code is not None:
        stmt = stmt.join(Service, Service.id == Transaction.service_id).where(
            Service.code == service_code
        )
    return stmt.scalar_subquery()


def parse_where(text: str, service_codes: set[str] | None = None) -> ColumnElement[bool]:
    """Parse selection criteria into a WHERE clause over ``customers``."""
    if not text or not text.strip():
        return true()
    return _Parser(text, service_codes or set()).parse()
