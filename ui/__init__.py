"""Clarion's Qt user interface. Thin: every action calls a function or service in app/."""
