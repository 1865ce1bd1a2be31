"""The headless subcommands of `clarion`, one module per command group; ui/main.py parses the
arguments and calls them. Each one calls app/ functions and prints plain text for people."""
