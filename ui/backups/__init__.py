"""The window's side of backups (app/backups/): the automatic ones."""
