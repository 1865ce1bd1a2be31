"""SMS through a provider speaking Twilio's Messages REST API, with httpx.

Account settings (AccountDTO.settings):
    base_url (default https://api.twilio.com; https only, except a gateway on 127.0.0.1),
    account_sid, from_number (E.164) or messaging_service_sid, ca_file (optional),
    concurrency (requests in flight, default 4), timeout (seconds, default 30).
The auth token is given to the constructor (it lives in the keyring, never in settings).

Creating a message is not idempotent and an SMS cannot be de-duplicated by its receiver, so once
a request may have reached the provider it is never reported TRANSIENT:
    201 (any 2xx) with sid ......................... SENT, provider_id = sid
    400 code 21211 (bad 'To') / other 4xx ........... PERMANENT with the provider's words
    400 code 21610 (the number replied STOP) ......... PERMANENT, opted_out: the outbox marks
                                                       the number's contact points opted out
    401, code 20003, 403, 404, 3xx, From/service
      errors (21212 21603 21606 21659) ............... AUTH_FAILED (fix the account)
    429 .............................................. TRANSIENT, retry_after from Retry-After
    5xx .............................................. UNKNOWN (the request reached the server)
    connect error / connect or pool timeout,
      write error (request not fully sent) ........... TRANSIENT
    read timeout / connection lost while waiting ..... UNKNOWN

`list_inbound()` reads what people texted to the account (replies, confirmations, STOP): the
account's message list, both directions, filtered by the account's number and by day; only the
inbound ones are kept (app/mailbox/sms.py records them).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import json
import logging
import ssl
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Sequence
from urllib.parse import quote, urlsplit

import httpx

from app.errors import ClarionError
from .base import (AUTH_FAILED, PERMANENT, SENT, TRANSIENT, UNKNOWN, AccountDTO, Begin,
                   OutgoingMessage, SendOutcome, exception_chain, go_ahead)
from .defaults import SMS_DEFAULT_CONCURRENCY
from .drill import drill_outcome
from .email import run_workers
from .wire import E164, SMS_CONTENT_TYPE, Unbuildable, sms_form, sms_problem

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.twilio.com"
DEFAULT_CONCURRENCY = SMS_DEFAULT_CONCURRENCY
DEFAULT_TIMEOUT = 30.0
BAD_NUMBER = 21211
AUTH_ERROR = 20003
UNSUBSCRIBED = 21610   # "Attempt to send to unsubscribed recipient": the number replied STOP
INBOUND_PAGE_SIZE = 100
INBOUND_MAX_PAGES = 100   # 10,000 messages of one check (both directions when no To filter)
# Errors about our own From number or messaging service: every message would fail alike.
ACCOUNT_ERRORS = frozenset({21212, 21603, 21606, 21659})
USER_AGENT = "Clarion"
SMS_POST_HEADERS = {"Content-Type": SMS_CONTENT_TYPE, "Accept": "application/json"}


# ---- shared by the HTTP channels (webhook.py uses these too) -------------------------------

def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, what: str, allow_loopback_http: bool, show_url: bool = True) -> str:
    """Why `url` cannot be used, or ''. Secrets (tokens, webhook paths) travel only over TLS."""
    if not url:
        return f"No {what} is set."
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return ""
    if parts.scheme == "http" and allow_loopback_http and is_loopback_url(url):
        return ""
    shown = f" ({url.split('?')[0]} does not)" if show_url else ""
    return f"The {what} must start with https://{shown}."


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def positive_number(settings: dict[str, Any], key: str, default: float,
                    problems: list[str], integer: bool = False) -> Any:
    raw = settings.get(key)
    if raw in (None, ""):
        return default
    try:
        value = int(raw) if integer else float(raw)
    except (TypeError, ValueError):
        problems.append(f"The {key} setting {raw!r} is not a number.")
        return default
    if value <= 0:
        problems.append(f"The {key} setting must be more than 0.")
        return default
    return value


def tls_verify(ca_file: str) -> ssl.SSLContext | bool:
    """Certificate verification is always on; a CA file adds an internal CA."""
    if not ca_file:
        return True
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ClarionError(f"The CA certificate file {ca_file} cannot be used: {exc}") from None


def transport_outcome(delivery_id: int, exc: Exception, where: str) -> SendOutcome:
    """An httpx error as an outcome: TRANSIENT only when the request cannot have reached the
    server (no connection, or the request was not fully written); UNKNOWN otherwise."""
    words = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and _is_cert_error(exc):
        return SendOutcome(delivery_id, AUTH_FAILED, f"The certificate of {where} is not "
                           f"trusted ({words}); nothing was sent.")
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return SendOutcome(delivery_id, TRANSIENT, f"Cannot reach {where}: {words}")
    if isinstance(exc, (httpx.WriteError, httpx.WriteTimeout)):
        return SendOutcome(delivery_id, TRANSIENT, f"The request to {where} could not be "
                           f"written, so it was not received: {words}")
    return SendOutcome(delivery_id, UNKNOWN, f"The request reached {where} but no answer came "
                       f"back ({words}); it may have been sent.")


def _is_cert_error(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLCertVerificationError) for e in exception_chain(exc)) \
        or "CERTIFICATE_VERIFY_FAILED" in str(exc)


def response_json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class HttpPool:
    """One httpx.AsyncClient per running loop, and a semaphore bounding requests in flight
    across all send() calls of one sender.

    Sending goes through `post()`: straight to the client's transport (its connection pool),
    with the headers the client would add set here once. The client's own layers around it —
    cookies, auth flows, redirects (never followed here), URL merging, event hooks — a sender
    does not use, and at a provider that answers at once they cost about a third of a
    request's CPU (tests/benchmarks/bench_outbox.py). Other requests (status polls, connection
    tests) use the client."""

    def __init__(self, concurrency: int, timeout: float,
                 basic_auth: tuple[str, str] | None = None, **client_kwargs: Any) -> None:
        self.concurrency = concurrency
        self.timeout = timeout
        self.basic_auth = basic_auth
        self.client_kwargs = client_kwargs
        self._client: httpx.AsyncClient | None = None
        self._transport: httpx.AsyncBaseTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.slots: asyncio.Semaphore = asyncio.Semaphore(concurrency)
        self._headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        if basic_auth is not None:
            user, password = basic_auth
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"
        self._timeout = httpx.Timeout(timeout).as_dict()

    def _limits(self) -> httpx.Limits:
        return httpx.Limits(max_connections=self.concurrency,
                            max_keepalive_connections=self.concurrency)

    def fresh(self, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
        """A client of its own (for a one-off request such as a connection test): use it with
        `async with` so that it is closed."""
        kwargs = dict(self.client_kwargs)
        if transport is not None:
            kwargs["transport"] = transport
        if self.basic_auth is not None:
            kwargs["auth"] = httpx.BasicAuth(*self.basic_auth)
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout), limits=self._limits(),
            headers={"User-Agent": USER_AGENT}, follow_redirects=False, **kwargs)

    def client(self) -> httpx.AsyncClient:
        """The shared client of the running loop (closed by aclose())."""
        loop = asyncio.get_running_loop()
        if self._client is None or loop is not self._loop:
            transport = self.client_kwargs.get("transport")
            if transport is None:
                verify = self.client_kwargs.get("verify", True)
                transport = httpx.AsyncHTTPTransport(verify=verify, limits=self._limits())
            self._transport = transport
            self._client = self.fresh(transport)
            self._loop = loop
            self.slots = asyncio.Semaphore(self.concurrency)
        return self._client

    async def post(self, url: httpx.URL, content: bytes,
                   headers: dict[str, str]) -> httpx.Response:
        """POST `content` to `url` and read the whole answer (httpx errors as the client
        raises them); no redirect is followed."""
        self.client()
        assert self._transport is not None
        request = httpx.Request("POST", url, content=content,
                                headers={**self._headers, **headers},
                                extensions={"timeout": self._timeout})
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        client, self._client = self._client, None
        self._transport = None
        if client is None:
            return
        try:
            if asyncio.get_running_loop() is self._loop:
                await client.aclose()
        except Exception:
            pass


@dataclass
class _Batch:
    pending: deque[OutgoingMessage]
    stop_detail: str = ""
    offline_detail: str = ""
    withheld: bool = False   # the outbox withheld a message (Begin said no): stop, report nothing


# ---- the shared batch loop -------------------------------------------------------------------

class HttpBatchSender:
    """What the HTTP senders (SMS, webhooks) share: drill messages answered at once, a batch
    worked by at most `concurrency` workers that stop on a refused account or a provider that
    cannot be reached, and what was not attempted reported as such. Subclasses provide
    config_problem(), _http(), _send_one(), `concurrency` and `_where`."""

    KIND_WORDS = "HTTP"

    @property
    def in_flight(self) -> int:
        """Sender protocol: requests in flight at once, at most."""
        return self.concurrency

    async def _worker(self, batch: _Batch, on_outcome: Callable[[SendOutcome], None],
                      slots: asyncio.Semaphore, begin: Begin) -> None:
        async with slots:
            while batch.pending and not (batch.stop_detail or batch.offline_detail
                                         or batch.withheld):
                message = batch.pending.popleft()
                if not await begin(message.delivery_id):  # its start recorded first
                    batch.withheld = True
                    batch.pending.appendleft(message)
                    return
                try:
                    outcome = await self._send_one(message, batch)
                except Exception as exc:  # a bug of ours: never claim it went out or retry it
                    log.exception("%s delivery %s failed unexpectedly", self.KIND_WORDS,
                                  message.delivery_id)
                    outcome = SendOutcome(message.delivery_id, UNKNOWN,
                                          f"Internal error while sending: {exc!r}")
                if outcome.result == AUTH_FAILED:
                    batch.stop_detail = batch.stop_detail or outcome.detail
                on_outcome(outcome)

    async def send(self, messages: Sequence[OutgoingMessage],
                   on_outcome: Callable[[SendOutcome], None],
                   begin: Begin = go_ahead) -> None:
        pending: deque[OutgoingMessage] = deque()
        for message in messages:
            if message.is_drill:
                on_outcome(drill_outcome(message))
            else:
                pending.append(message)
        if not pending:
            return
        problem = self.config_problem()
        if not problem:
            try:
                pool = self._http()
                pool.client()
            except ClarionError as exc:
                problem = str(exc)
        if problem:
            for message in pending:
                on_outcome(SendOutcome(message.delivery_id, AUTH_FAILED, problem))
            return
        batch = _Batch(pending)
        workers = min(self.concurrency, len(pending))
        await run_workers(self._worker(batch, on_outcome, pool.slots, begin)
                          for _ in range(workers))
        if batch.withheld:   # the outbox stops: it knows what was never attempted
            return
        if batch.stop_detail:
            result, detail = AUTH_FAILED, batch.stop_detail
        else:
            result = TRANSIENT
            detail = f"Not attempted: {batch.offline_detail or self._where + ' unreachable'}"
        while batch.pending:
            on_outcome(SendOutcome(batch.pending.popleft().delivery_id, result, detail))



# ---- the SMS sender ------------------------------------------------------------------------

class SmsSender(HttpBatchSender):
    """Sender (app/sending/channels/base.py) for a Twilio-shaped SMS account."""

    KIND_WORDS = "SMS"

    def __init__(self, account: AccountDTO, auth_token: str | None) -> None:
        self.account = account
        self._token = auth_token
        s = account.settings or {}
        self._problems: list[str] = []
        self.base_url = str(s.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")
        self.account_sid = str(s.get("account_sid") or "").strip()
        self.from_number = str(s.get("from_number") or "").strip()
        self.messaging_service_sid = str(s.get("messaging_service_sid") or "").strip()
        self.ca_file = str(s.get("ca_file") or "").strip()
        self.concurrency = positive_number(s, "concurrency", DEFAULT_CONCURRENCY,
                                           self._problems, integer=True)
        self.timeout = positive_number(s, "timeout", DEFAULT_TIMEOUT, self._problems)
        self._pool: HttpPool | None = None

    def __repr__(self) -> str:  # never the token
        return f"SmsSender(account={self.account.id!r}, base_url={self.base_url!r})"

    @property
    def _where(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    @functools.cached_property
    def _messages_url(self) -> httpx.URL:
        return httpx.URL(f"{self._account_url}/Messages.json")

    @property
    def _account_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{quote(self.account_sid, safe='')}"

    def config_problem(self, for_sending: bool = True) -> str:
        problems = list(self._problems)
        bad_url = url_problem(self.base_url, "SMS provider URL", allow_loopback_http=True)
        if bad_url:
            problems.append(bad_url)
        if not self.account_sid:
            problems.append("No account SID is set.")
        if not self._token:
            problems.append("No auth token is stored for this account (it lives in the "
                            "keyring).")
        if for_sending:
            if not (self.from_number or self.messaging_service_sid):
                problems.append("Set a from number or a messaging service SID.")
            elif self.from_number and not self.messaging_service_sid and \
                    not E164.fullmatch(self.from_number):
                problems.append(f"The from number {self.from_number} is not in E.164 form "
                                f"(+ and country code).")
        return " ".join(problems)

    def _http(self) -> HttpPool:
        if self._pool is None:
            self._pool = HttpPool(self.concurrency, self.timeout,
                                  basic_auth=(self.account_sid, self._token or ""),
                                  verify=tls_verify(self.ca_file))
        return self._pool

    def classify(self, delivery_id: int, response: httpx.Response) -> SendOutcome:
        """The provider's answer to a create-message request, as an outcome."""
        status = response.status_code
        data = response_json(response)
        if 200 <= status < 300:  # the common case: no words to build (response.text decodes)
            sid = str(data.get("sid") or "")
            state = str(data.get("status") or "")
            return SendOutcome(delivery_id, SENT, f"{status} {state}".strip(),
                               provider_id=sid)
        code = _code(data)
        words = _provider_words(response, data)
        if status == 401 or code == AUTH_ERROR:
            return SendOutcome(delivery_id, AUTH_FAILED, f"{self._where} refused the "
                               f"credentials: {words}")
        if code == UNSUBSCRIBED and 400 <= status < 500:
            return SendOutcome(delivery_id, PERMANENT, words, opted_out=True)
        if status == 429:
            return SendOutcome(delivery_id, TRANSIENT, words,
                               retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if 500 <= status < 600:
            return SendOutcome(delivery_id, UNKNOWN, f"{words}; the request reached the "
                               f"provider, so the SMS may have been sent.")
        if status in (403, 404) or code in ACCOUNT_ERRORS:
            return SendOutcome(delivery_id, AUTH_FAILED, f"{self._where} refused this "
                               f"account's request: {words}")
        if 300 <= status < 400:
            return SendOutcome(delivery_id, AUTH_FAILED, f"{self._where} redirected the "
                               f"request ({words}); check the provider URL.")
        if 400 <= status < 500:
            return SendOutcome(delivery_id, PERMANENT, words)
        return SendOutcome(delivery_id, UNKNOWN, f"Unexpected answer: {words}")

    def freeze(self, message: OutgoingMessage, now: datetime) -> bytes | None:
        """Sender protocol: the create-message request's form, as it will be posted."""
        try:
            return self._form(message)
        except Unbuildable:
            return None  # _send_one says why

    def _form(self, message: OutgoingMessage) -> bytes:
        return sms_form(message, from_number=self.from_number,
                        messaging_service_sid=self.messaging_service_sid)

    async def _send_one(self, message: OutgoingMessage, batch: _Batch) -> SendOutcome:
        d = message.delivery_id
        problem = sms_problem(message)
        if problem:
            return SendOutcome(d, PERMANENT, problem)
        try:
            response = await self._http().post(
                self._messages_url, message.wire or self._form(message), SMS_POST_HEADERS)
        except httpx.HTTPError as exc:
            outcome = transport_outcome(d, exc, self._where)
            if outcome.result == TRANSIENT and isinstance(
                    exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                batch.offline_detail = outcome.detail
            return outcome
        return self.classify(d, response)

    async def _get(self, url: str, one_off: bool = False) -> dict[str, Any]:
        problem = self.config_problem(for_sending=False)
        if problem:
            raise ClarionError(problem)
        try:
            if one_off:
                async with self._http().fresh() as client:
                    response = await client.get(url)
            else:
                response = await self._http().client().get(url)
        except httpx.HTTPError as exc:
            raise ClarionError(f"Cannot reach {self._where}: {type(exc).__name__}: {exc}") \
                from None
        data = response_json(response)
        if response.status_code != 200:
            raise ClarionError(f"{self._where} answered {_provider_words(response, data)}")
        return data

    async def poll_status(self, sid: str) -> str:
        """The provider's status of a sent message: queued, sending, sent, delivered,
        undelivered, failed (or whatever else the provider reports)."""
        data = await self._get(f"{self._account_url}/Messages/{quote(sid, safe='')}.json")
        status = str(data.get("status") or "")
        if not status:
            raise ClarionError(f"{self._where} reported no status for message {sid}.")
        return status

    async def list_inbound(self, since: datetime | None,
                           max_pages: int = INBOUND_MAX_PAGES) -> list[InboundSmsData]:
        """The messages texted to this account sent since the day of `since` (all the provider
        keeps when None), newest first: to its from number when it has one (a messaging
        service account has none: then every number of the account). The provider filters
        by day only; the caller compares the times. At most `max_pages` pages are read (a
        warning in the log says when more were left). Raises ClarionError in plain words."""
        params: dict[str, str] = {}
        if self.from_number:
            params["To"] = self.from_number
        if since is not None:
            params["DateSent>"] = since.astimezone(timezone.utc).date().isoformat()
        params["PageSize"] = str(INBOUND_PAGE_SIZE)
        url = str(self._messages_url.copy_merge_params(params))
        found: list[InboundSmsData] = []
        seen: set[str] = set()
        for _page in range(max_pages):
            data = await self._get(url)
            items = data.get("messages")
            if not isinstance(items, list):
                raise ClarionError(f"{self._where} answered the message list without its "
                                   f"messages.")
            for item in items:
                message = inbound_message(item)
                if message is not None and message.sid not in seen:
                    seen.add(message.sid)
                    found.append(message)
            following = data.get("next_page_uri")
            if not following:
                return found
            url = self._next_page(str(following))
        log.warning("%s: more than %d pages of messages since %s; the oldest were not read",
                    self._where, max_pages, params.get("DateSent>", "the start"))
        return found

    def _next_page(self, uri: str) -> str:
        """The next page's address: the provider gives it from the API's root (a path), or
        in full on the same server — never elsewhere (the token goes with the request)."""
        if uri.startswith("/") and not uri.startswith("//"):
            return self.base_url + uri
        ours, theirs = urlsplit(self.base_url), urlsplit(uri)
        if (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc):
            return uri
        raise ClarionError(f"{self._where} pointed the next page of messages elsewhere "
                           f"({theirs.netloc or uri[:80]}); it was not followed.")

    async def test_connection(self) -> str:
        data = await self._get(f"{self._account_url}.json", one_off=True)
        name = data.get("friendly_name") or self.account_sid
        parts = [f"{self._where}: account {name} ({data.get('sid') or self.account_sid})"]
        if data.get("status"):
            parts.append(f"status {data['status']}")
        if data.get("type"):
            parts.append(f"type {data['type']}")
        return ", ".join(parts) + "."

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


@dataclass(frozen=True)
class InboundSmsData:
    """One message someone texted to the account, as the provider lists it."""
    sid: str
    from_number: str
    to_number: str
    body: str
    sent_at: datetime          # aware UTC: when the provider received it (its date_sent)


def inbound_message(item: Any) -> InboundSmsData | None:
    """An item of the provider's message list as an inbound message; None for an outbound
    one, or one without a SID or a date. Pure."""
    if not isinstance(item, dict) or str(item.get("direction") or "") != "inbound":
        return None
    sid = str(item.get("sid") or "").strip()
    sent = rfc2822_utc(item.get("date_sent")) or rfc2822_utc(item.get("date_created"))
    if not sid or sent is None:
        return None
    return InboundSmsData(sid=sid, from_number=str(item.get("from") or "").strip(),
                          to_number=str(item.get("to") or "").strip(),
                          body=str(item.get("body") or ""), sent_at=sent)


def rfc2822_utc(value: Any) -> datetime | None:
    """'Mon, 07 Dec 2026 10:04:00 +0000' (the provider's dates) as an aware UTC time."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def _code(data: dict[str, Any]) -> int | None:
    try:
        return int(data["code"])
    except (KeyError, TypeError, ValueError):
        return None


def _provider_words(response: httpx.Response, data: dict[str, Any]) -> str:
    """'400 Invalid 'To' Phone Number (code 21211)' — the provider's own message."""
    message = data.get("message") or data.get("detail") or ""
    if not message:
        text = response.text.strip() if response.content else ""
        message = text[:300] or response.reason_phrase
    code = data.get("code")
    return f"{response.status_code} {message}" + (f" (code {code})" if code else "")
