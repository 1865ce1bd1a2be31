"""The Composer workspace: incident → template type → audience, the four detail levels side by
side (email and SMS each), linted as they change, then "Queue" writes the message and its
deliveries to the outbox and the incident's timeline."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
    QLineEdit, QListView, QMessageBox, QPlainTextEdit, QPushButton, QScrollArea, QSplitter,
    QTableView,
    QVBoxLayout, QWidget,
)

from app.acks.policy import AckPolicies, asked_categories
from app.stakeholders.clients import list_clients
from app.messages.composer import (
    VARIABLES_HELP, Rendered, Sender, already_sent, build_context,
    example_value, propose_audience, queue_message, recent_message_counts, recipient_context,
    render_preview,
)
from app.domain.dto import IncidentDTO, RecipientList
from app.domain.enums import Category, DetailLevel, Phase, TimingNeed
from app.errors import ClarionError, ValidationError
from app.messages.lint.linter import LintContext, lint
from app.stakeholders.recipients import resolve_recipients
from app.messages.library import TYPE_LABELS, TYPES, effective_templates
from app.timefmt import coordinator_zone
from ui.composer.variant import VariantPanel
from ui.models.base import TextTableModel
from ui.services import Services
from ui.widgets.forms import NoticeLabel, named

ID_ROLE = Qt.ItemDataRole.UserRole + 1
RECENT_WINDOW_MINUTES = 60  # over-communication: messages per recipient in this window
CHANNEL_MODES = (("best", "Best channel of each person (email or SMS)"),
                 ("email", "Email only"), ("sms", "SMS only"), ("both", "Email and SMS"))
# whom "Ask to confirm" asks: the categories the acknowledgement policy names for this type
# (Clock rules → Confirmations), or everyone in the audience
ASK_POLICY, ASK_EVERYONE = "policy", "everyone"


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _check_list(name: str, accessible: str) -> tuple[QListView, QStandardItemModel]:
    model = QStandardItemModel()
    view = named(QListView(), name, accessible)
    view.setModel(model)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return view, model


LONG_INPUT = 60   # an input whose example is longer gets a box that wraps

class ComposerWorkspace(QWidget):
    queued = Signal(int)  # message id
    rendered = Signal()   # the preview shows the latest state

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ui.worker import Worker

        self.worker = Worker(self)
        self.worker.finished.connect(self._queued)
        self.worker.failed.connect(self._queue_failed)
        # the preview renders on its own worker: a heavy template never stops the window
        self.render_worker = Worker(self)
        self.render_worker.finished.connect(self._rendered)
        self.render_worker.failed.connect(self._render_failed)
        self._render_next: dict[str, Any] | None = None   # a newer state, waiting its turn
        self._queue_when_rendered = False   # Queue pressed: queue once the preview is current
        self.services = services
        self.setObjectName("composerWorkspace")
        self.templates = {}
        self.recipients = RecipientList(())
        self.avoid: dict[int, set[str]] = {}   # stakeholder -> addresses not to use again
        self._filling = False
        self.pending_escalation: tuple[int, str] | None = None
        self._queue_escalation: tuple[int, str] | None = None

        # -- left: what and to whom
        self.incident_combo = named(QComboBox(), "composerIncidentCombo", "Incident")
        self.type_combo = named(QComboBox(), "composerTypeCombo", "Template type")
        for t in TYPES:
            self.type_combo.addItem(TYPE_LABELS[t], t)
        self.channel_combo = named(QComboBox(), "composerChannelCombo", "Channels")
        for value, label in CHANNEL_MODES:
            self.channel_combo.addItem(label, value)
        self.ack_policies: dict[str, Any] = {}
        self.ask_check = named(QCheckBox("Ask to &confirm — reply YES"), "askToConfirmCheck",
                               "Ask to confirm",
                               "The message asks its readers to reply YES; Clarion marks who "
                               "did and proposes to chase who did not")
        self.ask_scope = named(QComboBox(), "askScopeCombo", "Who is asked to confirm")
        self.ask_scope.addItem("the categories the policy names", ASK_POLICY)
        self.ask_scope.addItem("everyone in this audience", ASK_EVERYONE)
        self.ask_label = QLabel()
        self.ask_label.setObjectName("askToConfirmLabel")
        self.ask_label.setWordWrap(True)
        self.propose_button = named(QPushButton("Propose audience"), "proposeAudienceButton",
                                    "Propose the audience for this type and phase")
        self.library_button = named(QPushButton("Templates…"), "templateLibraryButton",
                                    "Edit the template library")
        self.sent_button = named(QPushButton("Sent messages…"), "sentMessagesButton",
                                 "What this incident has sent so far, each message as it went")
        self.proposal_label = QLabel()
        self.proposal_label.setObjectName("proposalLabel")
        self.proposal_label.setWordWrap(True)
        self.category_view, self.category_model = _check_list("audienceCategories",
                                                              "Audience: categories")
        for c in Category:
            item = QStandardItem(c.label)
            item.setCheckable(True)
            item.setData(c.value, ID_ROLE)
            self.category_model.appendRow(item)
        self.timing_view, self.timing_model = _check_list("audienceTimings",
                                                          "Audience: timing needs")
        for t in TimingNeed:
            item = QStandardItem(t.label)
            item.setCheckable(True)
            item.setData(t.value, ID_ROLE)
            self.timing_model.appendRow(item)
        self.group_view, self.group_model = _check_list("audienceGroups", "Audience: groups")
        self.people_view, self.people_model = _check_list("audiencePeople",
                                                          "Audience: hand-picked people")
        for view in (self.category_view, self.timing_view, self.group_view):
            view.setMaximumHeight(150)
        self.people_view.setMaximumHeight(130)
        self.inputs_box = QGroupBox("This template asks for")
        self.inputs_box.setObjectName("templateInputsGroup")
        self.inputs_form = QFormLayout(self.inputs_box)
        # a label above its field: long labels ("Cause, in one or two sentences…") no longer
        # squeeze the field to a few characters
        self.inputs_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        self.inputs_form.setFieldGrowthPolicy(
            QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.input_edits: dict[str, QLineEdit | QPlainTextEdit] = {}

        form = QFormLayout()
        incident_row = QHBoxLayout()
        incident_row.addWidget(self.incident_combo, 1)
        incident_row.addWidget(self.sent_button)
        incident_label = QLabel("&Incident")
        incident_label.setBuddy(self.incident_combo)
        form.addRow(incident_label, incident_row)
        type_row = QHBoxLayout()
        type_row.addWidget(self.type_combo, 1)
        type_row.addWidget(self.library_button)
        type_label = QLabel("&Type")
        type_label.setBuddy(self.type_combo)
        form.addRow(type_label, type_row)
        form.addRow("C&hannels", self.channel_combo)
        ask_row = QHBoxLayout()
        ask_row.addWidget(self.ask_check)
        ask_row.addWidget(self.ask_scope, 1)
        form.addRow("Confirmation", ask_row)
        form.addRow("", self.ask_label)
        audience = QGroupBox("Audience — anyone in a ticked category, timing need or group")
        audience.setObjectName("audienceGroup")
        a = QVBoxLayout(audience)
        row = QHBoxLayout()
        row.addWidget(self.propose_button)
        row.addStretch(1)
        a.addLayout(row)
        a.addWidget(self.proposal_label)
        lists = QHBoxLayout()
        for title, view in (("Categories", self.category_view), ("Timing", self.timing_view),
                            ("Groups", self.group_view)):
            col = QVBoxLayout()
            col.addWidget(QLabel(title))
            col.addWidget(view)
            lists.addLayout(col)
        a.addLayout(lists)
        a.addWidget(QLabel("People (hand-picked, in addition)"))
        a.addWidget(self.people_view)
        self.variables_model = TextTableModel(("Variable", "Meaning", "Here"))
        self.variables_view = named(QTableView(), "variablesTable", "Template variables")
        self.variables_view.setModel(self.variables_model)
        self.variables_view.verticalHeader().hide()
        self.variables_view.horizontalHeader().setStretchLastSection(True)
        self.variables_view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        variables = QGroupBox("Variables available in templates")
        variables.setObjectName("variablesGroup")
        QVBoxLayout(variables).addWidget(self.variables_view)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(form)
        left_layout.addWidget(audience)
        left_layout.addWidget(self.inputs_box)
        left_layout.addWidget(variables, 1)
        left_scroll = QScrollArea()
        left_scroll.setObjectName("composerLeftScroll")
        left_scroll.setWidgetResizable(True)
        left_scroll.setWidget(left)
        left_scroll.setMinimumWidth(380)

        # -- right: recipients and the four variants
        self.recipients_label = QLabel()
        self.recipients_label.setObjectName("recipientsLabel")
        self.recipients_label.setWordWrap(True)
        self.recipients_model = TextTableModel(("Name", "Category", "Detail", "Channel",
                                                "Address", "Confirm"))
        self.recipients_view = named(QTableView(), "recipientsTable", "Recipients")
        self.recipients_view.setModel(self.recipients_model)
        self.recipients_view.verticalHeader().hide()
        self.recipients_view.horizontalHeader().setStretchLastSection(True)
        self.recipients_view.setMaximumHeight(130)
        self.panels = {level.value: VariantPanel(level) for level in DetailLevel}
        variants = QHBoxLayout()
        for panel in self.panels.values():
            variants.addWidget(panel, 1)
            panel.edited.connect(lambda _level: self._relint())
        self.notice = NoticeLabel("composerNotice")
        # the last queued message as it goes out, until the next one starts
        self.cause_button = named(QPushButton("Record as the root cause"),
                                  "recordCauseButton",
                                  "Make the cause this notice gave the post-incident root cause")
        self.cause_button.hide()
        self.cause_button.clicked.connect(self.record_cause)
        self._offered_cause = ""
        self.sent_state = QLabel()
        self.sent_state.setObjectName("composerQueuedState")
        self.sent_state.hide()
        self._queued_signature: tuple | None = None   # what was last queued, unchanged since
        self.queue_button = named(QPushButton("Queue"), "queueMessageButton",
                                  "Queue the message", "Queue for every recipient (Ctrl+Enter)")
        self.queue_button.setDefault(True)
        # said only when a preview takes a while (a heavy template), not on every keystroke
        self.render_state = QLabel("Rendering the preview…")
        self.render_state.setObjectName("renderStateLabel")
        self.render_state.hide()
        self.render_state_timer = QTimer(self)
        self.render_state_timer.setSingleShot(True)
        self.render_state_timer.setInterval(200)
        self.render_state_timer.timeout.connect(self.render_state.show)
        bottom = QHBoxLayout()
        bottom.addWidget(self.notice, 1)
        bottom.addWidget(self.render_state)
        bottom.addWidget(self.cause_button)
        bottom.addWidget(self.sent_state)
        bottom.addWidget(self.queue_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.recipients_label)
        right_layout.addWidget(self.recipients_view)
        right_layout.addLayout(variants, 1)
        right_layout.addLayout(bottom)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("composerSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(left_scroll)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)

        # -- wiring: every change re-renders shortly after (typing stays fluid)
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setSingleShot(True)
        self.refresh_timer.setInterval(120)
        self.refresh_timer.timeout.connect(self.refresh)
        self.incident_combo.currentIndexChanged.connect(lambda _i: self._incident_changed())
        self.type_combo.currentIndexChanged.connect(lambda _i: self._type_changed())
        self.channel_combo.currentIndexChanged.connect(lambda _i: self.schedule())
        self.ask_check.toggled.connect(lambda _on: self._ask_changed())
        self.ask_scope.currentIndexChanged.connect(lambda _i: self._ask_changed())
        for model in (self.category_model, self.timing_model, self.group_model,
                      self.people_model):
            model.itemChanged.connect(lambda _item: self.schedule())
        self.propose_button.clicked.connect(self.propose)
        self.library_button.clicked.connect(self.open_library)
        self.sent_button.clicked.connect(self.open_sent_messages)
        # the last message's state follows the outbox at most every 300 ms (a big send
        # changes it many times a second; each look is one grouped count)
        self.state_timer = QTimer(self)
        self.state_timer.setSingleShot(True)
        self.state_timer.setInterval(300)
        self.state_timer.timeout.connect(self.show_queued_state)
        services.qt_events.outbox_changed.connect(
            lambda _ids: self.sent_state.isVisible() and not self.state_timer.isActive()
            and self.state_timer.start())
        self.queue_button.clicked.connect(self.queue)
        shortcut = QShortcut(QKeySequence("Ctrl+Return"), self)
        shortcut.activated.connect(self.queue)
        shortcut2 = QShortcut(QKeySequence("Ctrl+Enter"), self)
        shortcut2.activated.connect(self.queue)
        services.qt_events.incident_changed.connect(self._incident_updated)
        # Clock rules → Confirmations changed: who a type asks by default, said at once
        services.qt_events.clock_rules_changed.connect(self._policies_changed)
        services.qt_events.groups_changed.connect(lambda _c: self._fill_groups())
        self._loaded = False

    # -- loading

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if not self._loaded:
            self._loaded = True
            self.reload()
        super().showEvent(event)

    def reload(self, incident_id: int | None = None) -> None:
        self.templates = effective_templates(self.services.store)
        self.ack_policies = AckPolicies(self.services.store).load()
        self._filling = True
        current = incident_id if incident_id is not None else self.incident_combo.currentData()
        self.incident_combo.clear()
        for inc in self.services.incidents.list():
            if inc.phase == Phase.CLOSED:
                continue
            drill = " [drill]" if inc.is_drill else ""
            self.incident_combo.addItem(f"{inc.severity.value} · {inc.title}{drill} — "
                                        f"{inc.client_name}", inc.id)
        index = self.incident_combo.findData(current)
        self.incident_combo.setCurrentIndex(max(index, 0))
        self._filling = False
        self._default_ask()
        self._incident_changed()

    def incident(self) -> IncidentDTO | None:
        incident_id = self.incident_combo.currentData()
        if incident_id is None:
            return None
        return self.services.incidents.get(incident_id)

    def start(self, incident_id: int, template_type: str | None = None,
              stakeholder_ids: tuple[int, ...] | None = None, escalation_key: str = "",
              avoid: tuple[tuple[int, str], ...] = ()) -> None:
        """Open the composer on an incident, with the type its phase calls for and the
        proposed audience: the keyboard path from an incident to a queued message. From the
        clocks panel the recipients are the people the due item or escalation names; queuing
        an escalation's message confirms the escalation."""
        self._loaded = True
        self.reload(incident_id)
        incident = self.incident()
        if incident is None:
            return
        if template_type is None:
            template_type = {Phase.DETECTED: "initial_acknowledgment",
                             Phase.RESOLVED: "resolution_notice"}.get(incident.phase,
                                                                      "status_update")
        self.type_combo.setCurrentIndex(self.type_combo.findData(template_type))
        self.pending_escalation = (incident_id, escalation_key) if escalation_key else None
        # a chase of silence: the addresses that did not answer are not used again
        self.avoid: dict[int, set[str]] = {}
        for sid, address in avoid:
            self.avoid.setdefault(sid, set()).add(address)
        if stakeholder_ids:
            self._filling = True
            for model in (self.category_model, self.timing_model, self.group_model):
                self._set_checked(model, set())
            self._set_checked(self.people_model, set(stakeholder_ids))
            self._filling = False
            what = "the escalation" if escalation_key else "the clocks panel"
            self.proposal_label.setText(
                f"Proposed by {what}: {len(stakeholder_ids)} "
                f"{'person' if len(stakeholder_ids) == 1 else 'people'} picked by name"
                + (", reached by their next contact point (not the one that did not "
                   "answer)." if self.avoid else "."))
            self.refresh()
        else:
            self.propose()
        self.queue_button.setFocus()

    def _incident_changed(self) -> None:
        if self._filling:
            return
        self._fill_groups()
        self.schedule()

    def _incident_updated(self, incident: IncidentDTO) -> None:
        if self._loaded and incident.id == self.incident_combo.currentData():
            self.schedule()  # facts changed: every variant renders from them

    def _fill_groups(self) -> None:
        """The groups and people of the incident's organisation, to pick from."""
        incident = self.incident()
        self._filling = True
        self.group_model.clear()
        self.people_model.clear()
        if incident is not None:
            for g in self.services.groups.list(incident.client_id):
                item = QStandardItem(g.name)
                item.setCheckable(True)
                item.setData(g.id, ID_ROLE)
                self.group_model.appendRow(item)
            for p in self.services.stakeholders.list(incident.client_id):
                if not p.active:
                    continue
                item = QStandardItem(f"{p.name} — {Category(p.category).label}")
                item.setCheckable(True)
                item.setData(p.id, ID_ROLE)
                self.people_model.appendRow(item)
        self._filling = False

    def _type_changed(self) -> None:
        self._build_inputs()
        self._default_ask()
        self.schedule()

    # -- asking to confirm

    def _default_ask(self) -> None:
        """The acknowledgement policy's default for this type: on when it names categories
        (by default a resolution notice asks executives, customers and regulators)."""
        named_ = asked_categories(self.ack_policies, self.type_combo.currentData()) \
            if self.ack_policies else []
        self._filling, was = True, self._filling
        self.ask_check.setChecked(bool(named_))
        self.ask_scope.setCurrentIndex(self.ask_scope.findData(
            ASK_POLICY if named_ else ASK_EVERYONE))
        self._filling = was
        self._show_ask()

    def _policies_changed(self) -> None:
        if self._loaded:
            self.ack_policies = AckPolicies(self.services.store).load()
            self._show_ask()

    def _ask_changed(self) -> None:
        self._show_ask()
        self.schedule()

    def policy_categories(self) -> list[str]:
        return asked_categories(self.ack_policies, self.type_combo.currentData()) \
            if self.ack_policies else []

    def asked_ids(self) -> set[int]:
        """The stakeholders this message asks to reply YES."""
        if not self.ask_check.isChecked():
            return set()
        people = self.recipients.recipients
        if self.ask_scope.currentData() == ASK_POLICY and self.policy_categories():
            wanted = set(self.policy_categories())
            return {r.stakeholder_id for r in people if r.category in wanted}
        return {r.stakeholder_id for r in people}

    def _show_ask(self) -> None:
        named_ = self.policy_categories()
        on = self.ask_check.isChecked()
        self.ask_scope.setVisible(on and bool(named_))
        labels = [Category(c).label.lower() for c in named_]
        total = len(self.recipients.recipients)
        if not on:
            policy = (f" The policy asks {_listed(labels)} for this type." if labels else "")
            self.ask_label.setText("No one is asked to reply YES." + policy)
            return
        asked = len(self.asked_ids())
        whom = _listed(labels) if labels and self.ask_scope.currentData() == ASK_POLICY \
            else "everyone in the audience"
        self.ask_label.setText(
            f"Asks <b>{asked} of {total}</b> recipients to reply YES ({whom}); "
            "Clarion marks who confirms and proposes to chase who does not.")

    def _build_inputs(self) -> None:
        while self.inputs_form.rowCount():
            self.inputs_form.removeRow(0)
        self.input_edits = {}
        seen = {}
        template_type = self.type_combo.currentData()
        for key, source in self.templates.items():
            if source.type == template_type:
                for spec in source.inputs:
                    seen.setdefault(spec.name, spec)
        prefill = self._prefill(template_type)
        for name, spec in seen.items():
            if "\n" in spec.example or len(spec.example) > LONG_INPUT:
                # "one per line", or a sentence or two: a small box that wraps
                edit = named(QPlainTextEdit(), f"input_{name}", spec.label)
                edit.setTabChangesFocus(True)
                edit.setFixedHeight(64)
                edit.textChanged.connect(self.schedule)
            else:
                edit = named(QLineEdit(), f"input_{name}", spec.label)
                edit.textChanged.connect(lambda _t: self.schedule())
            edit.setPlaceholderText(spec.example)
            if prefill.get(name):
                edit.setPlainText(prefill[name]) if isinstance(edit, QPlainTextEdit) \
                    else edit.setText(prefill[name])
            self.inputs_form.addRow(spec.label, edit)
            self.input_edits[name] = edit
        self.inputs_box.setVisible(bool(seen))

    def _prefill(self, template_type: str) -> dict[str, str]:
        """The post-incident summary inlines the report's fields (root cause, remediation,
        lessons) as written in the incident's post-incident section; a resolution notice
        starts from the recorded root cause."""
        incident_id = self.incident_combo.currentData()
        if incident_id is None:
            return {}
        if template_type == "resolution_notice":
            cause = self._recorded_cause(template_type)
            return {"root_cause_summary": cause} if cause else {}
        if template_type != "post_incident_summary":
            return {}
        from app.reports.summary import summary_inputs

        return summary_inputs(self.services.postincident.get(incident_id))

    CLOSING = ("resolution_notice", "post_incident_summary")

    def _recorded_cause(self, template_type: str) -> str | None:
        """The root cause recorded in the post-incident section ("" none yet, or still under
        investigation), for the messages that must agree with it; None for the others."""
        incident_id = self.incident_combo.currentData()
        if template_type not in self.CLOSING or incident_id is None:
            return None
        post = self.services.postincident.get(incident_id)
        return "" if post.root_cause_under_investigation else post.root_cause.strip()

    # -- audience

    def _checked(self, model: QStandardItemModel) -> list:
        return [model.item(r).data(ID_ROLE) for r in range(model.rowCount())
                if model.item(r).checkState() == Qt.CheckState.Checked]

    def _set_checked(self, model: QStandardItemModel, values: set) -> None:
        for r in range(model.rowCount()):
            item = model.item(r)
            item.setCheckState(Qt.CheckState.Checked if item.data(ID_ROLE) in values
                               else Qt.CheckState.Unchecked)

    def propose(self) -> None:
        incident = self.incident()
        if incident is None:
            return
        proposal = propose_audience(self.type_combo.currentData(), incident.phase)
        self._filling = True
        self._set_checked(self.category_model, set(proposal.categories))
        self._set_checked(self.timing_model, set(proposal.timing_needs))
        self._set_checked(self.group_model, set())
        self._set_checked(self.people_model, set())
        self._filling = False
        self.proposal_label.setText(f"Proposed: {proposal.reason}.")
        self.refresh()

    def open_sent_messages(self) -> Any:
        """The incident's sent messages, in their own window."""
        from ui.composer.message_view import SentMessagesDialog

        incident = self.incident()
        if incident is None:
            return None
        dialog = SentMessagesDialog(self.services, incident.id, incident.title, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def resolve(self) -> RecipientList:
        incident = self.incident()
        if incident is None:
            return RecipientList(())
        selectors = dict(categories=self._checked(self.category_model),
                         timing_needs=self._checked(self.timing_model),
                         group_ids=self._checked(self.group_model),
                         stakeholder_ids=self._checked(self.people_model))
        mode = self.channel_combo.currentData()
        store, cid = self.services.store, incident.client_id
        if self.avoid:
            selectors["avoid"] = self.avoid
        if mode == "both":
            email = resolve_recipients(store, cid, channels=["email"], **selectors)
            sms = resolve_recipients(store, cid, channels=["sms"], **selectors)
            reachable = {r.stakeholder_id for r in email.recipients + sms.recipients}
            missing = tuple(u for u in email.unreachable
                            if u.stakeholder_id not in reachable)
            return RecipientList(email.recipients + sms.recipients, missing)
        channels = ["email", "sms"] if mode == "best" else [mode]
        return resolve_recipients(store, cid, channels=channels, **selectors)

    # -- rendering and linting

    def schedule(self) -> None:
        if not self._filling:
            self.refresh_timer.start()

    def sender(self, incident: IncidentDTO) -> Sender:
        clients = list_clients(self.services.store)
        msp = next((c for c in clients if c.is_msp), None)
        return Sender(name=self.services.desk.name,
                      organisation=msp.name if msp else incident.client_name)

    def inputs(self) -> dict[str, str]:
        return {name: edit.toPlainText() if isinstance(edit, QPlainTextEdit) else edit.text()
                for name, edit in self.input_edits.items()}

    def refresh(self) -> None:
        self.refresh_timer.stop()
        incident = self.incident()
        self.recipients = self.resolve()
        asked = self.asked_ids()
        rows = [(r.name, Category(r.category).label, DetailLevel(r.detail_level).label,
                 "SMS" if r.channel == "sms" else r.channel.capitalize(), r.address,
                 "asked" if r.stakeholder_id in asked else "")
                for r in self.recipients.recipients]
        self._show_ask()
        self.recipients_model.set_rows(self.recipients_model.COLUMNS, rows)
        text = f"<b>{len(rows)}</b> recipients"
        if self.recipients.unreachable:
            # each with why: "no contact point on sms", "opted out of SMS — replied STOP …"
            shown = self.recipients.unreachable[:4]
            names = "; ".join(f"{html.escape(u.name)} ({html.escape(u.reason)})" for u in shown)
            more = len(self.recipients.unreachable) - len(shown)
            text += (f" · <span style='color:#b3261e'>{len(self.recipients.unreachable)} "
                     f"unreachable: {names}{f'; and {more} more' if more else ''}</span>")
        self.recipients_label.setText(text)
        self.recipients_label.setToolTip("\n".join(
            f"{u.name}: {u.reason}" for u in self.recipients.unreachable))
        self.queue_button.setText(f"Queue for {len(rows)} recipients")
        self._update_queue_button()
        if incident is None:
            return
        client = next(c for c in list_clients(self.services.store) if c.id == incident.client_id)
        now = self.services.clock.now()
        recent = recent_message_counts(
            self.services.store, [r.stakeholder_id for r in self.recipients.recipients],
            now - timedelta(minutes=RECENT_WINDOW_MINUTES))
        template_type = self.type_combo.currentData()
        self._lint_basis = (incident, client, recent, self._recorded_cause(template_type))
        sender = self.sender(incident)
        context = build_context(incident, client, sender, now, inputs=self.inputs())
        self.variables_model.set_rows(self.variables_model.COLUMNS, [
            (name, meaning, example_value(context, name)) for name, meaning in VARIABLES_HELP])
        jobs: dict[str, Any] = {}
        for level, panel in self.panels.items():
            people = [r for r in self.recipients.recipients if r.detail_level == level]
            panel.set_heading(len(people))
            sample = recipient_context(people[0]) if people else None
            ctx = build_context(incident, client, sender, now, sample, self.inputs(),
                                ask_to_confirm=any(r.stakeholder_id in asked for r in people))
            jobs[level] = ({channel: self.templates.get(f"{template_type}/{level}/{channel}")
                            for channel in ("email", "sms")}, ctx)
        self._render(jobs)

    # -- the preview, rendered off the GUI thread

    @property
    def rendering(self) -> bool:
        """A preview is being rendered (or waits to be)."""
        return self.render_worker.running or self._render_next is not None

    @property
    def settled(self) -> bool:
        """The preview shows the current state: no change waits to be rendered."""
        return not self.refresh_timer.isActive() and not self.rendering

    def _render(self, jobs: dict[str, Any]) -> None:
        if self.render_worker.running:
            self._render_next = jobs      # only the newest waiting state is rendered next
            return
        self._update_queue_button()
        self.render_state_timer.start()
        for panel in self.panels.values():
            panel.set_rendering(True)
        self.render_worker.start(lambda: {level: render_preview(level, sources, ctx)
                                          for level, (sources, ctx) in jobs.items()})

    def _rendered(self, results: dict[str, Any]) -> None:
        for level, (out, error) in results.items():
            panel = self.panels[level]
            panel.show_rendered(out["email"], out["sms"], error)
            panel.render_error = error
        self._render_done()

    def _render_failed(self, exc: object) -> None:   # a bug of ours: said, never a traceback
        self.notice.show_error(f"The preview could not be rendered: {exc}")
        self._render_done()

    def _render_done(self) -> None:
        waiting, self._render_next = self._render_next, None
        if waiting is not None:
            self._render(waiting)
            return
        self.render_state_timer.stop()
        self.render_state.hide()
        for panel in self.panels.values():
            panel.set_rendering(False)
        self._relint()
        self.rendered.emit()
        if self._queue_when_rendered:
            self._queue_when_rendered = False
            self._queue_now()

    def signature(self) -> tuple:
        """What Queue would send: the incident and its facts, the template, the people, the
        inputs and any edited variant. Queue stays off while it is what was just queued."""
        incident = self.incident()
        return (incident.id if incident else None,
                incident.updated_at if incident else None, self.type_combo.currentData(),
                tuple((r.stakeholder_id, r.channel, r.address, r.detail_level)
                      for r in self.recipients.recipients),
                tuple(sorted(self.inputs().items())),
                tuple(sorted((k, repr(v)) for k, v in self.overrides().items())),
                tuple(sorted(self.asked_ids())))

    def _update_queue_button(self) -> None:
        if not hasattr(self, "worker") or self.worker.running:
            return
        same = self._queued_signature is not None and self.signature() == self._queued_signature
        self.queue_button.setEnabled(bool(self.recipients.recipients) and
                                     self.incident() is not None and not same
                                     and not self._queue_when_rendered)
        if same:
            self.queue_button.setToolTip("Queued already: change the text, the audience or the "
                                         "template to queue another message")
        else:
            self.queue_button.setToolTip("Queue for every recipient (Ctrl+Enter)")
            if self._queued_signature is not None:   # the next message has started
                self._queued_signature = None
                self.sent_state.hide()

    def _relint(self) -> None:
        """Lint every variant. Called on each edit of a variant: it uses what refresh() read
        (incident, organisation, recent messages) and asks the database nothing."""
        self._update_queue_button()
        incident, client, recent, cause = getattr(self, "_lint_basis", (None, None, {}, None))
        if incident is None or client is None:
            return
        now = self.services.clock.now()
        window = RECENT_WINDOW_MINUTES
        for level, panel in self.panels.items():
            if getattr(panel, "render_error", None) and not panel.is_edited():
                continue
            busiest = max((recent.get(r.stakeholder_id, 0) for r in self.recipients.recipients
                           if r.detail_level == level), default=0)
            base = dict(detail_level=level, template_type=self.type_combo.currentData(),
                        phase=incident.phase.value, facts=incident.facts,
                        time_zone=client.time_zone, now=now, recent_messages=busiest,
                        recent_window_minutes=window, root_cause=cause,
                        # the coordinator's zone: where typed times come from
                        coordinator_zone=coordinator_zone())
            email, sms = panel.current_email(), panel.current_sms()
            panel.show_findings(
                lint(email.text, LintContext(channel="email", **base), subject=email.subject,
                     html=email.html or None),
                lint(sms.text.rstrip("\n"), LintContext(channel="sms", **base)))

    def open_library(self):  # type: ignore[no-untyped-def]
        from ui.composer.library_dialog import TemplateLibraryDialog

        dialog = TemplateLibraryDialog(self.services, self.type_combo.currentData(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.changed.connect(self._templates_changed)
        self.library_dialog = dialog
        dialog.open()
        return dialog

    def _templates_changed(self) -> None:
        self.templates = effective_templates(self.services.store)
        self._build_inputs()
        self.refresh()

    # -- queuing

    def overrides(self) -> dict[str, Rendered]:
        out: dict[str, Rendered] = {}
        for level, panel in self.panels.items():
            if panel.is_edited():
                out[f"{level}/email"] = panel.email_override()  # type: ignore[assignment]
                out[f"{level}/sms"] = panel.sms_override()  # type: ignore[assignment]
        return out

    def queue(self) -> bool:
        """Queue the message as the preview shows it: the preview (and its findings) is first
        brought up to date on the render worker, then _queue_now() asks what it must and
        queues. True: accepted."""
        incident = self.incident()
        if incident is None or not self.queue_button.isEnabled() or self.worker.running \
                or self._queue_when_rendered:
            return False
        self._queue_when_rendered = True
        self.queue_button.setEnabled(False)
        self.refresh()
        return True

    def _queue_now(self) -> bool:
        incident = self.incident()
        if incident is None or self.worker.running or not self.recipients.recipients:
            self._update_queue_button()
            return False
        used = {r.detail_level for r in self.recipients.recipients}
        errors = [f for level in used for f in self.panels[level].errors()]
        if errors and confirm_despite_errors(self, len(errors)) is False:
            self._update_queue_button()
            return False
        twice = already_sent(self.services.store, self.services.clock, incident,
                             self.type_combo.currentData(),
                             [r.stakeholder_id for r in self.recipients.recipients])
        if twice is not None and not confirm_send_again(self, twice):
            self.notice.show_info("Not queued again.")
            self._update_queue_button()
            return False
        client = next(c for c in list_clients(self.services.store) if c.id == incident.client_id)
        roles = {s.id: s.role for s in self.services.stakeholders.list(incident.client_id)}
        audience = {"categories": self._checked(self.category_model),
                    "timing_needs": self._checked(self.timing_model),
                    "group_ids": self._checked(self.group_model),
                    "stakeholder_ids": self._checked(self.people_model),
                    "channels": self.channel_combo.currentData()}
        store, clock, events = self.services.store, self.services.clock, self.services.events
        kwargs = dict(incident=incident, client=client,
                      template_type=self.type_combo.currentData(), templates=self.templates,
                      recipients=self.recipients, sender=self.sender(incident),
                      inputs=self.inputs(), overrides=self.overrides(), roles=roles,
                      actor=self.services.incidents.actor, audience=audience,
                      ask_to_confirm=frozenset(self.asked_ids()))
        # the message an escalation proposed confirms it once queued
        self._queue_escalation = (self.pending_escalation if self.pending_escalation
                                  and self.pending_escalation[0] == incident.id else None)
        # Rendering and writing thousands of deliveries takes seconds: off the GUI thread.
        self.queue_button.setEnabled(False)
        self.notice.show_info(f"Queuing for {len(self.recipients.recipients)} recipients…")
        self.worker.start(lambda: queue_message(store, clock, events, **kwargs))
        return True

    def _queued(self, queued) -> None:  # type: ignore[no-untyped-def]
        for panel in self.panels.values():
            panel.edit_check.setChecked(False)
        self._queued_signature = self.signature()   # Queue stays off until something changes
        self._update_queue_button()
        channels = ", ".join(f"{n} {c if c != 'sms' else 'SMS'}"
                             for c, n in sorted(queued.by_channel.items()))
        self.notice.show_info(f"Queued for {queued.deliveries} recipients ({channels}). "
                              "They wait in the outbox.")
        self.last_queued = queued
        self.show_queued_state()
        self._offer_cause()
        pending, self._queue_escalation = self._queue_escalation, None
        if pending is not None:
            self.pending_escalation = None
            try:
                self.services.clocks.decide_escalation(pending[0], pending[1], confirmed=True,
                                                       message_id=queued.message_id)
            except ClarionError as exc:  # answered meanwhile (e.g. dismissed elsewhere)
                self.notice.show_info(self.notice.text() + f" ({exc})")
        self.queued.emit(queued.message_id)

    def _offer_cause(self) -> None:
        """A resolution notice that gave a cause while none is recorded: offer it to the
        post-incident Root cause (the report and later messages then say the same)."""
        edit = self.input_edits.get("root_cause_summary")
        said = (edit.toPlainText() if isinstance(edit, QPlainTextEdit) else
                edit.text()).strip() if edit is not None else ""
        recorded = self._recorded_cause(self.type_combo.currentData())
        self._offered_cause = said if said and recorded == "" else ""
        self.cause_button.setVisible(bool(self._offered_cause))

    def record_cause(self) -> None:
        incident = self.incident()
        if incident is None or not self._offered_cause:
            return
        service = self.services.postincident
        post = service.get(incident.id)
        service.save_fields(incident.id, impact_summary=post.impact_summary,
                            root_cause=self._offered_cause, root_cause_under_investigation=False,
                            lessons_learned=post.lessons_learned)
        self.cause_button.hide()
        self.notice.show_info("Recorded as the post-incident root cause.")
        self._offered_cause = ""

    def show_queued_state(self, _ids: object = None) -> None:
        """The last queued message as it goes out: queued, sending n, sent, failed…"""
        queued = getattr(self, "last_queued", None)
        if queued is None or self._queued_signature is None:
            return
        from app.messages.sent import counts_text, message_state_counts

        counts = message_state_counts(self.services.store, queued.message_id)
        self.sent_state.setText(f"Last queued: {counts_text(counts)}")
        self.sent_state.show()

    def _queue_failed(self, exc: object) -> None:
        self.queue_button.setEnabled(True)
        if isinstance(exc, ValidationError):
            self.notice.show_error("Not queued: " + "; ".join(exc.errors.values()))
        elif isinstance(exc, ClarionError):
            self.notice.show_error(f"Not queued: {exc}")
        else:
            import logging

            logging.getLogger(__name__).error("queuing failed", exc_info=exc)  # type: ignore[arg-type]
            self.notice.show_error(f"Not queued: unexpected error ({exc}); see the log.")


def confirm_send_again(parent: QWidget, twice: Any) -> bool:
    """The same message a moment ago to (some of) the same people: probably a second click.
    The coordinator decides; the default is not to send."""
    people = len(twice.names)
    when = "just now" if twice.minutes_ago < 1 else \
        f"{twice.minutes_ago} min ago"
    shown = ", ".join(twice.names[:5]) + (f" and {people - 5} more" if people > 5 else "")
    box = QMessageBox(QMessageBox.Icon.Question, "Send again?",
                      f"Already sent {when} to {'this person' if people == 1 else f'these {people} people'}"
                      f" ({shown}), from the same facts. Send again?",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setObjectName("sendAgainQuestion")
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


def confirm_despite_errors(parent: QWidget, count: int) -> bool:
    answer = QMessageBox.question(
        parent, "The linter found errors",
        f"The linter found {count} error{'s' if count != 1 else ''} in the variants that will "
        "be sent. Queue anyway?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes
