"""HttpPool (app/sending/channels/sms.py), the pooled httpx client of the SMS and webhook
channels, against a local server that sees what a provider would see: each connection as it
opens and closes, how many are open at once, and the raw header lines of every request."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from app.sending.channels.base import SENT, AccountDTO, OutgoingMessage, SendOutcome
from app.sending.channels.sms import HttpPool, SmsSender
from app.sending.channels.wire import SMS_CONTENT_TYPE

SID, TOKEN = "AC0123456789abcdef0123456789abcdef", "token-xyz"
WAIT = 5.0   # the longest any awaited event may take


@dataclass
class Seen:
    method: str
    path: str
    headers: list[tuple[str, str]]   # as received: name case, order and repeats kept
    port: int                        # the client port: which connection carried it

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name]


class Gateway:
    """A Twilio-shaped provider: creating a message answers 201 with a new sid, asking about
    one answers 'delivered', POST /hook answers 200 ok and POST /bad 400. `gate`: each request
    is held until that many are in flight (or `expected` requests have arrived)."""

    def __init__(self, gate: int = 0, expected: int = 0) -> None:
        self.gate, self.expected = gate, expected
        self.cond = threading.Condition()
        self.requests: list[Seen] = []
        self.ports: list[int] = []     # each connection's client port, as it opened
        self.open = 0                  # connections open now
        self.max_open = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def wait_for(self, predicate: Callable[[], bool]) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout=WAIT)

    def answer(self, method: str, path: str) -> tuple[int, Any]:
        base = f"/2010-04-01/Accounts/{SID}"
        if method == "POST" and path == f"{base}/Messages.json":
            return 201, {"sid": f"SM{len(self.requests)}", "status": "queued"}
        if method == "GET" and path.startswith(f"{base}/Messages/"):
            return 200, {"sid": path.rsplit("/", 1)[1].removesuffix(".json"),
                         "status": "delivered"}
        if method == "POST" and path == "/hook":
            return 200, "ok"
        if method == "POST" and path == "/bad":
            return 400, "invalid_payload"
        return 404, {"code": 20404, "message": "Not found"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def handle(self) -> None:   # one connection, from its opening to its end
        gateway: Gateway = self.server.gateway
        with gateway.cond:
            gateway.ports.append(self.client_address[1])
            gateway.open += 1
            gateway.max_open = max(gateway.max_open, gateway.open)
            gateway.cond.notify_all()
        try:
            super().handle()
        finally:
            with gateway.cond:
                gateway.open -= 1
                gateway.cond.notify_all()

    def _serve(self, method: str) -> None:
        gateway: Gateway = self.server.gateway
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        with gateway.cond:
            gateway.requests.append(Seen(method, path, list(self.headers.items()),
                                         self.client_address[1]))
            gateway.in_flight += 1
            gateway.max_in_flight = max(gateway.max_in_flight, gateway.in_flight)
            gateway.cond.notify_all()
            if gateway.gate:
                gateway.cond.wait_for(lambda: gateway.in_flight >= gateway.gate
                                      or len(gateway.requests) >= gateway.expected,
                                      timeout=WAIT)
            status, body = gateway.answer(method, path)
        try:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str)
                             else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            with gateway.cond:
                gateway.in_flight -= 1

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")


@contextlib.contextmanager
def serving(gateway: Gateway) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.gateway = gateway  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def sms_sender(url: str, concurrency: int) -> SmsSender:
    settings = {"base_url": url, "account_sid": SID, "from_number": "+15550100999",
                "concurrency": concurrency, "timeout": WAIT}
    return SmsSender(AccountDTO(id=2, kind="sms", name="Twilio", settings=settings), TOKEN)


def sms(n: int) -> OutgoingMessage:
    return OutgoingMessage(delivery_id=n, channel="sms", address=f"+1555010{n:04d}",
                           recipient_name=f"User {n}", subject="", text="Portal down.",
                           html="", email_message_id="", idempotency_key=f"k{n}")


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 4 * WAIT))


def test_a_text_goes_out_with_the_headers_of_the_api_each_once():
    gateway = Gateway()
    with serving(gateway) as url:
        sender = sms_sender(url, concurrency=1)
        outcomes: list[SendOutcome] = []

        async def send() -> None:
            try:
                await sender.send([sms(1)], outcomes.append)
            finally:
                await sender.aclose()

        run(send())
    assert [o.result for o in outcomes] == [SENT]
    [seen] = gateway.requests
    assert sorted(name.lower() for name, _ in seen.headers) == [
        "accept", "authorization", "content-length", "content-type", "host", "user-agent"]
    assert seen.header("accept") == ["application/json"]     # the API's answers are JSON
    assert seen.header("content-type") == [SMS_CONTENT_TYPE]
    assert seen.header("user-agent") == ["Clarion"]
    credentials = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert seen.header("authorization") == [f"Basic {credentials}"]


def test_a_post_that_names_no_answer_type_takes_any_and_carries_no_credentials():
    """As a webhook posts: its own Content-Type, no Accept of its own, a pool without auth."""
    gateway = Gateway()
    with serving(gateway) as url:
        pool = HttpPool(1, WAIT)

        async def post() -> httpx.Response:
            try:
                return await pool.post(httpx.URL(f"{url}/hook"), b'{"text": "hi"}',
                                       {"Content-Type": "application/json"})
            finally:
                await pool.aclose()

        response = run(post())
    assert (response.status_code, response.text) == (200, "ok")
    [seen] = gateway.requests
    assert sorted(name.lower() for name, _ in seen.headers) == [
        "accept", "content-length", "content-type", "host", "user-agent"]
    assert seen.header("accept") == ["*/*"]
    assert seen.header("user-agent") == ["Clarion"]


def test_post_answers_and_fails_as_the_httpx_client_would():
    """post() bypasses the client's layers, not what its answers and errors say: a response
    knows the request it answers (raise_for_status works), a transport error names the request
    that failed."""
    gateway = Gateway()
    with serving(gateway) as url:
        pool = HttpPool(1, WAIT)

        async def post(path: str) -> httpx.Response:
            return await pool.post(httpx.URL(f"{url}{path}"), b"{}",
                                   {"Content-Type": "application/json"})

        async def both() -> tuple[httpx.Response, httpx.Response]:
            try:
                return await post("/hook"), await post("/bad")
            finally:
                await pool.aclose()

        ok, bad = run(both())
    assert ok.raise_for_status() is ok
    assert (ok.request.method, ok.request.url) == ("POST", httpx.URL(f"{url}/hook"))
    with pytest.raises(httpx.HTTPStatusError, match=r"400 Bad Request.* for url .*/bad") as info:
        bad.raise_for_status()
    assert info.value.request.url == httpx.URL(f"{url}/bad")

    with serving(Gateway()) as url:
        pass                              # nothing listens there any more
    gone = HttpPool(1, WAIT)

    async def post_to_nowhere() -> None:
        try:
            await gone.post(httpx.URL(f"{url}/hook"), b"{}", {})
        finally:
            await gone.aclose()

    with pytest.raises(httpx.ConnectError) as failed:
        run(post_to_nowhere())
    assert (failed.value.request.method, failed.value.request.url) == (
        "POST", httpx.URL(f"{url}/hook"))


def test_status_polls_never_open_more_connections_than_the_accounts_concurrency():
    """poll_sms_statuses asks about four texts at once; an account of concurrency 2 gets two
    connections, kept alive and used in turn (the polls do not pass through send()'s slots)."""
    gateway = Gateway(gate=2, expected=4)
    with serving(gateway) as url:
        sender = sms_sender(url, concurrency=2)

        async def poll() -> list[str]:
            try:
                return list(await asyncio.gather(
                    *(sender.poll_status(f"SM{n}") for n in range(1, 5))))
            finally:
                await sender.aclose()

        answers = run(poll())
    assert answers == ["delivered"] * 4
    assert len(gateway.requests) == 4
    assert gateway.max_in_flight == 2                            # the limit was reached
    assert gateway.max_open == 2 and len(gateway.ports) == 2     # and never passed


def test_texts_and_status_polls_share_a_kept_alive_connection_that_aclose_closes():
    gateway = Gateway()
    with serving(gateway) as url:
        sender = sms_sender(url, concurrency=1)

        async def work() -> tuple[list[SendOutcome], str, list[int], bool]:
            outcomes: list[SendOutcome] = []
            await sender.send([sms(1), sms(2)], outcomes.append)
            status = await sender.poll_status(outcomes[0].provider_id)
            with gateway.cond:
                opened = list(gateway.ports)
            await sender.aclose()
            closed = await asyncio.to_thread(gateway.wait_for, lambda: gateway.open == 0)
            return outcomes, status, opened, closed

        outcomes, status, opened, closed = run(work())
    assert [o.result for o in outcomes] == [SENT, SENT] and status == "delivered"
    assert [(r.method, r.port) for r in gateway.requests] == [
        ("POST", opened[0]), ("POST", opened[0]), ("GET", opened[0])]
    assert len(opened) == 1        # the poll went over the connection the texts were posted on
    assert closed                  # and aclose() closed it: nothing is left open at the provider
