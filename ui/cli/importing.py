"""`clarion import FILE --client NAME …`: people from a contacts CSV or vCard into a client's
stakeholder map, headless. The same plan as the import dialog (app/stakeholders/importing/):
every column's use (guessed, changed with --map), every row validated, duplicates set aside to
merge or skip; printed for people, then applied in ONE transaction — or not, with --dry-run.

The pure parts (choosing the client, the category and the columns; the plan in lines) are
functions of their own; import_command does the reading, the printing and the exit codes
(DESIGN.md "CLI conventions")."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from app.stakeholders.importing.columns import ColumnUse
    from app.stakeholders.importing.plan import ImportPlan

VCARD_SUFFIXES = (".vcf", ".vcard")
IGNORE = "ignore"
CONTACT_COLUMN_FIELDS = ("email", "mobile", "sms", "phone")


class BadArgument(Exception):
    """An argument that names nothing known (exit code 2); the message lists what is."""


# ---------------------------------------------------------------- choosing (pure)

def pick_client(clients: Sequence[Any], wanted: str) -> Any:
    """The client named `wanted`: its exact name in any case, else the one name that begins
    with it. BadArgument (listing the clients) when none or several match."""
    key = " ".join(wanted.split()).casefold()
    exact = [c for c in clients if c.name.casefold() == key]
    if len(exact) == 1:
        return exact[0]
    starts = exact or [c for c in clients if key and c.name.casefold().startswith(key)]
    if len(starts) == 1:
        return starts[0]
    known = ", ".join(c.name for c in clients) or "none yet"
    if not starts:
        raise BadArgument(f"no client is called {wanted!r} (clients: {known})")
    raise BadArgument(f"{wanted!r} could be {' or '.join(c.name for c in starts)}; say which "
                      f"(clients: {known})")


def pick_category(text: str | None) -> str:
    """The default category's value: --category as a value or label, leniently ("IT staff",
    "execs"); "affected_users" without it. BadArgument listing the categories."""
    from app.domain.enums import Category, lenient_match

    if text is None:
        return Category.AFFECTED_USERS.value
    found = lenient_match(Category, text)
    if found is None:
        known = ", ".join(f"{c.value} ({c.label})" for c in Category)
        raise BadArgument(f"no category {text!r} (categories: {known})")
    return found.value


def _title(headers: Sequence[str], i: int) -> str:
    return headers[i] or f"column {i + 1}"


def _columns_list(headers: Sequence[str]) -> str:
    return ", ".join(f"{i + 1} {_title(headers, i)}" for i in range(len(headers)))


def _column_of(headers: Sequence[str], text: str) -> int:
    key = text.strip().casefold()
    named = [i for i, h in enumerate(headers) if h.strip().casefold() == key]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise BadArgument(f"{len(named)} columns are called {text.strip()!r}: say which by its "
                          f"number (columns: {_columns_list(headers)})")
    if key.isdigit() and 1 <= int(key) <= len(headers):
        return int(key) - 1
    raise BadArgument(f"the file has no column {text.strip()!r} "
                      f"(columns: {_columns_list(headers)})")


def apply_maps(headers: Sequence[str], uses: Mapping[int, ColumnUse], maps: Sequence[str]
               ) -> dict[int, ColumnUse]:
    """The columns' uses after each --map COLUMN=FIELD, in order. COLUMN: a header (any case)
    or a column number from 1; FIELD: a key of IMPORT_FIELDS, or "ignore". A field that takes
    one column leaves the column that had it (columns.with_field), which says why. BadArgument
    naming the file's columns or the known fields."""
    from dataclasses import replace

    from app.stakeholders.importing.columns import IMPORT_FIELDS, with_field

    out = dict(uses)
    for item in maps:
        column_text, equals, field_text = item.rpartition("=")
        if not equals or not column_text.strip() or not field_text.strip():
            raise BadArgument(f"--map wants COLUMN=FIELD, not {item!r}")
        field = "_".join(field_text.strip().casefold().replace("-", " ").split())
        if field != IGNORE and field not in IMPORT_FIELDS:
            raise BadArgument(f"--map {item!r}: no field {field_text.strip()!r} "
                              f"(fields: {', '.join(IMPORT_FIELDS)}, {IGNORE})")
        index = _column_of(headers, column_text)
        out = with_field(headers, out, index, None if field == IGNORE else field)
        if field == "label":   # "Label of the next column": each row's label for its points
            if out[index].field != "label":
                raise BadArgument(f"--map {item!r}: a label column labels the next column, "
                                  "which must be an email or phone column")
            out[index] = replace(out[index], reason=f"{out[index].reason} (--map)")
        else:
            out[index] = replace(out[index], reason="ignored (--map)" if field == IGNORE
                                 else "as mapped (--map)")
    return out


