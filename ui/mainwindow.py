"""The main window: a navigation rail listing the workspaces that exist, the workspace stack,
and a status bar with the database path and the drill-mode indicator."""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup, QFrame, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QStackedWidget,
    QToolButton, QVBoxLayout, QWidget,
)

import app
from app import runtime
from app.domain.dto import IncidentDTO
from ui.incidents.workspace import IncidentsWorkspace
from ui.services import Services
from ui.widgets.forms import named

log = logging.getLogger(__name__)

DRILL_STYLE = "background:#8e24aa; color:white; padding:1px 8px; border-radius:3px;"
LIVE_STYLE = "color:#2e7d32; padding:1px 8px;"


class MainWindow(QMainWindow):
    def __init__(self, services: Services, runner=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.services = services
        self.runner = runner  # the background sender (ui/outbox/runner.py); None in some tests
        runtime.favour_the_window()   # repaints go on while a worker thread computes
        self.clock_notifier = None  # overdue/escalation notifications; started after first paint
        self.mailbox_readers = None  # bounces and replies read from the mailbox (issue 24)
        self.backups = None   # automatic backups (ui/backups/keeper.py); started after first paint
        self.integrity = None   # the database checked on a worker (ui/backups/watch.py)
        self.records_box = None   # the daily chain check's warning (records_changed)
        self.damage = None   # DamagedDatabase once a check or an error found the file damaged
        self.pending_restore = None   # a backup to restore once the window closed (ui/startup.py)
        self.setObjectName("mainWindow")
        self.setAccessibleName("Clarion")
        title = "Clarion — incident communication"
        if services.is_demo:
            title += " (demo)"
        self.setWindowTitle(title)

        self.stack = QStackedWidget()
        self.stack.setObjectName("workspaceStack")
        self.nav = QButtonGroup(self)
        self.nav.setExclusive(True)
        rail = QFrame()
        rail.setObjectName("navigationRail")
        rail.setFrameShape(QFrame.Shape.StyledPanel)
        self.rail_layout = QVBoxLayout(rail)
        self.rail_layout.setContentsMargins(4, 8, 4, 8)
        self.nav_buttons: dict[str, QToolButton] = {}
        self.workspace_actions: dict[str, QAction] = {}

        self._holders: dict[str, QWidget] = {}
        self._factories: dict[str, Callable[[], QWidget]] = {}
        self._workspaces: dict[str, QWidget] = {}
        self.incidents = IncidentsWorkspace(services)
        self.incidents.compose_requested.connect(self.compose)
        self.incidents.view.clocks.compose_requested.connect(
            lambda iid, ttype, ids, key, avoid: self.compose(iid, ttype, ids, key, avoid))
        self.incidents.view.compose_summary_requested.connect(
            lambda iid: self.compose(iid, "post_incident_summary"))
        self.add_workspace("incidents", "Incidents", lambda: self.incidents, "Ctrl+1")
        # The other workspaces are built when first opened: start-up pays for the first only.
        self.add_workspace("stakeholders", "Stakeholders", self._make_stakeholders, "Ctrl+2")
        self.add_workspace("composer", "Composer", self._make_composer, "Ctrl+3")
        self.add_workspace("outbox", "Outbox", self._make_outbox, "Ctrl+4")
        self.rail_layout.addStretch(1)

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        # until someone says who works at this desk (never modal: work goes on meanwhile)
        from ui.settings.coordinators import DeskBar

        self.desk_bar = DeskBar(services)
        self.desk_bar.setVisible(not services.desk.confirmed)
        self.desk_bar.confirmed.connect(lambda _p: self._show_desk())
        outer.addWidget(self.desk_bar)
        layout = QHBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(rail)
        layout.addWidget(self.stack, 1)
        outer.addLayout(layout, 1)
        self.setCentralWidget(central)

        # status bar
        self.mode_label = QLabel()
        self.mode_label.setObjectName("modeIndicator")
        self.db_label = QLabel(f"Database: {services.store.path}")
        self.db_label.setObjectName("databasePathLabel")
        self.db_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.outbox_label = QLabel()
        self.outbox_label.setObjectName("outboxStatusLabel")
        self.desk_label = QLabel()
        self.desk_label.setObjectName("deskLabel")
        self.statusBar().addPermanentWidget(self.desk_label)
        self._show_desk()
        self.statusBar().addPermanentWidget(self.outbox_label)
        self.statusBar().addPermanentWidget(self.mode_label)
        self.statusBar().addPermanentWidget(self.db_label)
        self.incidents.current_incident_changed.connect(self._update_mode)
        self._update_mode(None)

        self.outbox_timer = QTimer(self)
        self.outbox_timer.setSingleShot(True)
        self.outbox_timer.setInterval(300)
        self.outbox_timer.timeout.connect(self.update_outbox_status)
        for signal in (services.qt_events.outbox_changed, services.qt_events.messages_changed):
            signal.connect(lambda _x: self._outbox_changed())
        services.qt_events.messages_changed.connect(lambda _x: self.send_now())
        services.qt_events.accounts_changed.connect(self._accounts_changed)
        self.outbox_label.setText("Outbox: …")
        self.outbox_timer.start()  # counted just after start-up, not during it

        self._build_menu()
        self._restore_geometry()

    # -- who is at the desk

    def _show_desk(self) -> None:
        desk = self.services.desk
        self.desk_label.setText(f"Signing as {desk.name}" if desk.confirmed
                                else f"Signing as {desk.name} (not confirmed)")

    def switch_coordinator(self):  # type: ignore[no-untyped-def]
        """File → Switch coordinator…: a shift change (non-modal; returns the dialog)."""
        from ui.settings.coordinators import SwitchCoordinatorDialog

        dialog = SwitchCoordinatorDialog(self.services, self)
        dialog.accepted.connect(self._switched)
        dialog.open()
        return dialog

    def edit_coordinators(self):  # type: ignore[no-untyped-def]
        """Settings → Coordinators…: the people of this database (non-modal; returns it)."""
        from ui.settings.coordinators import CoordinatorsDialog

        dialog = CoordinatorsDialog(self.services, self)
        dialog.finished.connect(lambda _r: self._show_desk())
        dialog.open()
        return dialog

    def _switched(self) -> None:
        self.desk_bar.hide()
        self._show_desk()

    # -- workspaces

    def add_workspace(self, key: str, label: str, factory: Callable[[], QWidget],
                      shortcut: str) -> None:
        button = named(QToolButton(), f"nav_{key}", f"{label} workspace",
                       f"{label} ({shortcut})")
        button.setText(label)
        button.setCheckable(True)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setMinimumWidth(96)
        self.nav.addButton(button)
        # the shortcut is the View menu's (one owner: two would make Qt ignore both)
        action = QAction(f"&{label}", self)
        action.setObjectName(f"view_{key}Action")
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _c=False, b=button: b.setChecked(True))
        self.workspace_actions[key] = action
        self.rail_layout.addWidget(button)
        self.nav_buttons[key] = button
        holder = QWidget()
        holder.setObjectName(f"{key}Holder")
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(0, 0, 0, 0)
        self._holders[key] = holder
        self._factories[key] = factory
        self.stack.addWidget(holder)
        button.toggled.connect(lambda on, k=key: on and self._activate(k))
        if len(self.nav_buttons) == 1:
            button.setChecked(True)

    def workspace(self, key: str) -> QWidget:
        """The workspace widget, built on first use."""
        if key not in self._workspaces:
            widget = self._factories[key]()
            self._holders[key].layout().addWidget(widget)
            self._workspaces[key] = widget
            self._restore_splitters()
        return self._workspaces[key]

    def _activate(self, key: str) -> None:
        self.workspace(key)
        self.stack.setCurrentWidget(self._holders[key])

    def current_workspace(self) -> QWidget | None:
        current = self.stack.currentWidget()
        key = next((k for k, h in self._holders.items() if h is current), None)
        return self._workspaces.get(key) if key else None

    def _make_stakeholders(self) -> QWidget:
        from ui.stakeholders.workspace import StakeholdersWorkspace

        return StakeholdersWorkspace(self.services)

    def _make_composer(self) -> QWidget:
        from ui.composer.workspace import ComposerWorkspace

        return ComposerWorkspace(self.services)

    def _make_outbox(self) -> QWidget:
        from ui.outbox.workspace import OutboxWorkspace

        workspace = OutboxWorkspace(self.services)
        workspace.send_now_requested.connect(self.send_now)
        return workspace

    def edit_accounts(self):  # type: ignore[no-untyped-def]
        from ui.settings.accounts_dialog import AccountsDialog

        bridge = self.runner.bridge if self.runner is not None else None
        run_async = bridge.submit if bridge is not None and bridge.running else None
        dialog = AccountsDialog(self.services, run_async, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.accounts_dialog = dialog
        dialog.open()
        return dialog

    def open_clock_rules(self):  # type: ignore[no-untyped-def]
        from ui.settings.clock_rules_dialog import ClockRulesDialog

        dialog = ClockRulesDialog(self.services, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.clock_rules_dialog = dialog
        dialog.open()
        return dialog

    def choose_time_zone(self):  # type: ignore[no-untyped-def]
        """Settings → Time zone…: the coordinator's zone; the lists across clients and the
        status bar are shown again in it (an incident's own times stay in its client's)."""
        from ui.settings.time_zone import TimeZoneDialog

        dialog = TimeZoneDialog(self.services, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self._zone_changed)
        self.time_zone_dialog = dialog
        dialog.open()
        return dialog

    def open_backups(self):  # type: ignore[no-untyped-def]
        """Settings → Backups…: where they are kept, the list with each one's check, Back up
        now and Restore… (non-modal; returns the dialog)."""
        from ui.backups.backups_dialog import BackupsDialog

        dialog = BackupsDialog(self.services, self.request_restore, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.backups_dialog = dialog
        dialog.open()
        return dialog

    def request_restore(self, path) -> None:  # type: ignore[no-untyped-def]
        """Restore the backup at `path`: the window closes (a close refused by unsaved edits
        restores nothing); ui/startup.py restores it with the database closed and starts the
        window again."""
        self.pending_restore = path
        if not self.close():
            self.pending_restore = None

    def _zone_changed(self) -> None:
        self.incidents.reload()
        if "outbox" in self._workspaces:
            self.outbox.reload()
        self.update_outbox_status()

    def send_now(self) -> None:
        if self.runner is not None:
            self.runner.wake()

    @property
    def outbox(self):  # type: ignore[no-untyped-def]
        return self.workspace("outbox")

    @property
    def stakeholders(self):  # type: ignore[no-untyped-def]
        return self.workspace("stakeholders")

    @property
    def composer(self):  # type: ignore[no-untyped-def]
        return self.workspace("composer")

    def workspace_names(self) -> list[str]:
        return [b.text() for b in self.nav_buttons.values()]

    # -- menus and shortcuts

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_action = QAction("&New incident…", self)
        self.new_action.setObjectName("newIncidentAction")
        self.new_action.setShortcut(QKeySequence.StandardKey.New)  # Ctrl+N
        self.new_action.triggered.connect(self.new_incident)
        file_menu.addAction(self.new_action)
        self.switch_action = QAction("S&witch coordinator…", self)
        self.switch_action.setObjectName("switchCoordinatorAction")
        self.switch_action.setShortcut(QKeySequence("Ctrl+Shift+U"))
        self.switch_action.triggered.connect(self.switch_coordinator)
        file_menu.addAction(self.switch_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setObjectName("quitAction")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        self.compose_action = QAction("&Compose message for this incident…", self)
        self.compose_action.setObjectName("composeAction")
        self.compose_action.setShortcut(QKeySequence("Ctrl+M"))
        self.compose_action.triggered.connect(lambda: self.compose())
        file_menu.insertAction(file_menu.actions()[1], self.compose_action)

        edit_menu = self.menuBar().addMenu("&Edit")
        self.find_action = QAction("&Find incident", self)
        self.find_action.setObjectName("findAction")
        self.find_action.setShortcut(QKeySequence.StandardKey.Find)  # Ctrl+F
        self.find_action.triggered.connect(self.find)
        edit_menu.addAction(self.find_action)

        view_menu = self.menuBar().addMenu("&View")
        for action in self.workspace_actions.values():
            view_menu.addAction(action)

        settings_menu = self.menuBar().addMenu("&Settings")
        accounts_action = QAction("Sending &accounts…", self)
        accounts_action.setObjectName("accountsAction")
        accounts_action.setShortcut(QKeySequence("Ctrl+,"))
        accounts_action.triggered.connect(self.edit_accounts)
        settings_menu.addAction(accounts_action)
        coordinators_action = QAction("C&oordinators…", self)
        coordinators_action.setObjectName("coordinatorsAction")
        coordinators_action.triggered.connect(self.edit_coordinators)
        settings_menu.addAction(coordinators_action)
        clock_rules_action = QAction("Incident &clock rules…", self)
        clock_rules_action.setObjectName("clockRulesAction")
        clock_rules_action.triggered.connect(self.open_clock_rules)
        settings_menu.addAction(clock_rules_action)
        zone_action = QAction("&Time zone…", self)
        zone_action.setObjectName("timeZoneAction")
        zone_action.triggered.connect(self.choose_time_zone)
        settings_menu.addAction(zone_action)
        backups_action = QAction("&Backups…", self)
        backups_action.setObjectName("backupsAction")
        backups_action.triggered.connect(self.open_backups)
        settings_menu.addAction(backups_action)

        help_menu = self.menuBar().addMenu("&Help")
        guide = QAction("&Your first incident", self)
        guide.setObjectName("guideAction")
        guide.setShortcut(QKeySequence.StandardKey.HelpContents)   # F1
        guide.triggered.connect(self.show_guide)
        help_menu.addAction(guide)
        keys = QAction("&Keyboard shortcuts", self)
        keys.setObjectName("shortcutsAction")
        keys.setShortcut(QKeySequence("Ctrl+/"))
        keys.triggered.connect(self.show_shortcuts)
        help_menu.addAction(keys)
        help_menu.addSeparator()
        about = QAction("&About Clarion", self)
        about.setObjectName("aboutAction")
        about.triggered.connect(self.about)
        help_menu.addAction(about)

    def show_guide(self):  # type: ignore[no-untyped-def]
        """Help → Your first incident: one page beside the window (non-modal)."""
        from ui.help.guide import GuideDialog

        if getattr(self, "guide", None) is None:
            self.guide = GuideDialog(self)
        self.guide.show()
        self.guide.raise_()
        return self.guide

    def offer_guide(self) -> bool:
        """On this computer's first run, once: the guide beside the window. Never where no
        one sees it (a headless platform)."""
        from PySide6.QtGui import QGuiApplication

        from ui.help.guide import GUIDE_OFFERED_KEY

        settings = self.services.settings
        if settings.value(GUIDE_OFFERED_KEY) or \
                QGuiApplication.platformName() in ("offscreen", "minimal"):
            return False
        settings.setValue(GUIDE_OFFERED_KEY, True)
        settings.sync()
        self.show_guide()
        return True

    def show_shortcuts(self):  # type: ignore[no-untyped-def]
        from ui.help.guide import ShortcutsDialog

        dialog = ShortcutsDialog(self.menuBar(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.shortcuts_dialog = dialog
        dialog.open()
        return dialog

    def new_incident(self):  # type: ignore[no-untyped-def]
        self.nav_buttons["incidents"].setChecked(True)
        return self.incidents.new_incident()

    def start_clock_notifier(self):  # type: ignore[no-untyped-def]
        from ui.incidents.notifier import ClockNotifier

        if self.clock_notifier is None:
            self.clock_notifier = ClockNotifier(self.services, self)
            self.clock_notifier.start()
        return self.clock_notifier

    def start_mailbox_readers(self):  # type: ignore[no-untyped-def]
        """Read the accounts' mailboxes from now on: bounces and replies (issue 24)."""
        from ui.outbox.mailbox import MailboxReaders

        if self.mailbox_readers is None:
            self.mailbox_readers = MailboxReaders(self.services, self)
            self.mailbox_readers.start()
        return self.mailbox_readers

    def start_backups(self):  # type: ignore[no-untyped-def]
        """Backups by themselves from now on (after the first paint: not on start-up's path)."""
        from ui.backups.keeper import BackupKeeper

        if self.backups is None:
            self.backups = BackupKeeper(self.services, self)
            self.backups.said.connect(lambda text: self.statusBar().showMessage(text, 15000))
        return self.backups

    def check_database(self):  # type: ignore[no-untyped-def]
        """Check the database file on a worker (after the first paint): quick_check at every
        start, integrity_check on the first of each day. Damage → database_damaged()."""
        from ui.backups.watch import IntegrityWatch, damage_reports

        if self.integrity is None:
            self.integrity = IntegrityWatch(self.services, parent=self)
            self.integrity.damaged.connect(self.database_damaged)
            self.integrity.chains_broken.connect(self.records_changed)
            damage_reports().seen.connect(self.database_error)
        self.integrity.start()
        return self.integrity

    def records_changed(self, reports: list) -> None:  # type: ignore[type-arg]
        """The daily check found incidents whose timeline was changed outside Clarion: said
        once, in a window that does not block (each incident's view shows it too)."""
        from PySide6.QtWidgets import QMessageBox

        names = "\n".join(f"• #{r.incident_id} {r.title}: {r.broken.reason}"
                          for r in reports[:10])
        more = f"\n…and {len(reports) - 10} more." if len(reports) > 10 else ""
        box = QMessageBox(QMessageBox.Icon.Warning, "The record was changed outside Clarion",
                          f"The timeline of {len(reports)} incident"
                          f"{'s' if len(reports) != 1 else ''} no longer matches its hash "
                          f"chain:\n{names}{more}", QMessageBox.StandardButton.Ok, self)
        box.setObjectName("recordsChangedBox")
        box.setAccessibleName("The record was changed outside Clarion")
        box.setInformativeText(
            "Someone changed or removed entries with another tool. Keep this database as it "
            "is, compare it with a backup (Settings › Backups), and run `clarion verify` to "
            "name each changed entry.")
        box.setWindowModality(Qt.WindowModality.NonModal)   # the coordinator may go on working
        self.records_box = box
        box.show()

    def database_error(self, exc: BaseException) -> None:
        """An error somewhere said the database file is damaged (ui/backups/watch.py)."""
        from app.backups.damage import damage_of
        from ui.backups.watch import damage_found

        if self.damage is None:
            self.database_damaged(damage_found(self.services, damage_of(exc) or str(exc)))

    def database_damaged(self, found) -> None:  # type: ignore[no-untyped-def]
        """The database file is damaged (a check found it, or an error said SQLITE_CORRUPT /
        SQLITE_NOTADB): stop sending and backing up at once, say so in the status bar and in
        one dialog (asked once however many errors follow), and restore what the person
        chooses with the database closed (ui/startup.py starts the window again)."""
        if self.damage is not None:
            return
        self.damage = found
        log.error("the database is damaged: %s", found.what)
        if self.runner is not None:
            self.runner.stop()
        if self.clock_notifier is not None:
            self.clock_notifier.stop()
        if self.backups is not None:   # a backup of a damaged file would only fail its check
            self.backups.timer.stop()
            self.backups = None
        self.update_outbox_status()
        self.outbox_label.setStyleSheet("color:#c62828; font-weight:bold;")
        self.statusBar().showMessage("The database is damaged.")
        from ui.backups.damage_dialog import DamageDialog, backup_to_restore

        box = DamageDialog(found, self)
        self.damage_dialog = box

        def chosen(_result: int) -> None:
            path = backup_to_restore(found, box.choice(), self,
                                     found.newest.path.parent if found.newest is not None
                                     else self.services.config.backup_dir)
            if path is not None:
                self.request_restore(path)
            elif box.choice() == "quit":
                self.close()
            else:   # "Restore another file…" cancelled: the choice is still to be made
                box.open()

        box.finished.connect(chosen)
        box.open()

    def compose(self, incident_id: int | None = None, template_type: str | None = None,
                stakeholder_ids: tuple[int, ...] | None = None,
                escalation_key: str = "",
                avoid: tuple[tuple[int, str], ...] = ()) -> None:
        """Compose a message for an incident (the current one by default); from the clocks
        panel with the template and the recipients a due item or an escalation asks for."""
        if incident_id is None:
            current = self.incidents.current_incident()
            incident_id = current.id if current else None
        self.nav_buttons["composer"].setChecked(True)
        if incident_id is not None:
            self.composer.start(incident_id, template_type, stakeholder_ids=stakeholder_ids,
                                escalation_key=escalation_key, avoid=avoid)

    def find(self) -> None:
        self.nav_buttons["incidents"].setChecked(True)
        self.incidents.focus_search()

    def about(self) -> None:
        QMessageBox.about(
            self, "About Clarion",
            f"<b>Clarion {app.__version__}</b><p>Incident communication for coordinators: "
            "the right message, to the right people, at the right time — and a record of it."
            f"<p>Data: {self.services.config.data_dir}<br>Licence: MIT</p>")

    # -- status

    def _update_mode(self, incident: IncidentDTO | None) -> None:
        if incident is not None and incident.is_drill:
            self.mode_label.setText("DRILL — nothing is delivered")
            self.mode_label.setStyleSheet(DRILL_STYLE)
        else:
            self.mode_label.setText("Live" + (" · demo data" if self.services.is_demo else ""))
            self.mode_label.setStyleSheet(LIVE_STYLE)
        self.mode_label.setAccessibleName(self.mode_label.text())

    def _outbox_changed(self) -> None:
        # at most every 300 ms while the outbox keeps changing (a big send), not only after
        if not self.outbox_timer.isActive():
            self.outbox_timer.start()

    def update_outbox_status(self) -> None:
        """The outbox's counts in a few words (app.sending.outbox.status_line)."""
        from app.sending.outbox import status_line

        if self.damage is not None:   # nothing is read from a damaged file; nothing is sent
            text = "Sending stopped: the database is damaged"
            self.outbox_label.setText(text)
            self.outbox_label.setAccessibleName(text)
            return
        text = status_line(self.services.outbox.counts())
        held_by = getattr(self.runner, "held_by", None)
        paused = getattr(self.runner, "paused", None)   # the database cannot be written
        if held_by:
            text = f"Not sending here: {held_by} is sending · {text}"
        elif paused:
            text = f"{paused} · {text}"
        self.outbox_label.setText(text)
        self.outbox_label.setAccessibleName(text)

    def _accounts_changed(self, _ids: object) -> None:
        if self.runner is not None:
            self.runner.accounts_changed()
        self.outbox_timer.start()

    # -- geometry

    def _restore_geometry(self) -> None:
        settings = self.services.settings
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 880)
        self._restore_splitters()

    def _restore_splitters(self) -> None:
        settings = self.services.settings
        for key, splitter in self._splitters().items():
            if splitter.property("restored"):
                continue
            splitter.setProperty("restored", True)
            state = settings.value(f"window/{key}")
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)
                splitter.setProperty("user_sized", True)   # a place chosen before: kept

    def _splitters(self) -> dict:  # type: ignore[type-arg]
        """The splitters of the workspaces built so far."""
        out = {"incidentsSplitter": self.incidents.splitter,
               "incidentSplitter": self.incidents.view.splitter,
               "clocksBodySplitter": self.incidents.view.body_splitter}
        if "stakeholders" in self._workspaces:
            out["stakeholdersSplitter"] = self._workspaces["stakeholders"].splitter
        if "composer" in self._workspaces:
            out["composerSplitter"] = self._workspaces["composer"].splitter
        return out

    def save_geometry(self) -> None:
        settings = self.services.settings
        settings.setValue("window/geometry", self.saveGeometry())
        for key, splitter in self._splitters().items():
            settings.setValue(f"window/{key}", splitter.saveState())
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        # Unsaved edits are saved, discarded or kept (then the window stays open).
        built = self._workspaces.get("stakeholders")
        if built is not None and not built.leave_form():
            event.ignore()
            return
        if not self.incidents.leave_facts():
            event.ignore()
            return
        self.save_geometry()
        if self.backups is not None:
            self.backups.close()   # a last backup if the record changed since the last one
        event.accept()
