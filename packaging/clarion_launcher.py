"""PyInstaller entry point: what the `clarion` console script (ui.main:main) runs."""

import sys

from ui.main import main

if __name__ == "__main__":
    sys.exit(main())
