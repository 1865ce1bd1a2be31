"""Applying an import plan: new rows created and duplicates merged (or skipped) in ONE
transaction (StakeholderService.apply_batch), all or nothing (step three of an import)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.domain.dto import StakeholderData, StakeholderDTO
from app.errors import ValidationError
from app.stakeholders.importing.merge import merge_into
from app.stakeholders.importing.plan import ImportPlan, RowProblem

if TYPE_CHECKING:  # pragma: no cover
    from app.stakeholders.service import StakeholderService

__all__ = ["ImportResult", "merge_into", "apply_import"]


@dataclass(frozen=True)
class ImportResult:
    created_ids: tuple[int, ...]
    merged_ids: tuple[int, ...]
    skipped_rows: tuple[int, ...]
    problems: tuple[RowProblem, ...]


def apply_import(service: StakeholderService, plan: ImportPlan, merge_duplicates: bool,
                 existing: Sequence[StakeholderDTO]) -> ImportResult:
    """Store a plan in ONE transaction (service.apply_batch): all or nothing. Duplicates of a
    stored stakeholder are merged into it (merge_into) when `merge_duplicates`, else skipped;
    duplicates of an earlier row are merged into that row's stakeholder, else skipped.
    Merges start from the stakeholder as stored now (service.get), so edits made since the
    plan are kept; NotFound if it was deleted meanwhile. Raises what apply_batch raises
    (nothing is then written); ValidationError keys become "row <n>: <field>"."""
    from app.errors import NotFound

    by_id = {s.id: s for s in existing}
    creates: list[StakeholderData] = []
    create_rows: list[int] = []
    slot_of_row: dict[int, int] = {}
    for row, data in plan.new:
        slot_of_row[row] = len(creates)
        creates.append(data)
        create_rows.append(row)
    updates: dict[int, StakeholderData] = {}
    update_rows: dict[int, int] = {}
    skipped: list[int] = []
    fresh: dict[int, StakeholderDTO] = {}
    for dup in sorted(plan.duplicates, key=lambda d: d.row):
        if not merge_duplicates:
            skipped.append(dup.row)
            continue
        if dup.existing_id is not None:
            if dup.existing_id not in fresh:
                # Merge into the stakeholder as it is now, not as it was when the plan was
                # made (edited meanwhile); refuse if it was deleted meanwhile.
                try:
                    fresh[dup.existing_id] = service.get(dup.existing_id)
                except NotFound:
                    name = by_id[dup.existing_id].name if dup.existing_id in by_id \
                        else dup.existing_name
                    raise NotFound(
                        f"Row {dup.row} duplicates {name}, who has been deleted meanwhile. "
                        "Nothing was imported; start the import again.") from None
            base = updates.get(dup.existing_id) or fresh[dup.existing_id]
            updates[dup.existing_id] = merge_into(base, dup.data)
            update_rows.setdefault(dup.existing_id, dup.row)
        elif dup.earlier_row in slot_of_row:
            slot = slot_of_row[dup.earlier_row]
            creates[slot] = merge_into(creates[slot], dup.data)
        else:  # a plan built by hand without earlier_row: nothing to merge into
            slot_of_row[dup.row] = len(creates)
            creates.append(dup.data)
            create_rows.append(dup.row)
    if not creates and not updates:
        return ImportResult((), (), tuple(skipped), plan.problems)
    update_list = list(updates.items())
    try:
        created, updated = service.apply_batch(creates, update_list)
    except ValidationError as exc:
        rows = create_rows + [update_rows[i] for i, _ in update_list]
        errors = {}
        for key, message in exc.errors.items():
            position, _, field_name = key.partition(".")
            row = rows[int(position)] if position.isdigit() and int(position) < len(rows) \
                else None
            errors[f"row {row}: {field_name}" if row is not None else key] = message
        raise ValidationError(errors) from None
    return ImportResult(tuple(created), tuple(updated), tuple(skipped), plan.problems)
