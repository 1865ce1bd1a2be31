"""Backups of the record: online copies of the live database (SQLite's backup API, never a file
copy), checked and written atomically, kept in a rolling set (copies.py); and a restore that
keeps the replaced file aside and holds for review every delivery that was not final when the
backup was taken (restore.py)."""
