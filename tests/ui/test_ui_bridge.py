"""The asyncio bridge: work runs on its own thread, results arrive on the GUI thread."""

from __future__ import annotations

import asyncio
import threading

import pytest


@pytest.fixture
def bridge(qapp):
    from ui.bridge import AsyncBridge

    b = AsyncBridge()
    b.start()
    yield b
    b.stop()
    assert not b.running


def test_result_comes_back_on_the_gui_thread(qtbot, bridge):
    seen = {}

    async def work():
        seen["worker"] = threading.current_thread().name
        await asyncio.sleep(0)
        return 42

    with qtbot.waitSignal(bridge.done, timeout=3000):
        bridge.submit(work(), on_done=lambda r: seen.update(result=r,
                                                            gui=threading.current_thread()))
    qtbot.waitUntil(lambda: "result" in seen)
    assert seen["result"] == 42
    assert seen["worker"] == "clarion-async"
    assert seen["gui"] is threading.main_thread()


def test_an_exception_reaches_on_error(qtbot, bridge):
    errors = []

    async def boom():
        raise ValueError("server said no")

    bridge.submit(boom(), on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors))
    assert isinstance(errors[0], ValueError) and "server said no" in str(errors[0])


def test_the_gui_stays_responsive_while_the_loop_waits(qtbot, bridge):
    release = asyncio.Event()
    results = []

    async def slow():
        await release.wait()
        return "done"

    bridge.submit(slow(), on_done=results.append)
    # the GUI thread is free: it can post more work and process events meanwhile
    quick = []

    async def fast():
        return "fast"

    bridge.submit(fast(), on_done=quick.append)
    qtbot.waitUntil(lambda: quick == ["fast"])
    assert results == []
    bridge.call_soon(release.set)
    qtbot.waitUntil(lambda: results == ["done"])
