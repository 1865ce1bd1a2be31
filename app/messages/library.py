"""The template library: the built-in Jinja2 files in templates/ and the coordinator's own
copies stored (versioned) in the database. A template file is a small front matter and
sections:

    ---
    type: status_update
    level: operational
    channel: email
    title: Status update — operational
    description: For managers: what is affected and when the next update comes.
    inputs: []
    ---
    === subject ===
    ...
    === text ===
    ...
    === html ===
    ...

SMS templates have only a text section. Each section is compiled on its own (HTML with
autoescape, the others without) by app/messages/composer.py."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from pathlib import Path

from app.errors import ClarionError

TYPES = ("initial_acknowledgment", "status_update", "escalation_notice", "resolution_notice",
         "post_incident_summary", "regulatory_notification")
TYPE_LABELS = {
    "initial_acknowledgment": "Initial acknowledgment",
    "status_update": "Status update",
    "escalation_notice": "Escalation notice",
    "resolution_notice": "Resolution notice",
    "post_incident_summary": "Post-incident summary",
    "regulatory_notification": "Regulatory notification",
}
LEVELS = ("technical", "operational", "impact", "simple")
CHANNELS = ("email", "sms")
SECTIONS = {"email": ("subject", "text", "html"), "sms": ("text",)}
MAX_TEMPLATE_CHARS = 100_000  # far beyond any real message; a bigger file is a mistake

_SECTION = re.compile(r"^=== (subject|text|html) ===[ \t]*$")


class TemplateFormatError(ClarionError):
    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass(frozen=True)
class TemplateInput:
    name: str
    label: str
    example: str = ""


@dataclass(frozen=True)
class TemplateSource:
    type: str
    level: str
    channel: str
    title: str
    description: str
    inputs: tuple[TemplateInput, ...]
    sections: tuple[tuple[str, str, int], ...]  # (name, source, first line number in the file)
    text: str                                    # the whole file, as stored or shipped
    builtin: bool = True
    version: int = 0                             # 0 = built-in; 1.. = the coordinator's edits

    @property
    def key(self) -> str:
        return f"{self.type}/{self.level}/{self.channel}"

    def section(self, name: str) -> str | None:
        return next((src for n, src, _ in self.sections if n == name), None)

    def section_line(self, name: str) -> int:
        return next((line for n, _, line in self.sections if n == name), 1)


def parse_template(text: str, builtin: bool = True, version: int = 0) -> TemplateSource:
    """Parse a template file; TemplateFormatError names the line of the problem."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateFormatError(
            f"The template is {len(text):,} characters; the limit is {MAX_TEMPLATE_CHARS:,}.")
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise TemplateFormatError("A template starts with a front matter between --- lines.", 1)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise TemplateFormatError("The front matter has no closing --- line.", 1) from None
    meta: dict[str, str] = {}
    for i in range(1, end):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if ":" not in line:
            raise TemplateFormatError(f"Expected “key: value”, found “{line.strip()}”.", i + 1)
        key, value = line.split(":", 1)
        meta[key.strip()] = value.strip()
    for required in ("type", "level", "channel", "title"):
        if not meta.get(required):
            raise TemplateFormatError(f"The front matter needs a “{required}”.", end + 1)
    if meta["type"] not in TYPES:
        raise TemplateFormatError(f"Unknown type “{meta['type']}” (one of {', '.join(TYPES)}).", 2)
    if meta["level"] not in LEVELS:
        raise TemplateFormatError(f"Unknown level “{meta['level']}” (one of {', '.join(LEVELS)}).", 2)
    if meta["channel"] not in CHANNELS:
        raise TemplateFormatError(f"Unknown channel “{meta['channel']}” (email or sms).", 2)
    inputs: list[TemplateInput] = []
    if meta.get("inputs"):
        try:
            raw = json.loads(meta["inputs"])
            inputs = [TemplateInput(str(d["name"]), str(d.get("label", d["name"])),
                                    str(d.get("example", ""))) for d in raw]
        except (ValueError, TypeError, KeyError) as exc:
            raise TemplateFormatError(f"“inputs” must be a JSON list of {{name, label}}: {exc}")
    sections: list[tuple[str, str, int]] = []
    current: str | None = None
    start = 0
    body: list[str] = []
    for i in range(end + 1, len(lines)):
        match = _SECTION.match(lines[i])
        if match:
            if current is not None:
                sections.append((current, "\n".join(body).strip("\n"), start))
            current, start, body = match.group(1), i + 2, []
        elif current is None:
            if lines[i].strip():
                raise TemplateFormatError("Text before the first “=== section ===” line.", i + 1)
        else:
            body.append(lines[i])
    if current is not None:
        sections.append((current, "\n".join(body).strip("\n"), start))
    names = [n for n, _, _ in sections]
    expected = SECTIONS[meta["channel"]]
    if sorted(names) != sorted(expected):
        raise TemplateFormatError(
            f"A {meta['channel']} template has the sections {', '.join(expected)} "
            f"(found: {', '.join(names) or 'none'}).")
    return TemplateSource(type=meta["type"], level=meta["level"], channel=meta["channel"],
                          title=meta["title"], description=meta.get("description", ""),
                          inputs=tuple(inputs), sections=tuple(sections), text=text,
                          builtin=builtin, version=version)


