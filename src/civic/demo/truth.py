"""The ground truth of the sample town: which customer records belong to one person (planted
duplicates, and one person's several legitimate accounts) and which only look alike (hard
negatives). Written beside the ledger as ``<db stem>.truth.json`` so that duplicate detection
can be measured against it; docs/demo.md describes the format.

The truth is closed-world: any two accounts not in a ``duplicate`` or ``same_person`` group
belong to different people.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from civic.db import normalize_url
from civic.demo.model import DemoOptions

FORMAT = "civic-demo-truth/1"

DUPLICATE_KINDS: tuple[str, ...] = (
    "name_typo",
    "transposed_letters",
    "street_format",
    "unit_format",
    "punctuation",
    "nickname",
    "zip_format",
    "phone_format",
    "imported_twice",
)
"""One person's record created twice; the second differs only as the kind says."""

SAME_PERSON_KINDS: tuple[str, ...] = ("same_customer_several_accounts", "consolidated_billing")
"""One person or owner holding several legitimate accounts: related, not duplicates."""

HARD_NEGATIVE_KINDS: tuple[str, ...] = (
    "successive_tenants",
    "household_members",
    "father_son",
    "common_name",
)
"""Different people whose records look alike: a matcher must keep them apart."""

CLASSES: dict[str, tuple[str, ...]] = {
    "duplicate": DUPLICATE_KINDS,
    "same_person": SAME_PERSON_KINDS,
    "hard_negative": HARD_NEGATIVE_KINDS,
}
CLASS_OF: dict[str, str] = {kind: cls for cls, kinds in CLASSES.items() for kind in kinds}


@dataclass(frozen=True)
class TruthGroup:
    """Accounts related as ``kind`` says; the first is the original (for duplicates) or the
    earliest occupant (for successive tenants)."""

    kind: str
    accounts: tuple[str, ...]
    note: str

    @property
    def cls(self) -> str:
        return CLASS_OF[self.kind]

    def pairs(self) -> list[tuple[str, str]]:
        return list(itertools.combinations(self.accounts, 2))

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.cls,
            "kind": self.kind,
            "accounts": list(self.accounts),
            "note": self.note,
        }


def _sort_key(group: TruthGroup) -> tuple[int, int, tuple[str, ...]]:
    classes = list(CLASSES)
    return classes.index(group.cls), CLASSES[group.cls].index(group.kind), group.accounts


def counts(groups: list[TruthGroup]) -> dict[str, dict[str, int]]:
    """Groups per class and kind, every kind listed (0 if none)."""
    seen = Counter(g.kind for g in groups)
    return {cls: {kind: seen[kind] for kind in kinds} for cls, kinds in CLASSES.items()}


def truth_document(options: DemoOptions, groups: list[TruthGroup]) -> dict[str, Any]:
    ordered = sorted(groups, key=_sort_key)
    return {
        "format": FORMAT,
        "seed": options.seed,
        "customers": options.customers,
        "as_of": options.as_of.isoformat(),
        "community": options.community.strip().upper(),
        "counts": counts(ordered),
        "groups": [g.to_dict() for g in ordered],
    }


def write_truth(path: Path, document: dict[str, Any]) -> None:
    """Write the truth file: the same document always gives the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(truth_text(document).encode("utf-8"))


def truth_text(document: dict[str, Any]) -> str:
    """The document as JSON, one group to a line (easy to grep and to diff)."""
    head = {key: value for key, value in document.items() if key != "groups"}
    groups = ",\n".join(
        "    " + json.dumps(g, ensure_ascii=False) for g in document.get("groups", [])
    )
    opening = json.dumps(head, indent=2, ensure_ascii=False).removesuffix("\n}")
    return f'{opening},\n  "groups": [\n{groups}\n  ]\n}}\n'


def read_truth(path: Path) -> list[TruthGroup]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file")
    return [
        TruthGroup(kind=g["kind"], accounts=tuple(g["accounts"]), note=g["note"])
        for g in document["groups"]
    ]


def default_truth_path(db_url: str) -> Path:
    """``demo/ledger.db`` -> ``demo/ledger.truth.json``; for a server database, the database
    name in the current directory (``civic_demo.truth.json``)."""
    url = make_url(normalize_url(db_url))
    database = url.database or "ledger"
    if url.get_backend_name() == "sqlite" and database != ":memory:":
        path = Path(database)
        return path.with_name(f"{path.stem}.truth.json")
    return Path(f"{Path(database).stem}.truth.json")
