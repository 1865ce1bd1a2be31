"""The one rule of DESIGN.md "Layers": app/ never imports ui/ or PySide6 (nor shiboken6)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
FORBIDDEN = ("PySide6", "shiboken6", "ui")


def _is_forbidden(module: str | None) -> bool:
    if not module:
        return False
    return module.split(".")[0] in FORBIDDEN


def forbidden_imports(source: str, filename: str = "<string>") -> list[str]:
    """Every import of a forbidden top-level package in `source`, as 'line: what'."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if _is_forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom):
            # Relative imports stay inside app/ (app is the top-level package), so only
            # absolute ones can reach ui/ or PySide6.
            if node.level == 0 and _is_forbidden(node.module):
                found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            # importlib.import_module("PySide6...") / __import__("ui...") with a literal name
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                        and _is_forbidden(arg.value):
                    found.append(f"{node.lineno}: {name}({arg.value!r})")
    return found


def test_the_checker_catches_every_form_of_forbidden_import():
    source = (
        "import ui\n"
        "import ui.main as m\n"
        "from ui.models import x\n"
        "import PySide6.QtCore\n"
        "from PySide6 import QtWidgets\n"
        "import shiboken6\n"
        "import importlib\n"
        "importlib.import_module('PySide6.QtGui')\n"
        "__import__('ui')\n"
        # allowed: names that merely start with 'ui' and relative imports
        "import uuid\n"
        "from uinput import thing\n"
        "from .ui import helper\n"
        "from app.ui_texts import y\n"
    )
    found = forbidden_imports(source)
    assert [line.split(":")[0] for line in found] == ["1", "2", "3", "4", "5", "6", "8", "9"]


def test_no_module_under_app_imports_qt_or_ui():
    files = sorted(APP.rglob("*.py"))
    assert len(files) >= 15, f"expected the app/ package, found {files}"
    assert APP / "storage" / "migrations" / "env.py" in files
    offenders = {}
    for path in files:
        hits = forbidden_imports(path.read_text(encoding="utf-8"), str(path))
        if hits:
            offenders[str(path.relative_to(ROOT))] = hits
    assert offenders == {}


IMPORT_ALL = r"""
import importlib, pkgutil, sys
import app

names = []
for info in pkgutil.walk_packages(app.__path__, prefix="app."):
    # env.py runs Alembic's context at import; the versions need that context too.
    if info.name.startswith("app.storage.migrations"):
        continue
    names.append(info.name)
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "ui"))
assert not leaked, leaked
print(len(names), " ".join(names))
"""


def test_importing_every_app_module_loads_no_qt(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    # Make sure the check means something: PySide6 is importable in this environment.
    probe = subprocess.run([sys.executable, "-c", "import PySide6"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr

    result = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    count, _, names = result.stdout.strip().partition(" ")
    imported = set(names.split())
    assert {"app.config", "app.incidents.lifecycle", "app.demo.seed", "app.storage.migrate",
            "app.domain.models", "app.stakeholders.service", "app.paths"} <= imported
    assert int(count) == len(imported) >= 15
