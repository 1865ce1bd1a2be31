"""Migration 0016 (issue 24) on a real SQLite file: a 0015 database with an incident, a message
and a sent delivery gains the bounce and automatic-reply columns (empty), the inbound_mail and
mailbox_positions tables, the Message-ID index and the triggers that bump the incident's change
counter (the migration's frozen copy is the application's, word for word); downgrade takes them
away and keeps the data, the clock triggers on deliveries included (no table is rebuilt)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from app.storage import Store
from app.storage.migrate import HEAD_REVISION
from app.storage.triggers import CHANGE_TRIGGERS
from tests.integration.test_migration_0008 import columns, downgrade, query, tables, triggers
from tests.integration.test_migration_0009 import T, database_at

INBOUND_TRIGGERS = {"clock_change_inbound_insert", "clock_change_inbound_update",
                    "clock_change_inbound_delete"}


def test_0016_adds_the_mailbox_tables_and_columns_and_downgrades_keeping_the_data(tmp_path):
    assert HEAD_REVISION >= "0016"
    path = database_at(tmp_path, "0015")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO messages (id, incident_id, template_type, template_keys, "
                     f"audience, created_at) VALUES (1, 1, 'status_update', '[]', '{{}}', '{T}')")
        conn.execute("INSERT INTO deliveries (id, message_id, recipient_name, channel, address, "
                     "detail_level, template_key, idempotency_key, state, created_at, "
                     "updated_at, email_message_id) VALUES (1, 1, 'Ada Ops', 'email', "
                     f"'ada@example.com', 'technical', 'k', 'i1', 'sent', '{T}', '{T}', "
                     "'<m1@clarion.test>')")
        conn.execute("INSERT INTO channel_accounts (id, kind, name, settings, is_default, "
                     f"paused_reason, created_at, updated_at) VALUES (1, 'email', 'Desk', '{{}}', "
                     f"1, '', '{T}', '{T}')")
    store = Store.open(path, backup_dir=tmp_path / "backups")
    try:
        assert {"bounced_at", "bounce_reason", "auto_reply_at", "auto_reply_text"} <= \
            columns(path, "deliveries")
        assert query(path, "SELECT state, bounced_at, bounce_reason, auto_reply_text FROM "
                           "deliveries") == [("sent", None, "", "")]
        assert {"inbound_mail", "mailbox_positions"} <= tables(path)
        stored = {name: sql for name, sql in query(
            path, "SELECT name, sql FROM sqlite_master WHERE type='trigger'")}
        for name in INBOUND_TRIGGERS:
            assert stored[name] == CHANGE_TRIGGERS[name].replace(" IF NOT EXISTS", ""), name
        plan = " ".join(str(r) for r in query(
            path, "EXPLAIN QUERY PLAN SELECT id FROM deliveries WHERE email_message_id = ?",
            ("<m1@clarion.test>",)))
        assert "ix_deliveries_email_message_id" in plan
        # an inbound row moves the incident's counter; the same position twice is refused
        before = query(path, "SELECT change_seq FROM incidents")[0][0]
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("INSERT INTO inbound_mail (account_id, folder, uidvalidity, uid, kind, "
                         "incident_id, delivery_id, received_at) VALUES (1, 'INBOX', 7, 1, "
                         f"'reply', 1, 1, '{T}')")
        assert query(path, "SELECT change_seq FROM incidents")[0][0] == before + 1
        with closing(sqlite3.connect(path)) as conn:
            try:
                conn.execute("INSERT INTO inbound_mail (account_id, folder, uidvalidity, uid, "
                             "kind, incident_id, delivery_id, received_at) VALUES (1, 'INBOX', "
                             f"7, 1, 'reply', 1, 1, '{T}')")
                raise AssertionError("the same mailbox position was recorded twice")
            except sqlite3.IntegrityError:
                pass
    finally:
        store.dispose()
    downgrade(path, "0015")
    assert not {"bounced_at", "bounce_reason", "auto_reply_at", "auto_reply_text"} & \
        columns(path, "deliveries")
    assert not {"inbound_mail", "mailbox_positions"} & tables(path)
    assert not INBOUND_TRIGGERS & triggers(path)
    # migration 0015's triggers on deliveries survive: the table was not rebuilt
    assert {"clock_change_delivery_insert", "clock_change_delivery_update",
            "clock_change_delivery_delete"} <= triggers(path)
    assert query(path, "SELECT id, state, email_message_id FROM deliveries") == \
        [(1, "sent", "<m1@clarion.test>")]
    store = Store.open(path, backup_dir=tmp_path / "backups")   # and up again
    store.dispose()
    assert INBOUND_TRIGGERS <= triggers(path)