def has_name_column(uses: Mapping[int, ColumnUse]) -> bool:
    from app.stakeholders.importing.columns import NAME_PARTS

    return any(u.field == "name" or u.field in NAME_PARTS for u in uses.values())


# ---------------------------------------------------------------- the plan in lines (pure)

def column_lines(headers: Sequence[str], uses: Mapping[int, ColumnUse]) -> list[str]:
    """Each column used (imported, or the label of another) with what it gives; each column
    ignored with the reason; how names are made."""
    from app.stakeholders.importing.columns import IMPORT_FIELDS, name_recipe

    used, ignored = [], []
    for i in sorted(uses):
        use = uses[i]
        if use.field is None:
            ignored.append(f"  {_title(headers, i)}: {use.reason or 'ignored'}")
            continue
        what, why = IMPORT_FIELDS[use.field], use.reason
        if use.field == "label" and why.startswith("the label of "):
            what, why = why, ""
        elif use.field in CONTACT_COLUMN_FIELDS:
            if use.label_column is not None:
                what += f" (label from “{_title(headers, use.label_column)}”)"
            elif use.label:
                what += f" (label “{use.label}”)"
            if why in ("an email contact point", "a phone contact point"):
                why = ""   # the field says it
        used.append(f"  {_title(headers, i)} → {what}" + (f" — {why}" if why else ""))
    lines = [f"Columns used ({len(used)}):", *used]
    if ignored:
        lines += [f"Columns ignored ({len(ignored)}):", *ignored]
    lines.append(f"Names: {name_recipe(headers, uses) or 'no column gives the names'}")
    return lines


def _contact_text(channel: str, address: str, label: str) -> str:
    return f"{channel} {address}" + (f" [{label}]" if label else "")


def plan_lines(plan: ImportPlan, merge: bool, unit: str = "row") -> list[str]:
    """The people to import with their contact points, the duplicates and what happens to
    them (merged, with what that changes, or skipped), the warnings and the rows refused.
    `unit`: what a plan's row number counts ("card" for a vCard file)."""
    from app.domain.enums import Category

    def category(value: str) -> str:
        try:
            return Category(value).label
        except ValueError:
            return value

    lines = [f"People to import ({len(plan.new)}):"]
    for row, data in plan.new:
        lines.append(f"  {unit} {row}: " + " · ".join(
            x for x in (data.name, category(data.category), data.role) if x))
        lines += [f"      {_contact_text(cp.channel, cp.address, cp.label)}"
                  for cp in data.contacts] or ["      no contact point: unreachable"]
    if plan.duplicates:
        lines.append(f"Duplicates ({len(plan.duplicates)}):")
    for dup in plan.duplicates:
        same = dup.existing_name if dup.existing_id is not None else f"{unit} {dup.earlier_row}"
        happens = f"merge: {dup.effect or 'nothing new'}" if merge else "skipped"
        lines.append(f"  {unit} {dup.row}: {dup.data.name} — same as {same} "
                     f"({dup.matched_on}); {happens}")
    for title, problems in (("Warnings", plan.warnings), ("Refused", plan.problems)):
        if problems:
            lines.append(f"{title} ({len(problems)}):")
            lines += [f"  {unit} {p.row}, {p.field}: {p.message}" for p in problems]
    return lines


def nothing_to_do(plan: ImportPlan, merge: bool, unit: str = "row") -> str | None:
    """Why nothing would be written, in one line; None when something would."""
    if plan.new or (merge and plan.duplicates):
        return None
    refused = len({p.row for p in plan.problems})
    why = []
    if refused:
        why.append(f"{refused} of {plan.source_rows} {unit}{'s' * (plan.source_rows != 1)} "
                   "refused")
    if plan.duplicates:
        why.append(f"{len(plan.duplicates)} duplicate{'s' * (len(plan.duplicates) != 1)} "
                   "skipped (--skip)")
    return "nothing to import: " + (", ".join(why) or f"the file holds no {unit}s")


# ---------------------------------------------------------------- the command

def _say(message: str) -> None:
    print(f"clarion: {message}", file=sys.stderr)