def templates_dir() -> Path:
    from app.paths import data_folder

    return data_folder("templates")


@lru_cache(maxsize=4)
def _builtin(folder: str) -> dict[str, TemplateSource]:
    out: dict[str, TemplateSource] = {}
    for path in sorted(Path(folder).glob("*/*.j2")):
        try:
            source = parse_template(path.read_text(encoding="utf-8"))
        except TemplateFormatError as exc:
            raise TemplateFormatError(f"{path.name}: {exc}") from None
        out[source.key] = source
    return out


def builtin_templates() -> dict[str, TemplateSource]:
    """Every built-in template by key "type/level/channel" (read once)."""
    return dict(_builtin(str(templates_dir())))


# ---------------------------------------------------------------- the coordinator's versions

def effective_templates(store) -> dict[str, TemplateSource]:  # type: ignore[no-untyped-def]
    """Built-ins, each replaced by the coordinator's newest version where there is one."""
    from sqlalchemy import select

    from app.domain.models import CustomTemplate

    out = builtin_templates()
    with store.session() as session:
        rows = session.scalars(select(CustomTemplate).where(CustomTemplate.retired.is_(False))
                               .order_by(CustomTemplate.key, CustomTemplate.version)).all()
        for row in rows:  # later versions overwrite earlier ones
            try:
                out[row.key] = parse_template(row.body, builtin=False, version=row.version)
            except TemplateFormatError:
                continue  # a stored version that no longer parses falls back to the built-in
    return out


def check_compiles(source: TemplateSource) -> None:
    """Compile every section now so a syntax error is reported on save, with its line."""
    from jinja2 import TemplateSyntaxError

    from app.messages.sandbox import TemplateRenderError, environment

    for name, text, first in source.sections:
        try:
            environment(name == "html").parse(text)
        except TemplateSyntaxError as exc:
            raise TemplateRenderError(name, first + (exc.lineno or 1) - 1,
                                      f"syntax error: {exc.message}") from None


def save_custom(store, clock, text: str, key: str | None = None) -> TemplateSource:  # type: ignore[no-untyped-def]
    """Store the coordinator's edit as a new version. The front matter's type/level/channel
    name the template; `key`, if given, must match it (an edit cannot change what it is)."""
    from sqlalchemy import func, select

    from app.domain.models import CustomTemplate

    source = parse_template(text, builtin=False)
    if key is not None and source.key != key:
        raise TemplateFormatError(
            f"This is the {key} template; its front matter must keep type, level and channel "
            f"(it now says {source.key}).", 2)
    check_compiles(source)
    with store.session() as session, session.begin():
        latest = session.scalar(select(func.max(CustomTemplate.version))
                                .where(CustomTemplate.key == source.key)) or 0
        row = CustomTemplate(key=source.key, version=latest + 1, body=text,
                             created_at=clock.now(), retired=False)
        session.add(row)
    return parse_template(text, builtin=False, version=latest + 1)


def revert_to_builtin(store, key: str) -> int:  # type: ignore[no-untyped-def]
    """Retire every version of the coordinator's template: the built-in applies again.
    Returns how many versions were retired (they stay in the history)."""
    from sqlalchemy import update

    from app.domain.models import CustomTemplate

    with store.session() as session, session.begin():
        result = session.execute(update(CustomTemplate).where(
            CustomTemplate.key == key, CustomTemplate.retired.is_(False)).values(retired=True))
        return result.rowcount or 0


def history(store, key: str) -> list[tuple[int, datetime, bool]]:  # type: ignore[no-untyped-def]
    """(version, saved at, retired) of the coordinator's versions of a template, newest first."""
    from sqlalchemy import select

    from app.domain.models import CustomTemplate

    with store.session() as session:
        return [(r.version, r.created_at, r.retired) for r in session.scalars(
            select(CustomTemplate).where(CustomTemplate.key == key)
            .order_by(CustomTemplate.version.desc()))]
