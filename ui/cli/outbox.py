"""`clarion outbox flush|status`: the outbox without a window."""

from __future__ import annotations

import sys

from app import runtime
from ui.startup import open_store


def outbox_command(action: str, demo: bool, as_name: str | None = None,
                   ids: list[str] | None = None, decision: str | None = None,
                   yes: bool = False) -> int:
    """`clarion outbox flush|status|unknown|resolve`: the outbox without a window."""
    from app.events import EventBus
    from app.sending.accounts import AccountService
    from app.sending.outbox import Outbox
    from app.sending.runner import flush_headless
    from app.sending.secrets import SecretStore

    try:
        config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 3
    from ui.cli.coordinators import cli_desk
    from ui.outbox.runner import SenderPool

    try:
        desk, why = cli_desk(config, store, clock, as_name, demo)
        if desk is None:
            print(f"clarion: {why}", file=sys.stderr)
            return 2
        bus = EventBus()
        pool = SenderPool(AccountService(store, clock, SecretStore(), bus))
        outbox = Outbox(store, clock, bus, pool.resolve, actor=desk)
        if action == "unknown":
            return _list_unknown(store, outbox)
        if action == "resolve":
            return _resolve(outbox, ids or [], decision, yes)
        if action == "flush":
            from app.sending.lease import LeaseHeld, holder_name, release, take

            try:   # one sender at a time: the window's, or this one
                outbox.lease = take(store, clock, holder_name("clarion outbox flush"))
            except LeaseHeld as exc:
                print(f"clarion: not sending: {exc}", file=sys.stderr)
                return 1
            runtime.settle_heap()  # a long send must not run with the collector paused
            try:
                recovered = outbox.recover()
                report = flush_headless(outbox, close=pool.aclose)   # sessions end with QUIT
            finally:
                if not outbox.lease_lost:
                    release(store, outbox.lease)
            if recovered:
                print(f"{recovered} {'delivery was' if recovered == 1 else 'deliveries were'} "
                      f"interrupted earlier while on the wire; whether "
                      f"{'it' if recovered == 1 else 'they'} went out is unknown (see "
                      f"clarion outbox unknown)")
            if outbox.requeued:
                n = outbox.requeued
                print(f"{n} {'delivery' if n == 1 else 'deliveries'} claimed earlier had not "
                      f"started; back in the queue")
            print(f"claimed {report.claimed}: sent {report.sent}, waiting to retry "
                  f"{report.retry_wait}, failed {report.failed}, unknown {report.unknown}")
            reasons = {a.name: a.paused_reason for a in pool.accounts.list()}
            for name in report.paused_accounts:   # and why: the server's own words
                why = reasons.get(name) or "paused"
                print(f"account paused: {name} — {why} (fix it under Settings → Sending "
                      f"accounts, then resume it there)", file=sys.stderr)
            _backup_after_sending(config, store.path)
        for state, count in outbox.counts().items():
            if count:
                print(f"{state:<11} {count}")
        return 0
    finally:
        store.dispose()


def _backup_after_sending(config, db_path) -> None:  # type: ignore[no-untyped-def]
    """What a flush wrote is backed up like the window's work: when the record changed and
    the last backup is ten minutes old (app/backups/schedule.py). A failure is said, not
    fatal: the sending is done."""
    from datetime import datetime, timezone

    from app.backups.copies import BackupError, rolling_backup
    from app.backups.folder import where_to_back_up
    from app.backups.schedule import AutoBackup

    now = datetime.now(timezone.utc)
    auto = AutoBackup(db_path, config.backup_dir)
    if auto.due(now) is None:
        return
    where = where_to_back_up(config)   # the chosen folder, or the local one if unreachable
    if where.fallback:
        print(f"clarion: {where.fallback}", file=sys.stderr)
    try:
        backup, _removed = rolling_backup(db_path, where.folder, now)
    except BackupError as exc:
        print(f"clarion: the backup after sending failed: {exc}", file=sys.stderr)
        return
    print(f"backed up to {backup.path}")


def _list_unknown(store, outbox) -> int:  # type: ignore[no-untyped-def]
    """Every delivery whose fate is unknown: who, how, since when, and what is known."""
    from app.messages.sent import format_time
    from app.timefmt import zone_named
    from app.stakeholders.clients import list_clients
    from app.incidents.lifecycle import IncidentService

    rows = outbox.list(state="unknown")
    if not rows:
        print("No delivery's outcome is unknown.")
        return 0
    zones = {c.id: zone_named(c.time_zone) for c in list_clients(store)}
    incidents = {i.id: i for i in IncidentService(store, outbox.clock).list(
        include_archived=True)}
    print(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'} whose outcome is unknown "
          f"(decide with `clarion outbox resolve ID… --resend|--mark-sent|--cancel`):")
    for d in rows:
        incident = incidents.get(d.incident_id)
        zone = zones.get(incident.client_id) if incident else zone_named(None)
        print(f"{d.id:>6}  {d.incident_title} · {d.recipient_name} <{d.address}> by "
              f"{d.channel} · {d.attempts} attempt{'s' * (d.attempts != 1)}, last "
              f"{format_time(d.sent_at or d.created_at, zone)}"
              + (" (drill)" if d.is_drill else ""))
        if d.last_error:
            print(f"        {d.last_error}")
    return 0


def _resolve(outbox, ids: list[str], decision: str | None, yes: bool) -> int:  # type: ignore[no-untyped-def]
    """Decide unknown deliveries as the window does: send again, mark as sent, or cancel. An
    SMS cannot be de-duplicated by the phone: resending one asks for --yes."""
    if decision is None:
        print("clarion: say what to do: --resend, --mark-sent or --cancel", file=sys.stderr)
        return 2
    if not ids or not all(i.isdigit() for i in ids):
        print("clarion: give the deliveries' ids (see `clarion outbox unknown`)",
              file=sys.stderr)
        return 2
    wanted = sorted({int(i) for i in ids})
    found = {d.id: d for d in outbox.list(ids=wanted, limit=len(wanted))}
    missing = [i for i in wanted if i not in found]
    if missing:
        print(f"clarion: no delivery {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    unknown = [found[i] for i in wanted if found[i].state == "unknown"]
    if not unknown:
        print("Nothing to decide: none of these deliveries is unknown.")
        return 4
    sms = [d for d in unknown if d.channel == "sms"]
    if decision == "resend" and sms and not yes:
        print(f"clarion: {len(sms)} SMS may already have been delivered (the connection broke "
              f"before the provider answered); resending may deliver them twice. Add --yes "
              f"to resend anyway.", file=sys.stderr)
        return 1
    action = {"resend": outbox.resend_unknown, "mark-sent": outbox.mark_sent,
              "cancel": outbox.cancel}[decision]
    changed = action([d.id for d in unknown])
    words = {"resend": "queued to be sent again", "mark-sent": "marked as sent",
             "cancel": "cancelled"}[decision]
    print(f"{changed} deliver{'y' if changed == 1 else 'ies'} {words}."
          + (f" {len(wanted) - changed} left as they were (not unknown)."
             if changed < len(wanted) else ""))
    if decision == "resend" and changed:
        print("They go out with the next `clarion outbox flush` (or the window's sender).")
    return 0
