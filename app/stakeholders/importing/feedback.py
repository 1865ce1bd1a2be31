"""Importing feedback from a CSV file (name or email, rating, comment): every row is matched
to one of the client's stakeholders and either OK or set aside with a reason (plan_rows, pure);
store_plan() writes the OK rows. app/reports/postincident.py is the public face (sessions, events).

The bytes are read like a stakeholder import (app/stakeholders/importing/read.py): size limit, UTF-8 / UTF-16 /
Windows-1252 / Latin-1 detection, comma, semicolon, tab or bar delimiter, Excel's "sep=" line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.enums import Channel
from app.domain.models import ContactPoint, FeedbackRow, Stakeholder
from app.stakeholders.importing.read import (
    CsvTable, ImportFileError, read_csv_bytes,
)

__all__ = [
    "NAME_MAX", "COMMENT_MAX", "KnownStakeholder", "FeedbackImportRow", "FeedbackImportPlan",
    "read_csv_bytes", "feedback_columns", "parse_rating", "plan_rows", "known_stakeholders",
    "recorded_feedback", "store_plan",
]

NAME_MAX = 200
COMMENT_MAX = 4000

# header (lower case, letters and digits only) → field
_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "stakeholder", "stakeholdername", "fullname", "respondent", "from"),
    "email": ("email", "emailaddress", "mail"),
    "rating": ("rating", "score", "stars", "grade"),
    "comment": ("comment", "comments", "feedback", "remarks", "remark", "notes"),
}


@dataclass(frozen=True)
class KnownStakeholder:
    """What matching needs of one of the client's stakeholders."""
    id: int
    name: str
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedbackImportRow:
    line: int                      # line of the file where the row starts
    name: str                      # as written in the file
    email: str                     # as written in the file
    rating_text: str               # as written in the file
    comment: str
    stakeholder_id: int | None = None
    stakeholder_name: str = ""     # the matched stakeholder's name (what is stored)
    rating: int | None = None
    problem: str = ""              # why the row is not imported ("" when OK)

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class FeedbackImportPlan:
    incident_id: int
    client_id: int
    file_name: str
    encoding: str
    delimiter: str
    rows: tuple[FeedbackImportRow, ...]

    @property
    def ok_rows(self) -> tuple[FeedbackImportRow, ...]:
        return tuple(r for r in self.rows if r.ok)

    @property
    def problem_rows(self) -> tuple[FeedbackImportRow, ...]:
        return tuple(r for r in self.rows if not r.ok)


# ---------------------------------------------------------------- reading

def _key(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.casefold())


def feedback_columns(headers: Iterable[str], name: str = "The file") -> dict[str, int]:
    """Which column holds name, email, rating and comment (matched case-insensitively, with
    synonyms such as Stakeholder and Score). Raises ImportFileError when a needed one is
    missing."""
    found: dict[str, int] = {}
    for index, header in enumerate(headers):
        key = _key(header)
        for field, synonyms in _COLUMNS.items():
            if field not in found and key in synonyms:
                found[field] = index
    if "rating" not in found:
        raise ImportFileError(f"{name} has no Rating (or Score) column.")
    if "name" not in found and "email" not in found:
        raise ImportFileError(f"{name} has no Name (or Stakeholder, or Email) column: say who "
                              "gave each rating.")
    return found


_RATING = re.compile(r"\A([1-5])(?:[.,]0+)?(?:\s*/\s*5)?\Z")


def parse_rating(text: str) -> int | None:
    """1–5 from "4", "4.0", "4/5" or "★★★★"; None when it is not one of those."""
    value = text.strip()
    if value and set(value) == {"★"} and len(value) <= 5:
        return len(value)
    match = _RATING.match(value)
    return int(match.group(1)) if match else None


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


# ---------------------------------------------------------------- planning

