"""Chat webhooks: Slack and Microsoft Teams incoming webhooks, and a generic JSON webhook.

The webhook URL is the secret (it lives in the keyring) and is given to the constructor; https
only. Account settings: concurrency (default 2), timeout (seconds, default 15), ca_file.

Payloads (wire.py builds them; stored at the first claim and posted as stored):
           slack   {"text": "*subject*\\n\\ntext"}
           teams   a MessageCard {"@type": "MessageCard", "summary", "title", "text"}
           webhook {"subject", "text"} (+ "html" when there is one), with an Idempotency-Key
                   header carrying the delivery's idempotency key.
Outcomes:  2xx SENT · 429 TRANSIENT (retry_after) · 401/403/404/410 AUTH_FAILED (the hook was
           revoked or mistyped: fix the account) · other 4xx PERMANENT · 5xx, or no answer after
           the request was sent, UNKNOWN · no connection TRANSIENT.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from app.errors import ClarionError
from .base import (AUTH_FAILED, PERMANENT, SENT, TRANSIENT, UNKNOWN, AccountDTO,
                   OutgoingMessage, SendOutcome)
from .sms import (HttpBatchSender, HttpPool, _Batch, parse_retry_after, positive_number,
                  response_json,
                  tls_verify, transport_outcome, url_problem)
from .wire import JSON_CONTENT_TYPE, WEBHOOK_KINDS, Unbuildable, webhook_body

log = logging.getLogger(__name__)

KINDS = WEBHOOK_KINDS
DEFAULT_CONCURRENCY = 2
DEFAULT_TIMEOUT = 15.0
REVOKED = frozenset({401, 403, 404, 410})


class WebhookSender(HttpBatchSender):
    """Sender (app/sending/channels/base.py) posting each message to one incoming webhook."""

    KIND_WORDS = "webhook"

    def __init__(self, account: AccountDTO, url: str | None) -> None:
        self.account = account
        self.kind = account.kind if account.kind in KINDS else "webhook"
        self._url = (url or "").strip()
        s = account.settings or {}
        self._problems: list[str] = []
        self.concurrency = positive_number(s, "concurrency", DEFAULT_CONCURRENCY,
                                           self._problems, integer=True)
        self.timeout = positive_number(s, "timeout", DEFAULT_TIMEOUT, self._problems)
        self.ca_file = str(s.get("ca_file") or "").strip()
        self._pool: HttpPool | None = None

    def __repr__(self) -> str:  # never the URL: it is the secret
        return f"WebhookSender(account={self.account.id!r}, kind={self.kind!r})"

    @functools.cached_property
    def _post_url(self) -> httpx.URL:
        return httpx.URL(self._url)

    @property
    def _where(self) -> str:
        return urlsplit(self._url).hostname or "the webhook"

    def config_problem(self) -> str:
        problems = list(self._problems)
        # the path of a webhook URL is its secret: never repeat it in a message
        bad = url_problem(self._url, "webhook URL", allow_loopback_http=False, show_url=False)
        if bad:
            problems.append(bad)
        return " ".join(problems)

    def _http(self) -> HttpPool:
        if self._pool is None:
            self._pool = HttpPool(self.concurrency, self.timeout,
                                  verify=tls_verify(self.ca_file))
        return self._pool

    def classify(self, delivery_id: int, response: httpx.Response) -> SendOutcome:
        status = response.status_code
        data = response_json(response)
        text = (data.get("error") or data.get("message") or
                (response.text.strip()[:300] if response.content else "")
                or response.reason_phrase)
        words = f"{status} {text}".strip()
        if 200 <= status < 300:
            return SendOutcome(delivery_id, SENT, words)
        if status == 429:
            return SendOutcome(delivery_id, TRANSIENT, words,
                               retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status in REVOKED:
            return SendOutcome(delivery_id, AUTH_FAILED, f"{self._where} refused the webhook "
                               f"({words}); it may have been removed: set a new URL.")
        if 500 <= status < 600:
            return SendOutcome(delivery_id, UNKNOWN, f"{words}; the request reached "
                               f"{self._where}, so the message may have been posted.")
        if 400 <= status < 500:
            return SendOutcome(delivery_id, PERMANENT, words)
        return SendOutcome(delivery_id, UNKNOWN, f"Unexpected answer: {words}")

    def freeze(self, message: OutgoingMessage, now: datetime) -> bytes | None:
        """Sender protocol: the JSON body, as it will be posted."""
        try:
            return webhook_body(self.kind, message)
        except Unbuildable:
            return None  # _send_one says why

    async def _send_one(self, message: OutgoingMessage, batch: _Batch) -> SendOutcome:
        headers = {"Content-Type": JSON_CONTENT_TYPE}
        if self.kind == "webhook":
            headers["Idempotency-Key"] = message.idempotency_key
        try:
            body = message.wire or webhook_body(self.kind, message)
        except Unbuildable as exc:
            return SendOutcome(message.delivery_id, PERMANENT, str(exc))
        try:
            response = await self._http().post(self._post_url, body, headers)
        except httpx.HTTPError as exc:
            outcome = transport_outcome(message.delivery_id, exc, self._where)
            if outcome.result == TRANSIENT and isinstance(
                    exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                batch.offline_detail = outcome.detail
            return outcome
        return self.classify(message.delivery_id, response)

    async def test_connection(self) -> str:
        """Reach the webhook over verified TLS without posting anything: a GET tells whether
        the host answers and whether the hook still exists (a POST would post a message)."""
        problem = self.config_problem()
        if problem:
            raise ClarionError(problem)
        try:
            async with self._http().fresh() as client:
                response = await client.get(self._url)
        except httpx.HTTPError as exc:
            outcome = transport_outcome(0, exc, self._where)
            raise ClarionError(outcome.detail) from None
        text = response.text.strip()[:200] if response.content else response.reason_phrase
        if response.status_code in (404, 410) or response.status_code >= 500:
            raise ClarionError(f"{self._where} answered {response.status_code} {text}")
        return (f"Reached {self._where} over TLS (certificate verified); it answered "
                f"{response.status_code} {text}. Only a real message proves the hook posts.")

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
