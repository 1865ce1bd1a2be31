"""`clarion` with no display (issue 17): one line saying so and what to do, before Qt aborts with
a message about a library; the headless commands still work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ui.main import no_display

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("env, platform, refused", [
    ({}, "linux", True),
    ({"DISPLAY": ":0"}, "linux", False),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
    ({"QT_QPA_PLATFORM": "wayland", "DISPLAY": ":0"}, "linux", True),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, "freebsd14", False),
    ({}, "win32", False),
    ({}, "darwin", False),
])
def test_which_environments_have_no_display(env, platform, refused):
    assert (no_display(env, platform) is not None) == refused


def test_the_window_without_a_display_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(CLARION_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "ui.main", "demo"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        "clarion: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set): "
        "run it from a desktop session — the headless commands work anywhere (clarion --help)."]
    headless = subprocess.run([sys.executable, "-m", "ui.main", "incidents"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    assert headless.returncode == 0, headless.stderr
