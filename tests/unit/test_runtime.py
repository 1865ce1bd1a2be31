"""app.runtime: the collector pause of start-up, and its end."""

from __future__ import annotations

import gc

import pytest

from app import runtime


@pytest.fixture
def restore_gc():
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_settle_heap_freezes_what_lives_and_collects_again(restore_gc):
    class Node:
        pass

    runtime.pause_collection()
    assert not gc.isenabled()
    kept = Node()
    runtime.settle_heap()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    assert not gc.is_tracked(kept) or kept not in gc.get_objects()  # frozen: out of the scans

    # what is created afterwards is collected as usual: a cycle is freed by the next collection
    cycle = Node()
    cycle.me = cycle
    ident = id(cycle)
    del cycle
    gc.collect()
    assert all(id(o) != ident for o in gc.get_objects())
