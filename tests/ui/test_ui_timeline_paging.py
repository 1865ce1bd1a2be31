"""The paged timeline of a long incident (issue 22), in the real window on a migrated SQLite
file: newest first, older pages as the view scrolls to the bottom, the kind filter in SQL
across every page, a live append at the top, and an old entry's detail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView

from app.domain.enums import Severity, TimelineKind
from app.incidents.timeline_pages import PAGE
from app.sending.timeline import entry_row, insert_entries

N = 2 * PAGE + 249     # the bulk entries: three pages and a bit, with the created entry
OLDEST = "The oldest decision: tell the regulator within 72 hours"


@pytest.fixture
def long_incident(services, client_of):
    """An incident of N + 1 entries: notes a minute apart, newest last; the oldest of them a
    decision (the only one), far below the first page. Asked for before the window (which
    shows it as it opens)."""
    now = services.clock.now()
    incident = services.incidents.open(client_id=client_of(services), title="Long breach",
                                       severity=Severity.SEV1,
                                       detected_at=now - timedelta(days=2))
    rows = [entry_row(incident.id, now - timedelta(minutes=N - i),
                      "decision" if i == 0 else "note", "outbox",
                      OLDEST if i == 0 else f"Note {i}", {}) for i in range(N)]
    with services.store.session() as s, s.begin():
        insert_entries(s, rows)
    return incident


def show(qtbot, window, incident):
    window.incidents.reload()
    assert window.incidents.select_incident(incident.id)
    view = window.incidents.view
    qtbot.waitUntil(lambda: view.incident is not None and view.incident.id == incident.id)
    return view


def scroll_to_the_oldest(qtbot, view) -> None:
    """Scroll to the bottom until no page is left; each scroll fetches the next page."""
    model, bar = view.timeline_model, view.timeline_view.verticalScrollBar()
    while model.canFetchMore():
        rows = model.rowCount()
        qtbot.waitUntil(lambda: bar.maximum() > bar.value())   # the view laid out its rows
        bar.setValue(bar.maximum())
        qtbot.waitUntil(lambda: model.rowCount() > rows)


def test_newest_first_and_older_pages_load_on_scroll(qtbot, long_incident, window):
    view = show(qtbot, window, long_incident)
    model = view.timeline_model
    assert model.rowCount() == PAGE                        # the newest page only
    assert model.entry_at(0).kind == TimelineKind.CREATED.value       # written now
    assert model.entry_at(1).summary == f"Note {N - 1}"
    assert [model.entry_at(r).at for r in range(PAGE)] == sorted(
        (model.entry_at(r).at for r in range(PAGE)), reverse=True)
    assert view.timeline_count.text() == f"{N + 1} entries"     # counted, not loaded

    bar = view.timeline_view.verticalScrollBar()
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: model.rowCount() == 2 * PAGE)
    assert model.entry_at(PAGE).summary == f"Note {N - PAGE}"
    scroll_to_the_oldest(qtbot, view)
    assert model.rowCount() == N + 1 and not model.canFetchMore()
    assert model.entry_at(N).summary == OLDEST
    assert len({model.entry_at(r).id for r in range(N + 1)}) == N + 1


def test_selecting_an_entry_of_a_page_loaded_later_shows_its_detail(qtbot, long_incident,
                                                                     window):
    view = show(qtbot, window, long_incident)
    scroll_to_the_oldest(qtbot, view)
    table, model = view.timeline_view, view.timeline_model
    index = model.index(model.rowCount() - 1, model.SUMMARY)
    table.scrollTo(index)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualRect(index).center())
    qtbot.waitUntil(lambda: OLDEST in view.entry_detail.text())
    assert "Decision" in view.entry_detail.text()


def test_the_kind_filter_reaches_entries_not_loaded_yet(qtbot, long_incident, window):
    view = show(qtbot, window, long_incident)
    model = view.timeline_model
    assert all(model.entry_at(r).summary != OLDEST for r in range(model.rowCount()))
    view.kind_filter.setCurrentIndex(view.kind_filter.findData(TimelineKind.DECISION.value))
    assert model.rowCount() == 1 and model.entry_at(0).summary == OLDEST
    assert view.timeline_count.text() == f"1 of {N + 1} entries"
    view.kind_filter.setCurrentIndex(view.kind_filter.findData(TimelineKind.NOTE.value))
    assert model.rowCount() == PAGE and model.canFetchMore()
    assert {model.entry_at(r).kind for r in range(PAGE)} == {"note"}
    assert view.timeline_count.text() == f"{N - 1} of {N + 1} entries"
    scroll_to_the_oldest(qtbot, view)
    assert model.rowCount() == N - 1
    view.kind_filter.setCurrentIndex(0)
    assert model.rowCount() == PAGE and model.entry_at(0).kind == "created"
    assert view.timeline_count.text() == f"{N + 1} entries"


def test_a_live_append_lands_at_the_top_and_counts(qtbot, long_incident, window, services):
    view = show(qtbot, window, long_incident)
    model = view.timeline_model
    services.incidents.add_note(long_incident.id, "Vendor called back")
    qtbot.waitUntil(lambda: model.entry_at(0).summary == "Vendor called back")
    assert model.rowCount() == PAGE + 1
    assert view.timeline_count.text() == f"{N + 2} entries"
    added = model.entry_at(0)
    services.qt_events.timeline_appended.emit(added)          # the same event again
    assert model.rowCount() == PAGE + 1 and view.timeline_count.text() == f"{N + 2} entries"

    # filtered: another kind only counts; the kind shown lands at the top
    view.kind_filter.setCurrentIndex(view.kind_filter.findData(TimelineKind.DECISION.value))
    services.incidents.add_note(long_incident.id, "Not a decision")
    qtbot.waitUntil(lambda: view.timeline_count.text() == f"1 of {N + 3} entries")
    assert model.rowCount() == 1
    services.incidents.add_decision(long_incident.id, "Notify every client today")
    qtbot.waitUntil(lambda: model.entry_at(0).summary == "Notify every client today")
    assert [model.entry_at(r).summary for r in range(2)] == ["Notify every client today",
                                                             OLDEST]
    assert view.timeline_count.text() == f"2 of {N + 4} entries"


def test_rows_and_columns_are_never_measured_row_by_row(qtbot, long_incident, window):
    view = show(qtbot, window, long_incident)
    table = view.timeline_view
    assert table.verticalHeader().sectionResizeMode(0) == QHeaderView.ResizeMode.Fixed
    header = table.horizontalHeader()
    for column in range(view.timeline_model.columnCount()):
        assert header.sectionResizeMode(column) != QHeaderView.ResizeMode.ResizeToContents
    model = view.timeline_model
    oldest_shown = model.data(model.index(model.rowCount() - 1, model.TIME))
    assert header.sectionSize(model.TIME) >= table.fontMetrics().horizontalAdvance(oldest_shown)
    assert table.accessibleName() and view.kind_filter.accessibleName()


def test_a_late_entry_lands_in_time_order_and_one_older_than_the_page_waits_for_its_page(
        qtbot, long_incident, services):
    """Entries can arrive out of order (a time given by hand, a clock set back): each lands at
    its place among the loaded rows, newest first, and what the view shows is that order;
    one older than every loaded row waits for the page that holds it."""
    from dataclasses import replace

    from ui.models.timeline import TimelineModel

    model = TimelineModel(services.clock.now, services.store)
    model.load(long_incident.id)
    fifth, sixth = model.entry_at(4), model.entry_at(5)
    late = replace(fifth, id=10**6, at=sixth.at + (fifth.at - sixth.at) / 2, summary="Late")
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    assert model.append(late)
    assert inserted == [(5, 5)]   # the view is told the row it shows the entry at
    assert [model.entry_at(r).summary for r in (4, 5, 6)] == [fifth.summary, "Late",
                                                              sixth.summary]
    shown = [model.data(model.index(r, TimelineModel.SUMMARY)) for r in range(model.rowCount())]
    assert shown[5] == "Late" and shown[0] == model.entry_at(0).summary
    assert [model.entry_at(r).at for r in range(model.rowCount())] == sorted(
        (model.entry_at(r).at for r in range(model.rowCount())), reverse=True)
    oldest_loaded = model.entry_at(model.rowCount() - 1)
    early = replace(oldest_loaded, id=10**6 + 1, at=oldest_loaded.at - timedelta(days=30),
                    summary="Early")
    rows = model.rowCount()
    assert not model.append(early) and model.rowCount() == rows   # its page is not loaded
    model.fetchMore()
    assert model.rowCount() == rows + PAGE and inserted[-1] == (rows, rows + PAGE - 1)
    assert model.entry_at(rows).at < oldest_loaded.at
