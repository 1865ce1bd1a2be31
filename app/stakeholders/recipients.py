"""Who receives a message: "the recipients for category/group/timing need X on channel Y".
Groups are resolved (nested too), inactive people skipped, and per recipient the contact point
to use is chosen by priority, then by the stakeholder's preferred channel. An SMS contact point
whose number opted out (a STOP reply: app/stakeholders/opt_out.py) is never chosen: the next one
on an allowed channel is, and someone left with none is unreachable, saying so."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.domain.dto import Recipient, RecipientList, Unreachable
from app.domain.enums import Category, Channel, TimingNeed
from app.domain.models import Stakeholder
from app.stakeholders.groups import expand, load_graph
from app.storage.engine import Store


def choose_contact(contacts: Iterable[tuple[str, str, int]], channels: set[str] | None,
                   preferred: str | None) -> tuple[str, str] | None:
    """From (channel, address, priority) triples pick one: lowest priority number first;
    among equals, the stakeholder's preferred channel. Pure."""
    candidates = [c for c in contacts if channels is None or c[0] in channels]
    if not candidates:
        return None
    best = min(candidates, key=lambda c: (c[2], 0 if c[0] == preferred else 1, c[0]))
    return best[0], best[1]


def usable_contacts(contacts: Iterable[tuple[str, str, int, bool, str]]
                    ) -> tuple[list[tuple[str, str, int]], list[str]]:
    """From (channel, address, priority, opted out, why) pick the contact points that may be
    used — an opted-out SMS number may not — and the reasons of those left out. Pure."""
    usable: list[tuple[str, str, int]] = []
    stopped: list[str] = []
    for channel, address, priority, is_out, why in contacts:
        if is_out and channel == Channel.SMS.value:
            stopped.append(why)
        else:
            usable.append((channel, address, priority))
    return usable, stopped


def why_unreachable(wanted: set[str] | None, stopped: list[str]) -> str:
    """Why nobody can be reached: a number opted out of SMS (and why), or no contact point on
    the channels asked for. Pure."""
    from app.stakeholders.opt_out import unreachable_reason

    if stopped and (wanted is None or Channel.SMS.value in wanted):
        return unreachable_reason(stopped[0])
    where = ", ".join(sorted(wanted)) if wanted else "any channel"
    return f"no contact point on {where}"


def resolve_recipients(store: Store, client_id: int, *,
                       categories: Iterable[Category | str] = (),
                       group_ids: Iterable[int] = (),
                       timing_needs: Iterable[TimingNeed | str] = (),
                       stakeholder_ids: Iterable[int] = (),
                       channels: Iterable[Channel | str] | None = None,
                       avoid: Mapping[int, Collection[str]] | None = None) -> RecipientList:
    """Everyone matching ANY of the selectors (categories, groups, timing needs, hand-picked),
    active only, each once, with the contact point to use on one of `channels` (all channels
    if None). Those with no usable contact point are returned as unreachable, with why."""
    cats = {Category(c).value for c in categories}
    timings = {TimingNeed(t).value for t in timing_needs}
    picked = set(stakeholder_ids)
    wanted = {Channel(c).value for c in channels} if channels is not None else None
    with store.session() as session:
        if group_ids:
            edges, members = load_graph(session, client_id)
            picked |= expand(edges, members, set(group_ids))
        stmt = (select(Stakeholder).where(Stakeholder.client_id == client_id)
                .options(selectinload(Stakeholder.contact_points))
                .order_by(Stakeholder.name, Stakeholder.id))
        recipients: list[Recipient] = []
        unreachable: list[Unreachable] = []
        # numbers opted out anywhere (an opt-out belongs to the number: a contact point added
        # since under someone else has it too)
        from app.stakeholders.opt_out import opted_out

        stopped_numbers = opted_out(session)
        for s in session.scalars(stmt):
            category = Category(s.category).value
            timing = TimingNeed(s.timing_need).value
            if not (category in cats or timing in timings or s.id in picked):
                continue
            if not s.active:
                continue
            usable, stopped = usable_contacts(
                (Channel(c.channel).value, c.address, c.priority,
                 c.opted_out_at is not None or c.address in stopped_numbers,
                 c.opted_out_reason or stopped_numbers.get(c.address, ""))
                for c in s.contact_points)
            tried = {a.casefold() for a in (avoid or {}).get(s.id, ())}
            if tried:     # reach them by their next contact point (a chase of silence)
                usable = [c for c in usable if c[1].casefold() not in tried]
            choice = choose_contact(
                usable, wanted,
                Channel(s.preferred_channel).value if s.preferred_channel else None)
            if choice is None:
                unreachable.append(Unreachable(s.id, s.name, why_unreachable(wanted, stopped)
                                               if not tried else
                                               "no other contact point than the one already "
                                               "tried"))
                continue
            recipients.append(Recipient(stakeholder_id=s.id, name=s.name, category=category,
                                        detail_level=s.detail_level.value
                                        if hasattr(s.detail_level, "value") else s.detail_level,
                                        channel=choice[0], address=choice[1]))
    return RecipientList(tuple(recipients), tuple(unreachable))
