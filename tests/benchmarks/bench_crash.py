"""Crash benchmark (issue 15, "Done means"): 1,000 deliveries sent by a child process — the outbox
with EmailSender under the sender lease, the application's sending policy — to aiosmtpd
(STARTTLS + AUTH) on 127.0.0.1, killed with SIGKILL at 5 moments chosen by a fixed seed (how many
messages had arrived), restarted each time; the last run drains the queue. Prints per kill the
deliveries left `unknown` beside the bound (twice the account's connections) and those put back
in the queue, then lost, arrived twice and arrived-although-unknown, counted from what the
server received. The harness is tests/integration/crash_harness.py (the suite runs it with 200
deliveries and 2 kills).

Run from the repo root:
    .venv/bin/python tests/benchmarks/bench_crash.py [--n 1000] [--kills 5] [--seed 15]
        [--connections 8]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "integration")]

import crash_harness  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # the test server (aiosmtpd) chatter
    with tempfile.TemporaryDirectory() as folder:
        run = crash_harness.run(Path(folder), args.n, args.kills, args.seed, args.connections)
    for line in run.lines():
        print(line)
    over = [k for k in run.kills if k.in_doubt > k.bound]
    ok = not over and not run.lost and not run.twice
    print("OK" if ok else "FAILED: " + ", ".join(
        filter(None, [over and f"{len(over)} kills over the bound",
                      run.lost and f"{len(run.lost)} lost",
                      run.twice and f"{len(run.twice)} arrived twice"])))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
