"""`clarion` with no display (issue 17): one line saying so and what to do, before Qt aborts with
a message about a library; the headless commands still work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ui.main import NO_DISPLAY, no_display

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
    assert run.returncode == NO_DISPLAY == 69
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        "clarion: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set): "
        "run it from a desktop session — the headless commands work anywhere (clarion --help)."]
    headless = subprocess.run([sys.executable, "-m", "ui.main", "incidents"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    assert headless.returncode == 0, headless.stderr


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "clarion").exists()
                    or shutil.which("make") is None,
                    reason="make run needs make and the checkout's .venv (make test builds it)")
def test_make_run_without_a_display_prints_clarions_line_and_nothing_of_makes(tmp_path):
    """Make prints "make: *** [Makefile:NN: run] Error 2" after a failed command: the README's
    launch command shows only Clarion's one line."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "MAKEFLAGS", "MAKELEVEL")}
    env.update(CLARION_DATA_DIR=str(tmp_path))
    run = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("clarion: no display")
