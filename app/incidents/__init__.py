"""Incidents: the lifecycle (open, phase and severity moves, impact flags), the facts every
message renders from, notes and decisions, each change appended to the append-only timeline.
Nothing is re-exported: import from the modules."""
