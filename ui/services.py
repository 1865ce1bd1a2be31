"""The application context: what a widget needs, passed down explicitly (no global app)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QSettings, Signal

from app import events as ev
from app.clock import Clock
from app.config import AppConfig
from app.events import EventBus
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

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe = [
            bus.subscribe(ev.INCIDENT_CHANGED, self.incident_changed.emit),
            bus.subscribe(ev.TIMELINE_APPENDED, self.timeline_appended.emit),
            bus.subscribe(ev.CLIENTS_CHANGED, lambda _payload: self.clients_changed.emit()),
            bus.subscribe(STAKEHOLDERS_CHANGED, self.stakeholders_changed.emit),
            bus.subscribe(GROUPS_CHANGED, self.groups_changed.emit),
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
    is_demo: bool = False

    @classmethod
    def build(cls, config: AppConfig, store: Store, clock: Clock, is_demo: bool = False,
              actor: str | None = None) -> "Services":
        bus = EventBus()
        settings = QSettings(str(config.settings_path), QSettings.Format.IniFormat)
        return cls(config=config, store=store, clock=clock, events=bus,
                   incidents=IncidentService(store, clock, bus, actor=actor),
                   stakeholders=StakeholderService(store, clock, bus),
                   groups=GroupService(store, bus),
                   qt_events=QtEvents(bus), settings=settings, is_demo=is_demo)

    def close(self) -> None:
        self.qt_events.detach()
        self.settings.sync()
        self.store.dispose()
