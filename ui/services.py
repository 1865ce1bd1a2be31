"""The application context: what a widget needs, passed down explicitly (no global app)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QSettings, Signal

from app import events as ev
from app.clock import Clock
from app.config import AppConfig
from app.accounts import ACCOUNTS_CHANGED, AccountService
from app.composer import MESSAGES_CHANGED
from app.events import EventBus
from app.outbox import OUTBOX_CHANGED, Outbox
from app.secrets import SecretStore
from app.groups import GROUPS_CHANGED, GroupService
from app.incidents import IncidentService
from app.stakeholders import STAKEHOLDERS_CHANGED, StakeholderService
from app.storage.engine import Store


class QtEvents(QObject):
    """Re-emits the app's EventBus topics as Qt signals. Signals are delivered queued when
    published from another thread, so widgets only ever hear about changes on the GUI thread."""

    incident_changed = Signal(object)    # IncidentDTO
    timeline_appended = Signal(object)   # TimelineEntryDTO
    clients_changed = Signal()
    stakeholders_changed = Signal(object)  # tuple of ids, or None for "many"
    groups_changed = Signal(object)        # client id
    messages_changed = Signal(object)      # incident id (a message was queued)
    outbox_changed = Signal(object)        # tuple of delivery ids, or None
    accounts_changed = Signal(object)      # tuple of account ids

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe = [
            bus.subscribe(ev.INCIDENT_CHANGED, self.incident_changed.emit),
            bus.subscribe(ev.TIMELINE_APPENDED, self.timeline_appended.emit),
            bus.subscribe(ev.CLIENTS_CHANGED, lambda _payload: self.clients_changed.emit()),
            bus.subscribe(STAKEHOLDERS_CHANGED, self.stakeholders_changed.emit),
            bus.subscribe(GROUPS_CHANGED, self.groups_changed.emit),
            bus.subscribe(MESSAGES_CHANGED, self.messages_changed.emit),
            bus.subscribe(OUTBOX_CHANGED, self.outbox_changed.emit),
            bus.subscribe(ACCOUNTS_CHANGED, self.accounts_changed.emit),
        ]

    def detach(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []


@dataclass
class Services:
    config: AppConfig
    store: Store
    clock: Clock
    events: EventBus
    incidents: IncidentService
    stakeholders: StakeholderService
    groups: GroupService
    accounts: AccountService
    outbox: Outbox
    senders: "_LazyPool"
    qt_events: QtEvents
    settings: QSettings
    is_demo: bool = False

    @classmethod
    def build(cls, config: AppConfig, store: Store, clock: Clock, is_demo: bool = False,
              actor: str | None = None) -> "Services":
        bus = EventBus()
        settings = QSettings(str(config.settings_path), QSettings.Format.IniFormat)
        accounts = AccountService(store, clock, SecretStore(), bus)
        incidents = IncidentService(store, clock, bus, actor=actor)
        pool = _LazyPool(accounts)
        outbox = Outbox(store, clock, bus, pool.resolve, actor=incidents.actor)
        return cls(config=config, store=store, clock=clock, events=bus,
                   incidents=incidents, accounts=accounts, outbox=outbox, senders=pool,
                   stakeholders=StakeholderService(store, clock, bus),
                   groups=GroupService(store, bus),
                   qt_events=QtEvents(bus), settings=settings, is_demo=is_demo)

    def close(self) -> None:
        self.qt_events.detach()
        self.settings.sync()
        self.store.dispose()


class _LazyPool:
    """Builds the SenderPool (and imports the channels) on first use, not at start-up."""

    def __init__(self, accounts: AccountService) -> None:
        self.accounts = accounts
        self._pool = None

    @property
    def pool(self):  # type: ignore[no-untyped-def]
        if self._pool is None:
            from ui.outbox.runner import SenderPool

            self._pool = SenderPool(self.accounts)
        return self._pool

    def resolve(self, channel: str, is_drill: bool):  # type: ignore[no-untyped-def]
        return self.pool.resolve(channel, is_drill)
