"""One audience's variant in the composer: the email (subject, HTML preview, text) and the SMS
for one detail level, with the linter's findings underlined as the text changes. The text can
be edited for this message only; the edit is then used instead of the rendered template."""

from __future__ import annotations

import html as html_lib

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox, QFrame, QLabel, QLineEdit, QPlainTextEdit, QStackedWidget, QTextBrowser, QTextEdit,
    QVBoxLayout, QWidget,
)

from app.messages.composer import Rendered
from app.domain.enums import DetailLevel
from app.messages.lint.linter import Finding
from app.messages.segments import sms_info
from ui.models.stakeholders import DETAIL_COLOURS
from ui.widgets.forms import named

SEVERITY_COLOURS = {"error": "#b3261e", "warning": "#b26a00", "info": "#1c4f6e"}


def text_to_html(text: str) -> str:
    """An edited plain text becomes simple HTML paragraphs (escaped)."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{html_lib.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def underline(edit: QPlainTextEdit | QLineEdit, findings: list[Finding], part: str) -> None:
    if not isinstance(edit, QPlainTextEdit):
        return
    selections = []
    for f in findings:
        if f.part != part or f.end <= f.start:
            continue
        sel = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        fmt.setUnderlineColor(QColor(SEVERITY_COLOURS.get(f.severity, "#888")))
        fmt.setToolTip(f.message)
        sel.format = fmt
        cursor = QTextCursor(edit.document())
        cursor.setPosition(min(f.start, len(edit.toPlainText())))
        cursor.setPosition(min(f.end, len(edit.toPlainText())), QTextCursor.MoveMode.KeepAnchor)
        sel.cursor = cursor
        selections.append(sel)
    edit.setExtraSelections(selections)


def findings_html(findings: list[Finding]) -> str:
    if not findings:
        return "<span style='color:#2e7d32'>✓ No problems found</span>"
    rows = []
    seen: set[tuple[str, str]] = set()
    for f in findings:  # the same remark about subject, text and HTML is said once
        if (f.severity, f.message) in seen:
            continue
        seen.add((f.severity, f.message))
        colour = SEVERITY_COLOURS.get(f.severity, "#444")
        rows.append(f"<span style='color:{colour}'>● <b>{f.severity}</b></span> "
                    f"{html_lib.escape(f.message)}")
    return "<br>".join(rows)


class VariantPanel(QFrame):
    """Email and SMS of one detail level."""

    edited = Signal(str)  # the detail level

    def __init__(self, level: DetailLevel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = level
        self.setObjectName(f"variant_{level.value}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.rendered_email = Rendered()
        self.rendered_sms = Rendered()
        self._loading = False

        self.heading = QLabel()
        self.heading.setObjectName(f"variantHeading_{level.value}")
        self.heading.setStyleSheet(
            f"border-left: 6px solid {DETAIL_COLOURS[level.value]}; padding-left: 6px;"
            "font-weight: bold;")
        self.edit_check = named(QCheckBox("Edit for this message"), f"editVariant_{level.value}",
                                f"Edit the {level.label} variant for this message only")
        self.subject = named(QLineEdit(), f"subject_{level.value}", f"{level.label} email subject")
        self.subject.setReadOnly(True)
        self.html_view = named(QTextBrowser(), f"html_{level.value}",
                               f"{level.label} email as the recipient sees it")
        self.html_view.setOpenLinks(False)
        self.text_edit = named(QPlainTextEdit(), f"text_{level.value}",
                               f"{level.label} email text")
        self.text_edit.setTabChangesFocus(True)
        self.body = QStackedWidget()
        self.body.addWidget(self.html_view)
        self.body.addWidget(self.text_edit)
        self.sms_edit = named(QPlainTextEdit(), f"sms_{level.value}", f"{level.label} SMS text")
        self.sms_edit.setTabChangesFocus(True)
        self.sms_edit.setReadOnly(True)
        self.sms_edit.setFixedHeight(84)
        self.sms_label = QLabel()
        self.sms_label.setObjectName(f"smsInfo_{level.value}")
        self.findings_label = QLabel()
        self.findings_label.setObjectName(f"findings_{level.value}")
        self.findings_label.setWordWrap(True)
        self.findings_label.setTextFormat(self.findings_label.textFormat().RichText)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.heading)
        layout.addWidget(self.edit_check)
        layout.addWidget(QLabel("Email subject"))
        layout.addWidget(self.subject)
        layout.addWidget(self.body, 3)
        layout.addWidget(QLabel("SMS"))
        layout.addWidget(self.sms_edit)
        layout.addWidget(self.sms_label)
        layout.addWidget(self.findings_label, 1)

        self.edit_check.toggled.connect(self._edit_toggled)
        for widget in (self.subject,):
            widget.textEdited.connect(lambda _t: self._changed())
        self.text_edit.textChanged.connect(self._changed)
        self.sms_edit.textChanged.connect(self._changed)

    # -- content

    def set_heading(self, recipients: int) -> None:
        who = f"{recipients} recipient{'s' if recipients != 1 else ''}"
        self.heading.setText(f"{self.level.label} — {who}")

    def show_rendered(self, email: Rendered | None, sms: Rendered | None,
                      error: str | None = None) -> None:
        """New rendering from the template; ignored while the coordinator edits this variant."""
        if self.is_edited():
            return
        self._loading = True
        self.rendered_email = email or Rendered()
        self.rendered_sms = sms or Rendered()
        self.subject.setText(self.rendered_email.subject)
        self.subject.setCursorPosition(0)
        self.html_view.setHtml(self.rendered_email.html)
        self.text_edit.setPlainText(self.rendered_email.text)
        self.sms_edit.setPlainText(self.rendered_sms.text.rstrip("\n"))
        self._loading = False
        self._update_sms_info()
        if error:
            self.findings_label.setText(
                f"<span style='color:{SEVERITY_COLOURS['error']}'>● <b>template error</b></span>"
                f" {html_lib.escape(error)}")

    def set_rendering(self, busy: bool) -> None:
        """While a new preview renders, editing cannot start from the text shown before it
        (an edit already started goes on)."""
        self.edit_check.setEnabled(not busy or self.edit_check.isChecked())

    def is_edited(self) -> bool:
        return self.edit_check.isChecked()

    def email_override(self) -> Rendered | None:
        if not self.is_edited():
            return None
        text = self.text_edit.toPlainText().strip() + "\n"
        return Rendered(subject=self.subject.text(), text=text, html=text_to_html(text))

    def sms_override(self) -> Rendered | None:
        if not self.is_edited():
            return None
        return Rendered(text=self.sms_edit.toPlainText().strip() + "\n")

    def current_email(self) -> Rendered:
        return self.email_override() or self.rendered_email

    def current_sms(self) -> Rendered:
        return self.sms_override() or self.rendered_sms

    def show_findings(self, email: list[Finding], sms: list[Finding]) -> None:
        tagged = [f for f in email] + [f for f in sms]
        self.findings_label.setText(findings_html(tagged))
        underline(self.text_edit, email, "text")
        underline(self.sms_edit, sms, "text")
        self.findings = tagged

    def errors(self) -> list[Finding]:
        return [f for f in getattr(self, "findings", []) if f.severity == "error"]

    # -- reactions

    def _edit_toggled(self, on: bool) -> None:
        self.subject.setReadOnly(not on)
        self.sms_edit.setReadOnly(not on)
        self.body.setCurrentWidget(self.text_edit if on else self.html_view)
        if not on:  # back to the template's text
            self.show_rendered(self.rendered_email, self.rendered_sms)
        self.edited.emit(self.level.value)

    def _changed(self) -> None:
        if self._loading:
            return
        self._update_sms_info()
        if self.is_edited():
            self.edited.emit(self.level.value)

    def _update_sms_info(self) -> None:
        info = sms_info(self.sms_edit.toPlainText())
        self.sms_label.setText(
            f"{info.segments} segment{'s' if info.segments != 1 else ''} · {info.encoding} · "
            f"{info.units} of {info.per_segment * max(info.segments, 1)}")
