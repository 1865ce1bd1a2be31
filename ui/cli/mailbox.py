"""`clarion mailbox check` and `clarion replies INCIDENT`: what the sending accounts' mailboxes
said after "sent" — bounces, automatic replies and replies (app/mailbox) — and what people
texted back to the SMS accounts (confirmations, replies, STOP: app/mailbox/sms.py), headless."""

from __future__ import annotations

import json
import sys
from typing import Any

from ui.startup import open_store


def mailbox_check_command(demo: bool, account: str | None = None,
                          as_json: bool = False) -> int:
    """Read each email account's mailbox once, and each SMS account's inbound messages (or
    the one account named), and print what it matched. Exit 0 when every read worked, 1 when
    one failed, 2 for an unknown account, 4 when no account has anything to read."""
    try:
        _config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001 - said plainly on the command line
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 3
    from app.events import EventBus
    from app.sending.accounts import AccountService
    from app.mailbox.reader import ImapSettings, check_account
    from app.sending.secrets import SecretStore

    try:
        accounts = AccountService(store, clock, SecretStore(), EventBus())
        readable = [a for a in accounts.list("email") if ImapSettings.of(a) is not None]
        texting = accounts.list("sms")
        if account is not None:
            named = [a for a in accounts.list("email") + texting if a.name == account]
            if not named:
                known = ", ".join(a.name for a in accounts.list("email") + texting) or "none"
                print(f"clarion: there is no email or SMS account “{account}” (accounts: "
                      f"{known})", file=sys.stderr)
                return 2
            texting = [a for a in named if a.kind == "sms"]
            readable = [a for a in named if ImapSettings.of(a) is not None]
            if not readable and not texting:
                print(f"clarion: the account “{account}” has no IMAP server: its mailbox is "
                      f"not read (set one under Settings → Sending accounts)", file=sys.stderr)
                return 4
        if not readable and not texting:
            print("clarion: no email account has an IMAP server and there is no SMS account: "
                  "nothing to read (set one under Settings → Sending accounts)",
                  file=sys.stderr)
            return 4
        reports = [check_account(store, clock, a, accounts.mailbox_secret_of(a.id))
                   for a in readable]
        if texting:
            from app.mailbox.sms import check_sms_account

            reports += [check_sms_account(store, clock, a, accounts.secret_of(a.id))
                        for a in texting]
        if as_json:
            print(json.dumps([_report_json(r) for r in reports], indent=2))
        else:
            for r in reports:
                _print_report(r)
        return 1 if any(r.error for r in reports) else 0
    finally:
        store.dispose()


def _is_sms(r: Any) -> bool:
    return not hasattr(r, "folder")    # an SmsCheckReport (app/mailbox/sms.py)


def _print_report(r: Any) -> None:
    if r.error:
        print(f"{r.account_name}: not read — {r.error}", file=sys.stderr)
        return
    plural = "message" if r.read == 1 else "messages"
    if _is_sms(r):
        print(f"{r.account_name} (SMS): read {r.read} new {plural}: {len(r.recorded)} "
              f"recorded, {r.unmatched} about nothing Clarion texted lately (left alone)")
        for rec in r.recorded:
            about = (f"incident {rec.incident_id}, delivery {rec.delivery_id}"
                     if rec.incident_id is not None else "no incident")
            print(f"  {rec.kind:<10} {about}: {rec.summary}")
        for left in r.left_alone:
            print(f"  {left.kind:<10} left alone: {left.why}")
        return
    print(f"{r.account_name} ({r.folder}): read {r.read} new {plural}: {len(r.recorded)} "
          f"matched, {r.unmatched} about nothing Clarion sent (left alone)")
    for rec in r.recorded:
        flag = "  URGENT" if rec.urgent else ""
        print(f"  {rec.kind:<10} incident {rec.incident_id}, delivery {rec.delivery_id}: "
              f"{rec.summary}{flag}")
        for title in rec.reopened:
            print(f"             clock reopened: {title}")
    for left in r.left_alone:
        print(f"  {left.kind:<10} left alone: {left.why}")


def _report_json(r: Any) -> dict[str, Any]:
    if _is_sms(r):
        return {"account": r.account_name, "channel": "sms", "read": r.read,
                "unmatched": r.unmatched, "error": r.error,
                "recorded": [{"kind": x.kind, "incident": x.incident_id,
                              "delivery": x.delivery_id, "sid": x.sid, "from": x.recipient,
                              "summary": x.summary, "acknowledged": x.acknowledged,
                              "stakeholders": list(x.stakeholder_ids)} for x in r.recorded],
                "left_alone": [{"kind": x.kind, "why": x.why} for x in r.left_alone]}
    return {"account": r.account_name, "channel": "email", "folder": r.folder, "read": r.read,
            "unmatched": r.unmatched, "error": r.error,
            "recorded": [{"kind": x.kind, "incident": x.incident_id, "delivery": x.delivery_id,
                          "recipient": x.recipient, "summary": x.summary, "urgent": x.urgent,
                          "clocks_reopened": list(x.reopened)} for x in r.recorded],
            "left_alone": [{"kind": x.kind, "why": x.why} for x in r.left_alone]}


