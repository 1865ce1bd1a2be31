"""Legal hold: what an incident sent, as files another tool can read without Clarion.

- An **mbox** with the stored bytes of every email delivery of the incident (one mbox message per
  delivery, or with `per_variant` one example of each variant of each message), in the order
  they were queued. The standard library's `mailbox` writes it (the "From " line gives the
  sender and the time it was sent; lines of the body that begin with "From " get a ">", as
  mbox readers expect; line ends are the system's). Deliveries whose bytes were not kept (sent
  before Clarion kept them) are not in it; the CSV marks them.
- A **CSV** beside it (`<name>.deliveries.csv`, UTF-8 with a BOM) with every delivery of every
  channel: times in UTC (ISO 8601), recipient, address, channel, template, state, attempts, last
  error, the provider's id and status, the subject, the SMS or webhook text, and whether its
  source is in the mbox.

Both are written through a temporary file and a rename (never half a file), readable by the
owner only: they hold personal data."""

from __future__ import annotations

import csv
import mailbox
import time
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.clock import ensure_utc
from app.domain.enums import Channel
from app.domain.models import Delivery, Incident, Message
from app.errors import NotFound
from app.storage.files import replacing
from app.stakeholders.export import safe_cell

CSV_COLUMNS = (
    "delivery_id", "message_id", "message_type", "queued_at_utc", "sent_at_utc",
    "last_change_utc", "recipient", "address", "channel", "template", "detail_level", "state",
    "attempts", "last_error", "provider_id", "provider_status", "subject", "text",
    "source_in_mbox",
)
BATCH = 500   # rows read at a time: a 20,000-delivery incident is never all in memory


@dataclass(frozen=True)
class HoldFiles:
    mbox: Path
    csv: Path
    in_mbox: int            # email messages written to the mbox
    deliveries: int         # rows of the CSV (every delivery of every channel)
    emails_without_source: int   # email deliveries with no bytes: not kept, or not sent yet


def csv_path_for(path: Path) -> Path:
    """Where the CSV goes: `<name>.deliveries.csv` beside `<name>.mbox`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.deliveries.csv")


def _utc(value: datetime | None) -> str:
    return "" if value is None else ensure_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope_sender(wire: bytes) -> str:
    """The From: header's address, for the mbox "From " line ("MAILER-DAEMON" if none)."""
    try:
        head = BytesHeaderParser(policy=default_policy).parsebytes(wire)
        addresses = getattr(head["From"], "addresses", ()) if head["From"] else ()
        found = addresses[0] if addresses else None
        spec = found.addr_spec if isinstance(found, Address) else ""
    except Exception:  # noqa: BLE001 - a header we cannot read: the mbox still needs a line
        spec = ""
    return "".join(spec.split()) or "MAILER-DAEMON"


def export_legal_hold(store: Any, incident_id: int, path: Path,
                      per_variant: bool = False) -> HoldFiles:
    """Write the mbox at `path` and the CSV beside it; NotFound for an unknown incident;
    ClarionError if a file cannot be written (then neither is changed)."""
    path = Path(path)
    csv_path = csv_path_for(path)
    stmt = (select(Delivery.id, Delivery.message_id, Message.template_type, Message.created_at,
                   Delivery.sent_at, Delivery.updated_at, Delivery.recipient_name,
                   Delivery.address, Delivery.channel, Delivery.template_key,
                   Delivery.detail_level, Delivery.state, Delivery.attempts,
                   Delivery.last_error, Delivery.provider_id, Delivery.provider_status,
                   Delivery.subject, Delivery.body_text, Delivery.wire)
            .join(Message, Message.id == Delivery.message_id)
            .where(Message.incident_id == incident_id)
            .order_by(Message.created_at, Message.id, Delivery.id)
            .execution_options(yield_per=BATCH))
    in_mbox = rows = without = 0
    seen_variants: set[tuple[int, str]] = set()
    with store.reading() as s:
        if s.get(Incident, incident_id) is None:
            raise NotFound(f"No incident {incident_id}.")
        with replacing(path) as mbox_tmp, replacing(csv_path) as csv_tmp:
            box = mailbox.mbox(str(mbox_tmp))
            box.lock()
            try:
                with open(csv_tmp, "w", encoding="utf-8-sig", newline="") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(CSV_COLUMNS)
                    for r in s.execute(stmt):
                        is_email = r.channel == Channel.EMAIL
                        kept = bool(r.wire) and is_email
                        wanted = kept and not (per_variant and
                                               (r.message_id, r.template_key) in seen_variants)
                        if wanted:
                            seen_variants.add((r.message_id, r.template_key))
                            when = ensure_utc(r.sent_at or r.updated_at)
                            from_line = (f"From {_envelope_sender(r.wire)} "
                                         f"{time.asctime(when.timetuple())}\n").encode()
                            box.add(from_line + r.wire.replace(b"\r\n", b"\n"))
                            in_mbox += 1
                        elif is_email and not r.wire:
                            without += 1
                        if wanted:
                            where = "yes"
                        elif not is_email:
                            where = "no: not an email"
                        elif r.wire is None and r.attempts == 0:
                            where = "no: not sent yet"
                        elif not r.wire:
                            where = "no: not kept"
                        else:
                            where = "no: one copy per variant"
                        writer.writerow([safe_cell(str(v)) for v in (
                            r.id, r.message_id, r.template_type, _utc(r.created_at),
                            _utc(r.sent_at), _utc(r.updated_at), r.recipient_name, r.address,
                            r.channel.value, r.template_key, r.detail_level, r.state.value,
                            r.attempts, r.last_error, r.provider_id, r.provider_status,
                            r.subject, "" if is_email else r.body_text, where)])
                        rows += 1
                box.flush()
            finally:
                box.unlock()
                box.close()
    return HoldFiles(path, csv_path, in_mbox, rows, without)
