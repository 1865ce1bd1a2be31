#!/usr/bin/env bash
# Start Clarion in a real X window under Xvfb on the demo database and save a PNG of each
# screen into packaging/screenshots/ (or the folder given as $1).
# Needs: xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
#        libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-packaging/screenshots}"
CLARION="${CLARION:-.venv/bin/clarion}"
DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT
export CLARION_DATA_DIR="$DATA"
export QT_QPA_PLATFORM=xcb
unset QT_QPA_PLATFORM_PLUGIN_PATH
xvfb-run --auto-servernum --server-args="-screen 0 1920x1080x24" \
    "$CLARION" demo --screenshot "$OUT"
