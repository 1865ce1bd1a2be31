"""Shared test set-up: headless Qt, and every test's writes kept under its own tmp folder."""

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def clarion_data_dir(tmp_path, monkeypatch) -> Path:
    """CLARION_DATA_DIR for every test: nothing ever touches $HOME."""
    path = tmp_path / "clarion-data"
    monkeypatch.setenv("CLARION_DATA_DIR", str(path))
    return path


@pytest.fixture
def frozen_clock():
    from app.clock import FrozenClock

    return FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def memory_keyring():
    """An in-memory keyring backend (app.sending.secrets), injected for the test; the one that was
    there is restored after."""
    import keyring

    from app.sending.secrets import use_memory_keyring

    previous = keyring.get_keyring()
    backend = use_memory_keyring()
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def store(tmp_path):
    """A real SQLite file migrated to head by Alembic."""
    from app.storage import Store

    s = Store.open(tmp_path / "store" / "clarion.db")
    yield s
    s.dispose()


@pytest.fixture
def client_id(store, frozen_clock) -> int:
    from app.stakeholders.clients import ensure_default_organisation

    return ensure_default_organisation(store, frozen_clock).id


@pytest.fixture
def incidents(store, frozen_clock):
    from app.events import EventBus
    from app.incidents.lifecycle import IncidentService

    return IncidentService(store, frozen_clock, EventBus(), actor="Test Coordinator")
