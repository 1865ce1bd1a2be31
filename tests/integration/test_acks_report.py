"""The post-incident report's Confirmations (issue 25): who was asked to confirm, who did —
when and how — and who never did. The technical version names everyone; the executive one gives
the figures and sends the reader to the technical one for names."""

from __future__ import annotations

from app.reports.builder import build_report, render_markdown
from app.mailbox.recorder import MailboxRecorder, ReadMail
from tests.integration.test_clocks_service import (  # noqa: F401 - fixtures
    MIN, T0, flush, open_incident, people, queue,
)
from tests.integration.test_mailbox_recorder import (  # noqa: F401 - fixtures
    account_id, answer, deliveries_of,
)


def test_the_report_says_who_confirmed_when_and_how_and_who_never_did(
        store, frozen_clock, incidents, client_id, people, account_id):  # noqa: F811
    incident_id = open_incident(incidents, client_id)
    asked = [people["Eve Exec"], people["Cal Customer"], people["Rex Regulator"]]
    letter = queue(store, frozen_clock, incident_id, "status_update",
                   asked + [people["Ada Ops"]], ask=asked)
    frozen_clock.set(T0 + 5 * MIN)
    assert flush(store, frozen_clock).sent == 4
    sent = deliveries_of(store, letter)
    frozen_clock.set(T0 + 30 * MIN)
    MailboxRecorder(store, frozen_clock).record(account_id, "INBOX", 1, [
        ReadMail(1, answer(sent["Eve Exec"], "Received, thanks")),
        ReadMail(2, answer(sent["Cal Customer"], "OK"))])

    technical = render_markdown(build_report(store, frozen_clock, incident_id, "technical"))
    section = technical.split("### Confirmations", 1)[1].split("###", 1)[0]
    assert "3 people asked to confirm: 2 confirmed, half of them within 20 min of sending. " \
           "1 never did." in section
    rows = {line.split("|")[1].strip(): line for line in section.splitlines()
            if line.startswith("| ") and "Recipient" not in line}
    assert "by email: “Received, thanks”" in rows[next(r for r in rows if r.startswith("Eve"))]
    assert "never" in rows[next(r for r in rows if r.startswith("Rex"))]
    assert not any(r.startswith("Ada") for r in rows)     # not asked, did not confirm

    executive = render_markdown(build_report(store, frozen_clock, incident_id, "executive"))
    section = executive.split("### Confirmations", 1)[1].split("###", 1)[0]
    assert "1 never did (the technical version names them)." in section
    assert "Rex Regulator" not in section