def replies_command(incident: str, demo: bool, include_handled: bool = False,
                    kinds: tuple[str, ...] = ("reply",), as_json: bool = False,
                    acks: bool = False) -> int:
    """The incident's replies read from the mailbox, newest first (open ones only unless
    `include_handled`), then who was asked to confirm and who did. `acks`: only the latter
    (with --json: its list)."""
    try:
        _config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 3
    from app.mailbox.replies import KIND_LABELS, RepliesService
    from app.timefmt import format_local
    from ui.cli.incidents import find_incident

    try:
        found, why = find_incident(store, clock, incident)
        if found is None:
            print(f"clarion: {why}", file=sys.stderr)
            return 2
        if acks:
            return _print_confirmations(store, found, as_json)
        items = RepliesService(store, clock).list(found.id, kinds, include_handled)
        if as_json:
            print(json.dumps([{
                "id": i.id, "channel": i.channel, "kind": i.kind, "delivery": i.delivery_id,
                "message": i.message_id,
                "to": i.address, "from": i.from_address, "from_name": i.from_name,
                "subject": i.subject, "received_at": i.received_at.isoformat(),
                "sent_at": i.sent_at.isoformat() if i.sent_at else None, "text": i.text,
                "reason": i.reason,
                "handled_at": i.handled_at.isoformat() if i.handled_at else None,
                "handled_by": i.handled_by} for i in items], indent=2))
            return 0
        plural = {"reply": "replies", "bounce": "bounces", "auto_reply": "automatic replies"}
        singular = {"reply": "reply", "bounce": "bounce", "auto_reply": "automatic reply"}
        state = "" if include_handled else "open "
        if len(kinds) == 1:
            what = (plural if len(items) != 1 else singular)[kinds[0]]
            print(f"{found.title}: {len(items)} {state}{what}")
        else:
            counts = [(sum(i.kind == k for i in items), k) for k in kinds]
            print(f"{found.title}: {len(items)} {state}{'item' if len(items) == 1 else 'items'}"
                  + (" (" + ", ".join(f"{n} {(plural if n != 1 else singular)[k]}"
                                      for n, k in counts if n) + ")" if items else ""))
        for i in items:
            handled = f" — handled by {i.handled_by}" if i.handled_at else ""
            print()
            print(f"#{i.id} {KIND_LABELS[i.kind]} from {i.sender}, read "
                  f"{format_local(i.received_at)}{handled}")
            print(f"  answers message {i.message_id} to {i.recipient_name} <{i.address}>")
            if i.subject:
                print(f"  Subject: {i.subject}")
            body = i.reason if i.kind == "bounce" else i.text
            for line in (body or "(no text)").splitlines() or ["(no text)"]:
                print(f"  | {line}")
        _print_confirmations(store, found, False, heading=True)
        return 0
    finally:
        store.dispose()


def _print_confirmations(store: Any, incident: Any, as_json: bool,
                         heading: bool = False) -> int:
    """Who was asked to confirm, who did (when, how, their words) and who has not."""
    from app.acks.status import incident_confirmations
    from app.messages.library import TYPE_LABELS
    from app.messages.sent import ACK_VIA
    from app.timefmt import format_local

    summary = incident_confirmations(store, incident.id)
    if as_json:
        print(json.dumps([{
            "delivery": c.delivery_id, "message": c.message_id, "type": c.template_type,
            "recipient": c.recipient_name, "channel": c.channel, "address": c.address,
            "state": c.state, "asked": c.asked, "confirmed": c.confirmed,
            "confirmed_at": c.acknowledged_at.isoformat() if c.acknowledged_at else None,
            "via": c.via, "words": c.words, "silent": c.silent} for c in summary.items],
            indent=2))
        return 0
    if heading:
        print()
    if not summary.items:
        print(f"{incident.title}: no message asked anyone to confirm")
        return 0
    print(f"{incident.title}: {len(summary.confirmed)} of {summary.asked} asked confirmed"
          + (f", {len(summary.silent)} not yet" if summary.silent else ""))
    for c in summary.items:
        what = f"{TYPE_LABELS.get(c.template_type, c.template_type)} (message {c.message_id})"
        who = f"{c.recipient_name} <{c.address}>"
        if c.confirmed:
            said = c.words if len(c.words) <= 80 else c.words[:79].rstrip() + "…"
            words = f" — “{said}”" if said and c.via != "manual" else \
                (f" — {said}" if said else "")
            print(f"  confirmed    {who}: {what}, {format_local(c.acknowledged_at)} "
                  f"{ACK_VIA.get(c.via, c.via)}{words}")
        elif c.silent:
            sent = f", sent {format_local(c.sent_at)}" if c.sent_at else ""
            print(f"  not yet      {who}: {what}{sent}")
        else:
            print(f"  never got it {who}: {what} ({c.state})")
    return 0
