"""A local HTTP server speaking the shape of Twilio's Messages API (and of chat webhooks), on
127.0.0.1 in a thread (stdlib ThreadingHTTPServer), with chosen answers per destination.

Like Twilio it lists an account's messages (GET .../Messages.json: both directions, newest
first, filtered by To and by the day in `DateSent>`, PageSize a page, `next_page_uri` to the
next) — what it accepted by POST as `outbound-api`, and what a test has someone text in with
`receive()` as `inbound` — and it keeps Twilio's opt-out list: an inbound message that is only
a STOP keyword puts its number on it, START / UNSTOP / YES take it off, and a POST to a number
on it is refused with 400, code 21610."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import ssl
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

SID, TOKEN = "AC0123456789abcdef0123456789abcdef", "token-xyz"
HANG = "hang"   # an answer that never comes
# Twilio's default opt-out and opt-in keywords (Advanced Opt-Out): the whole message, any case
TWILIO_STOP = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT",
                         "REVOKE"})
TWILIO_START = frozenset({"START", "UNSTOP", "YES"})
UNSUBSCRIBED = {"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                "status": 400, "more_info": "https://www.twilio.com/docs/errors/21610"}
DEFAULT_PAGE_SIZE = 50


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Provider:
    """What the server answers: `by_to` maps a destination ('To' number, or a webhook path) to
    a Reply or HANG; everything else is accepted. `gate`: hold each request until that many are
    in flight (or all `expected` have arrived), to see how many the client runs at once."""
    by_to: dict[str, Any] = field(default_factory=dict)
    gate: int = 0
    expected: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)   # the client port of each request
    agents: list[str] = field(default_factory=list)  # the User-Agent of each request
    bodies: list[tuple[str, bytes]] = field(default_factory=list)  # (Content-Type, raw body)
    in_flight: int = 0
    max_in_flight: int = 0
    started: int = 0
    statuses: dict[str, str] = field(default_factory=dict)
    released: threading.Event = field(default_factory=threading.Event)
    cond: threading.Condition = field(default_factory=threading.Condition)
    sids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    account_answer: dict[str, Any] = field(default_factory=lambda: {
        "sid": SID, "friendly_name": "Harbor IT", "status": "active", "type": "Full"})
    number: str = ""                  # the account's own number: where `receive()` texts go
    clock: Callable[[], datetime] = field(default_factory=lambda: _utc_now)
    messages: list[dict[str, Any]] = field(default_factory=list)   # both directions, as listed
    opted_out: set[str] = field(default_factory=set)   # Twilio's opt-out list (numbers)

    def receive(self, from_: str, body: str, date_sent: datetime | None = None,
                to: str | None = None) -> str:
        """Someone texts the account: the message is listed (inbound) and, as Twilio does,
        a message that is only an opt-out (opt-in) keyword adds (removes) the number to (from)
        the opt-out list. Returns its SID."""
        with self.cond:
            sid = f"SM{next(self.sids):032d}"
            self.messages.append(self._message(sid, "inbound", from_, to or self.number, body,
                                               date_sent or self.clock(), "received"))
            keyword = body.strip().strip(".!").upper()
            if keyword in TWILIO_STOP:
                self.opted_out.add(from_)
            elif keyword in TWILIO_START:
                self.opted_out.discard(from_)
        return sid

    @staticmethod
    def _message(sid: str, direction: str, from_: str, to: str, body: str, when: datetime,
                 status: str) -> dict[str, Any]:
        stamp = format_datetime(when.astimezone(timezone.utc))   # RFC 2822, "+0000"
        return {"sid": sid, "account_sid": SID, "api_version": "2010-04-01",
                "direction": direction, "from": from_, "to": to, "body": body,
                "status": status, "num_segments": "1", "num_media": "0",
                "date_created": stamp, "date_sent": stamp, "date_updated": stamp,
                "error_code": None, "error_message": None, "messaging_service_sid": None,
                "price": None, "price_unit": "USD",
                "uri": f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json"}

    def listing(self, query: dict[str, str]) -> Reply:
        """One page of the account's messages, newest first, as Twilio lists them."""
        base = f"/2010-04-01/Accounts/{SID}/Messages.json"
        try:
            size = int(query.get("PageSize") or DEFAULT_PAGE_SIZE)
            page = int(query.get("Page") or 0)
            since = date.fromisoformat(query["DateSent>"]) if query.get("DateSent>") else None
        except ValueError as exc:
            return Reply(400, {"code": 20001, "message": f"Invalid parameter: {exc}",
                               "status": 400})
        with self.cond:
            found = [m for m in self.messages
                     if (not query.get("To") or m["to"] == query["To"])
                     and (not query.get("From") or m["from"] == query["From"])
                     and (since is None or _sent_day(m) >= since)]
        found.sort(key=lambda m: (_sent(m), m["sid"]), reverse=True)
        chunk = found[page * size:(page + 1) * size]
        kept = {k: v for k, v in query.items() if k not in ("Page", "PageToken")}

        def uri(n: int, token: str = "") -> str:
            extra = {"Page": str(n), **({"PageToken": token} if token else {})}
            return f"{base}?{urlencode({**kept, 'PageSize': str(size), **extra})}"
        more = (page + 1) * size < len(found)
        return Reply(200, {
            "messages": chunk, "page": page, "page_size": size, "start": page * size,
            "end": page * size + max(len(chunk) - 1, 0), "first_page_uri": uri(0),
            "previous_page_uri": uri(page - 1) if page else None,
            "next_page_uri": uri(page + 1, f"PA{chunk[-1]['sid']}") if more else None,
            "uri": uri(page)})

    def enter(self) -> None:
        with self.cond:
            self.in_flight += 1
            self.started += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.cond.notify_all()
            if self.gate:
                self.cond.wait_for(lambda: self.in_flight >= self.gate
                                   or self.started >= self.expected, timeout=5)

    def leave(self) -> None:
        with self.cond:
            self.in_flight -= 1

    def twilio(self, method: str, path: str, form: dict[str, str],
               auth: tuple[str, str] | None, query: dict[str, str] | None = None) -> Any:
        if auth != (SID, TOKEN):
            return Reply(401, {"code": 20003, "message": "Authenticate", "status": 401,
                               "more_info": "https://www.twilio.com/docs/errors/20003"})
        base = f"/2010-04-01/Accounts/{SID}"
        if method == "GET" and path == f"{base}.json":
            return Reply(200, self.account_answer)
        if method == "GET" and path == f"{base}/Messages.json":
            return self.listing(query or {})
        if method == "GET" and path.startswith(f"{base}/Messages/"):
            sid = path.rsplit("/", 1)[1].removesuffix(".json")
            if sid not in self.statuses:
                return Reply(404, {"code": 20404, "message": f"The requested resource "
                                   f"{path} was not found", "status": 404})
            return Reply(200, {"sid": sid, "status": self.statuses[sid]})
        if method == "POST" and path == f"{base}/Messages.json":
            chosen = self.by_to.get(form.get("To", ""))
            if chosen is not None:
                return chosen
            if form.get("To", "") in self.opted_out:
                return Reply(400, dict(UNSUBSCRIBED))
            sid = f"SM{next(self.sids):032d}"
            self.statuses[sid] = "delivered"
            with self.cond:
                self.messages.append(self._message(
                    sid, "outbound-api", form.get("From", ""), form.get("To", ""),
                    form.get("Body", ""), self.clock(), "queued"))
            return Reply(201, {"sid": sid, "status": "queued", "to": form.get("To"),
                               "body": form.get("Body")})
        return Reply(404, {"code": 20404, "message": "Not found", "status": 404})

    def webhook(self, path: str) -> Any:
        return self.by_to.get(path) or Reply(200, "ok")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _sent(message: dict[str, Any]) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(message["date_sent"])


