"""Coordinators: the people at a desk, as rows, and who is working at this desk now (the
signature on every timeline entry a person writes)."""
