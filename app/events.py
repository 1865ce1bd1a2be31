"""A tiny, Qt-free publish/subscribe hub. Services publish after each commit; the UI adapts
the callbacks into queued Qt signals, so views refresh themselves instead of being poked."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any, Callable

log = logging.getLogger(__name__)

INCIDENT_CHANGED = "incident_changed"      # payload: IncidentDTO
TIMELINE_APPENDED = "timeline_appended"    # payload: TimelineEntryDTO
CLIENTS_CHANGED = "clients_changed"        # payload: ClientDTO or None
STAKEHOLDERS_CHANGED = "stakeholders_changed"  # payload: tuple of ids (None: everything)
GROUPS_CHANGED = "groups_changed"          # payload: client id
MESSAGES_CHANGED = "messages_changed"      # payload: incident id (a message was queued)
OUTBOX_CHANGED = "outbox_changed"          # payload: tuple of delivery ids (or None)
ACCOUNTS_CHANGED = "accounts_changed"      # payload: tuple of account ids
CLOCK_RULES_CHANGED = "clock_rules_changed"  # payload: None (cadence policies, escalation rules)
POST_INCIDENT_CHANGED = "post_incident_changed"  # payload: incident id (fields, remediation, feedback)
# payload: tuple of app.mailbox.recorder.Recorded or app.mailbox.sms.SmsRecorded (the same
# shape); empty: a reply was marked handled
MAILBOX_READ = "mailbox_read"


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callable[[Any], None]]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, topic: str, callback: Callable[[Any], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers[topic].append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers[topic]:
                    self._subscribers[topic].remove(callback)

        return unsubscribe

    def publish(self, topic: str, payload: Any = None) -> None:
        with self._lock:
            callbacks = list(self._subscribers.get(topic, ()))
        for callback in callbacks:
            try:
                callback(payload)
            except Exception:  # a broken listener must not undo a committed change
                log.exception("event listener for %s failed", topic)
