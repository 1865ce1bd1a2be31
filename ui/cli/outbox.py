"""`clarion outbox flush|status`: the outbox without a window."""

from __future__ import annotations

import sys

from app import runtime
from ui.startup import open_store


def outbox_command(action: str, demo: bool, as_name: str | None = None) -> int:
    """`clarion outbox flush|status`: the outbox without a window (asyncio.run)."""
    from app.events import EventBus
    from app.sending.accounts import AccountService
    from app.sending.outbox import Outbox
    from app.sending.runner import flush_headless
    from app.sending.secrets import SecretStore

    try:
        config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 2
    from ui.cli.coordinators import cli_desk
    from ui.outbox.runner import SenderPool

    desk, why = cli_desk(config, store, clock, as_name, demo)
    if desk is None:
        print(f"clarion: {why}", file=sys.stderr)
        store.dispose()
        return 2

    bus = EventBus()
    pool = SenderPool(AccountService(store, clock, SecretStore(), bus))
    outbox = Outbox(store, clock, bus, pool.resolve, actor=desk)
    if action == "flush":
        runtime.settle_heap()  # a long send must not run with the collector paused
        recovered = outbox.recover()
        report = flush_headless(outbox)
        if recovered:
            print(f"{recovered} deliveries were interrupted earlier; their outcome is unknown")
        print(f"claimed {report.claimed}: sent {report.sent}, waiting to retry "
              f"{report.retry_wait}, failed {report.failed}, unknown {report.unknown}")
        for name in report.paused_accounts:
            print(f"account paused: {name}", file=sys.stderr)
    for state, count in outbox.counts().items():
        if count:
            print(f"{state:<11} {count}")
    store.dispose()
    return 0
