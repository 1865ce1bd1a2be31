"""A window that fits (issue 17): on a 1366×768 laptop screen the incident view shows the note and
decision buttons and at least 8 timeline rows without scrolling anything."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QPoint, QRect

from app.domain.enums import Severity
from app.stakeholders.clients import list_clients


def _visible_in(window, widget) -> bool:
    """The whole widget lies inside the window's client area and nothing hides it."""
    if not widget.isVisible():
        return False
    top_left = widget.mapTo(window, QPoint(0, 0))
    unclipped = widget.visibleRegion().boundingRect() == widget.rect()   # no scroll area cut
    return unclipped and window.rect().contains(QRect(top_left, widget.size()))


def test_the_note_buttons_and_eight_timeline_rows_fit_at_1366_by_768(qtbot, window, services):
    client = list_clients(services.store)[0]
    inc = services.incidents.open(client_id=client.id, title="Portal down",
                                  severity=Severity.SEV2,
                                  detected_at=services.clock.now() - timedelta(hours=1))
    for n in range(20):
        services.incidents.add_note(inc.id, f"Note {n}")
    window.resize(1366, 768 - 30)          # the screen less a panel or a title bar
    window.show()
    qtbot.waitExposed(window)
    window.incidents.reload()
    assert window.incidents.select_incident(inc.id)
    view = window.incidents.view
    qtbot.waitUntil(lambda: view.timeline_model.rowCount() >= 20)
    assert _visible_in(window, view.note_button) and _visible_in(window, view.decision_button)
    assert _visible_in(window, view.note_edit)
    table = view.timeline_view
    assert _visible_in(window, table)
    rows = table.viewport().height() // table.verticalHeader().defaultSectionSize()
    assert rows >= 8, f"{rows} timeline rows"
