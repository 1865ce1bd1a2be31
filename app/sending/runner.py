"""Running the outbox: a scheduler for the GUI's sending thread and a one-shot flush for the
CLI. A layer above the outbox service (app/sending/outbox.py), which knows nothing of it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from app.sending.outbox import Outbox
from app.sending.rows import FlushReport

log = logging.getLogger("app.sending.outbox")  # one logger for the whole outbox, as before the split

MAX_IDLE_WAIT_S = 600.0  # re-check at least this often while something waits (clock jumps)


async def run_forever(outbox: Outbox, stop: asyncio.Event, wake: asyncio.Event) -> None:
    """Flush; then sleep until the next delivery is due, `wake` is set (something was queued,
    an account changed) or `stop` is set. A flush in progress finishes before stopping; cancel
    the task to interrupt it (what had no answer becomes `unknown`)."""
    while not stop.is_set():
        wake.clear()
        timeout: float | None
        try:
            report = await outbox.flush()
            due = outbox.next_due_at()
            timeout = None if due is None else (due - outbox.clock.now()).total_seconds()
            if timeout is not None and timeout <= 0:
                if report.claimed:
                    continue  # more became due while sending
                timeout = outbox.base_backoff_s  # due but nothing claimable: never spin
            if timeout is not None:
                timeout = min(timeout, MAX_IDLE_WAIT_S)
        except Exception:  # noqa: BLE001 - e.g. the database is busy: try again later
            log.exception("outbox flush failed")
            timeout = outbox.base_backoff_s
        if stop.is_set():
            break
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)


def flush_headless(outbox: Outbox,
                   close: Callable[[], Awaitable[Any]] | None = None) -> FlushReport:
    """For the CLI: send everything due now, without a window; then `close` (the senders:
    an SMTP session says QUIT, HTTP clients close) on the same loop, whatever happened."""
    async def main() -> FlushReport:
        try:
            return await outbox.flush()
        finally:
            if close is not None:
                await close()

    return asyncio.run(main())
