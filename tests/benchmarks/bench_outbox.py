"""Outbox throughput (issue 5, "Done means"): the durable outbox against a plain smtplib loop and
a raw aiosmtplib blast, all in one run, against ONE local aiosmtpd server (STARTTLS + AUTH,
self-signed certificate trusted through ca_file) reached through a TCP proxy on 127.0.0.1 that
delays every chunk DELAY ms in each direction; then the same for SMS to a local Twilio-shaped API.

    (a) smtplib, sequential, one connection per message (STARTTLS + login each time)
    (b) aiosmtplib, 8 connections (an email account's default limit), reused, no database
    (c) our Outbox: N deliveries queued in a fresh migrated Store, then `await outbox.flush()`
        with EmailSender — every state change committed (counted through the engine's "commit"
        event); checks that N arrived at the server (distinct Message-IDs) and N are `sent`.
SMS: (b) raw httpx blast with 4 requests in flight (an SMS account's default), (c) the outbox
with SmsSender.

The servers and the proxies run in a child process (so their CPU does not share our GIL: a real
relay is on another machine); only 127.0.0.1 is used. Every loop is bounded by a count, and (a)
also by A_MAX_S seconds (it is slow; its rate is what is reported).

Run from the repo root:
    .venv/bin/python tests/benchmarks/bench_outbox.py [--n 1000] [--n-a 100] [--delays 20,0]
        [--no-email | --no-sms] [--concurrency 8] [--sms-concurrency 4] [--repeat 5] [--idle 0.1]
The process is settled as the application's is before it sends (`app.runtime.settle_heap()`:
start-up objects frozen out of later collections), once, before the first round; (b) and (c)
share it.
c/b is the ratio of two rates on a machine whose CPUs the servers share: judge it by the median
of several runs (--repeat), measured while nothing else runs (--idle 0.05).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import smtplib
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from app import runtime  # noqa: E402
from app.sending.account_settings import (  # noqa: E402
    DEFAULT_CONCURRENCY as SMS_DEFAULT_CONCURRENCY, EMAIL_DEFAULT_CONCURRENCY,
)
from app.sending.channels.base import AccountDTO  # noqa: E402
from app.sending.channels.email import EmailSender  # noqa: E402
from app.sending.channels.sms import SmsSender  # noqa: E402
from app.stakeholders.clients import ensure_default_organisation  # noqa: E402
from app.clock import SystemClock  # noqa: E402
from app.domain.enums import DeliveryState, Severity  # noqa: E402
from app.domain.models import ChannelAccount, Delivery, Message  # noqa: E402
from app.incidents.lifecycle import IncidentService  # noqa: E402
from app.sending.commits import WriterConnection  # noqa: E402
from app.sending.outbox import Outbox  # noqa: E402
from app.sending.flush import Flush  # noqa: E402
from app.storage import Store  # noqa: E402
from tests.integration.sms_fixtures import SID, TOKEN, Provider, http_server  # noqa: E402
from tests.integration.smtp_fixtures import (  # noqa: E402
    PASSWORD, USER, Recorder, email_account, make_cert, smtp_server,
)

CONCURRENCY = EMAIL_DEFAULT_CONCURRENCY    # an email account's connection limit
SMS_CONCURRENCY = SMS_DEFAULT_CONCURRENCY  # an SMS account's requests in flight
A_MAX_S = 20.0          # (a) stops after this long even if N_A were not all sent
FROM = "alerts@example.com"
SMS_FROM = "+15550100999"


# ---------------------------------------------------------------- the delaying TCP proxy

class DelayProxy:
    """127.0.0.1:<port> → 127.0.0.1:<target>; every chunk read is written `delay` seconds later,
    in order, in each direction (so a round trip costs 2·delay, and pipelined data is not
    serialised behind the delay)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: int) -> None:
        self.loop, self.target, self.delay, self.port = loop, target, 0.0, 0

    async def start(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer),
                             return_exceptions=True)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def feed() -> None:
            try:
                while True:
                    data = await r.read(65536)
                    queue.put_nowait((self.loop.time() + self.delay, data))
                    if not data:
                        return
            except (OSError, asyncio.IncompleteReadError):
                queue.put_nowait((self.loop.time(), b""))

        feeder = asyncio.ensure_future(feed())
        try:
            while True:
                due, data = await queue.get()
                wait = due - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    break
                w.write(data)
                await w.drain()
        except OSError:
            pass
        finally:
            feeder.cancel()
            w.close()


