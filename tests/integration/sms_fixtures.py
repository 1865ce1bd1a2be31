"""A local HTTP server speaking the shape of Twilio's Messages API (and of chat webhooks), on
127.0.0.1 in a thread (stdlib ThreadingHTTPServer), with chosen answers per destination."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

SID, TOKEN = "AC0123456789abcdef0123456789abcdef", "token-xyz"
HANG = "hang"   # an answer that never comes


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
               auth: tuple[str, str] | None) -> Any:
        if auth != (SID, TOKEN):
            return Reply(401, {"code": 20003, "message": "Authenticate", "status": 401,
                               "more_info": "https://www.twilio.com/docs/errors/20003"})
        base = f"/2010-04-01/Accounts/{SID}"
        if method == "GET" and path == f"{base}.json":
            return Reply(200, self.account_answer)
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
            sid = f"SM{next(self.sids):032d}"
            self.statuses[sid] = "delivered"
            return Reply(201, {"sid": sid, "status": "queued", "to": form.get("To"),
                               "body": form.get("Body")})
        return Reply(404, {"code": 20404, "message": "Not found", "status": 404})

    def webhook(self, path: str) -> Any:
        return self.by_to.get(path) or Reply(200, "ok")


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
            path = urlsplit(self.path).path
            if kind == "twilio":
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                record = {"method": method, "path": path, "form": form}
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
                reply = provider.twilio(method, path, record.get("form", {}), self._auth()) \
                    if kind == "twilio" else provider.webhook(path)
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
