"""Running the outbox: a scheduler for the GUI's sending thread and a one-shot flush for the
CLI. A layer above the outbox service (app/sending/outbox.py), which knows nothing of it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from app.sending.lease import HEARTBEAT_S, renew
from app.sending.outbox import Outbox
from app.sending.rows import FlushReport
from app.storage.space import problem_of

log = logging.getLogger("app.sending.outbox")  # one logger for the whole outbox, as before the split

MAX_IDLE_WAIT_S = 600.0  # re-check at least this often while something waits (clock jumps)


async def keep_alive(outbox: Outbox) -> None:
    """The lease's heartbeat while this outbox sends or waits: every HEARTBEAT_S, in a thread
    (a commit). Taken over meanwhile: `lease_lost`, and the outbox claims nothing more."""
    while outbox.lease is not None and not outbox.lease_lost:
        await asyncio.sleep(HEARTBEAT_S)
        try:
            alive = await asyncio.to_thread(renew, outbox.store, outbox.clock, outbox.lease)
        except Exception:  # noqa: BLE001 - a busy database: the next beat tries again
            log.warning("the sender lease's heartbeat failed", exc_info=True)
            continue
        if not alive:
            outbox.lease_lost = True
            log.warning("the sender lease was taken over by another process: not sending")


async def run_forever(outbox: Outbox, stop: asyncio.Event, wake: asyncio.Event,
                      on_pause: Callable[[str | None], None] | None = None,
                      on_failure: Callable[[BaseException], None] | None = None) -> None:
    """Flush; then sleep until the next delivery is due, `wake` is set (something was queued,
    an account changed) or `stop` is set. A flush in progress finishes before stopping; cancel
    the task to interrupt it (what had no answer becomes `unknown`). Under a lease, its
    heartbeat runs all along; once it is lost, nothing more is sent.

    While the database cannot be written (full disk, read-only), sending is paused: each turn
    — after the base back-off, or at `wake` — first tries to write the outcomes the outbox
    holds in memory, and claims nothing until it can (Outbox.flush). `on_pause` is called on
    this loop's thread with Outbox.paused's words when sending pauses, None when it resumes.
    `on_failure` hears every other error of a flush (on this thread), which is then tried again
    after the back-off: the window stops the loop when one says the file is damaged."""
    beat = asyncio.ensure_future(keep_alive(outbox))
    try:
        await _loop(outbox, stop, wake, on_pause, on_failure)
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)


def _say_pause(outbox: Outbox, was: str | None,
               on_pause: Callable[[str | None], None] | None) -> None:
    if outbox.paused == was:
        return
    if outbox.paused is not None:
        log.warning("%s; sending resumes once the database can be written",
                    outbox.paused)
    else:
        log.info("sending resumed: the database can be written again")
    if on_pause is not None:
        on_pause(outbox.paused)


async def _loop(outbox: Outbox, stop: asyncio.Event, wake: asyncio.Event,
                on_pause: Callable[[str | None], None] | None = None,
                on_failure: Callable[[BaseException], None] | None = None) -> None:
    while not stop.is_set() and not outbox.lease_lost:
        wake.clear()
        timeout: float | None
        was = outbox.paused
        try:
            try:
                report = await outbox.flush()
            finally:
                _say_pause(outbox, was, on_pause)
            due = outbox.next_due_at()
            timeout = None if due is None else (due - outbox.clock.now()).total_seconds()
            if timeout is not None and timeout <= 0:
                if report.claimed:
                    continue  # more became due while sending
                timeout = outbox.base_backoff_s  # due but nothing claimable: never spin
            if timeout is not None:
                timeout = min(timeout, MAX_IDLE_WAIT_S)
        except Exception as exc:  # noqa: BLE001 - e.g. the database is busy: try again later
            if problem_of(exc) is None:
                log.exception("outbox flush failed")
                if on_failure is not None:
                    on_failure(exc)
            else:   # said once by _say_pause; the held outcomes are tried again at each turn
                log.debug("outbox flush paused", exc_info=True)
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
        beat = asyncio.ensure_future(keep_alive(outbox))
        try:
            return await outbox.flush()
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            if close is not None:
                await close()

    return asyncio.run(main())
