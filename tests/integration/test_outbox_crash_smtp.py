"""Crash safety against a real SMTP server (issues 5 and 15): 200 deliveries sent through aiosmtpd
(STARTTLS + AUTH) by a child process — the outbox and EmailSender under the sender lease — killed
with SIGKILL at two fixed moments and restarted each time (crash_harness.py). Each kill leaves in
doubt (`unknown`) only what may have been on the wire — at most twice the account's connections —
and puts the rest of the claimed round back in the queue; at the end nothing is lost and nothing
arrived twice. tests/benchmarks/bench_crash.py is the same run with 1,000 deliveries and 5 kills."""

from __future__ import annotations

import crash_harness


def test_two_kills_leave_in_doubt_only_what_was_on_the_wire(tmp_path):
    run = crash_harness.run(tmp_path, total=200, kills=2, seed=15, connections=8)
    print("\n".join(run.lines()))
    assert len(run.kills) == 2
    for kill in run.kills:
        assert kill.in_doubt <= kill.bound == 16, run.lines()
    # the kills landed mid-send: a claimed round was out, and most of it went back
    assert sum(k.in_doubt + k.requeued for k in run.kills) > 0, run.lines()
    assert run.lost == [] and run.twice == [], run.lines()
    # unknown ones wait for the coordinator: exactly those the kills left in doubt
    assert run.unknown == sum(k.in_doubt for k in run.kills)
