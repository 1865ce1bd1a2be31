"""Start-up pays for every import (DESIGN.md "Start-up"). The modules loaded by the time the
window is first painted — `clarion demo --exit-after-startup`, on a demo database that exists —
are compared with a committed list, so a new import on the start-up path is a visible change:
whoever adds one updates tests/integration/startup_modules.txt in the same commit.

Listed: every module of app/ and ui/, and which of Clarion's dependencies are loaded (by their
top-level package; the standard library and the dependencies' insides vary between versions).
To rewrite the list after a deliberate change:
    CLARION_UPDATE_STARTUP_MODULES=1 QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest \\
        tests/integration/test_startup_modules.py"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LISTED = ROOT / "tests" / "integration" / "startup_modules.txt"

# The top-level packages of Clarion's dependencies (pyproject.toml) and of what they bring.
DEPENDENCIES = (
    "PySide6", "shiboken6", "sqlalchemy", "alembic", "mako", "jinja2", "markupsafe", "keyring",
    "jaraco", "aiosmtplib", "platformdirs", "email_validator", "dns", "idna", "phonenumbers",
    "httpx", "httpcore", "h11", "anyio", "sniffio", "certifi", "cryptography", "secretstorage",
)

# Runs `clarion demo --exit-after-startup` in-process and writes what sys.modules held when the
# main window received its first paint event.
CHILD = r"""
import json, sys
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow

out = sys.argv[1]
seen = []

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if not seen and event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
            seen.append(sorted(sys.modules))
            with open(out, "w") as fh:
                json.dump(seen[0], fh)
        return False

qt_app = QApplication(sys.argv[:1])
watcher = FirstPaint()
qt_app.installEventFilter(watcher)
from ui.main import main
code = main(["demo", "--exit-after-startup"])
sys.exit(code if seen else 5)
"""

DEMO_FIRST = r"""
import sys
from ui.main import main
sys.exit(main(["demo", "--exit-after-startup"]))
"""


def listed_part(modules: list[str]) -> list[str]:
    own = [m for m in modules if m.split(".")[0] in ("app", "ui")]
    deps = sorted({m.split(".")[0] for m in modules} & set(DEPENDENCIES))
    return sorted(own) + [f"{name} (dependency)" for name in deps]


def test_the_modules_loaded_at_first_paint_are_the_committed_ones(tmp_path):
    env = dict(os.environ, CLARION_DATA_DIR=str(tmp_path / "data"), QT_QPA_PLATFORM="offscreen",
               PYTHONDONTWRITEBYTECODE="1")
    # The first start seeds the demo database (which imports the seeding); measure the next.
    seeded = subprocess.run([sys.executable, "-c", DEMO_FIRST], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    out = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", CHILD, str(out)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"no first paint seen (exit {result.returncode}):\n" \
                                   f"{result.stderr}"
    found = listed_part(json.loads(out.read_text()))
    assert "ui.mainwindow" in found and "app.storage.engine" in found  # the list means something
    if os.environ.get("CLARION_UPDATE_STARTUP_MODULES"):
        LISTED.write_text("\n".join(found) + "\n", encoding="utf-8")
    expected = [line for line in LISTED.read_text(encoding="utf-8").splitlines() if line]
    added = sorted(set(found) - set(expected))
    removed = sorted(set(expected) - set(found))
    assert not added and not removed, (
        "the modules loaded at the first paint changed; if on purpose, update "
        f"{LISTED.relative_to(ROOT)} in the same commit (see this file's docstring)\n"
        f"  now loaded: {added}\n  no longer loaded: {removed}")
