"""Emailed acknowledgements read from a real IMAP server (issue 25): a private Dovecot
(tests/integration/imap_fixtures.py) holds the answers to a notice Clarion sent. "YES" above the
quoted original confirms; "Yes, but when is the portal back?" confirms and is a reply to read; an
out-of-office that happens to begin with "OK" never confirms; a later reply from someone who
already confirmed is a reply, not a second confirmation. Where Dovecot cannot start, the test
skips and says why."""

from __future__ import annotations

from imap_fixtures import imap_fixture, imap_server_fixture  # noqa: F401 - fixtures
from sqlalchemy import select

from app.domain.enums import TimelineKind
from app.domain.models import InboundMail, Incident
from app.mailbox.reader import check_account
from app.mailbox.replies import RepliesService
from tests.integration.test_clocks_service import (  # noqa: F401 - fixtures
    MIN, T0, clocks, hipaa_client, people,
)
from tests.integration.test_mailbox_imap import as_if_about, imap_account
from tests.integration.test_mailbox_recorder import (  # noqa: F401 - fixtures
    answer, deliveries_of, entries, sent_letter,
)

QUOTE = ("\n\nOn Mon, Dec 7, 2026 at 10:00 AM Harbor IT <desk@example.test> wrote:\n"
         "> Hello,\n>\n> The patient portal is back.\n>\n> Please reply YES to confirm you "
         "received this.\n")


def change_seq(store, incident_id: int) -> int:  # type: ignore[no-untyped-def]
    with store.reading() as session:
        return session.get(Incident, incident_id).change_seq


def test_yes_confirms_yes_but_is_also_a_reply_and_an_out_of_office_never_confirms(
        store, frozen_clock, sent_letter, imap):  # noqa: F811
    incident_id, letter = sent_letter
    sent = deliveries_of(store, letter)
    cal, lee = sent["Cal Customer"], sent["Lee Legal"]
    account = imap_account(store, frozen_clock, imap)

    imap.deliver(answer(cal, "OK - I am out of the office until Monday with limited access "
                             "to email.", auto=True))
    first = check_account(store, frozen_clock, account, imap.password)
    assert [r.kind for r in first.recorded] == ["auto_reply"]
    assert deliveries_of(store, letter)["Cal Customer"].acknowledged_at is None
    assert not entries(store, incident_id, TimelineKind.DELIVERY_ACKNOWLEDGED)

    before = change_seq(store, incident_id)
    imap.deliver(answer(lee, "YES" + QUOTE))
    imap.deliver(answer(cal, "Yes, but when is the portal back for the Tacoma clinic?" + QUOTE))
    second = check_account(store, frozen_clock, account, imap.password)
    assert second.error == ""
    assert [(r.kind, r.delivery_id, r.acknowledged) for r in second.recorded] == \
        [("ack", lee.id, True), ("reply", cal.id, True)]
    after = deliveries_of(store, letter)
    # when: the answer's own Date (answer() dates it T0 + 25 min); how; the words, one line
    assert (after["Lee Legal"].acknowledged_at, after["Lee Legal"].ack_via,
            after["Lee Legal"].ack_text) == (T0 + 25 * MIN, "email", "YES")
    assert after["Cal Customer"].ack_via == "email"
    assert after["Cal Customer"].ack_text == \
        "Yes, but when is the portal back for the Tacoma clinic?"
    acks = entries(store, incident_id, TimelineKind.DELIVERY_ACKNOWLEDGED)
    assert [e.data["delivery_id"] for e in acks] == [lee.id, cal.id]
    assert acks[0].summary == "Confirmed received: Lee Legal by email — “YES”"
    assert change_seq(store, incident_id) > before
    # only the question is a reply to deal with; the plain YES is kept as a confirmation
    replies = RepliesService(store, frozen_clock).list(incident_id)
    assert [(r.kind, r.delivery_id) for r in replies] == [("reply", cal.id)]
    assert replies[0].text == "Yes, but when is the portal back for the Tacoma clinic?"
    assert [r.delivery_id for r in RepliesService(store, frozen_clock).list(
        incident_id, kinds=("ack",))] == [lee.id]

    # Gmail's real reply form, "Confirmed, we received the notice…" and a request: from
    # someone who already confirmed it is a reply, and no second confirmation
    imap.deliver(as_if_about("gmail_reply.eml",
                             {"<dlv.f90a1b.gmail-reply@clarion.test>": lee.email_message_id}))
    third = check_account(store, frozen_clock, account, imap.password)
    assert [(r.kind, r.acknowledged) for r in third.recorded] == [("reply", False)]
    assert len(entries(store, incident_id, TimelineKind.DELIVERY_ACKNOWLEDGED)) == 2
    assert deliveries_of(store, letter)["Lee Legal"].ack_text == "YES"
    with store.reading() as session:
        kinds = sorted(session.scalars(select(InboundMail.kind)))
    assert kinds == ["ack", "auto_reply", "reply", "reply"]
    # nothing is read twice, and the mailbox is untouched
    assert check_account(store, frozen_clock, account, imap.password).read == 0
    assert imap.flags() == [set(), set(), set(), set()]


def test_clarion_replies_says_who_confirmed_and_who_has_not_as_a_process(tmp_path, imap):
    import json

    from app.clock import SystemClock
    from app.config import AppConfig
    from app.incidents.lifecycle import IncidentService
    from app.stakeholders.clients import ensure_default_organisation
    from app.storage import Store
    from tests.integration.test_clocks_service import add_person, flush, open_incident, queue
    from tests.integration.test_mailbox_imap import clarion

    config = AppConfig.from_env({"CLARION_DATA_DIR": str(tmp_path)})
    config.ensure_dirs()
    store = Store.open(config.db_path)
    clock = SystemClock()
    try:
        client = ensure_default_organisation(store, clock)
        eve = add_person(store, clock, client.id, "Eve Exec", "executives")
        finn = add_person(store, clock, client.id, "Finn Finance", "executives")
        ivan = add_person(store, clock, client.id, "Ivan Ops", "it_staff_msp")
        incidents = IncidentService(store, clock, actor="Test Coordinator")
        incident_id = open_incident(incidents, client.id)
        letter = queue(store, clock, incident_id, "status_update", [eve, finn, ivan],
                       ask=[eve, finn])
        flush(store, clock)
        sent = deliveries_of(store, letter)
        account = imap_account(store, clock, imap)
    finally:
        store.dispose()
    imap.deliver(answer(sent["Eve Exec"], "Confirmed." + QUOTE))
    check = clarion(tmp_path, account.id, imap.password, "mailbox", "check")
    assert check.returncode == 0, check.stderr
    assert "Confirmed received: Eve Exec by email — “Confirmed.”" in check.stdout

    listed = clarion(tmp_path, account.id, imap.password, "replies", str(incident_id))
    assert listed.returncode == 0, listed.stderr
    assert "Mail relay down: 0 open replies\n" in listed.stdout
    assert "Mail relay down: 1 of 2 asked confirmed, 1 not yet\n" in listed.stdout
    assert "  confirmed    Eve Exec <" in listed.stdout and " by email — “Confirmed.”" \
        in listed.stdout
    assert "  not yet      Finn Finance <" in listed.stdout
    assert "Ivan Ops" not in listed.stdout          # not asked, did not confirm
    acks = json.loads(clarion(tmp_path, account.id, imap.password, "replies", str(incident_id),
                              "--acks", "--json").stdout)
    assert [(a["recipient"], a["asked"], a["confirmed"], a["via"], a["silent"])
            for a in acks] == [("Eve Exec", True, True, "email", False),
                               ("Finn Finance", True, False, "", True)]