def serve(conn: Any, folder: str) -> None:
    """Child process: the SMTP server, the SMS API, a proxy in front of each; answers the
    parent's questions on `conn` until told to stop."""
    import logging
    import socketserver
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd: a warning per login
    # http.server writes headers and body separately; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms per request on Linux), which would hide everything we measure.
    socketserver.StreamRequestHandler.disable_nagle_algorithm = True
    cert = make_cert(Path(folder))
    recorder, provider = Recorder(), Provider()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    with smtp_server(recorder, cert) as controller, http_server(provider) as sms_url:
        sms_port = int(sms_url.rsplit(":", 1)[1])
        proxies = [DelayProxy(loop, controller.port), DelayProxy(loop, sms_port)]
        for p in proxies:
            asyncio.run_coroutine_threadsafe(p.start(), loop).result(5)
        conn.send((str(cert.cert), proxies[0].port, f"http://127.0.0.1:{proxies[1].port}"))
        while True:
            what, arg = conn.recv()
            if what == "delay":
                for p in proxies:
                    p.delay = arg / 1000.0
                conn.send(True)
            elif what == "smtp":       # Message-IDs received from index `arg` on
                with recorder.lock:
                    got = list(recorder.received[arg:])
                conn.send([r.parsed["Message-ID"] for r in got])
            elif what == "smtp_count":
                with recorder.lock:
                    conn.send(len(recorder.received))
            elif what == "sms":        # 'To' numbers of the POSTs from index `arg` on
                with provider.cond:
                    got = list(provider.requests[arg:])
                conn.send([r["form"].get("To") for r in got if r["method"] == "POST"])
            elif what == "sms_count":
                with provider.cond:
                    conn.send(len(provider.requests))
            else:
                conn.send(True)
                break
    loop.call_soon_threadsafe(loop.stop)


class Servers:
    def __init__(self, folder: str) -> None:
        self.conn, child = mp.Pipe()
        self.proc = mp.Process(target=serve, args=(child, folder), daemon=True)
        self.proc.start()
        if not self.conn.poll(30):
            raise SystemExit("the test servers did not start")
        self.ca_file, self.smtp_port, self.sms_url = self.conn.recv()

    def ask(self, what: str, arg: Any = None) -> Any:
        self.conn.send((what, arg))
        if not self.conn.poll(60):
            raise SystemExit(f"the test servers did not answer {what}")
        return self.conn.recv()

    def stop(self) -> None:
        try:
            self.ask("stop")
        finally:
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()


# ---------------------------------------------------------------- email (a) (b) (c)

def build_email(i: int, tag: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = f"Harbor IT Alerts <{FROM}>"
    m["To"] = f"User {i} <user{i}@example.com>"
    m["Subject"] = f"Incident update {i}"
    m["Date"] = format_datetime(datetime.now(timezone.utc))
    m["Message-ID"] = f"<{tag}-{i}@bench.clarion.test>"
    m.set_content("The portal is down; next update at 16:30.")
    return m


def run_a(srv: Servers, n: int, tag: str) -> tuple[int, float]:
    """The script a coordinator would write: one connection per message."""
    ctx = ssl.create_default_context(cafile=srv.ca_file)
    start = time.perf_counter()
    done = 0
    for i in range(n):
        if time.perf_counter() - start > A_MAX_S:
            break
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, local_hostname="clarion.test",
                          timeout=30) as s:
            s.starttls(context=ctx)
            s.login(USER, PASSWORD)
            s.send_message(build_email(i, tag))
        done += 1
    return done, time.perf_counter() - start


async def run_b(srv: Servers, n: int, tag: str) -> float:
    """Raw aiosmtplib: CONCURRENCY connections, each reused for all its messages."""
    ctx = ssl.create_default_context(cafile=srv.ca_file)
    todo = list(range(n))

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=srv.smtp_port, start_tls=True,
                                 tls_context=ctx, username=USER, password=PASSWORD,
                                 local_hostname="clarion.test", timeout=30)
        await client.connect()
        try:
            while todo:
                i = todo.pop()
                m = build_email(i, tag)
                await client.sendmail(FROM, [f"user{i}@example.com"], m.as_bytes())
        finally:
            await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - start


def fresh_store(folder: Path, channel: str, n: int, tag: str) -> tuple[Store, int, float]:
    """A migrated Store with one incident, one Message and n queued Deliveries (one
    transaction). Returns (store, channel account id, seconds to queue)."""
    store = Store.open(folder / f"{tag}.db")
    clock = SystemClock()
    client = ensure_default_organisation(store, clock)
    incident = IncidentService(store, clock, actor="bench").open(
        client_id=client.id, title="Portal outage", severity=Severity.SEV2,
        detected_at=clock.now())
    start = time.perf_counter()
    now = clock.now()
    with store.session() as s, s.begin():
        account = ChannelAccount(kind=channel, name=f"Bench {channel}", settings={},
                                 created_at=now, updated_at=now)
        message = Message(incident_id=incident.id, template_type="status_update",
                          created_at=now)
        s.add_all([account, message])
        s.flush()
        s.add_all([Delivery(
            message_id=message.id, recipient_name=f"User {i}", channel=channel,
            address=f"user{i}@example.com" if channel == "email" else f"+1555{i:07d}",
            detail_level="simple", template_key="k", subject=f"Incident update {i}",
            body_text="The portal is down; next update at 16:30.",
            email_message_id=f"<{tag}-{i}@bench.clarion.test>" if channel == "email" else "",
            idempotency_key=uuid.uuid4().hex, state=DeliveryState.QUEUED, next_attempt_at=now,
            created_at=now, updated_at=now) for i in range(n)])
        account_id = account.id
    return store, account_id, time.perf_counter() - start


async def run_c(store: Store, account: AccountDTO, sender: Any) -> dict[str, Any]:
    """Flush the outbox; counts commits and times the claims and the outcome batches'
    statements (wrapped, not changed)."""
    commits = [0]
    event.listen(store.engine, "commit", lambda conn: commits.__setitem__(0, commits[0] + 1))
    outbox = Outbox(store, SystemClock(), None, lambda channel, drill: (account, sender))
    timing = {"claim": 0.0, "apply": 0.0, "threaded": 0.0, "claim_n": 0, "apply_n": 0,
              "threaded_n": 0}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                timing[name] += time.perf_counter() - t
                timing[name + "_n"] += 1
        return wrapper

    originals = {"claim": Flush.claim, "stage": Flush.stage}
    Flush.claim = timed("claim", Flush.claim)  # type: ignore[method-assign]
    Flush.stage = timed("apply", Flush.stage)  # type: ignore[method-assign]
    in_thread = WriterConnection._commit_in_thread
    WriterConnection._commit_in_thread = timed(  # type: ignore[method-assign]
        "threaded", in_thread)
    start = time.perf_counter()
    try:
        report = await outbox.flush()
    finally:
        elapsed = time.perf_counter() - start
        for name, fn in originals.items():
            setattr(Flush, name, fn)
        WriterConnection._commit_in_thread = in_thread  # type: ignore[method-assign]
        await sender.aclose()
    with store.session() as s:
        sent = s.scalar(select(func.count()).select_from(Delivery)
                        .where(Delivery.state == DeliveryState.SENT))
    return {"elapsed": elapsed, "report": report, "commits": commits[0], "sent_db": sent,
            **timing}