def plan_rows(table: CsvTable, stakeholders: Iterable[KnownStakeholder], client_name: str,
              already: Iterable[tuple[int | None, int, str]] = (),
              name: str = "The file") -> list[FeedbackImportRow]:
    """Every row of `table` matched and checked. `already` holds the incident's recorded
    feedback as (stakeholder id, rating, comment): the same again is set aside, so
    importing one file twice does not count its ratings twice."""
    columns = feedback_columns(table.headers, name)
    by_email: dict[str, KnownStakeholder] = {}
    by_name: dict[str, list[KnownStakeholder]] = {}
    for s in stakeholders:
        by_name.setdefault(_name_key(s.name), []).append(s)
        for address in s.emails:
            by_email.setdefault(address.strip().casefold(), s)
    seen: dict[tuple[int | None, int, str], int] = {k: 0 for k in already}

    def cell(cells: tuple[str, ...], field: str) -> str:
        index = columns.get(field)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    out: list[FeedbackImportRow] = []
    for line, cells in table.rows:
        who, email = " ".join(cell(cells, "name").split()), cell(cells, "email")
        rating_text, comment = cell(cells, "rating"), cell(cells, "comment")
        problem = ""
        match: KnownStakeholder | None = None
        if not who and not email:
            problem = "No name or email: say who gave this rating."
        elif email and email.casefold() in by_email:
            match = by_email[email.casefold()]
        elif who:
            candidates = by_name.get(_name_key(who), [])
            if len(candidates) == 1:
                match = candidates[0]
            elif candidates:
                problem = (f"{len(candidates)} stakeholders of {client_name} are called "
                           f"“{who}”: give the email address instead.")
            else:
                problem = f"No stakeholder of {client_name} is called “{who}”."
        else:
            problem = f"No stakeholder of {client_name} has the email address “{email}”."
        rating = parse_rating(rating_text)
        if not problem:
            if not rating_text:
                problem = "No rating: give one from 1 to 5."
            elif rating is None:
                problem = f"Unknown rating “{rating_text}”: give a whole number from 1 to 5."
            elif len(comment) > COMMENT_MAX:
                problem = f"The comment is longer than {COMMENT_MAX} characters."
        if not problem and match is not None and rating is not None:
            key = (match.id, rating, comment)
            if key in seen:
                problem = (f"Repeats line {seen[key]}." if seen[key]
                           else f"This feedback from {match.name} is already recorded.")
            else:
                seen[key] = line
        out.append(FeedbackImportRow(
            line=line, name=who, email=email, rating_text=rating_text, comment=comment,
            stakeholder_id=match.id if match else None,
            stakeholder_name=match.name if match else "", rating=rating, problem=problem))
    return out


# ---------------------------------------------------------------- the store's side

def known_stakeholders(session: Session, client_id: int) -> list[KnownStakeholder]:
    """The client's stakeholders with their email addresses."""
    emails: dict[int, list[str]] = {}
    for sid, address in session.execute(
            select(ContactPoint.stakeholder_id, ContactPoint.address).join(Stakeholder)
            .where(Stakeholder.client_id == client_id, ContactPoint.channel == Channel.EMAIL)):
        emails.setdefault(sid, []).append(address)
    return [KnownStakeholder(s.id, s.name, tuple(emails.get(s.id, ())))
            for s in session.scalars(select(Stakeholder).where(Stakeholder.client_id == client_id))]


def recorded_feedback(session: Session, incident_id: int) -> set[tuple[int | None, int, str]]:
    """The incident's feedback as (stakeholder id, rating, comment)."""
    return {(r.stakeholder_id, r.rating, r.comment) for r in session.scalars(
        select(FeedbackRow).where(FeedbackRow.incident_id == incident_id))}


def store_plan(session: Session, plan: FeedbackImportPlan, now: datetime) -> int:
    """Add the plan's OK rows to the session (the caller's transaction); a row already recorded
    is skipped, a stakeholder deleted since planning leaves its name only. Returns the count."""
    ids = [r.stakeholder_id for r in plan.ok_rows if r.stakeholder_id is not None]
    existing = set(session.scalars(select(Stakeholder.id).where(
        Stakeholder.id.in_(ids), Stakeholder.client_id == plan.client_id)))
    recorded = recorded_feedback(session, plan.incident_id)
    stored = 0
    for r in plan.ok_rows:
        stakeholder_id = r.stakeholder_id if r.stakeholder_id in existing else None
        key = (stakeholder_id, r.rating, r.comment)
        if r.rating is None or key in recorded:
            continue
        recorded.add(key)  # type: ignore[arg-type]
        session.add(FeedbackRow(
            incident_id=plan.incident_id, stakeholder_id=stakeholder_id,
            stakeholder_name=r.stakeholder_name or r.name, rating=r.rating, comment=r.comment,
            created_at=now))
        stored += 1
    return stored
