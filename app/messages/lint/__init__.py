"""The message linter: linter.py runs one module per family of checks (wording, facts, channel)
over what text.py reads out of a message. Pure; no Qt. Nothing is re-exported."""
