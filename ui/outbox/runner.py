"""Keeps the outbox sending in the background: the bridge's asyncio loop runs app.sending.outbox's
run_forever(); queuing a message wakes it; nothing here touches a widget."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.sending.accounts import AccountService
from app.sending.channels.base import AccountDTO, Sender
from app.sending.outbox import Outbox
from app.sending.lease import TTL_S
from app.sending.runner import run_forever
from ui.bridge import AsyncBridge

if TYPE_CHECKING:
    from app.storage.space import StorageUnavailable

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


def _report_damage(exc: BaseException) -> None:
    """A flush failed (on the loop's thread) or the loop ended with an error: if it says the
    database file is damaged, the window stops sending and asks once (ui/backups/watch.py)."""
    from ui.backups.watch import report_if_damage

    report_if_damage(exc)


# how often sent SMS are asked about, and the SMS account's inbound messages read (replies,
# confirmations, STOP): a desktop has no callback URL
POLL_INTERVAL_MS = 120_000


class OutboxRunner(QObject):
    stopped = Signal()
    # why this window does not send, in words: another process holds the sender lease, or the
    # database cannot be written ("Sending paused: the disk holding the database is full");
    # "" once it sends again
    blocked = Signal(str)
    _pause_said = Signal(object)   # from the loop's thread: Outbox.paused's words, or None

    def __init__(self, outbox: Outbox, pool: SenderPool, bridge: AsyncBridge,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.outbox, self.pool, self.bridge = outbox, pool, bridge
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self.recovered = 0
        self.held_by: str | None = None   # another process sends from this database
        self.paused: str | None = None    # the database cannot be written: why, in words
        self._pause_said.connect(self._set_paused, Qt.ConnectionType.QueuedConnection)
        self.retry_timer = QTimer(self)   # try the lease again while it is held elsewhere
        self.retry_timer.setSingleShot(True)
        self.retry_timer.setInterval(int(TTL_S * 1000))
        self.retry_timer.timeout.connect(self.start)
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_INTERVAL_MS)
        self.poll_timer.timeout.connect(self.poll_sms)
        self.poll_timer.timeout.connect(self.read_sms)
        self._polling = False
        self._reading_sms = False      # a read of the inbound SMS is running on the bridge
        self.last_sms_read: Any = None   # its latest SmsCheckReport

    def start(self) -> None:
        """Take the sender lease, recover what an earlier run left `sending`, and send in the
        background. If another process holds the lease, say who and try again later; if the
        database cannot be written (full disk, read-only), say so and try again later."""
        from app.sending.lease import LeaseHeld, holder_name, take
        from app.storage.space import StorageUnavailable

        outbox = self.outbox
        try:
            outbox.lease = take(outbox.store, outbox.clock, holder_name("the Clarion window"))
        except LeaseHeld as exc:
            self.held_by = exc.holder
            log.info("not sending: %s", exc)
            self.blocked.emit(str(exc))
            self.retry_timer.start()
            return
        except StorageUnavailable as exc:
            self._cannot_write(exc)
            return
        outbox.lease_lost = False
        if self.held_by is not None:
            self.held_by = None
            self.blocked.emit("")
        try:
            self.recovered = outbox.recover()
        except StorageUnavailable as exc:
            self._cannot_write(exc)
            return
        if self.paused is not None:
            self._set_paused(None)
        self.bridge.start()
        self._stop, self._wake = asyncio.Event(), asyncio.Event()
        self.bridge.submit(self._run(), on_done=self._ended, on_error=self._failed)
        self.poll_timer.start()

    def _cannot_write(self, exc: StorageUnavailable) -> None:
        """Start-up could not write (take the lease, recover): paused; start() again later."""
        self._set_paused(f"Sending paused: {exc.problem.short}")
        log.warning("not sending: %s", exc)
        self.retry_timer.start()

    def _set_paused(self, words: object) -> None:
        """On the GUI thread: sending paused (words) or resumed (None)."""
        self.paused = words if isinstance(words, str) else None
        self.blocked.emit(self.paused or "")

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

    def read_sms(self) -> bool:
        """Read what people texted to the default SMS account — confirmations, replies, STOP
        and START (app/mailbox/sms.py) — on the loop thread, with the outbox's own sender.
        Not started while one runs; True when one was started."""
        if self._reading_sms or not self.bridge.running:
            return False
        if self.pool.accounts.default_for("sms") is None:
            return False
        self._reading_sms = True
        self.bridge.submit(self._read_sms(), on_done=self._sms_read,
                           on_error=self._sms_read_failed)
        return True

    async def _read_sms(self) -> Any:
        from app.mailbox.sms import read_sms_account

        found = self.pool.resolve("sms", False)   # on the loop thread, as the outbox does
        if found is None or not hasattr(found[1], "list_inbound"):
            return None
        account, sender = found
        outbox = self.outbox
        return await read_sms_account(outbox.store, outbox.clock, account, sender,
                                      outbox.events)

    def _sms_read(self, report: Any) -> None:
        self._reading_sms = False
        self.last_sms_read = report
        if report is not None and report.error:
            log.info("reading the SMS account's messages failed: %s", report.error)

    def _sms_read_failed(self, exc: BaseException) -> None:
        self._reading_sms = False
        log.info("reading the SMS account's messages failed: %s", exc)

    async def _run(self) -> Any:
        assert self._stop is not None and self._wake is not None
        try:
            await run_forever(self.outbox, self._stop, self._wake,
                              on_pause=self._pause_said.emit, on_failure=_report_damage)
        finally:
            await self.pool.aclose()
        return self.outbox.lease_lost

    def _ended(self, lost: object) -> None:
        """The loop ended: stopped, or its lease was taken over (then wait for it again)."""
        if lost:
            from app.sending.lease import who_holds

            self.held_by = who_holds(self.outbox.store, self.outbox.clock) or "another process"
            self.blocked.emit(f"{self.held_by} took over sending from this database.")
            self.retry_timer.start()
        self.stopped.emit()

    def _failed(self, exc: BaseException) -> None:
        log.error("the sending loop stopped", exc_info=exc)
        _report_damage(exc)
        self.stopped.emit()

    def wake(self) -> None:
        if self._wake is not None:
            self.bridge.call_soon(self._wake.set)

    def accounts_changed(self) -> None:
        self.bridge.call_soon(self.pool.forget)
        self.wake()

    def stop(self) -> None:
        """Stop sending and give the lease up, so the next sender takes it at once."""
        self.poll_timer.stop()
        self.retry_timer.stop()
        if self._stop is not None:
            self.bridge.call_soon(self._stop.set)
        self.bridge.stop()
        lease, self.outbox.lease = self.outbox.lease, None
        if lease is not None and not self.outbox.lease_lost:
            from app.sending.lease import release

            try:
                release(self.outbox.store, lease)
            except Exception:  # noqa: BLE001 - it expires by itself in TTL_S
                log.debug("releasing the sender lease failed", exc_info=True)
