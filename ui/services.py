"""The application context: what a widget needs, passed down explicitly (no global app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal

from app import events as ev
from app.clock import Clock
from app.config import AppConfig
from app.events import (
    ACCOUNTS_CHANGED, GROUPS_CHANGED, MESSAGES_CHANGED, OUTBOX_CHANGED, STAKEHOLDERS_CHANGED,
    EventBus,
)
from app.stakeholders.groups import GroupService
from app.incidents.lifecycle import IncidentService
from app.stakeholders.service import StakeholderService
from app.storage.engine import Store

UNNAMED = "Unnamed coordinator"       # signs entries until someone says who is at the desk


DISPLAY_ZONE_KEY = "display/time_zone"   # Settings → Time zone: IANA name; "": the machine's


def desk_key(is_demo: bool) -> str:
    """This computer's last chosen coordinator of the database, in the settings (the demo's
    coordinators are other rows)."""
    return f"desk/{'demo' if is_demo else 'main'}/coordinator_id"


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
    clock_rules_changed = Signal()         # cadence policies or escalation rules
    post_incident_changed = Signal(object)  # incident id
    mailbox_read = Signal(object)          # tuple of Recorded (bounces, replies); () handled

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
            bus.subscribe(ev.POST_INCIDENT_CHANGED, self.post_incident_changed.emit),
            bus.subscribe(ev.MAILBOX_READ, self.mailbox_read.emit),
            bus.subscribe(ev.CLOCK_RULES_CHANGED,
                          lambda _payload: self.clock_rules_changed.emit()),
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
    qt_events: QtEvents
    settings: QSettings
    coordinators: Any = None   # CoordinatorService
    desk: Any = None           # app.coordinators.service.Desk: who signs what is written here
    is_demo: bool = False

    @classmethod
    def build(cls, config: AppConfig, store: Store, clock: Clock, is_demo: bool = False,
              actor: str | None = None) -> "Services":
        """`actor`: the coordinator to work as (found or added, and confirmed: tests, the
        CLI's --as); otherwise the one this computer chose last, or a desk to confirm."""
        from app.coordinators.service import CoordinatorService, Desk, desk_for

        from app.timefmt import set_desk_zone

        bus = EventBus()
        settings = QSettings(str(config.settings_path), QSettings.Format.IniFormat)
        set_desk_zone(str(settings.value(DISPLAY_ZONE_KEY) or ""))   # unknown: the machine's
        coordinators = CoordinatorService(store, clock)
        if actor is not None:
            person = coordinators.find(actor) or coordinators.add(actor)
            desk = Desk(person.name, person.id)
        else:
            chosen = settings.value(desk_key(is_demo))
            desk = desk_for(coordinators, int(chosen) if str(chosen or "").isdigit() else None,
                            fallback=UNNAMED, demo=is_demo)
        incidents = IncidentService(store, clock, bus, actor=desk)
        return cls(config=config, store=store, clock=clock, events=bus, incidents=incidents,
                   coordinators=coordinators, desk=desk,
                   stakeholders=StakeholderService(store, clock, bus),
                   groups=GroupService(store, bus),
                   qt_events=QtEvents(bus), settings=settings, is_demo=is_demo)

    # Sending is built on first use (keyring, channels, the outbox): start-up does not pay.

    @property
    def accounts(self):  # type: ignore[no-untyped-def]
        if "_accounts" not in self.__dict__:
            from app.sending.accounts import AccountService
            from app.sending.secrets import SecretStore

            self.__dict__["_accounts"] = AccountService(self.store, self.clock, SecretStore(),
                                                        self.events)
        return self.__dict__["_accounts"]

    @property
    def clocks(self):  # type: ignore[no-untyped-def]
        if "_clocks" not in self.__dict__:
            from app.clocks.evaluation import ClockService

            self.__dict__["_clocks"] = ClockService(self.store, self.clock, self.events,
                                                    actor=self.incidents.actor)
        return self.__dict__["_clocks"]

    @property
    def postincident(self):  # type: ignore[no-untyped-def]
        if "_postincident" not in self.__dict__:
            from app.reports.postincident import PostIncidentService

            self.__dict__["_postincident"] = PostIncidentService(
                self.store, self.clock, self.events, actor=self.incidents.actor)
        return self.__dict__["_postincident"]

    @property
    def senders(self) -> "_LazyPool":
        if "_senders" not in self.__dict__:
            self.__dict__["_senders"] = _LazyPool(self.accounts)
        return self.__dict__["_senders"]

    @property
    def outbox(self):  # type: ignore[no-untyped-def]
        if "_outbox" not in self.__dict__:
            from app.sending.outbox import Outbox

            self.__dict__["_outbox"] = Outbox(self.store, self.clock, self.events,
                                              self.senders.resolve, actor=self.incidents.actor)
        return self.__dict__["_outbox"]

    def close(self) -> None:
        self.qt_events.detach()
        self.settings.sync()
        self.store.dispose()


class _LazyPool:
    """Builds the SenderPool (and imports the channels) on first use, not at start-up."""

    def __init__(self, accounts) -> None:  # type: ignore[no-untyped-def]
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
