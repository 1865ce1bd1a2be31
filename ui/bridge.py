"""The bridge: one background thread that runs an asyncio event loop for sending. Coroutines go
in with submit(); their results come back to the GUI thread as queued Qt signals. Widgets never
touch the loop, and the loop never touches widgets (DESIGN.md "Threads")."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Any, Callable, Coroutine

from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)


class AsyncBridge(QObject):
    """Owns a daemon thread with its own asyncio loop."""

    done = Signal(int, object)     # job id, result
    failed = Signal(int, object)   # job id, exception

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._next_id = 0
        self._callbacks: dict[int, tuple[Callable[[Any], None] | None,
                                         Callable[[BaseException], None] | None]] = {}
        self.done.connect(self._deliver_done, Qt.ConnectionType.QueuedConnection)
        self.failed.connect(self._deliver_failed, Qt.ConnectionType.QueuedConnection)

    # -- life

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="clarion-async", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None
        self._loop = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- jobs

    def submit(self, coro: Coroutine[Any, Any, Any],
               on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None) -> int:
        """Run `coro` on the loop; on_done/on_error are called on the GUI thread."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the async bridge is not running")
        self._next_id += 1
        job = self._next_id
        self._callbacks[job] = (on_done, on_error)
        future: Future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        future.add_done_callback(lambda f, j=job: self._finished(j, f))
        return job

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Run a plain callable on the loop thread (e.g. set an asyncio.Event)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn)

    def _finished(self, job: int, future: Future) -> None:  # on the loop thread
        if future.cancelled():
            self.failed.emit(job, asyncio.CancelledError())
            return
        exc = future.exception()
        if exc is not None:
            self.failed.emit(job, exc)
        else:
            self.done.emit(job, future.result())

    def _deliver_done(self, job: int, result: object) -> None:  # on the GUI thread
        on_done, _ = self._callbacks.pop(job, (None, None))
        if on_done is not None:
            on_done(result)

    def _deliver_failed(self, job: int, exc: object) -> None:
        _, on_error = self._callbacks.pop(job, (None, None))
        if on_error is not None:
            on_error(exc)  # type: ignore[arg-type]
        else:
            log.error("background job %s failed", job, exc_info=exc)  # type: ignore[arg-type]
