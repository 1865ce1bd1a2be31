"""Keeps the outbox sending in the background: the bridge's asyncio loop runs app.sending.outbox's
run_forever(); queuing a message wakes it; nothing here touches a widget."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.sending.accounts import AccountService
from app.sending.channels.base import AccountDTO, Sender
from app.sending.outbox import Outbox
from app.sending.runner import run_forever
from ui.bridge import AsyncBridge

log = logging.getLogger(__name__)


class SenderPool:
    """One sender per account, reused across flushes (an SMTP connection carries many
    messages). Called on the loop thread by the outbox."""

    def __init__(self, accounts: AccountService) -> None:
        self.accounts = accounts
        self._senders: dict[int, tuple[AccountDTO, Sender]] = {}

    def resolve(self, channel: str, is_drill: bool) -> tuple[AccountDTO, Sender] | None:
        from app.sending.channels.drill import DrillSender
        from app.sending.channels.factory import sender_for

        if is_drill:
            account = self.accounts.create_drill_if_missing()
        else:
            account = self.accounts.default_for(channel)
            if account is None and not any(a.kind != "drill" for a in self.accounts.list()):
                # A new install with no account configured: the embedded drill inbox.
                account = self.accounts.create_drill_if_missing()
        if account is None or account.paused_reason:
            return None
        cached = self._senders.get(account.id)
        if cached is not None and cached[0] == account:
            return cached
        if account.kind == "drill":
            # a drill's record carries what a real send would: the real accounts' identities
            sender: Sender = DrillSender(account, like={
                kind: real for kind in ("email", "sms")
                if (real := self.accounts.default_for(kind)) is not None and real.kind == kind})
        else:
            sender = sender_for(account, self.accounts.secret_of(account.id))
        self._senders[account.id] = (account, sender)
        return account, sender

    def forget(self) -> None:
        """Accounts changed: build new senders on next use."""
        self._senders.clear()

    async def aclose(self) -> None:
        for _account, sender in list(self._senders.values()):
            try:
                await sender.aclose()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("closing a sender failed", exc_info=True)
        self._senders.clear()


POLL_INTERVAL_MS = 120_000  # how often sent SMS are asked about (a desktop has no callback URL)


class OutboxRunner(QObject):
    stopped = Signal()

    def __init__(self, outbox: Outbox, pool: SenderPool, bridge: AsyncBridge,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.outbox, self.pool, self.bridge = outbox, pool, bridge
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self.recovered = 0
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_INTERVAL_MS)
        self.poll_timer.timeout.connect(self.poll_sms)
        self._polling = False

    def start(self) -> None:
        self.recovered = self.outbox.recover()
        self.bridge.start()
        self._stop, self._wake = asyncio.Event(), asyncio.Event()
        self.bridge.submit(self._run(), on_done=lambda _r: self.stopped.emit(),
                           on_error=self._failed)
        self.poll_timer.start()

    def poll_sms(self) -> None:
        """Ask the SMS provider what became of recently sent messages (on the loop thread)."""
        if self._polling or not self.bridge.running:
            return
        account = self.pool.accounts.default_for("sms")
        if account is None or not (account.settings or {}).get("poll_status", True):
            return
        from app.sending.provider_status import poll_sms_statuses

        self._polling = True
        outbox = self.outbox
        self.bridge.submit(
            poll_sms_statuses(outbox.store, outbox.clock, outbox.events, self.pool.resolve),
            on_done=lambda _r: setattr(self, "_polling", False),
            on_error=lambda exc: (setattr(self, "_polling", False),
                                  log.info("SMS status polling failed: %s", exc)))

    async def _run(self) -> Any:
        assert self._stop is not None and self._wake is not None
        try:
            await run_forever(self.outbox, self._stop, self._wake)
        finally:
            await self.pool.aclose()

    def _failed(self, exc: BaseException) -> None:
        log.error("the sending loop stopped", exc_info=exc)
        self.stopped.emit()

    def wake(self) -> None:
        if self._wake is not None:
            self.bridge.call_soon(self._wake.set)

    def accounts_changed(self) -> None:
        self.bridge.call_soon(self.pool.forget)
        self.wake()

    def stop(self) -> None:
        self.poll_timer.stop()
        if self._stop is not None:
            self.bridge.call_soon(self._stop.set)
        self.bridge.stop()
