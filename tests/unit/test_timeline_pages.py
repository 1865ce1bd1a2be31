"""The timeline a page at a time (app/incidents/timeline_pages.py) on a real, migrated SQLite
file: newest first, keyset continuation with ties on `at`, the kind filter across pages, the
counts, and the query plan that serves the keyset from the index."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from app.domain.enums import Severity
from app.incidents import timeline_pages as tp
from app.sending.timeline import entry_row, insert_entries


@pytest.fixture
def opened(incidents, client_id, frozen_clock):
    return incidents.open(client_id=client_id, title="Long breach", severity=Severity.SEV1,
                          detected_at=frozen_clock.now() - timedelta(days=1))


def add(store, incident_id, specs) -> list[int]:
    """specs: (seconds before the frozen time, kind); returns the new ids in order."""
    with store.session() as s, s.begin():
        return [e.id for e in insert_entries(s, [
            entry_row(incident_id, at, kind, "outbox", f"{kind} {i}", {"i": i})
            for i, (at, kind) in enumerate(specs)])]


@pytest.fixture
def many(store, opened, frozen_clock):
    """57 entries, three to a time (ties on `at`), every fourth a decision, besides the
    incident's created entry."""
    now = frozen_clock.now()
    specs = [(now - timedelta(minutes=100 - i // 3), "decision" if i % 4 == 0 else "note")
             for i in range(57)]
    ids = add(store, opened.id, specs)
    return opened, list(zip(ids, specs))


def expected(incidents, incident_id, kind=None) -> list[int]:
    """Ids newest first (by time, then by id, both descending), from the whole timeline."""
    return [e.id for e in sorted(incidents.timeline(incident_id), key=lambda e: (e.at, e.id),
                                 reverse=True) if kind is None or e.kind == kind]


def walk(store, incident_id, kind=None, limit=10) -> list[list[int]]:
    pages, before = [], None
    while True:
        page = tp.page(store, incident_id, kind=kind, before=before, limit=limit)
        if not page:
            return pages
        pages.append([e.id for e in page])
        before = tp.key_of(page[-1])


def test_the_first_page_is_the_newest_with_the_counts(store, many, incidents):
    opened, _ = many
    first = tp.first_page(store, opened.id, limit=10)
    assert [e.id for e in first.entries] == expected(incidents, opened.id)[:10]
    assert first.total == first.matching == 58            # 57 and the created entry
    assert not first.complete
    assert first.last_id == max(e.id for e in incidents.timeline(opened.id))
    assert first.entries[0].kind == "created"        # written at the (frozen) time now
    assert first.entries[1].data == {"i": 56} and first.entries[1].at.tzinfo is not None
    assert tp.count(store, opened.id) == 58
    assert tp.count(store, opened.id, "decision") == 15


def test_keyset_pages_continue_across_ties_on_at_without_gaps_or_repeats(store, many, incidents):
    opened, _ = many
    # pages of 4 split the groups of three entries sharing a time
    pages = walk(store, opened.id, limit=4)
    assert [i for p in pages for i in p] == expected(incidents, opened.id)
    assert all(len(p) == 4 for p in pages[:-1])
    assert len(pages) == 15      # 58 entries


def test_the_kind_filter_covers_every_page(store, many, incidents):
    opened, _ = many
    pages = walk(store, opened.id, kind="decision", limit=4)
    assert [i for p in pages for i in p] == expected(incidents, opened.id, "decision")
    first = tp.first_page(store, opened.id, kind="decision", limit=4)
    assert (first.matching, first.total, first.complete) == (15, 58, False)
    # the oldest decision sits far below the first page of all entries
    assert expected(incidents, opened.id, "decision")[-1] not in expected(incidents, opened.id)[:10]
    everything = tp.first_page(store, opened.id, kind="decision", limit=200)
    assert [e.id for e in everything.entries] == expected(incidents, opened.id, "decision")
    assert everything.complete and everything.matching == 15


def test_counts_without_a_full_page_and_for_a_kind_absent(store, opened):
    first = tp.first_page(store, opened.id)
    assert [e.kind for e in first.entries] == ["created"]
    assert (first.matching, first.total, first.complete) == (1, 1, True)
    none = tp.first_page(store, opened.id, kind="decision")
    assert (none.entries, none.matching, none.total, none.complete) == ([], 0, 1, True)


def test_only_the_incidents_own_entries(store, many, incidents, client_id, frozen_clock):
    opened, _ = many
    other = incidents.open(client_id=client_id, title="Other", severity=Severity.SEV4,
                           detected_at=frozen_clock.now())
    add(store, other.id, [(frozen_clock.now(), "decision")])
    assert tp.count(store, opened.id) == 58
    assert {e.incident_id for p in [tp.page(store, opened.id, limit=100)] for e in p} == \
        {opened.id}
    assert tp.first_page(store, other.id).total == 2


def test_the_keyset_page_is_served_by_the_incident_time_index(store, many):
    opened, _ = many
    stmt = tp._page_stmt(opened.id, None, tp.key_of(tp.page(store, opened.id)[5]), 200)
    sql = str(stmt.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        plan = " ".join(r[-1] for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "USING INDEX ix_timeline_incident_at (incident_id=? AND at<?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan     # the order comes from the index, not a sort


def test_a_page_of_one_kind_is_served_by_the_incident_kind_time_index(store, many):
    """A rare kind among 100,000 entries: read from the index, never a scan of the incident."""
    opened, _ = many
    stmt = tp._page_stmt(opened.id, "decision", tp.key_of(tp.page(store, opened.id)[5]), 200)
    sql = str(stmt.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        plan = " ".join(r[-1] for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "USING INDEX ix_timeline_incident_kind_at (incident_id=? AND kind=? AND at<?)" \
        in plan, plan
    assert "TEMP B-TREE" not in plan, plan
