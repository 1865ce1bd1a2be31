"""An SMS opt-out as the coordinator meets it (issue 25): a number that texted STOP shows
"Opted out" on its stakeholder with why, the composer never texts it and says why (SMS only:
unreachable; best channel: the next contact point), and lifting it by hand asks first, is
stored at once and can be undone."""

from __future__ import annotations

from datetime import timezone

import pytest
from PySide6.QtCore import Qt

from app.domain.dto import ContactPointData, StakeholderData
from app.mailbox.sms import SmsRecorder
from app.sending.accounts import AccountService
from app.sending.channels.sms import InboundSmsData
from app.sending.secrets import MemorySecretBackend, SecretStore
from ui.models.stakeholders import ContactsModel
from tests.ui.test_ui_composer import refresh

NUMBER = "+12065550101"


@pytest.fixture
def una(services, client_of):
    cid = client_of(services)
    person = services.stakeholders.create(StakeholderData(
        client_id=cid, name="Una User", category="affected_users", timing_need="immediate",
        contacts=(ContactPointData("sms", NUMBER, 1),
                  ContactPointData("email", "una@example.com", 2))))
    account = AccountService(services.store, services.clock,
                             SecretStore(MemorySecretBackend())).create(
        "sms", "Texts", {"base_url": "http://127.0.0.1:9", "account_sid": "AC" + "0" * 32,
                         "from_number": "+12065550100"}, secret="token")
    SmsRecorder(services.store, services.clock, services.events).record(account.id, [
        InboundSmsData("SM" + "1" * 32, NUMBER, "+12065550100", "STOP",
                       services.clock.now().astimezone(timezone.utc))])
    return person


def sms_row(form) -> int:  # type: ignore[no-untyped-def]
    model = form.contacts
    return next(r for r in range(model.rowCount())
                if model.data(model.index(r, 2)) == NUMBER)


def test_the_stakeholder_shows_the_opt_out_and_lifting_it_asks_and_undoes(
        qtbot, window, services, una, monkeypatch):
    window.nav_buttons["stakeholders"].setChecked(True)
    ws = window.stakeholders
    qtbot.waitUntil(lambda: ws.select(una.id))
    form = ws.form
    qtbot.waitUntil(lambda: form.stakeholder is not None and form.stakeholder.id == una.id)
    row = sms_row(form)
    texts = form.contacts.index(row, ContactsModel.TEXTS)
    assert form.contacts.data(texts) == "Opted out"
    assert "replied STOP" in form.contacts.data(texts, Qt.ItemDataRole.ToolTipRole)
    form.contacts_view.selectRow(row)
    assert form.opt_out_button.isEnabled() and form.opt_out_button.accessibleName()
    assert form.opt_out_button.text() == "Text this number again…"
    assert form.opt_out_note.isVisible() and "replied STOP" in form.opt_out_note.text()

    asked: list[str] = []
    monkeypatch.setattr("ui.stakeholders.workspace.confirm_text_again",
                        lambda _p, address, _r: asked.append(address) or False)
    form.opt_out_button.click()                   # the coordinator says no: nothing changes
    assert asked == [NUMBER]
    assert services.stakeholders.get(una.id).contacts[0].opted_out_at is not None
    monkeypatch.setattr("ui.stakeholders.workspace.confirm_text_again", lambda *_a: True)
    form.contacts_view.selectRow(sms_row(form))
    form.opt_out_button.click()
    lifted = next(c for c in services.stakeholders.get(una.id).contacts if c.address == NUMBER)
    assert lifted.opted_out_at is None
    qtbot.waitUntil(lambda: form.contacts.data(
        form.contacts.index(sms_row(form), ContactsModel.TEXTS)) == "")
    ws.undo_stack.undo()
    again = next(c for c in services.stakeholders.get(una.id).contacts if c.address == NUMBER)
    assert again.opted_out_at is not None and "replied STOP" in again.opted_out_reason


def test_the_composer_never_texts_an_opted_out_number_and_says_why(qtbot, window, services,
                                                                  una):
    inc = services.incidents.open(client_id=una.client_id, title="Wi-Fi down",
                                  severity="SEV3", detected_at=services.clock.now())
    window.compose(inc.id)
    composer = window.composer
    composer.channel_combo.setCurrentIndex(composer.channel_combo.findData("sms"))
    refresh(qtbot, composer)
    assert composer.recipients_model.rowCount() == 0
    label = composer.recipients_label.text()
    assert "Una User (opted out of SMS — replied STOP on" in label
    composer.channel_combo.setCurrentIndex(composer.channel_combo.findData("best"))
    refresh(qtbot, composer)
    assert [composer.recipients_model.row_values(r)[3:5]
            for r in range(composer.recipients_model.rowCount())] == \
        [("Email", "una@example.com")]
