"""`clarion mailbox check` and `clarion replies INCIDENT`: what the sending accounts' mailboxes
said after "sent" — bounces, automatic replies and replies (app/mailbox) — headless."""

from __future__ import annotations

import json
import sys
from typing import Any

from ui.startup import open_store


def mailbox_check_command(demo: bool, account: str | None = None,
                          as_json: bool = False) -> int:
    """Read each email account's mailbox once (or the one named) and print what it matched.
    Exit 0 when every read worked, 1 when one failed, 2 for an unknown account, 4 when no
    account has a mailbox to read."""
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
        if account is not None:
            named = [a for a in accounts.list("email") if a.name == account]
            if not named:
                known = ", ".join(a.name for a in accounts.list("email")) or "none"
                print(f"clarion: there is no email account “{account}” (email accounts: "
                      f"{known})", file=sys.stderr)
                return 2
            readable = [a for a in named if ImapSettings.of(a) is not None]
            if not readable:
                print(f"clarion: the account “{account}” has no IMAP server: its mailbox is "
                      f"not read (set one under Settings → Sending accounts)", file=sys.stderr)
                return 4
        if not readable:
            print("clarion: no email account has an IMAP server: no mailbox to read (set one "
                  "under Settings → Sending accounts)", file=sys.stderr)
            return 4
        reports = [check_account(store, clock, a, accounts.mailbox_secret_of(a.id))
                   for a in readable]
        if as_json:
            print(json.dumps([_report_json(r) for r in reports], indent=2))
        else:
            for r in reports:
                _print_report(r)
        return 1 if any(r.error for r in reports) else 0
    finally:
        store.dispose()


def _print_report(r: Any) -> None:
    if r.error:
        print(f"{r.account_name}: not read — {r.error}", file=sys.stderr)
        return
    print(f"{r.account_name} ({r.folder}): read {r.read} new "
          f"{'message' if r.read == 1 else 'messages'}: {len(r.recorded)} matched, "
          f"{r.unmatched} about nothing Clarion sent (left alone)")
    for rec in r.recorded:
        flag = "  URGENT" if rec.urgent else ""
        print(f"  {rec.kind:<10} incident {rec.incident_id}, delivery {rec.delivery_id}: "
              f"{rec.summary}{flag}")
        for title in rec.reopened:
            print(f"             clock reopened: {title}")
    for left in r.left_alone:
        print(f"  {left.kind:<10} left alone: {left.why}")


def _report_json(r: Any) -> dict[str, Any]:
    return {"account": r.account_name, "folder": r.folder, "read": r.read,
            "unmatched": r.unmatched, "error": r.error,
            "recorded": [{"kind": x.kind, "incident": x.incident_id, "delivery": x.delivery_id,
                          "recipient": x.recipient, "summary": x.summary, "urgent": x.urgent,
                          "clocks_reopened": list(x.reopened)} for x in r.recorded],
            "left_alone": [{"kind": x.kind, "why": x.why} for x in r.left_alone]}


def replies_command(incident: str, demo: bool, include_handled: bool = False,
                    kinds: tuple[str, ...] = ("reply",), as_json: bool = False) -> int:
    """The incident's replies read from the mailbox, newest first (open ones only unless
    `include_handled`)."""
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
        items = RepliesService(store, clock).list(found.id, kinds, include_handled)
        if as_json:
            print(json.dumps([{
                "id": i.id, "kind": i.kind, "delivery": i.delivery_id, "message": i.message_id,
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
        return 0
    finally:
        store.dispose()
