"""Jifen's domain core: the double-entry points ledger and the domains built on it.

Nothing here imports from `api/` or `workers/`; those are thin adapters over this package.
"""