# ---------------------------------------------------------------- SMS (b) (c)

async def run_sms_b(srv: Servers, n: int) -> float:
    todo = list(range(n))
    limits = httpx.Limits(max_connections=SMS_CONCURRENCY,
                          max_keepalive_connections=SMS_CONCURRENCY)
    async with httpx.AsyncClient(base_url=srv.sms_url, auth=(SID, TOKEN), limits=limits,
                                 timeout=30) as client:
        async def worker() -> None:
            while todo:
                i = todo.pop()
                r = await client.post(f"/2010-04-01/Accounts/{SID}/Messages.json",
                                      data={"To": f"+1666{i:07d}", "From": SMS_FROM,
                                            "Body": "The portal is down; next update at 16:30."})
                if r.status_code != 201:
                    raise SystemExit(f"raw SMS blast: {r.status_code} {r.text}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(SMS_CONCURRENCY)))
        return time.perf_counter() - start


# ---------------------------------------------------------------- the run

def describe_c(label: str, n: int, c: dict[str, Any], queue_s: float) -> None:
    r = c["report"]
    print(f"  (c) {label:<27} {n / c['elapsed']:8.1f} msg/s   ({n} in {c['elapsed']:.2f} s; "
          f"queueing took {queue_s:.2f} s more → {n / (c['elapsed'] + queue_s):.1f} msg/s "
          f"incl. queueing)")
    print(f"      commits during flush: {c['commits']}  (claims {c['claim_n']} taking "
          f"{c['claim']:.2f} s; outcome batches {c['apply_n']} taking {c['apply']:.2f} s of "
          f"statements; {c['threaded_n']} COMMITs in a thread, the others on the loop's: the "
          f"disk is {'slow' if c['threaded_n'] else 'quick'})  report: claimed={r.claimed} "
          f"sent={r.sent} retry_wait={r.retry_wait} failed={r.failed} unknown={r.unknown}")


def _cpu_times(pids: list[int]) -> tuple[float, float] | None:
    """(CPU seconds the whole machine was busy, CPU seconds of `pids`), from Linux /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        ours = 0
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ours += int(fields[11]) + int(fields[12])      # utime + stime
    except (OSError, ValueError, IndexError):
        return None
    return (sum(v) - v[3] - v[4]) / tick, ours / tick


class OtherLoad:
    """How much CPU processes other than this one and `pids` (the servers) used while the
    block ran, in CPUs (0.5 = half of one CPU on average); None where /proc is missing."""

    def __init__(self, *pids: int) -> None:
        self.pids = [os.getpid(), *pids]
        self.share: float | None = None

    def __enter__(self) -> "OtherLoad":
        self._start, self._t = _cpu_times(self.pids), time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        end, wall = _cpu_times(self.pids), time.perf_counter() - self._t
        if self._start is not None and end is not None and wall > 0:
            self.share = max(0.0, ((end[0] - self._start[0]) - (end[1] - self._start[1])) / wall)


def wait_until_idle(pids: list[int], max_share: float, timeout: float = 120.0) -> None:
    """Wait (up to `timeout` s) until other processes use at most `max_share` of a CPU."""
    end = time.monotonic() + timeout
    while True:
        with OtherLoad(*pids) as load:
            threading.Event().wait(0.5)
        if load.share is None or load.share <= max_share or time.monotonic() > end:
            return


def email_round(srv: Servers, folder: Path, delay: int, n: int, n_a: int,
                tag: str) -> tuple[dict[str, float], bool]:
    ok = True
    # (a)
    before = srv.ask("smtp_count")
    done_a, sec_a = run_a(srv, n_a, f"a{tag}")
    arrived = len(srv.ask("smtp", before))
    rate_a = done_a / sec_a
    print(f"  (a) smtplib, 1 conn/message  {rate_a:8.1f} msg/s   ({done_a} in "
          f"{sec_a:.2f} s; {arrived} arrived)")
    ok &= arrived == done_a
    # (b)
    before = srv.ask("smtp_count")
    sec_b = asyncio.run(run_b(srv, n, f"b{tag}"))
    arrived = len(set(srv.ask("smtp", before)))
    rate_b = n / sec_b
    print(f"  (b) raw aiosmtplib blast     {rate_b:8.1f} msg/s   ({n} in "
          f"{sec_b:.2f} s; {arrived} arrived)")
    ok &= arrived == n
    # (c)
    store, account_id, queue_s = fresh_store(folder, "email", n, f"c{tag}")
    account = email_account(srv.smtp_port, ca_file=Path(srv.ca_file),
                            concurrency=CONCURRENCY, timeout=30.0)
    account = AccountDTO(id=account_id, kind="email", name="Bench email",
                         settings=account.settings)
    before = srv.ask("smtp_count")
    c = asyncio.run(run_c(store, account, EmailSender(account, PASSWORD)))
    store.dispose()
    mids = srv.ask("smtp", before)
    good = len(mids) == n and len(set(mids)) == n and c["sent_db"] == n
    ok &= good
    describe_c("outbox + EmailSender", n, c, queue_s)
    print(f"      arrived at the server: {len(mids)} ({len(set(mids))} distinct "
          f"Message-IDs); sent in the DB: {c['sent_db']}  {'OK' if good else 'MISMATCH'}")
    rate_c = n / c["elapsed"]
    print(f"  email @{2 * delay:>2} ms RTT: a {rate_a:7.1f}  b {rate_b:7.1f}  c {rate_c:7.1f} "
          f"msg/s   c/a {rate_c / rate_a:6.1f}x   c/b {rate_c / rate_b:5.2f}   "
          f"({c['commits']} commits)")
    return {"a": rate_a, "b": rate_b, "c": rate_c, "commits": c["commits"]}, ok


def sms_round(srv: Servers, folder: Path, delay: int, n: int,
              tag: str) -> tuple[dict[str, float], bool]:
    ok = True
    before = srv.ask("sms_count")
    sec_sb = asyncio.run(run_sms_b(srv, n))
    arrived = len(srv.ask("sms", before))
    rate_sb = n / sec_sb
    print(f"  (b) raw httpx SMS blast      {rate_sb:8.1f} msg/s   ({n} in "
          f"{sec_sb:.2f} s; {arrived} arrived)")
    ok &= arrived == n
    store, account_id, queue_s = fresh_store(folder, "sms", n, f"s{tag}")
    account = AccountDTO(id=account_id, kind="sms", name="Bench sms", settings={
        "base_url": srv.sms_url, "account_sid": SID, "from_number": SMS_FROM,
        "concurrency": SMS_CONCURRENCY, "timeout": 30})
    before = srv.ask("sms_count")
    c = asyncio.run(run_c(store, account, SmsSender(account, TOKEN)))
    store.dispose()
    tos = srv.ask("sms", before)
    good = len(tos) == n and len(set(tos)) == n and c["sent_db"] == n
    ok &= good
    describe_c("outbox + SmsSender", n, c, queue_s)
    print(f"      arrived at the API: {len(tos)} ({len(set(tos))} distinct numbers); sent in "
          f"the DB: {c['sent_db']}  {'OK' if good else 'MISMATCH'}")
    rate_sc = n / c["elapsed"]
    print(f"  SMS   @{2 * delay:>2} ms RTT:                b {rate_sb:7.1f}  c {rate_sc:7.1f} "
          f"msg/s                c/b {rate_sc / rate_sb:5.2f}   ({c['commits']} commits)")
    return {"b": rate_sb, "c": rate_sc, "commits": c["commits"]}, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="messages for (b) and (c)")
    parser.add_argument("--n-a", type=int, default=100, help="messages for (a), at most")
    parser.add_argument("--delays", default="20,0", help="one-way delays in ms")
    parser.add_argument("--no-sms", action="store_true", help="email only")
    parser.add_argument("--no-email", action="store_true", help="SMS only")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY,
                        help="the email account's connection limit, for (b) and (c) alike "
                             f"(default {CONCURRENCY}, an email account's default)")
    parser.add_argument("--sms-concurrency", type=int, default=SMS_CONCURRENCY,
                        help="the SMS account's requests in flight, for (b) and (c) alike "
                             f"(default {SMS_CONCURRENCY}, an SMS account's default)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each (delay, channel) this many times, interleaved; the "
                             "summary gives medians (rates on a shared 2-core machine are noisy)")
    parser.add_argument("--idle", type=float, default=None, metavar="CPUS",
                        help="Linux: wait (up to 2 min) until other processes use at most this "
                             "much CPU (e.g. 0.05 of one CPU) before each measurement, and "
                             "measure again (up to 5 times) if they used more meanwhile")
    args = parser.parse_args()
    globals()["CONCURRENCY"] = args.concurrency  # read by the (b) and (c) runners
    globals()["SMS_CONCURRENCY"] = args.sms_concurrency
    n = min(max(args.n, 1), 10_000)
    n_a = min(max(args.n_a, 1), 1_000)
    repeat = min(max(args.repeat, 1), 50)
    delays = [int(d) for d in args.delays.split(",") if d.strip()][:4]
    channels = [c for c, skip in (("email", args.no_email), ("SMS", args.no_sms)) if not skip]
    ok = True
    t0 = time.perf_counter()
    runs: dict[tuple[int, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        srv = Servers(tmp)
        runtime.settle_heap()  # as the window and `clarion outbox flush` do before sending
        try:
            for rep in range(repeat):
                for delay in delays:
                    srv.ask("delay", delay)
                    print(f"\n=== one-way delay {delay} ms (round trip {2 * delay} ms), "
                          f"email connections {CONCURRENCY}, SMS requests {SMS_CONCURRENCY}"
                          + (f", run {rep + 1} of {repeat}" if repeat > 1 else "") + " ===")
                    for channel in channels:
                        tag = f"{delay}-{rep}"
                        for attempt in range(1, 6):
                            if args.idle is not None:
                                wait_until_idle([srv.proc.pid], args.idle)
                            with OtherLoad(srv.proc.pid) as load:
                                if channel == "email":
                                    rates, good = email_round(srv, folder, delay, n, n_a,
                                                              f"{tag}-{attempt}")
                                else:
                                    rates, good = sms_round(srv, folder, delay, n,
                                                            f"{tag}-{attempt}")
                            if args.idle is None or load.share is None \
                                    or load.share <= args.idle or attempt == 5:
                                break
                            print(f"  (other processes used {load.share:.2f} of a CPU "
                                  f"meanwhile: measuring again)")
                        ok &= good
                        runs.setdefault((delay, channel), []).append(rates)
        finally:
            srv.stop()
    print("\n=== summary (targets: c/a well over 10x; c/b >= 0.8)"
          + (f": medians of {repeat} runs" if repeat > 1 else "") + " ===")
    for (delay, channel), rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        ratios = [r["c"] / r["b"] for r in rs]
        spread = (f"  (c/b of each run: {' '.join(f'{x:.2f}' for x in ratios)})"
                  if len(rs) > 1 else "")
        a_part = (f"a {med['a']:7.1f}  " if "a" in med else " " * 11)
        ca = f"c/a {med['c'] / med['a']:6.1f}x   " if "a" in med else " " * 15
        print(f"{channel:<5} @{2 * delay:>2} ms RTT: {a_part}b {med['b']:7.1f}  c {med['c']:7.1f} "
              f"msg/s   {ca}c/b {statistics.median(ratios):5.2f}   "
              f"({med['commits']:.0f} commits){spread}")
    print(f"total {time.perf_counter() - t0:.0f} s; all deliveries checked: "
          f"{'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
