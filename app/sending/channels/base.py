"""What the outbox hands a channel, what a channel answers, and the protocol between them.
Channels know nothing of the database: they get frozen messages and report outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Protocol, Sequence

# What happened to one delivery on this attempt:
SENT = "sent"                # accepted by the server / provider
TRANSIENT = "transient"      # try again later (4xx, network error, 429, timeout before sending)
PERMANENT = "permanent"      # this recipient will never work (5xx, bad number)
UNKNOWN = "unknown"          # may or may not have gone out (connection lost after DATA, timeout
                             # after the request was sent): never retried blindly for SMS
AUTH_FAILED = "auth_failed"  # the account's credentials were refused: stop its queue
OUTCOMES = (SENT, TRANSIENT, PERMANENT, UNKNOWN, AUTH_FAILED)


@dataclass(frozen=True)
class AccountDTO:
    id: int
    kind: str                       # email | sms | slack | teams | webhook | drill
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    is_default: bool = False
    paused_reason: str = ""


@dataclass(frozen=True)
class OutgoingMessage:
    """One delivery's fixed bytes, as queued."""
    delivery_id: int
    channel: str                    # email | sms | ...
    address: str
    recipient_name: str
    subject: str
    text: str
    html: str
    email_message_id: str           # kept on every retry: receivers can de-duplicate
    idempotency_key: str
    attempts: int = 0               # attempts made before this one
    is_drill: bool = False
    wire: bytes = b""               # what goes out, as stored at the first claim (freeze);
                                    # empty: build it from the texts above


@dataclass(frozen=True)
class SendOutcome:
    delivery_id: int
    result: str                     # one of OUTCOMES
    detail: str = ""                # the server's own words (e.g. "550 5.1.1 no such user")
    provider_id: str = ""           # e.g. the SMS provider's message sid
    retry_after: float | None = None  # seconds, when the server said how long to wait
    # the provider refuses the number because its owner opted out (Twilio 21610, a STOP
    # reply): the outbox marks that number's SMS contact points opted out
    opted_out: bool = False


def exception_chain(exc: BaseException):  # type: ignore[no-untyped-def]
    """The exception and those behind it (__cause__ / __context__), each once: libraries wrap
    TLS errors in their own connect errors."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        current = current.__cause__ or current.__context__


# Awaited by a sender just before a message's first byte goes to the network (after its
# connection is ready): the outbox commits that the message's transmission starts, so that a
# crash from then on leaves it `unknown` and before it, queued. False: the outbox withholds
# it (sending stops) — send nothing of it, report nothing for it, take no further message.
# A sender has at most `in_flight` messages begun and unanswered at a time (the outbox marks
# no more than twice that many ahead, so a sender that begins more without answering waits).
Begin = Callable[[int], Awaitable[bool]]


async def go_ahead(delivery_id: int) -> bool:
    """The Begin of a caller that keeps no start marks (a connection test, a tool)."""
    return True


class Sender(Protocol):
    """A channel bound to one account (and its secret)."""

    # how many messages it may have on the wire at once (connections, requests in flight)
    in_flight: int   # 0: it puts nothing on a wire (the drill inbox): no start marks

    async def send(self, messages: Sequence[OutgoingMessage],
                   on_outcome: Callable[[SendOutcome], None],
                   begin: Begin = go_ahead) -> None:
        """Send every message, calling on_outcome once per message as each completes, and
        awaiting begin(delivery_id) before each one's first byte goes out (see Begin).
        Must not raise for per-message problems; report them as outcomes."""

    def freeze(self, message: OutgoingMessage, now: datetime) -> bytes | None:
        """The exact bytes this channel puts on the wire for the message (an email's MIME
        with Date: now, an SMS's request form, a webhook's JSON body), stored at the first
        claim and sent as they are on every attempt. None: the message cannot be built (send
        reports why, as a PERMANENT outcome). No I/O: it runs in the claim's transaction."""

    async def test_connection(self) -> str:
        """Connect (and log in) without sending; return the server's answer, raise with it."""

    async def aclose(self) -> None: ...
