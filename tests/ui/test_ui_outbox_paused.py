"""The window's sender (ui/outbox/runner.py) while its database cannot be written (issue 20):
SQLite refusing writes (PRAGMA query_only, tests/storage_support.py) at start-up and in the
middle of a run. The runner says "Sending paused: …" through `blocked` on the GUI thread, keeps
`paused`, and says "" once it sends again."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from tests.storage_support import QueryOnly

PAUSED = "Sending paused: the database cannot be written (read-only or no permission)"


@pytest.fixture
def read_only(services):
    switch = QueryOnly(services.store.engine)
    yield switch
    switch.remove()


@pytest.fixture
def runner(services):
    from ui.bridge import AsyncBridge
    from ui.outbox.runner import OutboxRunner

    r = OutboxRunner(services.outbox, services.senders.pool, AsyncBridge())
    yield r
    r.stop()


def test_a_window_that_cannot_write_its_database_at_start_says_sending_is_paused(
        qtbot, runner, read_only):
    read_only.on = True
    with qtbot.waitSignal(runner.blocked, timeout=2000) as said:
        runner.start()                          # the lease cannot be taken: nothing is sent
    assert said.args == [PAUSED] and runner.paused == PAUSED
    assert runner.retry_timer.isActive() and not runner.bridge.running

    read_only.on = False
    with qtbot.waitSignal(runner.blocked, timeout=2000) as again:
        runner.start()                          # what the retry timer does
    assert again.args == [""] and runner.paused is None and runner.bridge.running


def test_a_pause_in_the_middle_of_a_run_is_said_on_the_gui_thread_and_lifted(
        qtbot, services, runner, read_only):
    runner.start()
    assert runner.bridge.running and runner.paused is None
    threads: list[int] = []
    runner.blocked.connect(lambda _words: threads.append(threading.get_ident()),
                           Qt.ConnectionType.DirectConnection)   # the emitting thread

    read_only.on = True
    with qtbot.waitSignal(runner.blocked, timeout=5000) as said:
        runner.wake()                           # a turn of the loop: it cannot write
    assert said.args == [PAUSED] and runner.paused == PAUSED
    assert services.outbox.paused == PAUSED

    read_only.on = False
    with qtbot.waitSignal(runner.blocked, timeout=5000) as again:
        runner.wake()                           # the next turn can: sending resumes
    assert again.args == [""] and runner.paused is None and services.outbox.paused is None
    assert threads == [threading.main_thread().ident] * 2


def test_the_status_bar_says_sending_is_paused_and_then_that_it_resumed(
        qtbot, window, runner, read_only):
    window.runner = runner
    runner.blocked.connect(lambda _words: window.update_outbox_status())
    read_only.on = True
    with qtbot.waitSignal(runner.blocked, timeout=2000):
        runner.start()
    assert window.outbox_label.text().startswith(PAUSED + " · ")
    read_only.on = False
    with qtbot.waitSignal(runner.blocked, timeout=5000):
        runner.start()
    qtbot.waitUntil(lambda: not window.outbox_label.text().startswith("Sending paused"))
    window.runner = None