def _sent_day(message: dict[str, Any]) -> date:
    return _sent(message).astimezone(timezone.utc).date()


def _handler(provider: Provider, kind: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _auth(self) -> tuple[str, str] | None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user, password

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path, query_text = urlsplit(self.path).path, urlsplit(self.path).query
            query = {k: v[0] for k, v in parse_qs(query_text).items()}
            if kind == "twilio":
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                record = {"method": method, "path": path, "form": form}
                if query_text:
                    record["query"] = query
            else:
                record = {"method": method, "path": path,
                          "json": json.loads(raw) if raw else None,
                          "headers": dict(self.headers)}
            provider.enter()
            try:
                with provider.cond:
                    provider.requests.append(record)
                    provider.peers.append(self.client_address[1])  # which connection
                    provider.agents.append(self.headers.get("User-Agent", ""))
                    provider.bodies.append((self.headers.get("Content-Type", ""), raw))
                reply = provider.twilio(method, path, record.get("form", {}), self._auth(),
                                        query) if kind == "twilio" else provider.webhook(path)
                if reply == HANG:
                    provider.released.wait(10)     # until the test ends
                    self.close_connection = True
                    return
                body = reply.body
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str)
                                 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            finally:
                provider.leave()

        def do_POST(self) -> None:
            self._serve("POST")

        def do_GET(self) -> None:
            self._serve("GET")

    return Handler


@contextlib.contextmanager
def http_server(provider: Provider, kind: str = "twilio",
                tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve on 127.0.0.1:<free port>; yields the base URL (https when `tls` is given)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider, kind))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        provider.released.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
