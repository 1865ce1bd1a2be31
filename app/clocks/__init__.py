"""Incident clocks: update cadence, escalation rules and regulatory deadlines (pure rules),
their evaluation over the store, what the coordinator records about them, the editable rules and
the board the clocks panel lists. Nothing is re-exported: import from the modules."""
