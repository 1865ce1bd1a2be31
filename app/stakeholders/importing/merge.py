"""Merging an imported row into a stakeholder met before (stored, or an earlier row of the same
file): its new contact points appended, empty fields filled, a fuller name taken. Pure."""

from __future__ import annotations

from dataclasses import replace

from app.domain.dto import ContactPointData, StakeholderData, StakeholderDTO
from app.stakeholders.importing.columns import EAST_ASIAN_NAME

__all__ = ["fuller_name", "merge_into", "merge_effect"]


def fuller_name(existing: str, incoming: str) -> bool:
    """True when `incoming` names the same person more fully: every word of `existing` is in
    it, in order, and it has more ("Zoë" → "Zoë Łukasiewicz-Øberg", "Ann Lee" → "Dr. Ann
    Marie Lee", "伟中" → "王伟中": unspaced, Chinese, Japanese or Korean) — what an earlier
    import that kept only first names left behind."""
    old, new = existing.strip(), incoming.strip()
    if EAST_ASIAN_NAME.fullmatch(old) and EAST_ASIAN_NAME.fullmatch(new):
        return len(new) > len(old) and old in new
    have, more = existing.casefold().split(), incoming.casefold().split()
    if not have or len(more) <= len(have):
        return False
    words = iter(more)
    return all(any(w == m for m in words) for w in have)


def merge_into(existing: StakeholderData, incoming: StakeholderData) -> StakeholderData:
    """Pure: `existing`'s data plus the contact points of `incoming` it lacks (appended, with
    priorities after the existing ones); an empty role or notes is filled from `incoming`,
    and the name is replaced by a fuller one (fuller_name)."""
    base = existing.data() if isinstance(existing, StakeholderDTO) else existing
    have = {(cp.channel, cp.address.casefold()) for cp in base.contacts}
    next_priority = max((cp.priority for cp in base.contacts), default=0)
    added: list[ContactPointData] = []
    for cp in sorted(incoming.contacts, key=lambda c: c.priority):
        key = (cp.channel, cp.address.casefold())
        if key in have:
            continue
        have.add(key)
        next_priority += 1
        added.append(replace(cp, priority=next_priority))
    name = incoming.name if fuller_name(base.name, incoming.name) else base.name
    return replace(base, name=name, contacts=tuple(base.contacts) + tuple(added),
                   role=base.role or incoming.role, notes=base.notes or incoming.notes)


def merge_effect(existing: StakeholderData, incoming: StakeholderData) -> str:
    """What merging `incoming` into `existing` changes, in words for the preview: "adds 2
    contact points; name becomes Zoë Łukasiewicz-Øberg" / "nothing new"."""
    merged = merge_into(existing, incoming)
    changes = []
    added = len(merged.contacts) - len(existing.contacts)
    if added:
        changes.append(f"adds {added} contact point{'s' if added != 1 else ''}")
    if merged.name != existing.name:
        changes.append(f"name becomes {merged.name}")
    if merged.role != existing.role:
        changes.append("fills the role")
    if merged.notes != existing.notes:
        changes.append("fills the notes")
    return "; ".join(changes) or "nothing new"
