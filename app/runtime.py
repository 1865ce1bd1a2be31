"""Process-wide settings that the window, the headless CLI and the benchmarks share.

Start-up creates most of the objects the process will ever hold (modules, ORM mappings, the
compiled SQL cache, widgets). Collecting while they are created only scans them again and again,
so `ui.main` pauses the cyclic garbage collector during start-up; `settle_heap()` ends that
pause. It also moves everything alive at that moment into the permanent generation
(`gc.freeze()`), so that later collections — which a 10,000-message send triggers by the
hundred — scan only what was created since, instead of the whole start-up heap each time.
Nothing frozen is ever freed, which is right for objects that live as long as the process.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# While another thread of ours computes (a heavy preview rendering, the sending loop during a big
# fan-out), the window's thread needs the GIL for each Python call Qt makes — every data() of a
# table model, every event handler, many per repaint — and by default waits up to 5 ms for each.
# A window switches after at most 1 ms.
WINDOW_SWITCH_INTERVAL_S = 0.001


def pause_collection() -> None:
    """Start-up begins: no cyclic collection until `settle_heap()`."""
    gc.disable()


def settle_heap() -> None:
    """Start-up is over: keep what exists now out of later collections, and collect again."""
    gc.freeze()
    gc.enable()


def favour_the_window() -> None:
    """A window is open: hand the GIL over sooner (WINDOW_SWITCH_INTERVAL_S), so its thread
    keeps repainting while a worker thread computes. Headless commands keep Python's default."""
    sys.setswitchinterval(WINDOW_SWITCH_INTERVAL_S)


_paused_lock = threading.Lock()
_paused = [0, False]   # uses under way, whether they turned the collector off


@contextmanager
def collection_paused() -> Iterator[None]:
    """The cyclic garbage collector held off during a burst of short-lived objects that form
    no cycles — the clocks' cold look at 1,000 incidents allocates some 60,000 (rows, entries,
    due items), and the collector passed over them some 90 times, a sixth of the time
    (bench_clocks.py). Reference counting still frees everything at once. Nested and
    concurrent uses (the window's thread and the notifier's) count; the collector runs again
    when the last one ends, and stays off if something else (start-up) had turned it off."""
    with _paused_lock:
        if _paused[0] == 0:
            _paused[1] = gc.isenabled()
            if _paused[1]:
                gc.disable()
        _paused[0] += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused[0] -= 1
            if _paused[0] == 0 and _paused[1]:
                gc.enable()