def import_command(file: Path, client: str, maps: Sequence[str], dry_run: bool, merge: bool,
                   skip_unreachable: bool, category: str | None, demo: bool) -> int:
    """Plan the import, print it, and unless `dry_run` apply it in one transaction. Exit
    codes: 0 done or dry run, 1 the file cannot be read or the import failed (nothing
    written), 2 a bad argument, 3 the database cannot be opened, 4 nothing to import."""
    import logging

    from app.errors import ClarionError

    path = Path(file)
    if not path.is_file():
        _say(f"{path} is a folder, not a file" if path.is_dir() else f"{path}: no such file")
        return 2
    is_vcard = path.suffix.lower() in VCARD_SUFFIXES
    headers: tuple[str, ...] = ()
    uses: dict[int, ColumnUse] = {}
    try:
        default_category = pick_category(category)
        if is_vcard and maps:
            raise BadArgument("--map is for CSV files: a vCard's properties (FN, EMAIL, TEL, "
                              "TITLE, ORG, NOTE, CATEGORIES) are read as they are")
        if not is_vcard:
            from app.stakeholders.importing.columns import guess_columns
            from app.stakeholders.importing.read import read_csv_preview

            headers = read_csv_preview(path).headers
            uses = apply_maps(headers, guess_columns(headers), maps)
            if not has_name_column(uses):
                raise BadArgument(
                    "no column gives the names: say which with --map COLUMN=name (or "
                    "COLUMN=first_name and COLUMN=last_name) "
                    f"(columns: {_columns_list(headers)})")
    except BadArgument as exc:
        _say(str(exc))
        return 2
    except ClarionError as exc:   # ImportFileError: not a CSV, empty, too big, …
        _say(str(exc))
        return 1
    except OSError as exc:
        _say(f"cannot read {path}: {exc.strerror or exc}")
        return 1
    except Exception as exc:  # noqa: BLE001 - never a traceback on the command line
        _say(f"cannot read {path}: {exc}")
        return 1
    from ui.startup import open_store

    try:
        _config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001 - say it plainly on the command line
        _say(f"cannot open the database: {exc}")
        return 3
    try:
        return _plan_and_apply(store, clock, path, is_vcard, headers, uses, client, dry_run,
                               merge, skip_unreachable, default_category)
    except BrokenPipeError:
        raise   # the reader went away (ui/main.py): not a failure of the import
    except Exception as exc:  # noqa: BLE001 - one line here, the traceback in the log
        from app.backups.damage import damage_of

        if damage_of(exc) is not None:
            raise   # a damaged file: ui/main.py says it once, with the backup (exit code 3)
        logging.getLogger("clarion").exception("import failed")
        _say(f"the import failed: {exc} (the log has the details)")
        return 1
    finally:
        store.dispose()


def _plan_and_apply(store: Any, clock: Any, path: Path, is_vcard: bool,
                    headers: tuple[str, ...], uses: dict[int, ColumnUse], client_name: str,
                    dry_run: bool, merge: bool, skip_unreachable: bool,
                    default_category: str) -> int:
    from app.errors import ClarionError, NotFound, ValidationError
    from app.stakeholders.clients import list_clients
    from app.stakeholders.importing.apply import apply_import
    from app.stakeholders.importing.plan import plan_csv_import, plan_vcard_import
    from app.stakeholders.service import StakeholderService

    try:
        client = pick_client(list_clients(store), client_name)
    except BadArgument as exc:
        _say(str(exc))
        return 2
    service = StakeholderService(store, clock)
    existing = service.list(client.id)
    try:
        if is_vcard:
            plan = plan_vcard_import(path, client.id, client.default_region, existing,
                                     default_category, skip_unreachable)
        else:
            plan = plan_csv_import(path, uses, client.id, client.default_region, existing,
                                   default_category, skip_unreachable)
    except ClarionError as exc:   # ImportFileError: the file as a whole
        _say(str(exc))
        return 1
    unit = "card" if is_vcard else "row"
    lines = [f"File: {path} ({plan.encoding}, {plan.source_rows} {unit}"
             f"{'s' * (plan.source_rows != 1)})", f"Client: {client.name}"]
    lines += [] if is_vcard else column_lines(headers, uses)
    lines += [""] + plan_lines(plan, merge, unit)
    why = nothing_to_do(plan, merge, unit)
    if why is not None or dry_run:
        print("\n".join(lines + ([] if why else ["", "Dry run: nothing was written."])))
        if why:
            _say(why)
        return 4 if why else 0
    # applied before anything is printed: a reader that goes away (`… | head`) cannot leave
    # the import half-decided
    try:
        result = apply_import(service, plan, merge, existing)
    except (ValidationError, NotFound) as exc:
        print("\n".join(lines))
        errors = exc.errors if isinstance(exc, ValidationError) else {"": str(exc)}
        for key, message in errors.items():
            _say(f"{key}: {message}" if key else message)
        if not any("nothing was imported" in m.casefold() for m in errors.values()):
            _say("nothing was imported")
        return 1
    print("\n".join(lines + ["", f"Imported {len(result.created_ids)}, merged "
                             f"{len(result.merged_ids)}, skipped {len(result.skipped_rows)}."]))
    return 0
