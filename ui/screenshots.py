"""Screens saved as PNGs (packaging/screenshot.sh runs this under Xvfb on the demo)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication, QWidget


def _save(widget: QWidget, path: Path, saved: list[Path]) -> None:
    # Widgets just added to a visible layout are shown by a queued call: let it run. Then flush
    # pending layout requests (a scroll area fits its page after its scroll bars settle).
    QApplication.processEvents()
    for _ in range(3):
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    widget.grab().save(str(path), "PNG")
    saved.append(path)


async def _send_while_photographed(window, path: Path, saved: list[Path]) -> None:  # type: ignore[no-untyped-def]
    """Flush the outbox, taking the picture while its round is out: the deliveries are claimed
    (`sending`, committed) and the drill inbox holds its answer until the picture is taken, as
    a slow relay would."""
    import asyncio

    outbox = window.services.outbox
    resolve = outbox.resolve_sender
    out, release = asyncio.Event(), asyncio.Event()

    class Held:  # the account's sender, answering once released
        def __init__(self, sender) -> None:  # type: ignore[no-untyped-def]
            self.sender = sender

        async def send(self, messages, on_outcome, *begin) -> None:  # type: ignore[no-untyped-def]
            out.set()
            await release.wait()
            await self.sender.send(messages, on_outcome, *begin)

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(self.sender, name)

    def holding(channel: str, drill: bool):  # type: ignore[no-untyped-def]
        found = resolve(channel, drill)
        return None if found is None else (found[0], Held(found[1]))

    outbox.resolve_sender = holding
    try:
        flush = asyncio.ensure_future(outbox.flush())
        await asyncio.wait({flush, asyncio.ensure_future(out.wait())},
                           return_when=asyncio.FIRST_COMPLETED)
        window.outbox.reload()
        window.update_outbox_status()
        _save(window, path, saved)
        release.set()
        await flush
    finally:
        outbox.resolve_sender = resolve


def _wait_until(condition, ms: int = 5000) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QDeadlineTimer

    deadline = QDeadlineTimer(ms)
    while not condition() and not deadline.hasExpired():
        QApplication.processEvents()
        QApplication.sendPostedEvents()


def _wait_for(signal, ms: int = 5000) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _incident_clocks(window, path: Path, saved: list[Path]) -> None:  # type: ignore[no-untyped-def]
    """The demo's breach incident: its HIPAA and Washington clocks running from the recorded
    discovery, and what the escalation rules propose (the running app's notifier records those
    within a second of start-up; here it is done directly)."""
    from ui.models.incidents import INCIDENT_ROLE

    window.services.clocks.fire_escalations()
    window.services.clocks.fire_unconfirmed()
    ws = window.incidents
    for r in range(ws.proxy.rowCount()):
        incident = ws.proxy.data(ws.proxy.index(r, 0), INCIDENT_ROLE)
        if incident.impact_regulatory:
            ws.table.selectRow(r)
            break
    panel = ws.view.clocks
    panel.refresh()
    _wait_for(panel.evaluated)
    regulatory = [row for row in panel.rows() if row.kind == "regulatory"]
    if regulatory:
        panel.select("regulatory", regulatory[0].key)
    _save(window, path, saved)
    ws.table.selectRow(0)


def _incident_replies(window, path: Path, saved: list[Path]) -> None:  # type: ignore[no-untyped-def]
    """The demo incident's Replies tab: what came back from its mailbox, the out-of-office
    included (the demo reads them in as a mailbox read would: app/demo/mail.py)."""
    view = window.incidents.view
    window.incidents.table.selectRow(0)
    view.tabs.setCurrentWidget(view.replies.parentWidget())
    view.replies.refresh()
    kinds = view.replies.kind_filter
    kinds.setCurrentIndex(kinds.count() - 1)          # everything
    _wait_until(lambda: view.replies.model.rowCount() > 0)
    view.replies.view.selectRow(0)
    _save(window, path, saved)
    kinds.setCurrentIndex(0)
    view.tabs.setCurrentIndex(0)


def _confirmations(window, path: Path, saved: list[Path]) -> None:  # type: ignore[no-untyped-def]
    """A message that asked its readers to confirm (the demo's breach escalation notice): who
    did, when and how, and who has not."""
    from app.messages.sent import list_messages
    from ui.composer.message_view import open_message

    store = window.services.store
    asked = max((m for inc in window.services.incidents.list()
                 for m in list_messages(store, inc.id)), key=lambda m: m.asked, default=None)
    if asked is None or not asked.asked:
        return
    message = open_message(window, window.services, asked.id)
    _wait_until(lambda: message.message is not None)
    for row, variant in enumerate(message.message.variants):   # a variant that asked
        if any(r.ack_requested for r in variant.recipients):
            message.variant_view.selectRow(row)
            break
    _save(message, path, saved)
    message.close()


def _opted_out(window, path: Path, saved: list[Path]) -> None:  # type: ignore[no-untyped-def]
    """A stakeholder whose SMS number texted STOP (the demo's front desk): never texted, why,
    and the button that lifts it."""
    ws = window.stakeholders
    found = next((s for s in window.services.stakeholders.list()
                  if any(c.opted_out_at for c in s.contacts)), None)
    if found is None or not ws.select(found.id, switch_to_table=False):
        return
    form = ws.form
    _wait_until(lambda: form.stakeholder is not None and form.stakeholder.id == found.id)
    for row in range(form.contacts.rowCount()):
        contact = form.contacts.contact_at(row)
        if contact is not None and contact.opted_out_at is not None:
            form.contacts_view.selectRow(row)
    _save(window, path, saved)


def _post_incident(window, path: Path, saved: list[Path]) -> None:  # type: ignore[no-untyped-def]
    """The post-incident section of the demo's first incident, with a remediation plan."""
    from datetime import timedelta

    view = window.incidents.view
    post = window.services.postincident
    incident = view.incident
    today = window.services.clock.now().date()
    for text, owner, days in (
            ("Roll back the identity provider's signing certificate", "Ben Ortiz", 0),
            ("Alert 30 days before any signing certificate expires", "Alex Novak", 10),
            ("Add certificate rotation to the change checklist", "Laura Chen", 21)):
        post.add_item(incident.id, text, owner, today + timedelta(days=days))
    dialog = view.open_post_incident()
    dialog.tabs.setCurrentIndex(1)
    dialog.remediation_view.selectRow(1)
    _save(dialog, path, saved)
    dialog.close()


def take_screenshots(window, folder: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    _save(window, folder / "incidents.png", saved)
    size = window.size()
    for width, height in ((1366, 768 - 30), (1920, 1080 - 30)):   # a laptop, a desktop
        window.resize(width, height)
        _save(window, folder / f"incident-{width}x{height + 30}.png", saved)
    window.resize(size)
    _incident_clocks(window, folder / "incident-clocks.png", saved)
    _incident_replies(window, folder / "incident-replies.png", saved)
    _post_incident(window, folder / "post-incident.png", saved)
    dialog = window.new_incident()
    dialog.title_edit.setText("📧 Email delivery delayed for all staff ⚠️")  # emoji too
    _save(dialog, folder / "new-incident.png", saved)
    dialog.reject()

    window.nav_buttons["stakeholders"].setChecked(True)
    ws = window.stakeholders
    _save(window, folder / "stakeholders-table.png", saved)
    if ws.map is not None:
        ws.tabs.setCurrentWidget(ws.map)
        _save(window, folder / "stakeholders-map.png", saved)
        ws.tabs.setCurrentIndex(0)
    _opted_out(window, folder / "stakeholder-opted-out.png", saved)
    ws.edit_organisation()
    _save(ws.organisation_dialog, folder / "organisation.png", saved)
    ws.organisation_dialog.reject()
    ws.edit_groups()
    _save(ws.groups_dialog, folder / "groups.png", saved)
    ws.groups_dialog.reject()

    window.compose(None, "resolution_notice")   # its inputs: the cause, under its label
    _wait_until(lambda: window.composer.settled)   # the preview renders on a worker thread
    _save(window, folder / "composer-resolution.png", saved)
    window.compose()  # the demo incident: a status update to its immediate and rapid people
    _wait_until(lambda: window.composer.settled)
    _save(window, folder / "composer.png", saved)
    library = window.composer.open_library()
    library.select_key("status_update/operational/email")
    _save(library, folder / "template-library.png", saved)
    library.reject()

    # Queue the status update and let the drill inbox carry it (no account in the demo).
    import asyncio

    from ui.models.outbox import DTO_ROLE

    from app.messages.composer import queue_message
    from app.stakeholders.clients import list_clients

    composer = window.composer
    incident = composer.incident()
    client = next(c for c in list_clients(window.services.store) if c.id == incident.client_id)
    queue_message(window.services.store, window.services.clock, window.services.events,
                  incident=incident, client=client, template_type=composer.type_combo.currentData(),
                  templates=composer.templates, recipients=composer.recipients,
                  sender=composer.sender(incident), actor=window.services.incidents.actor)
    window.nav_buttons["outbox"].setChecked(True)
    asyncio.run(_send_while_photographed(window, folder / "outbox-sending.png", saved))
    window.outbox.reload()
    window.update_outbox_status()
    outbox = window.outbox
    first = outbox.proxy.index(0, 0)
    outbox.tree.setCurrentIndex(outbox.proxy.index(0, 0, first))  # the preview shows its copy
    _save(window, folder / "outbox.png", saved)
    from ui.composer.message_view import open_message

    message = open_message(window, window.services, first.data(DTO_ROLE).message_id)
    _wait_until(lambda: message.message is not None)
    _save(message, folder / "message.png", saved)
    message.show_source()
    _save(message, folder / "message-source.png", saved)
    message.close()
    _confirmations(window, folder / "message-confirmations.png", saved)
    accounts = window.edit_accounts()
    accounts.start_new("email")  # the form a coordinator fills for the organisation's relay
    accounts.name_edit.setText("Service desk relay")
    for key, value in (("host", "smtp.harbor-health.example"), ("username", "incident-desk"),
                       ("from_address", "incidents@harbor-health.example"),
                       ("from_name", "Harbor Health IT Service Desk")):
        accounts.widgets[key].setText(value)
    _save(accounts, folder / "accounts.png", saved)
    accounts.reject()
    # who is at the desk: the first-run bar (as a new database shows it) and a shift change
    bar = window.desk_bar
    bar.name_edit.setText("Dana Brooks")
    bar.show()
    _save(window, folder / "desk-bar.png", saved)
    bar.hide()
    switch = window.switch_coordinator()
    _save(switch, folder / "switch-coordinator.png", saved)
    switch.reject()
    from ui.incidents.incident_view import FinalStatusDialog

    window.nav_buttons["incidents"].setChecked(True)
    resolve = FinalStatusDialog(window, window.incidents.view.final_status_proposal())
    resolve.show()
    _save(resolve, folder / "resolve-question.png", saved)
    resolve.close()
    people = window.edit_coordinators()
    _save(people, folder / "coordinators.png", saved)
    people.reject()
    rules = window.open_clock_rules()
    rules.tabs.setCurrentWidget(rules.cadence)
    _save(rules, folder / "clock-rules-cadence.png", saved)
    rules.tabs.setCurrentWidget(rules.escalation)
    rules.escalation.select("sev1_unresolved_60")
    _save(rules, folder / "clock-rules.png", saved)
    rules.tabs.setCurrentWidget(rules.confirmations)
    _save(rules, folder / "clock-rules-confirmations.png", saved)
    rules.reject()
    guide = window.show_guide()          # Help → Your first incident
    _save(guide, folder / "guide.png", saved)
    guide.close()
    keys = window.show_shortcuts()
    _save(keys, folder / "shortcuts.png", saved)
    keys.reject()
    zone = window.choose_time_zone()     # the coordinator's zone, for times across clients
    zone.combo.setEditText("Europe/Berlin")
    _save(zone, folder / "time-zone.png", saved)
    zone.reject()
    for path in saved:
        print(f"saved {path}")
    return saved
