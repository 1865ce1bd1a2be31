"""The outbox when its database cannot be written in the middle of a send (issue 20, "Disk full
and read-only"), against a real SMTP server (aiosmtpd, STARTTLS + AUTH) and a real SQLite file:
the disk fills up — a small tmpfs, where this process may mount one — or SQLite refuses writes
(PRAGMA query_only: the engine's own SQLITE_READONLY), at the moment the server takes the second
message, before its outcome is written.

What must hold: nothing more is claimed or started while nothing can be recorded; the outcomes
of what was on the wire are kept in memory and written once the database can be written again;
nothing is sent twice and nothing is lost; and if the sending stops before that (the window
closes), what was on the wire is `unknown` at the next start, never sent again by itself."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from smtp_fixtures import PASSWORD, USER, Recorder, make_cert, smtp_server
from sqlalchemy import event

from app.domain.enums import Severity
from app.events import EventBus
from app.incidents.lifecycle import IncidentService
from app.sending.accounts import AccountService
from app.sending.outbox import Outbox
from app.sending.runner import run_forever
from app.sending.secrets import SecretStore
from app.stakeholders.clients import ensure_default_organisation
from app.storage import StorageUnavailable, Store
from app.storage.space import FULL, READ_ONLY
from tests.outbox_support import add_message
from tests.storage_support import QueryOnly, SmallDisk, truncate_wal

N = 8
PAUSED = {FULL: "Sending paused: the disk holding the database is full",
          READ_ONLY: "Sending paused: the database cannot be written (read-only or no permission)"}


@dataclass
class Trouble:
    """The database's folder and a way to make it unwritable (`begin`) and writable again
    (`end`): a full disk, or SQLite refusing writes."""
    kind: str
    folder: Any
    begin: Callable[[], None]
    end: Callable[[], None]
    attach: Callable[[Store], None]


@pytest.fixture(params=[FULL, READ_ONLY])
def trouble(request, tmp_path):
    if request.param == FULL:
        disk = SmallDisk(tmp_path / "disk", size="16m").mount()
        yield Trouble(FULL, disk.path, disk.fill, disk.free, lambda store: None)
        disk.unmount()
        return
    switches: list[QueryOnly] = []

    def attach(store: Store) -> None:
        switches.append(QueryOnly(store.engine))

    def switch(on: bool) -> None:
        for s in switches:
            s.on = on

    yield Trouble(READ_ONLY, tmp_path / "data", lambda: switch(True), lambda: switch(False),
                  attach)


@dataclass
class TroubleAt(Recorder):
    """A relay that makes the database unwritable when the `at`-th message has arrived, before
    it answers 250 for it: that outcome, and those after it, cannot be written."""
    at: int = 2
    then: Callable[[], None] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            due = len(self.received) + 1 == self.at and self.then is not None
        reply = await super().handle_DATA(server, session, envelope)
        if due:
            self.then()   # type: ignore[misc]
        return reply

    def arrived(self) -> Counter:
        with self.lock:
            return Counter(r.rcpt_tos[0] for r in self.received)


@pytest.fixture
def cert(tmp_path):
    return make_cert(tmp_path)


class Setup:
    """The database in the trouble's folder, an email account on the relay (password in the
    keyring), an open incident, N queued deliveries and an Outbox with the application's pool
    of senders. `claims` collects every claim statement the outbox runs."""

    def __init__(self, trouble: Trouble, clock, port: int, cert,  # type: ignore[no-untyped-def]
                 batch_size: int = 200) -> None:
        self.trouble, self.clock, self.port, self.cert = trouble, clock, port, cert
        self.batch_size = batch_size
        self.path = trouble.folder / "clarion.db"
        self.store = Store.open(self.path)
        accounts = AccountService(self.store, clock, SecretStore(), EventBus())
        accounts.create("email", "Relay", {
            "host": "127.0.0.1", "port": port, "security": "starttls",
            "ca_file": str(cert.cert), "username": USER,
            "from_address": "alerts@example.com", "concurrency": 2}, secret=PASSWORD)
        client = ensure_default_organisation(self.store, clock)
        self.incident = IncidentService(self.store, clock, EventBus()).open(
            client_id=client.id, title="Disk trouble", severity=Severity.SEV2,
            detected_at=clock.now())
        self.ids = add_message(self.store, clock, self.incident.id,
                               [(f"Ops {i}", f"ops{i}@example.com") for i in range(N)])
        self.address = {i: f"ops{n}@example.com" for n, i in enumerate(self.ids)}
        self.open_outbox()
        truncate_wal(self.path)   # from here on every commit needs new blocks of the disk

    def open_outbox(self) -> None:
        from ui.outbox.runner import SenderPool  # Qt-free: only the pool of senders

        self.trouble.attach(self.store)
        self.bus = EventBus()
        self.pool = SenderPool(AccountService(self.store, self.clock, SecretStore(), self.bus))
        self.outbox = Outbox(self.store, self.clock, self.bus, self.pool.resolve,
                             batch_size=self.batch_size, base_backoff_s=0.02)
        self.claims: list[str] = []
        event.listen(self.store.engine, "before_cursor_execute", self._claim_seen)

    def _claim_seen(self, conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE deliveries SET state=?, attempts=(deliveries.attempts"):
            self.claims.append(statement)

    def reopen(self) -> None:
        """As a new process would: a new engine on the same file, a new outbox."""
        self.store.dispose()
        self.store = Store.open(self.path)
        self.open_outbox()

    def states(self) -> dict[int, str]:
        return {d.id: d.state for d in self.outbox.list()}   # a read: works all along

    def sent_in_timeline(self) -> Counter:
        timeline = IncidentService(self.store, self.clock).timeline(self.incident.id)
        return Counter(e.data["delivery_id"] for e in timeline if e.kind == "delivery_sent")


@pytest.mark.parametrize(("batch_size", "claims"), [(N, 1), (4, 2), (6, 1)],
                         ids=["one round", "refused claim", "no claim after"])
def test_a_send_that_cannot_be_recorded_pauses_keeps_its_outcomes_and_loses_nothing(
        trouble, frozen_clock, memory_keyring, cert, batch_size, claims):
    """In one round. In rounds of 4: the outcomes wait for the round's end, so the first write
    to fail is the next round's claim, made while the last message of the first is still out
    — that message still finishes, and is not cut off as unknown. In rounds of 6: the writer
    fails first (the 5th message waits for its start mark), and the next round is not even
    claimed. (`claims`: the claim statements run — read-only, SQLite refuses the next round's
    transaction before its claim statement.)"""
    recorder = TroubleAt(at=2, then=trouble.begin)
    with smtp_server(recorder, cert) as server:
        s = Setup(trouble, frozen_clock, server.port, cert, batch_size)

        async def run() -> dict[str, Any]:
            seen: dict[str, Any] = {}
            try:
                with pytest.raises(StorageUnavailable) as failed:
                    await s.outbox.flush()
                seen["error"] = failed.value
                seen["paused"] = s.outbox.paused
                seen["arrived"] = recorder.arrived()
                seen["held"] = {o.delivery_id: o.result
                                for _, outcomes in s.outbox.held for o in outcomes}
                seen["states"] = s.states()
                seen["claims"] = len(s.claims)
                # another turn while it still cannot write: nothing claimed, nothing sent
                with pytest.raises(StorageUnavailable):
                    await s.outbox.flush()
                seen["claims again"] = len(s.claims)
                seen["arrived again"] = recorder.arrived()
                trouble.end()
                seen["report"] = await s.outbox.flush()
                return seen
            finally:
                await s.pool.aclose()

        seen = asyncio.run(asyncio.wait_for(run(), 60))

    assert seen["error"].kind == trouble.kind
    assert seen["paused"] == PAUSED[trouble.kind]
    on_wire = seen["arrived"]
    assert 2 <= len(on_wire) < N and set(on_wire.values()) == {1}
    by_address = {a: i for i, a in s.address.items()}
    unrecorded = {by_address[a] for a in on_wire} - {
        i for i, st in seen["states"].items() if st == "sent"}
    # what went out and could not be recorded: held in memory as sent, its row still `sending`
    assert unrecorded and {i: seen["held"][i] for i in unrecorded} == dict.fromkeys(
        unrecorded, "sent")
    assert {seen["states"][i] for i in unrecorded} == {"sending"}
    assert seen["claims"] == (1 if trouble.kind == READ_ONLY else claims)
    assert seen["claims again"] == seen["claims"]          # no claim while paused
    assert seen["arrived again"] == on_wire                # nothing more sent
    # writable again: the held outcomes first, then what never left, once each
    assert set(s.states().values()) == {"sent"}
    assert recorder.arrived() == Counter(s.address.values())
    assert seen["report"].claimed == N - len(on_wire)
    assert {d.id: d.attempts for d in s.outbox.list()} == dict.fromkeys(s.ids, 1)
    assert s.sent_in_timeline() == Counter(s.ids)
    assert s.outbox.held == [] and s.outbox.paused is None
    s.store.dispose()


def test_the_runner_pauses_retries_without_claiming_and_resumes_on_its_own(
        trouble, frozen_clock, memory_keyring, cert):
    """run_forever (the window's sending loop): it says once that sending is paused, tries the
    held outcomes again at every turn (the base back-off) without claiming anything, and once
    they can be written it says so and sends the rest."""
    recorder = TroubleAt(at=2, then=trouble.begin)
    with smtp_server(recorder, cert) as server:
        s = Setup(trouble, frozen_clock, server.port, cert)
        said: list[str | None] = []

        async def run() -> dict[str, Any]:
            seen: dict[str, Any] = {}
            stop, wake = asyncio.Event(), asyncio.Event()
            paused, resumed, turns = asyncio.Event(), asyncio.Event(), asyncio.Event()
            tries: list[int] = []
            real = s.outbox.write_held

            def counting() -> int:   # the real write, counted
                tries.append(len(s.claims))
                if len(tries) >= 4:
                    turns.set()
                return real()

            s.outbox.write_held = counting   # type: ignore[method-assign]

            def on_pause(words: str | None) -> None:
                said.append(words)
                (paused if words else resumed).set()

            task = asyncio.ensure_future(run_forever(s.outbox, stop, wake, on_pause))
            try:
                await paused.wait()
                claims = len(s.claims)
                await turns.wait()                 # three more turns while it cannot write
                seen["claims"] = (claims, set(tries[1:]))
                seen["arrived"] = recorder.arrived()
                trouble.end()
                await resumed.wait()
            finally:
                stop.set()
                wake.set()
                await task
                await s.pool.aclose()
            return seen

        seen = asyncio.run(asyncio.wait_for(run(), 60))

    assert said == [PAUSED[trouble.kind], None]            # said once each
    claims, while_paused = seen["claims"]
    assert while_paused == {claims}                        # tried again, claimed nothing
    assert sum(seen["arrived"].values()) < N
    assert set(s.states().values()) == {"sent"}
    assert recorder.arrived() == Counter(s.address.values())
    s.store.dispose()


def test_sending_stopped_while_it_cannot_write_leaves_what_was_on_the_wire_unknown(
        trouble, frozen_clock, memory_keyring, cert):
    """The window closes while the database still cannot be written: the outcomes held in
    memory are lost with the process. At the next start (writable again) recover() makes what
    was on the wire `unknown` — never sent again by itself — and puts back in the queue what
    never left; only that goes out."""
    recorder = TroubleAt(at=2, then=trouble.begin)
    with smtp_server(recorder, cert) as server:
        s = Setup(trouble, frozen_clock, server.port, cert)

        async def first_run() -> None:
            stop, wake, paused = asyncio.Event(), asyncio.Event(), asyncio.Event()
            task = asyncio.ensure_future(run_forever(
                s.outbox, stop, wake, lambda words: words and paused.set()))
            try:
                await paused.wait()
            finally:
                stop.set()
                wake.set()
                await task
                await s.pool.aclose()

        asyncio.run(asyncio.wait_for(first_run(), 60))
        assert s.outbox.held                     # in memory only, and this "process" ends
        on_wire = recorder.arrived()
        by_address = {a: i for i, a in s.address.items()}
        states = s.states()
        in_doubt = {by_address[a] for a in on_wire if states[by_address[a]] == "sending"}
        assert in_doubt
        trouble.end()
        s.reopen()
        unknown = s.outbox.recover()

        async def second_run():  # type: ignore[no-untyped-def]
            try:
                return await s.outbox.flush()
            finally:
                await s.pool.aclose()

        after_recover = s.states()
        report = asyncio.run(asyncio.wait_for(second_run(), 60))

    assert unknown == len(in_doubt)
    assert {i for i, st in after_recover.items() if st == "unknown"} == in_doubt
    assert report.claimed == N - len(on_wire)
    final = s.states()
    assert {i for i, st in final.items() if st == "unknown"} == in_doubt   # not sent again
    assert {st for i, st in final.items() if i not in in_doubt} == {"sent"}
    assert recorder.arrived() == Counter(s.address.values())               # each once
    s.store.dispose()
