"""Migration 0017 (issue 25) on a real SQLite file: a 0016 database with a stakeholder, a
contact point, a message and a sent delivery gains the acknowledgement columns (not asked, not
acknowledged), the contact point's opt-out (none), the inbound_sms, sms_positions and
ack_policies tables with the ORM's columns, and the triggers that move the clocks' counters
(frozen copies equal to the application's, word for word) — each shown to move its counter.
Downgrade takes them away and keeps the rows and migration 0015's delivery triggers."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from app.domain.models import AckPolicyRow, InboundSms, SmsPosition
from app.storage import Store
from app.storage.triggers import CHANGE_TRIGGERS
from tests.integration.test_migration_0008 import columns, downgrade, query, tables, triggers
from tests.integration.test_migration_0009 import T, database_at

NEW_TRIGGERS = {name for name in CHANGE_TRIGGERS
                if name.startswith(("clock_change_delivery_ack", "clock_change_inbound_sms",
                                    "clock_change_contact", "clock_change_ack_policy"))}
ACK_COLUMNS = {"ack_requested", "acknowledged_at", "ack_via", "ack_text"}


def seq(path, table="incidents"):  # type: ignore[no-untyped-def]
    return query(path, f"SELECT change_seq FROM {table} WHERE id = 1")[0][0]


def run(path, sql):  # type: ignore[no-untyped-def]
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(sql)


def test_0017_adds_acknowledgements_sms_replies_and_opt_outs_and_downgrades(tmp_path):
    assert len(NEW_TRIGGERS) == 10
    path = database_at(tmp_path, "0016")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO stakeholders (id, client_id, name, role, category, "
                     "information_need, timing_need, detail_level, notes, active) VALUES "
                     "(1, 1, 'Ada Ops', '', 'executives', '', 'rapid', 'impact', '', 1)")
        conn.execute("INSERT INTO contact_points (id, stakeholder_id, channel, address, "
                     "priority, label) VALUES (1, 1, 'sms', '+15551230001', 1, '')")
        conn.execute("INSERT INTO messages (id, incident_id, template_type, template_keys, "
                     f"audience, created_at) VALUES (1, 1, 'resolution_notice', '[]', '{{}}', "
                     f"'{T}')")
        conn.execute("INSERT INTO deliveries (id, message_id, recipient_name, channel, address, "
                     "detail_level, template_key, idempotency_key, state, created_at, "
                     "updated_at, email_message_id) VALUES (1, 1, 'Ada Ops', 'sms', "
                     f"'+15551230001', 'impact', 'k', 'i1', 'sent', '{T}', '{T}', '')")
    store = Store.open(path, backup_dir=tmp_path / "backups")
    try:
        assert ACK_COLUMNS <= columns(path, "deliveries")
        assert query(path, "SELECT ack_requested, acknowledged_at, ack_via, ack_text FROM "
                           "deliveries") == [(0, None, "", "")]
        assert query(path, "SELECT opted_out_at, opted_out_reason FROM contact_points") == \
            [(None, "")]
        for model in (InboundSms, SmsPosition, AckPolicyRow):
            assert columns(path, model.__tablename__) == set(model.__table__.columns.keys())
        stored = {name: sql for name, sql in query(
            path, "SELECT name, sql FROM sqlite_master WHERE type='trigger'")}
        for name in NEW_TRIGGERS:
            assert stored[name] == CHANGE_TRIGGERS[name].replace(" IF NOT EXISTS", ""), name
        plan = " ".join(str(r) for r in query(
            path, "EXPLAIN QUERY PLAN SELECT id FROM deliveries WHERE ack_requested = 1 AND "
                  "acknowledged_at IS NULL AND sent_at < ?", (T,)))
        assert "ix_deliveries_unacknowledged" in plan

        # each write moves its counter; an unrelated delivery column does not
        before = seq(path)
        run(path, "UPDATE deliveries SET ack_requested = 1")
        assert seq(path) == before + 1
        run(path, f"UPDATE deliveries SET acknowledged_at = '{T}', ack_via = 'sms'")
        assert seq(path) == before + 2
        run(path, "UPDATE deliveries SET ack_text = 'YES'")
        assert seq(path) == before + 2
        run(path, "INSERT INTO inbound_sms (provider_sid, from_number, kind, incident_id, "
                  f"delivery_id, received_at) VALUES ('SM1', '+15551230001', 'ack', 1, 1, '{T}')")
        assert seq(path) == before + 3
        run(path, f"INSERT INTO ack_policies (category, ask_types, wait_sev1, wait_sev2, "
                  f"wait_sev3, wait_sev4, updated_at) VALUES ('executives', '[]', 30, 30, 120, "
                  f"120, '{T}')")
        assert seq(path) == before + 4
        client_before = seq(path, "clients")
        run(path, f"UPDATE contact_points SET opted_out_at = '{T}', opted_out_reason = 'STOP'")
        assert seq(path, "clients") == client_before + 1
        with closing(sqlite3.connect(path)) as conn:
            try:
                conn.execute("INSERT INTO inbound_sms (provider_sid, from_number, kind, "
                             f"received_at) VALUES ('SM1', '+15551230001', 'stop', '{T}')")
                raise AssertionError("the same SMS was recorded twice")
            except sqlite3.IntegrityError:
                pass
    finally:
        store.dispose()
    downgrade(path, "0016")
    assert not ACK_COLUMNS & columns(path, "deliveries")
    assert not {"opted_out_at", "opted_out_reason"} & columns(path, "contact_points")
    assert not {"inbound_sms", "sms_positions", "ack_policies"} & tables(path)
    assert not NEW_TRIGGERS & triggers(path)
    assert {"clock_change_delivery_insert", "clock_change_delivery_update",
            "clock_change_delivery_delete"} <= triggers(path)
    assert query(path, "SELECT id, state, address FROM deliveries") == \
        [(1, "sent", "+15551230001")]
    assert query(path, "SELECT id, address FROM contact_points") == [(1, "+15551230001")]
    store = Store.open(path, backup_dir=tmp_path / "backups")   # and up again
    store.dispose()
    assert NEW_TRIGGERS <= triggers(path)
