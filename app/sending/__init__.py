"""Sending: the durable outbox (queue, flush, rows, timeline wording) and the runner above it,
channel accounts with their keyring secrets, SMS provider status polling; channels/ sends bytes
and returns outcomes. Nothing is re-exported: import from the modules."""
