"""Acknowledgement marks (issue 25): a delivery asked to confirm shows "waiting" in the Outbox
and the message view until its reader's YES is read from the mailbox, then who confirmed, when
and how — live in the Outbox, and the message's own row counts them."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select, update

from app.domain.dto import ContactPointData, StakeholderData
from app.domain.enums import DeliveryState, Phase
from app.domain.models import Delivery
from app.mailbox.recorder import MailboxRecorder, ReadMail
from ui.composer.message_view import MessageView, RecipientModel
from ui.models.outbox import OutboxModel


@pytest.fixture
def notice(services, client_of):
    """A resolution notice to two executives, both asked to confirm, sent."""
    from app.messages.composer import Sender, queue_message
    from app.messages.library import builtin_templates
    from app.stakeholders.clients import list_clients
    from app.stakeholders.recipients import resolve_recipients

    cid = client_of(services)
    for name, address in (("Eve Exec", "eve@example.com"), ("Finn Finance", "finn@example.com")):
        services.stakeholders.create(StakeholderData(
            client_id=cid, name=name, category="executives",
            contacts=(ContactPointData("email", address, 1),)))
    inc = services.incidents.open(client_id=cid, title="Payroll down", severity="SEV2",
                                  detected_at=services.clock.now())
    services.incidents.move_phase(inc.id, Phase.RESOLVED)
    people = resolve_recipients(services.store, cid, categories=["executives"])
    queued = queue_message(services.store, services.clock, services.events,
                           incident=services.incidents.get(inc.id),
                           client=list_clients(services.store)[0],
                           template_type="resolution_notice", templates=builtin_templates(),
                           recipients=people, sender=Sender("Tess", "Harbor IT"),
                           inputs={"root_cause_summary": ""},
                           ask_to_confirm={r.stakeholder_id for r in people.recipients})
    with services.store.session() as s, s.begin():
        s.execute(update(Delivery).values(state=DeliveryState.SENT,
                                          sent_at=services.clock.now()))
    from app.sending.accounts import AccountService
    from app.sending.secrets import MemorySecretBackend, SecretStore

    AccountService(services.store, services.clock, SecretStore(MemorySecretBackend())).create(
        "email", "Desk", {"host": "smtp.example.com", "from_address": "desk@example.com",
                          "username": "desk@example.com"},
        secret="pw")   # the mailbox's account (inbound_mail names it)
    return queued.message_id


def reply(services, name: str, text: str, uid: int) -> None:
    with services.store.reading() as s:
        d = s.scalars(select(Delivery).where(Delivery.recipient_name == name)).one()
        address, subject, message_id = d.address, d.subject, d.email_message_id
    mail = EmailMessage()
    mail["From"], mail["To"] = f"{name} <{address}>", "desk@example.com"
    mail["Subject"], mail["Message-ID"] = f"Re: {subject}", f"<r{uid}@example.com>"
    mail["In-Reply-To"] = mail["References"] = message_id
    mail.set_content(text + "\n\nOn Mon, Tess wrote:\n> The incident is resolved.\n")
    result = MailboxRecorder(services.store, services.clock, services.events).record(
        1, "INBOX", 7, [ReadMail(uid, mail.as_bytes(policy=email.policy.SMTP))])
    assert [r.acknowledged for r in result.recorded] == [True]


def cells(model: OutboxModel) -> dict[str, tuple[str, str]]:
    message = model.index(0, 0)
    return {model.data(model.index(r, 0, message)):
            (model.data(model.index(r, OutboxModel.CONFIRMED, message)),
             model.data(model.index(r, OutboxModel.CONFIRMED, message),
                        Qt.ItemDataRole.ForegroundRole).name())
            for r in range(model.rowCount(message))}


def test_the_outbox_marks_who_confirmed_live(qtbot, window, services, notice):
    window.nav_buttons["outbox"].setChecked(True)
    outbox = window.outbox
    outbox.reload()
    qtbot.waitUntil(lambda: outbox.model.delivery_count() == 2)
    assert cells(outbox.model) == {"Eve Exec": ("waiting", "#8a6d00"),
                                   "Finn Finance": ("waiting", "#8a6d00")}
    assert outbox.model.data(outbox.model.index(0, OutboxModel.CONFIRMED)) == \
        "0 of 2 asked confirmed"
    reply(services, "Eve Exec", "Yes, thanks", 1)
    qtbot.waitUntil(lambda: cells(outbox.model)["Eve Exec"][0].startswith("✓ "))
    mark, colour = cells(outbox.model)["Eve Exec"]
    assert mark.endswith(" by email") and colour == "#2e7d32"
    assert cells(outbox.model)["Finn Finance"][0] == "waiting"
    assert outbox.model.data(outbox.model.index(0, OutboxModel.CONFIRMED)) == \
        "1 of 2 asked confirmed"


def test_the_message_view_says_who_confirmed_when_and_how(qtbot, window, services, notice):
    reply(services, "Finn Finance", "Received", 2)
    view = MessageView(services, notice, None, window)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.message is not None)
    assert "1 of 2 asked confirmed" in view.header.text()
    model = view.recipients
    shown = {model.data(model.index(r, RecipientModel.NAME)):
             model.data(model.index(r, RecipientModel.CONFIRMED))
             for r in range(model.rowCount())}
    assert shown["Eve Exec"] == "waiting"
    assert shown["Finn Finance"].startswith("✓ ") and shown["Finn Finance"].endswith("by email")
    # the time is the client's zone, like the Sent column
    assert shown["Finn Finance"].split(" ")[3] == \
        model.data(model.index(1 if model.data(model.index(1, 0)) == "Finn Finance" else 0,
                               RecipientModel.SENT)).split(" ")[2]


def test_a_confirmation_by_phone_is_marked_by_hand_and_signed(qtbot, window, services, notice):
    view = MessageView(services, notice, None, window)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.message is not None)
    model = view.recipients
    eve = next(r for r in range(model.rowCount())
               if model.data(model.index(r, RecipientModel.NAME)) == "Eve Exec")
    view.recipient_view.selectRow(view.recipient_proxy.mapFromSource(model.index(eve, 0)).row())
    qtbot.waitUntil(lambda: view.current_recipient() is not None
                    and view.current_recipient().name == "Eve Exec")
    assert view.confirm_button.isEnabled() and view.confirm_button.accessibleName()
    dialog = view.confirm_by_hand()
    qtbot.waitUntil(dialog.isVisible)
    dialog.accept()                                   # no words: refused, nothing stored
    assert dialog.isVisible() and "Say how they confirmed" in dialog.error.text()
    with services.store.reading() as s:
        assert s.scalars(select(Delivery.acknowledged_at).where(
            Delivery.recipient_name == "Eve Exec")).one() is None
    dialog.edit.setText("Phoned at 10:40; she has it")
    dialog.accept()
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: model.rowCount() and (model.data(model.index(
        next(r for r in range(model.rowCount())
             if model.data(model.index(r, RecipientModel.NAME)) == "Eve Exec"),
        RecipientModel.CONFIRMED)) or "").endswith("noted by the coordinator"))
    assert not view.confirm_button.isEnabled()
    assert "1 of 2 asked confirmed" in view.header.text()
    entry = [e for e in services.incidents.timeline(
        services.incidents.list()[0].id) if e.kind == "delivery_acknowledged"][-1]
    assert entry.summary == ("Confirmed received: Eve Exec noted by the coordinator — "
                             "Phoned at 10:40; she has it")
    assert entry.actor == services.incidents.actor.name
