"""Migration 0013 (issue 17) on a real SQLite file: a 0012 database with a customised cadence
keeps it and gains the fact-change delay at its default (10 minutes), which the clock rules then
read; downgrade takes the column away and keeps the policy."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from app.clocks.rules import ClockRules
from app.domain.enums import Severity
from app.storage import Store
from tests.integration.test_migration_0008 import columns, downgrade, query
from tests.integration.test_migration_0009 import database_at


def test_0013_gives_customised_cadences_the_default_fact_update_delay(tmp_path):
    path = database_at(tmp_path, "0012")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO cadence_policies (client_id, severity, acknowledge_minutes, "
                     "investigating_minutes, responding_minutes, resolution_minutes, "
                     "summary_hours) VALUES (1, 'SEV2', 10, 20, 40, 30, 12)")
    store = Store.open(path, backup_dir=tmp_path / "backups")
    try:
        policies = {p.severity: (p, custom) for p, custom in ClockRules(store).policies(1)}
        policy, custom = policies[Severity.SEV2]
        assert custom and (policy.investigating_minutes, policy.fact_update_minutes) == (20, 10)
        ClockRules(store).save_policy(1, {**{f: getattr(policy, f) for f in (
            "acknowledge_minutes", "investigating_minutes", "responding_minutes",
            "resolution_minutes", "summary_hours")}, "severity": "SEV2",
            "fact_update_minutes": 3})
    finally:
        store.dispose()
    assert query(path, "SELECT severity, fact_update_minutes FROM cadence_policies") == [
        ("SEV2", 3)]
    downgrade(path, "0012")
    assert "fact_update_minutes" not in columns(path, "cadence_policies")
    assert query(path, "SELECT severity, investigating_minutes FROM cadence_policies") == [
        ("SEV2", 20)]
