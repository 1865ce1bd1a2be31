"""`clarion verify` as a process, and migration 0014 on a database with a timeline: the chains it
builds for existing entries hold, and a change made with the sqlite3 shell is named."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from contextlib import closing

import pytest

from app.storage import Store
from app.storage.triggers import CHAIN_TRIGGERS, TIMELINE_TRIGGERS
from tests.integration.test_export_cli import clarion
from tests.integration.test_migration_0008 import downgrade, query, tables, triggers
from tests.integration.test_migration_0009 import T, database_at


@pytest.fixture
def db_0013(tmp_path):
    path = database_at(tmp_path, "0013")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO incidents (id, client_id, title, severity, phase, detected_at, "
                     f"created_at, updated_at, affected_services) VALUES (2, 1, 'Mail slow', "
                     f"'SEV4', 'investigating', '{T}', '{T}', '{T}', '[]')")
        for n in range(6):   # interleaved between the two incidents, times out of order
            conn.execute(
                "INSERT INTO timeline_entries (incident_id, at, kind, actor, summary, data) "
                f"VALUES ({1 + n % 2}, '2026-03-01 1{9 - n}:00:00', 'note', 'Dana', "
                f"'note {n} — Zoë 🚨', '{{\"n\": {n}, \"a\": [1.0, \"ü\"]}}')")
    return path


def test_migration_0014_chains_the_existing_entries_in_id_order(db_0013, tmp_path):
    from app.record.verify import verify_incident

    before = query(db_0013, "SELECT * FROM timeline_entries ORDER BY id")
    store = Store.open(db_0013, backup_dir=tmp_path / "backups")
    try:
        assert query(db_0013, "SELECT incident_id, seq, entry_id FROM timeline_hashes "
                              "ORDER BY incident_id, seq") == [
            (1, 1, 1), (1, 2, 3), (1, 3, 5), (2, 1, 2), (2, 2, 4), (2, 3, 6)]
        assert query(db_0013, "SELECT * FROM timeline_entries ORDER BY id") == before
        assert set(TIMELINE_TRIGGERS) | set(CHAIN_TRIGGERS) <= triggers(db_0013)
        for incident_id in (1, 2):
            report = verify_incident(store, incident_id)
            assert report.holds and report.hashed == 3
    finally:
        store.dispose()
    with closing(sqlite3.connect(db_0013)) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            with conn:
                conn.execute("UPDATE timeline_hashes SET hash = 'x'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            with conn:
                conn.execute("DELETE FROM timeline_hashes")
    downgrade(db_0013, "0013")
    assert not {"timeline_hashes", "timeline_checked"} & tables(db_0013)
    assert query(db_0013, "SELECT * FROM timeline_entries ORDER BY id") == before


def test_verify_passes_on_the_demo_and_names_an_entry_changed_with_the_sqlite3_shell(tmp_path):
    shell = shutil.which("sqlite3")
    if shell is None:
        pytest.skip("the sqlite3 shell is not installed (apt-get install sqlite3)")
    data = tmp_path / "data"
    ok = clarion("verify", "--demo", data_dir=data)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("entries, chain holds (head: number") == 2 and "Every chain holds." in ok.stdout
    db = data / "demo" / "clarion-demo.db"
    entry_id, summary = query(db, "SELECT id, summary FROM timeline_entries "
                                  "WHERE incident_id = 2 ORDER BY id LIMIT 1 OFFSET 5")[0]
    refused = subprocess.run(
        [shell, str(db), f"UPDATE timeline_entries SET summary = 'x' WHERE id = {entry_id};"],
        capture_output=True, text=True, timeout=60)
    assert "append-only" in refused.stderr          # the trigger stops the plain edit...
    subprocess.run([shell, str(db),
                    "DROP TRIGGER timeline_entries_no_update; "
                    f"UPDATE timeline_entries SET summary = 'Nothing was decided' "
                    f"WHERE id = {entry_id};"], check=True, capture_output=True, timeout=60)
    broken = clarion("verify", "--demo", data_dir=data)         # ...the chain shows the other
    assert broken.returncode == 1, broken.stdout + broken.stderr
    lines = broken.stdout.splitlines()
    assert "chain holds" in lines[0]                 # incident 1 untouched
    assert lines[1].startswith("#2 ") and f"BROKEN at entry {entry_id}, number 6" in lines[1]
    assert '"Nothing was decided"' in lines[1] and "does not match its hash" in lines[1]
    assert "1 of 2 chains broken" in broken.stdout
    assert summary != "Nothing was decided"
    assert "Traceback" not in broken.stderr
    one = clarion("verify", "1", "--demo", data_dir=data)
    assert one.returncode == 0 and "The chain holds." in one.stdout


def test_verify_head_matches_what_a_report_printed(tmp_path):
    data = tmp_path / "data"
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0
    db = data / "demo" / "clarion-demo.db"
    seq, digest = query(db, "SELECT seq, hash FROM timeline_hashes WHERE incident_id = 1 "
                            "ORDER BY seq DESC LIMIT 1")[0]
    same = clarion("verify", "--head", "1", digest, "--demo", data_dir=data)
    assert same.returncode == 0 and f"last link (number {seq})" in same.stdout
    earlier = query(db, "SELECT hash FROM timeline_hashes WHERE incident_id = 1 AND seq = 3")[0][0]
    grown = clarion("verify", "--head", "1", earlier[:16], "--demo", data_dir=data)
    assert grown.returncode == 0 and "is link number 3" in grown.stdout
    other = clarion("verify", "--head", "1", "f" * 64, "--demo", data_dir=data)
    assert other.returncode == 1 and "not in this incident's chain" in other.stdout
    unknown = clarion("verify", "nothing like it", "--demo", data_dir=data)
    assert unknown.returncode == 2 and "no incident matches" in unknown.stderr


def test_a_report_prints_the_chain_head_that_verify_head_matches(tmp_path):
    import re

    data = tmp_path / "data"
    heads = {}
    for fmt, audience in (("md", "executive"), ("html", "technical"), ("md", "customer")):
        out = tmp_path / f"report-{audience}.{fmt}"
        done = clarion("export", "2", "--format", fmt, "--audience", audience, "-o", str(out),
                       "--demo", data_dir=data)
        assert done.returncode == 0, done.stderr
        found = re.search(r"clarion verify --head 2 ([0-9a-f]{64})", out.read_text("utf-8"))
        heads[audience] = found and found[1]
    db = data / "demo" / "clarion-demo.db"
    [(seq, digest)] = query(db, "SELECT seq, hash FROM timeline_hashes WHERE incident_id = 2 "
                                "ORDER BY seq DESC LIMIT 1")
    assert heads == {"executive": digest, "technical": digest, "customer": None}
    checked = clarion("verify", "--head", "2", heads["technical"], "--demo", data_dir=data)
    assert checked.returncode == 0 and f"last link (number {seq})" in checked.stdout
