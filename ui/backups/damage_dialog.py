"""The one dialog for a damaged database, before the window opens or while it runs: what is
damaged, that nothing is sent from it, and three ways on — restore the newest backup (changes
after it are lost), restore another file (a copy on a share, an older backup), or quit. Never a
traceback. The restore itself happens with the database closed (ui/startup.py)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.backups.damage import DamagedDatabase

RESTORE_NEWEST, RESTORE_OTHER, QUIT = "newest", "other", "quit"


def damage_text(found: DamagedDatabase) -> str:
    text = (f"The database {found.db_path} is damaged: {found.what}.\n\nSending is stopped: "
            "nothing is sent from a damaged record.")
    if found.newest is not None:
        local = found.newest.taken_at.astimezone()
        text += (f"\n\nThe newest backup is from {local:%d %b %Y %H:%M}. Restoring it puts "
                 "the record back as it was then; what changed after it is lost. Before that, "
                 "what can still be read from the damaged file is salvaged into a side file, "
                 "and the damaged file itself is kept aside. Messages that were still being "
                 "sent are held for your review.")
    else:
        text += ("\n\nThere is no backup of it in the backup folder. If you have a copy "
                 "elsewhere (a share, a synced folder), restore it with \"Restore another "
                 "file…\".")
    return text


class DamageDialog(QMessageBox):
    def __init__(self, found: DamagedDatabase, parent: QWidget | None = None) -> None:
        super().__init__(QMessageBox.Icon.Critical, "The database is damaged",
                         damage_text(found), QMessageBox.StandardButton.NoButton, parent)
        self.found = found
        self.setObjectName("damagedDatabaseDialog")
        self.setAccessibleName("The database is damaged")
        self.newest_button = None
        if found.newest is not None:
            local = found.newest.taken_at.astimezone()
            self.newest_button = self.addButton(
                f"Restore the backup from {local:%d %b %H:%M} (changes after it are lost)",
                QMessageBox.ButtonRole.AcceptRole)
            self.newest_button.setObjectName("restoreNewestBackupButton")
            self.newest_button.setAccessibleName("Restore the newest backup")
            self.setDefaultButton(self.newest_button)
        self.other_button = self.addButton("Restore another file…",
                                           QMessageBox.ButtonRole.ActionRole)
        self.other_button.setObjectName("restoreOtherFileButton")
        self.other_button.setAccessibleName("Restore another file")
        self.quit_button = self.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
        self.quit_button.setObjectName("quitButton")
        self.quit_button.setAccessibleName("Quit")

    def choice(self) -> str:
        clicked = self.clickedButton()
        if clicked is not None and clicked is self.newest_button:
            return RESTORE_NEWEST
        if clicked is not None and clicked is self.other_button:
            return RESTORE_OTHER
        return QUIT


def choose_file(parent: QWidget | None, start: Path) -> Path | None:
    """Pick a backup or another copy of the database to restore; None when cancelled."""
    name, _filter = QFileDialog.getOpenFileName(
        parent, "Restore another file", str(start),
        "Clarion databases and backups (*.db *.sqlite *.sqlite3);;All files (*)")
    return Path(name) if name else None


def backup_to_restore(found: DamagedDatabase, choice: str, parent: QWidget | None,
                      start: Path) -> Path | None:
    """The file to restore for the person's choice in the dialog, or None (quit/cancel)."""
    if choice == RESTORE_NEWEST and found.newest is not None:
        return found.newest.path
    if choice == RESTORE_OTHER:
        return choose_file(parent, start)
    return None
