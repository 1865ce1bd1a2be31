"""The record's integrity: verifying each incident's hash-chained timeline (the chain itself is
written by app/domain/chain.py as entries are appended) and matching a printed chain head."""
