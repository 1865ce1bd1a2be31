"""What the outbox writes in an incident's timeline: the wording of each delivery change, one
entry per change or one summary per big group, appended with one Core INSERT."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from app.coordinators.service import sign
from app.domain.chain import Content, seal
from app.domain.dto import TimelineEntryDTO
from app.domain.enums import DeliveryState as S, TimelineKind
from app.domain.models import TimelineEntry
from app.sending.rows import Info, connection_of
from app.sending.wording import RETRY_LATER

SUMMARY_OVER = 20     # more outcomes than this of one kind for one message in a batch: one entry
DATA_CAP = 200        # delivery ids (and details) kept in one summary entry's data
ACTOR = "outbox"
_TE = TimelineEntry.__table__


@dataclass
class Change:
    info: Info
    action: str                        # send | auth | retry | resend | cancel | mark_sent | recover
    state: S
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def channel_words(channel: str) -> str:
    return {"sms": "SMS", "slack": "Slack", "teams": "Teams"}.get(channel, channel)


def _text(action: str, state: S, who: str, ch: str) -> str:
    if action == "send":
        return {S.SENT: f"Sent to {who} by {ch}",
                S.FAILED: f"Not delivered to {who} by {ch}",
                S.RETRY_WAIT: f"Not yet delivered to {who} by {ch}{RETRY_LATER}",
                }.get(state, f"Delivery to {who} by {ch} may or may not have gone out; "
                             "the coordinator decides")
    return {"auth": f"Not sent to {who} by {ch}: the account was refused and its queue is paused",
            "mark_sent": f"Marked as sent to {who} by {ch} (checked by the coordinator)",
            "retry": f"Queued again for {who} by {ch} (retry)",
            "resend": f"Resending to {who} by {ch} (the coordinator decided)",
            "cancel": f"Cancelled delivery to {who} by {ch}"}[action]


def _kind(action: str, state: S) -> TimelineKind:
    if action in ("retry", "resend", "cancel"):
        return TimelineKind.DECISION
    if state == S.RETRY_WAIT:
        return TimelineKind.DELIVERY_RETRY
    return TimelineKind.DELIVERY_SENT if state == S.SENT else TimelineKind.DELIVERY_FAILED




def entries(session: Session | Connection, changes: Sequence[Change], now: datetime,
            actor: Any) -> list[TimelineEntryDTO]:
    """One entry per change, or one summary per (message, action, state, channel) when a batch
    has more than SUMMARY_OVER of them; the summary's data keeps the delivery ids."""
    groups: dict[tuple[int, str, S, str], list[Change]] = {}
    for c in changes:
        groups.setdefault((c.info.message_id, c.action, c.state, c.info.channel), []).append(c)
    rows: list[dict[str, Any]] = []
    for (message_id, action, state, channel), items in groups.items():
        first = items[0].info
        base = {"message_id": message_id, "channel": channel, "state": state.value,
                "action": action}
        kind = _kind(action, state).value
        drill = " (drill)" if first.is_drill else ""
        if len(items) > SUMMARY_OVER:
            details = list(dict.fromkeys(c.detail for c in items if c.detail))
            reason = ""
            if details:
                reason = ": " + details[0][:300] + (
                    f" (and {len(details) - 1} other reasons)" if len(details) > 1 else "")
            summary = _text(action, state, f"{len(items)} recipients", channel_words(channel))
            data = {**base, "count": len(items), "truncated": len(items) > DATA_CAP,
                    "delivery_ids": [c.info.id for c in items[:DATA_CAP]],
                    "deliveries": [{"id": c.info.id, "recipient": c.info.recipient,
                                    **({"error": c.detail} if c.detail else {}), **c.extra}
                                   for c in items[:DATA_CAP]]}
            rows.append(entry_row(first.incident_id, now, kind, actor,
                                  summary + reason + drill, data))
            continue
        for c in items:
            summary = _text(action, state, c.info.recipient, channel_words(channel))
            summary += (f": {c.detail}" if c.detail else "") + drill
            data = {**base, "delivery_id": c.info.id, "recipient": c.info.recipient,
                    **({"error": c.detail} if c.detail else {}), **c.extra}
            rows.append(entry_row(c.info.incident_id, now, kind, actor, summary, data))
    return insert_entries(session, rows)


def recovered_entries(session: Session, found: Sequence[Info],
                      now: datetime) -> list[TimelineEntryDTO]:
    """recover(): one entry per message whose deliveries were interrupted while sending."""
    by_message: dict[int, list[Info]] = {}
    for info in found:
        by_message.setdefault(info.message_id, []).append(info)
    rows = []
    for message_id, infos in by_message.items():
        n = len(infos)
        channels = Counter(i.channel for i in infos)
        how = ", ".join(f"{k} by {channel_words(c)}" for c, k in sorted(channels.items()))
        rows.append(entry_row(
            infos[0].incident_id, now, TimelineKind.DELIVERY_FAILED.value, ACTOR,
            f"{n} {'delivery was' if n == 1 else 'deliveries were'} interrupted while "
            f"sending ({how}); whether {'it' if n == 1 else 'they'} went out is unknown"
            + (" (drill)" if infos[0].is_drill else ""),
            {"message_id": message_id, "state": S.UNKNOWN.value, "action": "recover",
             "count": n, "truncated": n > DATA_CAP,
             "delivery_ids": [i.id for i in infos[:DATA_CAP]]}))
    return insert_entries(session, rows)


def entry_row(incident_id: int, at: datetime, kind: str, actor: Any, summary: str,
              data: dict[str, Any]) -> dict[str, Any]:
    """`actor`: the desk (a person's action, signed with their coordinator id) or a
    component's name."""
    name, coordinator_id = sign(actor)
    return {"incident_id": incident_id, "at": at, "kind": kind, "actor": name,
            "coordinator_id": coordinator_id, "summary": summary, "data": data}


def insert_entries(session: Session | Connection,
                   rows: list[dict[str, Any]]) -> list[TimelineEntryDTO]:
    """Append timeline entries with one Core INSERT (no ORM objects: a batch's bookkeeping
    must stay cheap beside the network work it records), chained in the same transaction."""
    if not rows:
        return []
    connection = connection_of(session)
    ids = connection.execute(
        insert(_TE).returning(_TE.c.id, sort_by_parameter_order=True), rows).scalars().all()
    seal(connection, [Content(incident_id=r["incident_id"], entry_id=i, at=r["at"], kind=r["kind"],
                              actor=r["actor"], coordinator_id=r["coordinator_id"],
                              summary=r["summary"], data=r["data"])
                      for i, r in zip(ids, rows)])
    return [TimelineEntryDTO(id=i, incident_id=r["incident_id"], at=r["at"], kind=r["kind"],
                             actor=r["actor"], summary=r["summary"], data=dict(r["data"]),
                             coordinator_id=r["coordinator_id"])
            for i, r in zip(ids, rows)]
